-- Down: the counts go; usage is summed from the vaults again by binaries before this one.
DROP TRIGGER user_usage_trash_delete ON trash;
DROP TRIGGER user_usage_trash_update ON trash;
DROP TRIGGER user_usage_trash_insert ON trash;
DROP FUNCTION user_usage_trash();
DROP TRIGGER user_usage_vaults_delete ON vaults;
DROP TRIGGER user_usage_vaults_update ON vaults;
DROP TRIGGER user_usage_vaults_insert ON vaults;
DROP FUNCTION user_usage_vaults();
DROP TRIGGER user_usage_users ON users;
DROP FUNCTION user_usage_add_users();
DROP TABLE user_usage;
