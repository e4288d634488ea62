-- Credentials registered after their user was created, `Fido2` (WebAuthn)
-- authenticators among them, and the challenges that register them. The
-- conventions of 0001 hold.

-- What a credential carries besides its key, for the rows of 0001 too:
-- * `name`: what its owner calls it; '' for the key a user was created
--   with, which is every credential stored before this migration.
-- * `sign_count`: the highest signature counter its authenticator
--   reported, 0 when it keeps none (every `Key`). It is an unsigned 32-bit
--   number, as the authenticator's is, and only grows: it is raised by one
--   `UPDATE ... WHERE sign_count < ?`, so of two raises to one value in
--   any processes exactly one changes the row.
-- * `relying_party_id`: the relying party a `Fido2` credential is scoped
--   to; NULL for a `Key`.
-- * `origin`: the page a `Fido2` credential was registered from, when its
--   client data named one; NULL otherwise.
-- The `(user_id, cred_id)` unique constraint of 0001 is what refuses a
-- user a second credential with one `credId`, even one registered by
-- another process at the same moment.
ALTER TABLE credentials ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE credentials
    ADD COLUMN sign_count INTEGER NOT NULL DEFAULT 0
        CHECK (sign_count BETWEEN 0 AND 4294967295);
ALTER TABLE credentials ADD COLUMN relying_party_id TEXT;
ALTER TABLE credentials ADD COLUMN origin TEXT;

-- A challenge may now register a credential: `purpose` is 'Registration'
-- and `credential_kind` the kind of credential it registers ('Key' or
-- 'Fido2'); `credential_kind` is NULL for the other purposes. SQLite
-- cannot change a table's CHECK constraints, so the table is made anew
-- and its rows copied over, in this migration's transaction. No other
-- table, index, trigger or view refers to `challenges`.
CREATE TABLE challenges_new (
    id               TEXT    NOT NULL PRIMARY KEY,
    challenge        TEXT    NOT NULL,
    purpose          TEXT    NOT NULL
                             CHECK (purpose IN ('Login', 'UserAction',
                                                'Registration')),
    org_id           TEXT    NOT NULL,
    user_id          TEXT    NOT NULL,
    action_method    TEXT,
    action_path      TEXT,
    action_payload   TEXT,
    credential_kind  TEXT    CHECK (credential_kind IN ('Key', 'Fido2')),
    issued_at        INTEGER NOT NULL,
    CHECK ((purpose = 'UserAction') = (action_method IS NOT NULL)),
    CHECK ((purpose = 'UserAction') = (action_path IS NOT NULL)),
    CHECK ((purpose = 'UserAction') = (action_payload IS NOT NULL)),
    CHECK ((purpose = 'Registration') = (credential_kind IS NOT NULL))
) STRICT;

INSERT INTO challenges_new (id, challenge, purpose, org_id, user_id,
                            action_method, action_path, action_payload,
                            issued_at)
    SELECT id, challenge, purpose, org_id, user_id,
           action_method, action_path, action_payload, issued_at
    FROM challenges;

DROP TABLE challenges;

ALTER TABLE challenges_new RENAME TO challenges;
