-- Down: refuses while bodies are still kept here (`blindvault migrate --to` moves them to the
-- object store first). SQLite has no RAISE outside triggers: a CHECK that fails does it.
CREATE TEMP TABLE small_objects_must_be_empty (n INTEGER NOT NULL CHECK (n = 0));
INSERT INTO small_objects_must_be_empty SELECT COUNT(*) FROM small_objects;
DROP TABLE small_objects_must_be_empty;
DROP TABLE small_objects;
