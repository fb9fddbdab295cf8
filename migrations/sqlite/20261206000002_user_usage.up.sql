-- What each user holds, kept by triggers (see the Postgres migration). SQLite has row-level
-- triggers only, which is what one writer at a time needs.
CREATE TABLE user_usage (
    user_id            BLOB    PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    bytes              INTEGER NOT NULL DEFAULT 0,
    vaults             INTEGER NOT NULL DEFAULT 0,
    history_bytes      INTEGER NOT NULL DEFAULT 0,
    history_revisions  INTEGER NOT NULL DEFAULT 0,
    trash_bytes        INTEGER NOT NULL DEFAULT 0,
    trash_vaults       INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO user_usage (user_id, bytes, vaults, history_bytes, history_revisions, trash_bytes, trash_vaults)
SELECT u.id,
       (SELECT COALESCE(SUM(size), 0) FROM vaults v WHERE v.user_id = u.id),
       (SELECT COUNT(*) FROM vaults v WHERE v.user_id = u.id),
       (SELECT COALESCE(SUM(history_bytes), 0) FROM vaults v WHERE v.user_id = u.id),
       (SELECT COALESCE(SUM(history_count), 0) FROM vaults v WHERE v.user_id = u.id),
       (SELECT COALESCE(SUM(size + history_bytes), 0) FROM trash t WHERE t.user_id = u.id),
       (SELECT COUNT(*) FROM trash t WHERE t.user_id = u.id)
  FROM users u;

CREATE TRIGGER user_usage_users AFTER INSERT ON users
BEGIN
    INSERT OR IGNORE INTO user_usage (user_id) VALUES (NEW.id);
END;

CREATE TRIGGER user_usage_vaults_insert AFTER INSERT ON vaults
BEGIN
    UPDATE user_usage SET bytes = bytes + NEW.size, vaults = vaults + 1,
           history_bytes = history_bytes + NEW.history_bytes, history_revisions = history_revisions + NEW.history_count
     WHERE user_id = NEW.user_id;
END;
CREATE TRIGGER user_usage_vaults_update AFTER UPDATE OF size, history_bytes, history_count ON vaults
BEGIN
    UPDATE user_usage SET bytes = bytes + NEW.size - OLD.size,
           history_bytes = history_bytes + NEW.history_bytes - OLD.history_bytes,
           history_revisions = history_revisions + NEW.history_count - OLD.history_count
     WHERE user_id = NEW.user_id;
END;
CREATE TRIGGER user_usage_vaults_delete AFTER DELETE ON vaults
BEGIN
    UPDATE user_usage SET bytes = bytes - OLD.size, vaults = vaults - 1,
           history_bytes = history_bytes - OLD.history_bytes, history_revisions = history_revisions - OLD.history_count
     WHERE user_id = OLD.user_id;
END;

CREATE TRIGGER user_usage_trash_insert AFTER INSERT ON trash
BEGIN
    UPDATE user_usage SET trash_bytes = trash_bytes + NEW.size + NEW.history_bytes, trash_vaults = trash_vaults + 1
     WHERE user_id = NEW.user_id;
END;
CREATE TRIGGER user_usage_trash_update AFTER UPDATE OF size, history_bytes ON trash
BEGIN
    UPDATE user_usage SET trash_bytes = trash_bytes + NEW.size + NEW.history_bytes - OLD.size - OLD.history_bytes
     WHERE user_id = NEW.user_id;
END;
CREATE TRIGGER user_usage_trash_delete AFTER DELETE ON trash
BEGIN
    UPDATE user_usage SET trash_bytes = trash_bytes - OLD.size - OLD.history_bytes, trash_vaults = trash_vaults - 1
     WHERE user_id = OLD.user_id;
END;
