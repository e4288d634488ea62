-- The first schema: orgs and their guard version, users, credentials,
-- permissions and assignments, the audit log, the one-time records
-- (challenges, user actions and request nonces) and the server's own
-- secrets.
--
-- Every name is unqualified, so the tables are created in the first schema
-- of the connection's search_path (`public` unless the URL says otherwise).
--
-- Conventions:
-- * Ids are the wire ids (`us-...`, `or-...`), stored as TEXT with the "C"
--   collation, so `ORDER BY id` is byte order, the order of the domain's
--   ids, whatever the database's default collation is.
-- * Times are BIGINT milliseconds since the Unix epoch.
-- * Enumerations are TEXT holding the wire name (`CustomerEmployee`,
--   `Auth:Users:Delete`, `DELETE`, ...).
-- * Versions are BIGINT, never negative; writers compare and set them.

-- An org: the tenant every other record belongs to. `guard_version` is
-- bumped by every change that takes the power to assign permissions from
-- someone; such changes compare and set it, so two of them never both pass
-- on the same picture of the org.
CREATE TABLE orgs (
    id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name           TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    guard_version  BIGINT NOT NULL DEFAULT 0 CHECK (guard_version >= 0)
);

-- A user. Archived users stay for audit: `state` is 'Archived' and
-- `archived_at` and `archived_by` say when and by whom.
--
-- `username` is the name as the user spelled it (NFC); `username_key` is
-- its comparison key (NFC and case folded), computed by the domain, and
-- compared byte for byte. `credential_uuid` is the primary credential; it
-- has no foreign key because a credential refers to its user, and the user
-- row comes first.
CREATE TABLE users (
    id                  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    org_id              TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
    kind                TEXT    NOT NULL,
    username            TEXT    NOT NULL,
    username_key        TEXT COLLATE "C" NOT NULL,
    credential_uuid     TEXT COLLATE "C",
    is_registered       BOOLEAN NOT NULL,
    is_service_account  BOOLEAN NOT NULL,
    is_sso_required     BOOLEAN NOT NULL,
    external_id         TEXT,
    state               TEXT    NOT NULL
                                CHECK (state IN ('Active', 'Inactive',
                                                 'Archived')),
    archived_at         BIGINT,
    archived_by         TEXT COLLATE "C" REFERENCES users (id),
    created_at          BIGINT  NOT NULL,
    version             BIGINT  NOT NULL CHECK (version >= 0),
    -- The target of the assignments' foreign key, which makes an
    -- assignment's org the org of its user.
    UNIQUE (id, org_id),
    CHECK ((state = 'Archived') = (archived_at IS NOT NULL)),
    CHECK ((state = 'Archived') = (archived_by IS NOT NULL))
);

-- A user name is unique among the org's users that are not archived. The
-- index is partial, so archiving a user frees its name, and of two
-- concurrent inserts of one name the second waits for the first and then
-- fails on the index: that failure is how the store answers "user name
-- taken" atomically, across processes.
CREATE UNIQUE INDEX users_live_username
    ON users (org_id, username_key)
    WHERE state <> 'Archived';

-- Listing walks an org's users in id order.
CREATE INDEX users_by_org ON users (org_id, id);

-- A credential a user signs with. `cred_id` is the public id signers send;
-- it is unique per user.
CREATE TABLE credentials (
    uuid            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    cred_id         TEXT COLLATE "C" NOT NULL,
    user_id         TEXT COLLATE "C" NOT NULL,
    org_id          TEXT COLLATE "C" NOT NULL,
    kind            TEXT    NOT NULL,
    public_key_pem  TEXT    NOT NULL,
    is_active       BOOLEAN NOT NULL,
    created_at      BIGINT  NOT NULL,
    -- Listing a user's credentials keeps the order they were added in.
    seq             BIGINT  GENERATED ALWAYS AS IDENTITY,
    UNIQUE (user_id, cred_id),
    FOREIGN KEY (user_id, org_id) REFERENCES users (id, org_id)
);

-- A permission (a role). `operations` holds operation names; it is always
-- read and written whole, so a child table would add joins and nothing
-- else.
CREATE TABLE permissions (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    org_id        TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
    name          TEXT    NOT NULL,
    operations    TEXT[]  NOT NULL
                          CHECK (array_position(operations, NULL) IS NULL),
    is_immutable  BOOLEAN NOT NULL,
    is_archived   BOOLEAN NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    version       BIGINT  NOT NULL CHECK (version >= 0),
    -- The target of the assignments' foreign key, which makes an
    -- assignment's org the org of its permission.
    UNIQUE (id, org_id)
);

