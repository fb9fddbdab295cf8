-- Down: the counts go; usage is summed from the vaults again by binaries before this one.
DROP TRIGGER user_usage_trash_delete;
DROP TRIGGER user_usage_trash_update;
DROP TRIGGER user_usage_trash_insert;
DROP TRIGGER user_usage_vaults_delete;
DROP TRIGGER user_usage_vaults_update;
DROP TRIGGER user_usage_vaults_insert;
DROP TRIGGER user_usage_users;
DROP TABLE user_usage;
