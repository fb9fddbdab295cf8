-- Second factors, sessions people can see, an audit trail, invites and account administration.
-- Additive only: a binary from before this migration ignores every new column and table.

-- Set by `blindvault admin disable`: no login or refresh while set.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ;
-- Per-user overrides of the deployment's quotas (`blindvault admin quota`); NULL = the default.
ALTER TABLE users ADD COLUMN quota_bytes BIGINT CHECK (quota_bytes >= 0);
ALTER TABLE users ADD COLUMN quota_vaults BIGINT CHECK (quota_vaults >= 0);

-- What the sessions list shows: a name the client chose and the address it logged in from,
-- truncated (IPv4 /24, IPv6 /48) before it is stored.
ALTER TABLE sessions ADD COLUMN device_name TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN address TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- A TOTP factor: the secret sealed with the server's secrets key (AES-256-GCM, nonce first),
-- never in clear. Unconfirmed until the first code; `last_step` is the newest time step a code
-- was accepted for, so that each code works once.
CREATE TABLE totp_factors (
    user_id       UUID        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed BYTEA       NOT NULL,
    confirmed_at  TIMESTAMPTZ,
    last_step     BIGINT      NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL
);

-- Single-use recovery codes, by SHA-256 of the normalised code.
CREATE TABLE recovery_codes (
    user_id    UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BYTEA       NOT NULL,
    used_at    TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);

-- WebAuthn authenticators registered as second factors.
CREATE TABLE webauthn_credentials (
    id             UUID        PRIMARY KEY,
    user_id        UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id  BYTEA       NOT NULL UNIQUE,
    name           TEXT        NOT NULL,
    credential     TEXT        NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    last_used_at   TIMESTAMPTZ
);
CREATE INDEX webauthn_credentials_user_idx ON webauthn_credentials (user_id);

-- Short-lived ceremonies shared by every replica: the second step of a login, or a WebAuthn
-- registration. Found by SHA-256 of the token handed to the client; used once.
CREATE TABLE ceremonies (
    token_hash   BYTEA       PRIMARY KEY,
    kind         TEXT        NOT NULL,
    user_id      UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stamp        BIGINT      NOT NULL,
    scope        TEXT        NOT NULL DEFAULT '',
    device_name  TEXT        NOT NULL DEFAULT '',
    address      TEXT        NOT NULL DEFAULT '',
    state        TEXT,
    failures     BIGINT      NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ
);
CREATE INDEX ceremonies_expires_at_idx ON ceremonies (expires_at);

-- Per-account, append-only record of what happened to it. Never a token, hash or code.
CREATE TABLE audit_events (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at          TIMESTAMPTZ NOT NULL,
    kind        TEXT        NOT NULL,
    session_id  UUID,
    address     TEXT        NOT NULL DEFAULT '',
    detail      TEXT        NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, id);
CREATE INDEX audit_events_at_idx ON audit_events (at);

-- Invitation codes (`blindvault admin invite`), by SHA-256; single use, expiring.
CREATE TABLE invites (
    code_hash   BYTEA       PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    used_by     UUID
);
