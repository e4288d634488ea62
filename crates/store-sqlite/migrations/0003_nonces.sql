-- Request nonces (the legacy `X-DFNS-NONCE` header). The conventions of
-- 0001 hold.

-- Every nonce a request presented, by its unique part. The primary key is
-- what makes a nonce usable once: of two inserts of one nonce, in any
-- processes, exactly one adds a row. `expires_at` is when the use cases
-- start refusing the nonce as stale, so the row may be deleted from then
-- on. No foreign keys, as for the other one-time tables.
CREATE TABLE nonces (
    nonce       TEXT    NOT NULL PRIMARY KEY,
    expires_at  INTEGER NOT NULL
) STRICT;

-- A purge of stale nonces walks them by expiry.
CREATE INDEX nonces_by_expiry ON nonces (expires_at);
