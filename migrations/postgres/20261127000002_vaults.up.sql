-- Vault metadata and the object-deletion queue.
-- A vault's ciphertext lives in the object store under `vaults/{user_id}/{etag}`: every write
-- makes a new etag and so a new, never-reused key.

CREATE TABLE vaults (
    user_id     UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    vault_id    TEXT        COLLATE "C" NOT NULL,
    etag        TEXT        NOT NULL,
    revision    BIGINT      NOT NULL CHECK (revision >= 1),
    version     BIGINT      NOT NULL CHECK (version >= 1),
    size        BIGINT      NOT NULL CHECK (size >= 0),
    sha256      BYTEA       NOT NULL,
    iv          BYTEA       NOT NULL,
    salt        BYTEA       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, vault_id)
);

-- Objects that may be deleted once `delete_after` has passed: uploads in progress (their
-- row is removed when they commit) and revisions that were replaced or deleted (kept for a
-- grace period so that readers already streaming them can finish). A sweeper leases due
-- entries (`lease_until`) while it deletes their objects; an upload whose entry is leased or
-- due can no longer commit.
CREATE TABLE pending_objects (
    object_key    TEXT        PRIMARY KEY,
    user_id       UUID        NOT NULL,
    delete_after  TIMESTAMPTZ NOT NULL,
    lease_until   TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX pending_objects_delete_after_idx ON pending_objects (delete_after);
