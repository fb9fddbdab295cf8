-- Down: the statement-level usage trigger of 20261206000002 again (the counts stay right: both
-- triggers count the same changes), and login_failures vacuumed by the server's defaults.
DROP TRIGGER user_usage_vaults_update ON vaults;
DROP FUNCTION user_usage_vault_changed();
CREATE TRIGGER user_usage_vaults_update AFTER UPDATE ON vaults
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_usage_vaults();
ALTER TABLE login_failures RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
