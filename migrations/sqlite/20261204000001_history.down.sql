-- Down (see the Postgres twin): history, trash and change log go; their objects are queued.
INSERT INTO pending_objects (object_key, user_id, delete_after, created_at)
SELECT 'vaults/' || lower(hex(user_id)) || '/' || etag, user_id, CAST(unixepoch('subsec') * 1000 AS INTEGER),
       CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM vault_revisions
WHERE true ON CONFLICT (object_key) DO NOTHING;
INSERT INTO pending_objects (object_key, user_id, delete_after, created_at)
SELECT 'vaults/' || lower(hex(user_id)) || '/' || etag, user_id, CAST(unixepoch('subsec') * 1000 AS INTEGER),
       CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM trash
WHERE true ON CONFLICT (object_key) DO NOTHING;
DROP TABLE changes;
DROP TABLE change_heads;
DROP TABLE trash;
DROP TABLE vault_revisions;
DROP TRIGGER vaults_uid_default;
DROP INDEX vaults_uid_key;
ALTER TABLE vaults DROP COLUMN rename_receipt;
ALTER TABLE vaults DROP COLUMN written_as;
ALTER TABLE vaults DROP COLUMN receipt;
ALTER TABLE vaults DROP COLUMN history_count;
ALTER TABLE vaults DROP COLUMN history_bytes;
ALTER TABLE vaults DROP COLUMN uid;
