-- Resumable (tus 1.0) uploads (see the Postgres migration for the design).
CREATE TABLE uploads (
    id             BLOB    PRIMARY KEY NOT NULL,
    user_id        BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    vault_id       TEXT    NOT NULL,
    etag           TEXT    NOT NULL,
    iv             BLOB    NOT NULL,
    salt           BLOB    NOT NULL,
    version        INTEGER NOT NULL CHECK (version >= 1),
    precondition   TEXT    NOT NULL,
    upload_length  INTEGER NOT NULL CHECK (upload_length >= 0),
    upload_offset  INTEGER NOT NULL DEFAULT 0 CHECK (upload_offset >= 0 AND upload_offset <= upload_length),
    multipart_id   TEXT,
    part_etags     TEXT    NOT NULL DEFAULT '',
    part_digests   BLOB    NOT NULL DEFAULT X'',
    lease_owner    BLOB,
    lease_until    INTEGER,
    expires_at     INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX uploads_expires_at_idx ON uploads (expires_at);
CREATE INDEX uploads_user_idx ON uploads (user_id);