-- A permission name is unique among the org's live permissions; like the
-- user names, a concurrent duplicate fails on the index.
CREATE UNIQUE INDEX permissions_live_name
    ON permissions (org_id, name)
    WHERE NOT is_archived;

CREATE INDEX permissions_by_org ON permissions (org_id, id);

-- A permission held by a user. An assignment is live while `ended_at` is
-- NULL; ending it keeps the row for audit. A user holds a permission at
-- most once at a time. `seq` keeps a user's assignments in the order they
-- were made.
CREATE TABLE permission_assignments (
    id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    permission_id  TEXT COLLATE "C" NOT NULL,
    user_id        TEXT COLLATE "C" NOT NULL,
    org_id         TEXT COLLATE "C" NOT NULL,
    created_at     BIGINT NOT NULL,
    ended_at       BIGINT,
    seq            BIGINT GENERATED ALWAYS AS IDENTITY,
    FOREIGN KEY (permission_id, org_id) REFERENCES permissions (id, org_id),
    FOREIGN KEY (user_id, org_id) REFERENCES users (id, org_id)
);

CREATE UNIQUE INDEX permission_assignments_live
    ON permission_assignments (user_id, permission_id)
    WHERE ended_at IS NULL;

CREATE INDEX permission_assignments_by_permission
    ON permission_assignments (permission_id, seq)
    WHERE ended_at IS NULL;

-- The audit log, append only; `seq` orders the events of all orgs. No
-- foreign keys: the log must be writable and readable whatever happens to
-- the records it mentions.
CREATE TABLE audit_events (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           TEXT   NOT NULL,
    org_id         TEXT COLLATE "C" NOT NULL,
    user_id        TEXT COLLATE "C" NOT NULL,
    permission_id  TEXT COLLATE "C",
    actor          TEXT COLLATE "C" NOT NULL,
    at             BIGINT NOT NULL
);

CREATE INDEX audit_events_by_org ON audit_events (org_id, seq);

-- An issued challenge, deleted when it is taken. `purpose` is 'Login' or
-- 'UserAction'; the `action_*` columns hold the request a user-action
-- challenge is for, and are NULL for a login.
--
-- The one-time tables have no foreign keys: they are looked up by their own
-- key only, and the use cases check the user again when one is presented.
CREATE TABLE challenges (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    challenge       TEXT   NOT NULL,
    purpose         TEXT   NOT NULL CHECK (purpose IN ('Login', 'UserAction')),
    org_id          TEXT   NOT NULL,
    user_id         TEXT   NOT NULL,
    action_method   TEXT,
    action_path     TEXT,
    action_payload  TEXT,
    issued_at       BIGINT NOT NULL,
    CHECK ((purpose = 'UserAction') = (action_method IS NOT NULL)),
    CHECK ((purpose = 'UserAction') = (action_path IS NOT NULL)),
    CHECK ((purpose = 'UserAction') = (action_payload IS NOT NULL))
);

-- A user-action grant: the request it was signed for, and `used_at` once
-- it was spent. Spent grants stay so a replay is told "already used".
CREATE TABLE user_actions (
    token            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    org_id           TEXT   NOT NULL,
    user_id          TEXT   NOT NULL,
    credential_uuid  TEXT   NOT NULL,
    method           TEXT   NOT NULL,
    path             TEXT   NOT NULL,
    payload          TEXT   NOT NULL,
    issued_at        BIGINT NOT NULL,
    used_at          BIGINT
);

-- Every nonce a request presented (the legacy `X-DFNS-NONCE` header), by
-- its unique part. The primary key makes a nonce usable once: of two
-- inserts of one nonce, in any processes, exactly one adds a row.
-- `expires_at` is when the use cases start refusing the nonce as stale, so
-- the row may be deleted from then on.
CREATE TABLE nonces (
    nonce       TEXT   NOT NULL PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);

-- A purge of stale nonces walks them by expiry.
CREATE INDEX nonces_by_expiry ON nonces (expires_at);

-- The server's own secrets, by name. A row is written once and never
-- changed, so every server instance on this database answers the same.
CREATE TABLE secrets (
    name   TEXT  NOT NULL PRIMARY KEY,
    value  BYTEA NOT NULL
);
