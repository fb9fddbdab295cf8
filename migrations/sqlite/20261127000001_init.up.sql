-- Accounts, sessions, refresh-token rotation, login throttling and server-side secrets.
-- UUIDs are 16-byte BLOBs and timestamps are INTEGER milliseconds since the Unix epoch (UTC).

CREATE TABLE users (
    id              BLOB    PRIMARY KEY NOT NULL,
    username        TEXT    NOT NULL UNIQUE,
    auth_phc        TEXT    NOT NULL,
    kdf             TEXT    NOT NULL,
    kdf_salt        BLOB    NOT NULL,
    kdf_iterations  INTEGER NOT NULL CHECK (kdf_iterations > 0),
    security_stamp  INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    id            BLOB    PRIMARY KEY NOT NULL,
    user_id       BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER
) STRICT;
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    token_hash  BLOB    PRIMARY KEY NOT NULL,
    session_id  BLOB    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER
) STRICT;
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

CREATE TABLE login_failures (
    key        TEXT    NOT NULL,
    failed_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_key_idx ON login_failures (key, failed_at);
CREATE INDEX login_failures_failed_at_idx ON login_failures (failed_at);

CREATE TABLE server_secrets (
    name        TEXT    PRIMARY KEY NOT NULL,
    value       BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
