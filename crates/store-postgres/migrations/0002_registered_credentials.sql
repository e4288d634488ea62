-- Credentials registered after their user was created, `Fido2` (WebAuthn)
-- authenticators among them, and the challenges that register them. The
-- conventions of 0001 hold.

-- What a credential carries besides its key, for the rows of 0001 too:
-- * `name`: what its owner calls it; '' for the key a user was created
--   with, which is every credential stored before this migration.
-- * `sign_count`: the highest signature counter its authenticator
--   reported, 0 when it keeps none (every `Key`). It is an unsigned 32-bit
--   number, as the authenticator's is, so BIGINT (INTEGER stops at 2^31),
--   and it only grows: it is raised by one
--   `UPDATE ... WHERE uuid = $2 AND sign_count < $1`, so of two raises to
--   one value, in any processes, the second waits for the first's row
--   lock, re-reads the row and changes nothing.
-- * `relying_party_id`: the relying party a `Fido2` credential is scoped
--   to; NULL for a `Key`.
-- * `origin`: the page a `Fido2` credential was registered from, when its
--   client data named one; NULL otherwise.
ALTER TABLE credentials
    ADD COLUMN name              TEXT   NOT NULL DEFAULT '',
    ADD COLUMN sign_count        BIGINT NOT NULL DEFAULT 0
        CONSTRAINT credentials_sign_count
        CHECK (sign_count BETWEEN 0 AND 4294967295),
    ADD COLUMN relying_party_id  TEXT,
    ADD COLUMN origin            TEXT;

-- A user has each `credId` once: 0001's `UNIQUE (user_id, cred_id)`, of
-- which the second of two concurrent inserts waits for the first and then
-- fails. The store tells that failure by the constraint's name, so the
-- name PostgreSQL chose is replaced by one of our own, found by the
-- columns the constraint covers.
DO $$
DECLARE
    chosen TEXT;
BEGIN
    SELECT c.conname INTO STRICT chosen
    FROM pg_constraint AS c
    WHERE c.conrelid = 'credentials'::regclass
      AND c.contype = 'u'
      AND c.conkey::smallint[] = ARRAY[
          (SELECT attnum FROM pg_attribute
           WHERE attrelid = 'credentials'::regclass AND attname = 'user_id'),
          (SELECT attnum FROM pg_attribute
           WHERE attrelid = 'credentials'::regclass AND attname = 'cred_id')
      ]::smallint[];
    EXECUTE format('ALTER TABLE credentials RENAME CONSTRAINT %I TO %I',
                   chosen, 'credentials_user_cred_id');
END
$$;

-- A challenge may now register a credential: `purpose` is 'Registration'
-- and `credential_kind` the kind of credential it registers ('Key' or
-- 'Fido2'); `credential_kind` is NULL for the other purposes. The checks
-- of 0001 that tie the `action_*` columns to 'UserAction' still hold.
-- 0001's check of `purpose` has a name PostgreSQL chose: it is the only
-- check on `purpose` alone, so it is found by that and dropped, and the
-- new checks get names of our own.
DO $$
DECLARE
    chosen TEXT;
BEGIN
    SELECT c.conname INTO STRICT chosen
    FROM pg_constraint AS c
    WHERE c.conrelid = 'challenges'::regclass
      AND c.contype = 'c'
      AND c.conkey::smallint[] = ARRAY[
          (SELECT attnum FROM pg_attribute
           WHERE attrelid = 'challenges'::regclass AND attname = 'purpose')
      ]::smallint[];
    EXECUTE format('ALTER TABLE challenges DROP CONSTRAINT %I', chosen);
END
$$;

ALTER TABLE challenges
    ADD COLUMN credential_kind TEXT,
    ADD CONSTRAINT challenges_purpose
        CHECK (purpose IN ('Login', 'UserAction', 'Registration')),
    ADD CONSTRAINT challenges_credential_kind
        CHECK (credential_kind IN ('Key', 'Fido2')),
    ADD CONSTRAINT challenges_registration_kind
        CHECK ((purpose = 'Registration') = (credential_kind IS NOT NULL));
