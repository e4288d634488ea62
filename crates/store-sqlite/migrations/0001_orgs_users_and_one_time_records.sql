-- The first schema: orgs, their users, credentials and permissions, the
-- audit log, the one-time records (challenges and user actions) and the
-- server's own secrets.
--
-- Conventions:
-- * Every table is STRICT, so a value of the wrong type is refused rather
--   than silently stored.
-- * Ids are the wire ids (`us-...`, `or-...`), stored as TEXT.
-- * Times are INTEGER milliseconds since the Unix epoch.
-- * Booleans are INTEGER 0 or 1.
-- * Enumerations are TEXT holding the wire name (`CustomerEmployee`,
--   `Auth:Users:Delete`, `DELETE`, ...).

-- An org: the tenant every other record belongs to.
CREATE TABLE orgs (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- A user. Archived users stay for audit: `state` is 'Archived' and
-- `archived_at` and `archived_by` say when and by whom.
--
-- `username` is the name as the user spelled it (NFC); `username_key` is
-- its comparison key (NFC and case folded), computed by the domain.
-- `version` is bumped by every change; writers compare and set it.
-- `credential_uuid` is the primary credential. It has no foreign key
-- because a credential refers to its user, and the user row comes first.
CREATE TABLE users (
    id                  TEXT    NOT NULL PRIMARY KEY,
    org_id              TEXT    NOT NULL REFERENCES orgs (id),
    kind                TEXT    NOT NULL,
    username            TEXT    NOT NULL,
    username_key        TEXT    NOT NULL,
    credential_uuid     TEXT,
    is_registered       INTEGER NOT NULL CHECK (is_registered IN (0, 1)),
    is_service_account  INTEGER NOT NULL
                                CHECK (is_service_account IN (0, 1)),
    is_sso_required     INTEGER NOT NULL CHECK (is_sso_required IN (0, 1)),
    external_id         TEXT,
    state               TEXT    NOT NULL
                                CHECK (state IN ('Active', 'Inactive',
                                                 'Archived')),
    archived_at         INTEGER,
    archived_by         TEXT    REFERENCES users (id),
    created_at          INTEGER NOT NULL,
    version             INTEGER NOT NULL CHECK (version >= 0),
    CHECK ((state = 'Archived') = (archived_at IS NOT NULL)),
    CHECK ((state = 'Archived') = (archived_by IS NOT NULL))
) STRICT;

-- A user name is unique among the org's users that are not archived. The
-- index is partial, so archiving a user frees its name, and a concurrent
-- insert of the same name fails on the index: that failure is how the
-- store answers "user name taken" atomically.
CREATE UNIQUE INDEX users_live_username
    ON users (org_id, username_key)
    WHERE state <> 'Archived';

-- Listing walks an org's users in id order.
CREATE INDEX users_by_org ON users (org_id, id);

-- A credential a user signs with. `cred_id` is the public id signers send;
-- it is unique per user.
CREATE TABLE credentials (
    uuid            TEXT    NOT NULL PRIMARY KEY,
    cred_id         TEXT    NOT NULL,
    user_id         TEXT    NOT NULL REFERENCES users (id),
    org_id          TEXT    NOT NULL REFERENCES orgs (id),
    kind            TEXT    NOT NULL,
    public_key_pem  TEXT    NOT NULL,
    is_active       INTEGER NOT NULL CHECK (is_active IN (0, 1)),
    created_at      INTEGER NOT NULL,
    UNIQUE (user_id, cred_id)
) STRICT;

-- A permission (a role). `operations` is a JSON array of operation names;
-- it is always read and written whole, so a child table would add joins
-- and nothing else.
CREATE TABLE permissions (
    id            TEXT    NOT NULL PRIMARY KEY,
    org_id        TEXT    NOT NULL REFERENCES orgs (id),
    name          TEXT    NOT NULL,
    operations    TEXT    NOT NULL CHECK (json_valid(operations)),
    is_immutable  INTEGER NOT NULL CHECK (is_immutable IN (0, 1)),
    is_archived   INTEGER NOT NULL CHECK (is_archived IN (0, 1)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- A permission name is unique among the org's live permissions.
CREATE UNIQUE INDEX permissions_live_name
    ON permissions (org_id, name)
    WHERE is_archived = 0;

-- A permission held by a user. An assignment is live while `ended_at` is
-- NULL; ending it keeps the row for audit. A user holds a permission at
-- most once at a time.
CREATE TABLE permission_assignments (
    id             TEXT    NOT NULL PRIMARY KEY,
    permission_id  TEXT    NOT NULL REFERENCES permissions (id),
    user_id        TEXT    NOT NULL REFERENCES users (id),
    org_id         TEXT    NOT NULL REFERENCES orgs (id),
    created_at     INTEGER NOT NULL,
    ended_at       INTEGER
) STRICT;

CREATE UNIQUE INDEX permission_assignments_live
    ON permission_assignments (user_id, permission_id)
    WHERE ended_at IS NULL;

CREATE INDEX permission_assignments_by_permission
    ON permission_assignments (permission_id)
    WHERE ended_at IS NULL;

-- The audit log, append only. `seq` orders the events of all orgs; it is
-- AUTOINCREMENT so a number is never reused, even after a delete.
-- No foreign keys: the log must be writable and readable whatever happens
-- to the records it mentions.
CREATE TABLE audit_events (
    seq      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    kind     TEXT    NOT NULL,
    org_id   TEXT    NOT NULL,
    user_id  TEXT    NOT NULL,
    actor    TEXT    NOT NULL,
    at       INTEGER NOT NULL
) STRICT;

CREATE INDEX audit_events_by_org ON audit_events (org_id, seq);

-- An issued challenge, deleted when it is taken. `purpose` is 'Login' or
-- 'UserAction'; the `action_*` columns hold the request a user-action
-- challenge is for, and are NULL for a login.
--
-- The one-time tables have no foreign keys: they are looked up by their own
-- key only, and the use cases check the user again when one is presented.
CREATE TABLE challenges (
    id              TEXT    NOT NULL PRIMARY KEY,
    challenge       TEXT    NOT NULL,
    purpose         TEXT    NOT NULL CHECK (purpose IN ('Login', 'UserAction')),
    org_id          TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    action_method   TEXT,
    action_path     TEXT,
    action_payload  TEXT,
    issued_at       INTEGER NOT NULL,
    CHECK ((purpose = 'UserAction') = (action_method IS NOT NULL)),
    CHECK ((purpose = 'UserAction') = (action_path IS NOT NULL)),
    CHECK ((purpose = 'UserAction') = (action_payload IS NOT NULL))
) STRICT;

-- A user-action grant: the request it was signed for, and `used_at` once
-- it was spent. Spent grants stay so a replay is told "already used".
CREATE TABLE user_actions (
    token            TEXT    NOT NULL PRIMARY KEY,
    org_id           TEXT    NOT NULL,
    user_id          TEXT    NOT NULL,
    credential_uuid  TEXT    NOT NULL,
    method           TEXT    NOT NULL,
    path             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    issued_at        INTEGER NOT NULL,
    used_at          INTEGER
) STRICT;

-- The server's own secrets, by name. A row is written once and never
-- changed, so every server instance on this database answers the same.
CREATE TABLE secrets (
    name   TEXT NOT NULL PRIMARY KEY,
    value  BLOB NOT NULL
) STRICT;
