-- Down (see the Postgres twin): uploads in progress are abandoned, their tails queued.
INSERT INTO pending_objects (object_key, user_id, delete_after, created_at)
SELECT 'uploads/' || lower(hex(id)) || '.tail', user_id, CAST(unixepoch('subsec') * 1000 AS INTEGER),
       CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM uploads
WHERE true ON CONFLICT (object_key) DO NOTHING;
DROP TABLE uploads;
