-- Revision history, the trash, and the per-user change log (see the Postgres migration for
-- the design). SQLite cannot add a NOT NULL column without a default: every write sets `uid`.
ALTER TABLE vaults ADD COLUMN uid BLOB;
UPDATE vaults SET uid = randomblob(16);
CREATE UNIQUE INDEX vaults_uid_key ON vaults (uid);
-- A binary from before this migration (a rollback) inserts vaults without a uid: give them one.
CREATE TRIGGER vaults_uid_default AFTER INSERT ON vaults WHEN NEW.uid IS NULL
BEGIN
    UPDATE vaults SET uid = randomblob(16) WHERE rowid = NEW.rowid;
END;
ALTER TABLE vaults ADD COLUMN history_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vaults ADD COLUMN history_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vaults ADD COLUMN receipt BLOB;
ALTER TABLE vaults ADD COLUMN written_as TEXT;
ALTER TABLE vaults ADD COLUMN rename_receipt BLOB;

CREATE TABLE vault_revisions (
    uid          BLOB    NOT NULL,
    revision     INTEGER NOT NULL CHECK (revision >= 1),
    user_id      BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    etag         TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    size         INTEGER NOT NULL CHECK (size >= 0),
    sha256       BLOB    NOT NULL,
    iv           BLOB    NOT NULL,
    salt         BLOB    NOT NULL,
    receipt      BLOB,
    written_as   TEXT,
    rename_receipt BLOB,
    created_at   INTEGER NOT NULL,
    replaced_at  INTEGER NOT NULL,
    in_window    INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (uid, revision)
) STRICT;
CREATE INDEX vault_revisions_window_idx ON vault_revisions (uid, revision) WHERE in_window;
CREATE INDEX vault_revisions_aging_idx ON vault_revisions (replaced_at) WHERE NOT in_window;
CREATE INDEX vault_revisions_user_idx ON vault_revisions (user_id);

CREATE TABLE trash (
    id             BLOB    PRIMARY KEY NOT NULL,
    user_id        BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    vault_id       TEXT    NOT NULL,
    etag           TEXT    NOT NULL,
    revision       INTEGER NOT NULL,
    version        INTEGER NOT NULL,
    size           INTEGER NOT NULL,
    sha256         BLOB    NOT NULL,
    iv             BLOB    NOT NULL,
    salt           BLOB    NOT NULL,
    receipt        BLOB,
    written_as     TEXT,
    rename_receipt BLOB,
    history_bytes  INTEGER NOT NULL,
    history_count  INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    deleted_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX trash_user_idx ON trash (user_id, deleted_at, id);
CREATE INDEX trash_expires_at_idx ON trash (expires_at);

CREATE TABLE change_heads (
    user_id            BLOB    PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq                INTEGER NOT NULL,
    compacted_through  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE changes (
    user_id    BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    vault_id   TEXT    NOT NULL,
    revision   INTEGER,
    etag       TEXT,
    trash_id   BLOB,
    at         INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) STRICT;
CREATE INDEX changes_at_idx ON changes (at);
