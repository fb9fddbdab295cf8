-- Revision history, the trash, and the per-user change log (issue 15).
--
-- Every vault gets an internal identity, `uid`, made when it is created and kept for life
-- (through the trash and back). Its earlier revisions are kept under that uid, so that a new
-- vault created under a freed id has no history of the old one.
-- The default is for binaries from before this migration, which insert vaults without one
-- (the documented rollback runs an older binary against a newer schema).
ALTER TABLE vaults ADD COLUMN uid UUID;
UPDATE vaults SET uid = gen_random_uuid();
ALTER TABLE vaults ALTER COLUMN uid SET NOT NULL;
ALTER TABLE vaults ALTER COLUMN uid SET DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX vaults_uid_key ON vaults (uid);
-- What the vault's retained earlier revisions hold (kept here so usage never sums history).
ALTER TABLE vaults ADD COLUMN history_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE vaults ADD COLUMN history_count BIGINT NOT NULL DEFAULT 0;
-- Opaque bytes a client sent with a restore, served with the revision (docs/CRYPTO.md).
ALTER TABLE vaults ADD COLUMN receipt BYTEA;
-- The vault id the revision's ciphertext was written under, where the vault has been restored
-- from the trash under another id since (NULL: its own id), and the opaque receipt the client
-- sent with that restore.
ALTER TABLE vaults ADD COLUMN written_as TEXT;
ALTER TABLE vaults ADD COLUMN rename_receipt BYTEA;

-- Earlier revisions. A row leaves the count window (`in_window` false) when more than
-- BLINDVAULT_KEEP_REVISIONS newer revisions exist; it is dropped, and its object queued for
-- deletion, once it has also been replaced longer than BLINDVAULT_KEEP_FOR ago.
CREATE TABLE vault_revisions (
    uid          UUID        NOT NULL,
    revision     BIGINT      NOT NULL CHECK (revision >= 1),
    user_id      UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    etag         TEXT        NOT NULL,
    version      BIGINT      NOT NULL,
    size         BIGINT      NOT NULL CHECK (size >= 0),
    sha256       BYTEA       NOT NULL,
    iv           BYTEA       NOT NULL,
    salt         BYTEA       NOT NULL,
    receipt      BYTEA,
    written_as   TEXT,
    rename_receipt BYTEA,
    created_at   TIMESTAMPTZ NOT NULL,
    replaced_at  TIMESTAMPTZ NOT NULL,
    in_window    BOOLEAN     NOT NULL DEFAULT TRUE,
    PRIMARY KEY (uid, revision)
);
CREATE INDEX vault_revisions_window_idx ON vault_revisions (uid, revision) WHERE in_window;
CREATE INDEX vault_revisions_aging_idx ON vault_revisions (replaced_at) WHERE NOT in_window;
CREATE INDEX vault_revisions_user_idx ON vault_revisions (user_id);

-- Deleted vaults, with their history, until restored, purged or expired. `id` is the vault's uid.
CREATE TABLE trash (
    id             UUID        PRIMARY KEY,
    user_id        UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    vault_id       TEXT        COLLATE "C" NOT NULL,
    etag           TEXT        NOT NULL,
    revision       BIGINT      NOT NULL,
    version        BIGINT      NOT NULL,
    size           BIGINT      NOT NULL,
    sha256         BYTEA       NOT NULL,
    iv             BYTEA       NOT NULL,
    salt           BYTEA       NOT NULL,
    receipt        BYTEA,
    written_as     TEXT,
    rename_receipt BYTEA,
    history_bytes  BIGINT      NOT NULL,
    history_count  BIGINT      NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    deleted_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX trash_user_idx ON trash (user_id, deleted_at, id);
CREATE INDEX trash_expires_at_idx ON trash (expires_at);

-- The per-user change log. `seq` is the user's own counter, taken from change_heads in the
-- transaction of the change, so a user's changes are numbered in commit order.
CREATE TABLE change_heads (
    user_id            UUID   PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    seq                BIGINT NOT NULL,
    -- Every change up to this one has been compacted away.
    compacted_through  BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE changes (
    user_id    UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        BIGINT      NOT NULL,
    kind       TEXT        NOT NULL,
    vault_id   TEXT        COLLATE "C" NOT NULL,
    revision   BIGINT,
    etag       TEXT,
    trash_id   UUID,
    at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, seq)
);
CREATE INDEX changes_at_idx ON changes (at);
