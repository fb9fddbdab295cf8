-- Down: second factors, ceremonies, the audit trail, invites and the account columns go.
-- Sessions stay (their new columns go); accounts with a factor log in with the password alone.
DROP TABLE invites;
DROP TABLE audit_events;
DROP TABLE ceremonies;
DROP TABLE webauthn_credentials;
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
DROP INDEX sessions_revoked_at_idx;
ALTER TABLE sessions DROP COLUMN address;
ALTER TABLE sessions DROP COLUMN device_name;
ALTER TABLE users DROP COLUMN quota_vaults;
ALTER TABLE users DROP COLUMN quota_bytes;
ALTER TABLE users DROP COLUMN disabled_at;
