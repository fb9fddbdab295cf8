-- Down: the history, the trash and the change log go; live vaults stay as they are. The objects
-- of every earlier revision and of every vault in the trash are queued for deletion, so the
-- sweeper removes them instead of leaving them in the bucket.
INSERT INTO pending_objects (object_key, user_id, delete_after, created_at)
SELECT 'vaults/' || replace(user_id::text, '-', '') || '/' || etag, user_id, now(), now() FROM vault_revisions
ON CONFLICT (object_key) DO NOTHING;
INSERT INTO pending_objects (object_key, user_id, delete_after, created_at)
SELECT 'vaults/' || replace(user_id::text, '-', '') || '/' || etag, user_id, now(), now() FROM trash
ON CONFLICT (object_key) DO NOTHING;
DROP TABLE changes;
DROP TABLE change_heads;
DROP TABLE trash;
DROP TABLE vault_revisions;
ALTER TABLE vaults DROP COLUMN rename_receipt;
ALTER TABLE vaults DROP COLUMN written_as;
ALTER TABLE vaults DROP COLUMN receipt;
ALTER TABLE vaults DROP COLUMN history_count;
ALTER TABLE vaults DROP COLUMN history_bytes;
DROP INDEX vaults_uid_key;
ALTER TABLE vaults DROP COLUMN uid;
