-- Accounts, sessions, refresh-token rotation, login throttling and server-side secrets.

CREATE TABLE users (
    id              UUID        PRIMARY KEY,
    username        TEXT        NOT NULL,
    auth_phc        TEXT        NOT NULL,
    kdf             TEXT        NOT NULL,
    kdf_salt        BYTEA       NOT NULL,
    kdf_iterations  BIGINT      NOT NULL CHECK (kdf_iterations > 0),
    security_stamp  BIGINT      NOT NULL DEFAULT 1,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);

CREATE TABLE sessions (
    id            UUID        PRIMARY KEY,
    user_id       UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope         TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Every refresh token ever issued for a live session, by SHA-256 of the token. A used token is
-- kept (used_at set) so that presenting it again is recognised as theft.
CREATE TABLE refresh_tokens (
    token_hash  BYTEA       PRIMARY KEY,
    session_id  UUID        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

-- One row per failed login, keyed by account or client address; shared by every replica.
CREATE TABLE login_failures (
    key        TEXT        NOT NULL,
    failed_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_key_idx ON login_failures (key, failed_at);
CREATE INDEX login_failures_failed_at_idx ON login_failures (failed_at);

-- Random keys the server makes once and every replica shares (e.g. for prelogin decoy salts).
CREATE TABLE server_secrets (
    name        TEXT        PRIMARY KEY,
    value       BYTEA       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
