-- A replace updates one vault row, and the statement-level trigger of 20261206000002 then built
-- both transition tables and ran two UPDATEs of the user's usage row for it (old rows out, new
-- rows in): 16% of PostgreSQL's time in the small-write benchmark (P9). Updates of vaults are
-- one row at a time (a replace, a history trim), so this trigger is row-level, and its WHEN
-- makes it skip the rows whose counted columns keep their values (a replace of the same size
-- with a full history window); otherwise it runs one UPDATE. Inserts and deletes stay
-- statement-level: a restore's COPY and an account's deletion touch many rows at once.
DROP TRIGGER user_usage_vaults_update ON vaults;

CREATE FUNCTION user_usage_vault_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id = OLD.user_id THEN
        UPDATE user_usage u
           SET bytes = u.bytes + NEW.size - OLD.size,
               history_bytes = u.history_bytes + NEW.history_bytes - OLD.history_bytes,
               history_revisions = u.history_revisions + NEW.history_count - OLD.history_count
         WHERE u.user_id = NEW.user_id;
    ELSE
        UPDATE user_usage u
           SET bytes = u.bytes - OLD.size, vaults = u.vaults - 1,
               history_bytes = u.history_bytes - OLD.history_bytes,
               history_revisions = u.history_revisions - OLD.history_count
         WHERE u.user_id = OLD.user_id;
        UPDATE user_usage u
           SET bytes = u.bytes + NEW.size, vaults = u.vaults + 1,
               history_bytes = u.history_bytes + NEW.history_bytes,
               history_revisions = u.history_revisions + NEW.history_count
         WHERE u.user_id = NEW.user_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER user_usage_vaults_update AFTER UPDATE ON vaults FOR EACH ROW
    WHEN (OLD.size IS DISTINCT FROM NEW.size
          OR OLD.history_bytes IS DISTINCT FROM NEW.history_bytes
          OR OLD.history_count IS DISTINCT FROM NEW.history_count
          OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION user_usage_vault_changed();

-- login_failures is a queue: every login inserts a row per throttle key and a successful one
-- deletes them again, so under a login storm the table is mostly dead rows, and every count of
-- a key's window walks them (measured: 6,213 dead entries under one address made each count
-- take 0.7 ms, three times PostgreSQL's whole work per login). Vacuum it after a fixed number
-- of dead rows rather than a fraction of its (tiny) live size.
ALTER TABLE login_failures SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
