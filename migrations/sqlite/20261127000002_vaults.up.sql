-- Vault metadata and the object-deletion queue (see the Postgres migration for the design).

CREATE TABLE vaults (
    user_id     BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    vault_id    TEXT    NOT NULL,
    etag        TEXT    NOT NULL,
    revision    INTEGER NOT NULL CHECK (revision >= 1),
    version     INTEGER NOT NULL CHECK (version >= 1),
    size        INTEGER NOT NULL CHECK (size >= 0),
    sha256      BLOB    NOT NULL,
    iv          BLOB    NOT NULL,
    salt        BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, vault_id)
) STRICT;

CREATE TABLE pending_objects (
    object_key    TEXT    PRIMARY KEY NOT NULL,
    user_id       BLOB    NOT NULL,
    delete_after  INTEGER NOT NULL,
    lease_until   INTEGER,
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX pending_objects_delete_after_idx ON pending_objects (delete_after);
