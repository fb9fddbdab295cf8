-- What each user holds, kept by triggers as vaults and the trash change, so that a commit under
-- a quota reads one row instead of summing every vault of the user (which grows with the vault
-- count). Statement-level triggers with transition tables: a statement touching many rows
-- updates each user's row once. `user_usage_apply` adds signed per-row amounts.
CREATE TABLE user_usage (
    user_id            UUID   PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    bytes              BIGINT NOT NULL DEFAULT 0,
    vaults             BIGINT NOT NULL DEFAULT 0,
    history_bytes      BIGINT NOT NULL DEFAULT 0,
    history_revisions  BIGINT NOT NULL DEFAULT 0,
    trash_bytes        BIGINT NOT NULL DEFAULT 0,
    trash_vaults       BIGINT NOT NULL DEFAULT 0
);
INSERT INTO user_usage (user_id) SELECT id FROM users;
UPDATE user_usage u
   SET bytes = s.bytes, vaults = s.vaults, history_bytes = s.history_bytes, history_revisions = s.history_revisions
  FROM (SELECT user_id, SUM(size) AS bytes, COUNT(*) AS vaults, SUM(history_bytes) AS history_bytes,
               SUM(history_count) AS history_revisions
          FROM vaults GROUP BY user_id) AS s
 WHERE u.user_id = s.user_id;
UPDATE user_usage u
   SET trash_bytes = s.bytes, trash_vaults = s.vaults
  FROM (SELECT user_id, SUM(size + history_bytes) AS bytes, COUNT(*) AS vaults FROM trash GROUP BY user_id) AS s
 WHERE u.user_id = s.user_id;

CREATE FUNCTION user_usage_add_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_usage (user_id) SELECT id FROM new_rows ON CONFLICT (user_id) DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER user_usage_users AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_usage_add_users();

-- Vaults: TG_ARGV[0] says which transition tables this trigger has.
CREATE FUNCTION user_usage_vaults() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE user_usage u
           SET bytes = u.bytes + d.bytes, vaults = u.vaults + d.vaults,
               history_bytes = u.history_bytes + d.history_bytes,
               history_revisions = u.history_revisions + d.history_revisions
          FROM (SELECT user_id, SUM(size) AS bytes, COUNT(*) AS vaults, SUM(history_bytes) AS history_bytes,
                       SUM(history_count) AS history_revisions
                  FROM new_rows GROUP BY user_id) AS d
         WHERE u.user_id = d.user_id;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE user_usage u
           SET bytes = u.bytes - d.bytes, vaults = u.vaults - d.vaults,
               history_bytes = u.history_bytes - d.history_bytes,
               history_revisions = u.history_revisions - d.history_revisions
          FROM (SELECT user_id, SUM(size) AS bytes, COUNT(*) AS vaults, SUM(history_bytes) AS history_bytes,
                       SUM(history_count) AS history_revisions
                  FROM old_rows GROUP BY user_id) AS d
         WHERE u.user_id = d.user_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER user_usage_vaults_insert AFTER INSERT ON vaults
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_usage_vaults();
CREATE TRIGGER user_usage_vaults_update AFTER UPDATE ON vaults
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_usage_vaults();
CREATE TRIGGER user_usage_vaults_delete AFTER DELETE ON vaults
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION user_usage_vaults();

CREATE FUNCTION user_usage_trash() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE user_usage u SET trash_bytes = u.trash_bytes + d.bytes, trash_vaults = u.trash_vaults + d.vaults
          FROM (SELECT user_id, SUM(size + history_bytes) AS bytes, COUNT(*) AS vaults
                  FROM new_rows GROUP BY user_id) AS d
         WHERE u.user_id = d.user_id;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE user_usage u SET trash_bytes = u.trash_bytes - d.bytes, trash_vaults = u.trash_vaults - d.vaults
          FROM (SELECT user_id, SUM(size + history_bytes) AS bytes, COUNT(*) AS vaults
                  FROM old_rows GROUP BY user_id) AS d
         WHERE u.user_id = d.user_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER user_usage_trash_insert AFTER INSERT ON trash
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_usage_trash();
CREATE TRIGGER user_usage_trash_update AFTER UPDATE ON trash
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_usage_trash();
CREATE TRIGGER user_usage_trash_delete AFTER DELETE ON trash
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION user_usage_trash();
