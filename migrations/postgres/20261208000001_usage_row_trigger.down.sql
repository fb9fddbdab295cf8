-- Down: the statement-level trigger of 20261206000002 again (the counts stay right: both
-- triggers count the same changes).
DROP TRIGGER user_usage_vaults_update ON vaults;
DROP FUNCTION user_usage_vault_changed();
CREATE TRIGGER user_usage_vaults_update AFTER UPDATE ON vaults
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_usage_vaults();
