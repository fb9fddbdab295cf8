use uuid::Uuid;

use crate::domain::Timestamp;

/// A registered account as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    /// Stable id, also the JWT subject.
    pub id: Uuid,
    /// Lowercase, unique.
    pub username: String,
    /// `Argon2id(auth_hash)` as a PHC string.
    pub auth_phc: String,
    /// The client's KDF name (`pbkdf2-sha256`).
    pub kdf: String,
    /// The client's KDF salt.
    pub kdf_salt: Vec<u8>,
    /// The client's KDF iteration count.
    pub kdf_iterations: i64,
    /// Bumped on every credential change.
    pub security_stamp: i64,
    /// When the account was registered.
    pub created_at: Timestamp,
    /// When the account last changed.
    pub updated_at: Timestamp,
    /// Set while an operator has the account disabled: no login, no refresh.
    pub disabled_at: Option<Timestamp>,
    /// Byte quota for this account, overriding the deployment's.
    pub quota_bytes: Option<i64>,
    /// Vault quota for this account, overriding the deployment's.
    pub quota_vaults: Option<i64>,
}

/// What registration stores.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Fresh id.
    pub id: Uuid,
    /// Lowercase, validated.
    pub username: String,
    /// Argon2id PHC string.
    pub auth_phc: String,
    /// KDF name.
    pub kdf: String,
    /// KDF salt.
    pub kdf_salt: Vec<u8>,
    /// KDF iterations.
    pub kdf_iterations: i64,
    /// Creation time.
    pub now: Timestamp,
    /// SHA-256 of the invite code it registers with, claimed in the same transaction.
    pub invite: Option<Vec<u8>>,
}

/// A credential change.
#[derive(Debug, Clone)]
pub struct NewCredentials {
    /// Whose.
    pub user_id: Uuid,
    /// The security stamp read before verifying the current credentials.
    pub expected_stamp: i64,
    /// The new Argon2id PHC string.
    pub auth_phc: String,
    /// The new KDF salt.
    pub kdf_salt: Vec<u8>,
    /// The new KDF iterations.
    pub kdf_iterations: i64,
    /// The session that made the change; it stays valid.
    pub keep_session: Uuid,
    /// When.
    pub now: Timestamp,
}

/// A login session: one refresh-token family.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    /// Session id, carried in access tokens as `sid`.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Space-separated scopes granted at login.
    pub scope: String,
    /// Login time.
    pub created_at: Timestamp,
    /// Last refresh.
    pub last_used_at: Timestamp,
    /// When the refresh token stops working.
    pub expires_at: Timestamp,
    /// Set once the session is ended.
    pub revoked_at: Option<Timestamp>,
    /// The name the client gave at login.
    pub device_name: String,
    /// The address it logged in from, truncated.
    pub address: String,
}

impl Session {
    /// Whether tokens of this session may still be used at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// What login stores.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Fresh id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Granted scopes.
    pub scope: String,
    /// SHA-256 of the first refresh token.
    pub refresh_hash: Vec<u8>,
    /// Login time.
    pub now: Timestamp,
    /// Refresh-token expiry.
    pub expires_at: Timestamp,
    /// The name the client gave.
    pub device_name: String,
    /// The client's address, truncated.
    pub address: String,
    /// The audit event of the login, stored in the same transaction.
    pub opened: NewAuditEvent,
}

/// What became of a refresh-token rotation.
#[derive(Debug, Clone)]
pub enum RefreshRotation {
    /// The token was current; the new one is stored. The session as it is now.
    Rotated(Session),
    /// The token had been used before: its session (this id) is now revoked.
    Reused(Uuid),
    /// The token is current but its session (as given) is revoked or expired; nothing changed.
    SessionEnded(Session),
    /// No such token.
    Unknown,
}

/// Failed logins under one key inside the throttling window.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct FailureWindow {
    /// How many.
    pub count: i64,
    /// The oldest of them.
    pub oldest: Option<Timestamp>,
}

/// How many accounts share one shape: what prelogin shows of them (salt length, iterations)
/// and what checking their password costs (the Argon2 parameters they were hashed with).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountShape {
    /// KDF salt length in bytes.
    pub salt_len: i64,
    /// KDF iterations.
    pub iterations: i64,
    /// The PHC string up to the salt: `$argon2id$v=19$m=..,t=..,p=..$`.
    pub hash_params: String,
    /// Accounts of this shape.
    pub accounts: i64,
}

/// An audit event to append.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    /// Whose account.
    pub user_id: Uuid,
    /// When.
    pub at: Timestamp,
    /// What happened.
    pub kind: &'static str,
    /// The session concerned, if any.
    pub session_id: Option<Uuid>,
    /// Truncated address, or empty.
    pub address: String,
    /// A JSON object.
    pub detail: String,
}
