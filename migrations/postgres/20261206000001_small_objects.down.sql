-- Down: refuses while bodies are still kept here (`blindvault migrate --to` moves them to the
-- object store first), so that stepping down never drops a vault's only copy.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM small_objects) THEN
        RAISE EXCEPTION 'small_objects still holds vault bodies: step down with blindvault migrate --to';
    END IF;
END
$$;
DROP TABLE small_objects;
