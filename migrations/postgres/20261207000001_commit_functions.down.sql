-- Down: the writes go back to their multi-statement transactions (the binary of the version
-- below never calls these).
DROP FUNCTION blindvault_replace(UUID, TEXT, TEXT, BIGINT, BIGINT, BYTEA, BYTEA, BYTEA, TIMESTAMPTZ, BYTEA, TEXT,
                                 TEXT, BYTEA, TEXT, BIGINT, TIMESTAMPTZ, TIMESTAMPTZ, TEXT, TEXT, TEXT);
DROP FUNCTION blindvault_create(UUID, TEXT, TEXT, BIGINT, BIGINT, BYTEA, BYTEA, BYTEA, TIMESTAMPTZ, UUID, TEXT,
                                BYTEA, TEXT, TEXT, TEXT);
DROP FUNCTION blindvault_log(vaults, TEXT, TIMESTAMPTZ, TEXT, TEXT);
DROP FUNCTION blindvault_claim(UUID, TEXT, BYTEA, TIMESTAMPTZ);
DROP FUNCTION blindvault_lock_user(UUID);
