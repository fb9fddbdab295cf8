-- Resumable (tus 1.0) uploads. An upload becomes one vault revision: its etag, and so its
-- object key `vaults/{user_id}/{etag}`, is chosen at creation and queued in pending_objects
-- until the upload commits or expires. Bytes arrive in PATCH requests; every full part
-- (8 MiB) goes to the object store as a multipart part (S3) or into a spool file (local
-- files), and the tail that does not yet fill a part is kept durably too, so any replica can
-- resume at `upload_offset`.
CREATE TABLE uploads (
    id             UUID        PRIMARY KEY,
    user_id        UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    vault_id       TEXT        COLLATE "C" NOT NULL,
    etag           TEXT        NOT NULL,
    iv             BYTEA       NOT NULL,
    salt           BYTEA       NOT NULL,
    version        BIGINT      NOT NULL CHECK (version >= 1),
    -- "*" (create only) or the etag the vault must still have when the upload completes.
    precondition   TEXT        NOT NULL,
    upload_length  BIGINT      NOT NULL CHECK (upload_length >= 0),
    upload_offset  BIGINT      NOT NULL DEFAULT 0 CHECK (upload_offset >= 0 AND upload_offset <= upload_length),
    -- The S3 multipart upload id (NULL on local files).
    multipart_id   TEXT,
    -- One entry per stored part: its ETag from the object store, and its SHA-256. Once the
    -- upload committed, part_etags is '-' and the row stays until it expires, so that a
    -- client that missed the last answer can ask HEAD (offset = length) again.
    part_etags     TEXT        NOT NULL DEFAULT '',
    part_digests   BYTEA       NOT NULL DEFAULT '\x',
    -- A PATCH in progress holds this lease (renewed with every part it stores); another PATCH
    -- is refused until it ends or lapses, and a PATCH whose lease was taken stops writing.
    lease_owner    UUID,
    lease_until    TIMESTAMPTZ,
    expires_at     TIMESTAMPTZ NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX uploads_expires_at_idx ON uploads (expires_at);
CREATE INDEX uploads_user_idx ON uploads (user_id);
