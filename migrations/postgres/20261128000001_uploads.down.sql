-- Down: resumable uploads in progress are abandoned; their objects (and tails) are queued for
-- deletion under their final keys, and the tails are swept by their own keys.
INSERT INTO pending_objects (object_key, user_id, delete_after, created_at)
SELECT 'uploads/' || replace(id::text, '-', '') || '.tail', user_id, now(), now() FROM uploads
ON CONFLICT (object_key) DO NOTHING;
DROP TABLE uploads;
