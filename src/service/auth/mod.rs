//! Accounts: prelogin, registration and credential changes.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

mod audit;
mod codes;
mod factors;
mod second_step;
mod session;
mod sessions;
mod totp;
mod webauthn;

pub use audit::{Actor, Audit, truncate_address};
pub use codes::{CHALLENGE_TTL, RECOVERY_CODES};
pub use factors::{FactorStatus, TotpEnrolment};
pub use second_step::{Challenge, SecondFactor, SecondStep};
pub use session::{Login, Principal, SessionInfo, TokenPair};
pub use sessions::{AuditView, MAX_EVENTS_PAGE, SessionView};
pub use totp::{
    STEP_SECONDS as TOTP_STEP_SECONDS, base32_decode as totp_base32_decode, code_for as totp_code_for,
};
pub use webauthn::{WebauthnAdded, WebauthnKey, WebauthnRegistration};

use super::decoy::Decoys;
use super::hasher::{PasswordHasher, Verified};
use super::secrets::SecretsKey;
use super::throttle::LoginThrottle;
use super::tokens::TokenIssuer;
use super::{Changes, ServiceError};
use crate::domain::Timestamp;
use crate::store::{Change, MetadataStore, NewCredentials, NewUser, StoreError, User};

/// The only client KDF this server knows.
pub const KDF_PBKDF2_SHA256: &str = "pbkdf2-sha256";
/// Length of `auth_hash`.
pub const AUTH_HASH_LEN: usize = 32;
/// Name of the server secret behind decoy prelogin salts.
const DECOY_SECRET: &str = "prelogin-decoy-salt";
/// Most PBKDF2 iterations accepted (a client asking for more would only hurt itself).
const MAX_KDF_ITERATIONS: u64 = 100_000_000;

/// Who may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationMode {
    /// Anyone.
    Open,
    /// Whoever holds an unused, unexpired invite code (`blindvault admin invite`).
    Invite,
    /// Nobody.
    Closed,
}

/// Account rules that come from configuration.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    /// Who may register.
    pub registration: RegistrationMode,
    /// The issuer authenticator apps show beside a TOTP code.
    pub issuer: String,
    /// Lowest PBKDF2 iteration count accepted.
    pub min_kdf_iterations: u32,
    /// Refresh-token lifetime (sliding).
    pub refresh_ttl: Duration,
}

/// KDF parameters a client needs to derive its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdfParams {
    /// Always `pbkdf2-sha256`.
    pub kdf: String,
    /// PBKDF2 iterations.
    pub iterations: u64,
    /// PBKDF2 salt.
    pub salt: Vec<u8>,
}

/// What second factors need from the server: the key that seals TOTP secrets, and the
/// WebAuthn relying party.
#[derive(Clone)]
pub struct FactorKeys {
    /// Seals TOTP secrets at rest.
    pub secrets: SecretsKey,
    /// The WebAuthn relying party (id and origin from `BLINDVAULT_PUBLIC_URL`).
    pub webauthn: Arc<webauthn_rs::Webauthn>,
}

/// A registration request, decoded.
#[derive(Debug, Clone)]
pub struct Registration {
    /// As typed; normalised here.
    pub username: String,
    /// H_auth.
    pub auth_hash: Vec<u8>,
    /// The client's KDF salt.
    pub kdf: KdfParams,
    /// The invite code, where registration is by invite.
    pub invite: Option<String>,
}

/// A credential change, decoded.
#[derive(Debug, Clone)]
pub struct CredentialChange {
    /// The H_auth in use now.
    pub current_auth_hash: Vec<u8>,
    /// The new H_auth.
    pub new_auth_hash: Vec<u8>,
    /// The new salt.
    pub new_salt: Vec<u8>,
    /// The new iteration count.
    pub iterations: u64,
    /// Where the request came from (for throttling).
    pub client: IpAddr,
}

/// Authentication and account rules. Cheap to share behind an `Arc`.
pub struct AuthService {
    pub(super) store: Arc<dyn MetadataStore>,
    pub(super) hasher: Arc<PasswordHasher>,
    pub(super) tokens: TokenIssuer,
    pub(super) throttle: LoginThrottle,
    pub(super) policy: AuthPolicy,
    pub(super) changes: Arc<Changes>,
    pub(super) audit: Audit,
    pub(super) secrets: SecretsKey,
    pub(super) webauthn: Arc<webauthn_rs::Webauthn>,
    decoys: Decoys,
}

impl AuthService {
    /// Builds the service; reads (or creates) the shared decoy-salt secret from the store.
    pub async fn new(
        store: Arc<dyn MetadataStore>,
        hasher: Arc<PasswordHasher>,
        tokens: TokenIssuer,
        throttle: LoginThrottle,
        policy: AuthPolicy,
        changes: Arc<Changes>,
        keys: FactorKeys,
    ) -> Result<Self, StoreError> {
        let decoy_key = store.server_secret(DECOY_SECRET).await?;
        let decoys = Decoys::new(
            decoy_key,
            Arc::clone(&store),
            Arc::clone(&hasher),
            i64::from(policy.min_kdf_iterations),
        );
        let audit = Audit::new(Arc::clone(&store));
        let FactorKeys { secrets, webauthn } = keys;
        Ok(Self { store, hasher, tokens, throttle, policy, changes, audit, secrets, webauthn, decoys })
    }

    /// The user with this id (`NotFound` once deleted).
    pub async fn user(&self, id: uuid::Uuid) -> Result<crate::store::User, ServiceError> {
        self.store.user_by_id(id).await?.ok_or(ServiceError::NotFound)
    }

    /// The hasher, for metrics.
    pub fn hasher(&self) -> &Arc<PasswordHasher> {
        &self.hasher
    }

    /// KDF parameters for `username`. An unknown name gets a decoy's: stable, and drawn from
    /// the shapes real accounts have (see `decoy.rs`).
    pub async fn prelogin(&self, username: &str) -> Result<KdfParams, ServiceError> {
        let username = normalize_username(username)?;
        if let Some(user) = self.store.user_by_username(&username).await? {
            return Ok(kdf_of(&user));
        }
        let decoy = self.decoys.of(&username).await?;
        Ok(KdfParams {
            kdf: KDF_PBKDF2_SHA256.into(),
            iterations: decoy.iterations.max(0) as u64,
            salt: decoy.salt,
        })
    }

    /// Creates an account.
    pub async fn register(&self, reg: Registration) -> Result<User, ServiceError> {
        let invite = match (self.policy.registration, &reg.invite) {
            (RegistrationMode::Closed, _) => return Err(ServiceError::RegistrationClosed),
            (RegistrationMode::Invite, None) => return Err(ServiceError::InviteRequired),
            (RegistrationMode::Invite, Some(code)) => Some(invite_hash(code)),
            (RegistrationMode::Open, _) => None,
        };
        let username = normalize_username(&reg.username)?;
        check_auth_hash("auth_hash", &reg.auth_hash)?;
        if reg.kdf.kdf != KDF_PBKDF2_SHA256 {
            return Err(ServiceError::invalid("kdf", "the only supported kdf is pbkdf2-sha256"));
        }
        check_salt("salt", &reg.kdf.salt)?;
        let iterations = self.check_iterations(reg.kdf.iterations)?;
        if self.store.user_by_username(&username).await?.is_some() {
            return Err(ServiceError::UsernameTaken);
        }
        let auth_phc = self.hasher.hash(reg.auth_hash).await?;
        let user = NewUser {
            id: Uuid::now_v7(),
            username,
            auth_phc,
            kdf: reg.kdf.kdf,
            kdf_salt: reg.kdf.salt,
            kdf_iterations: iterations,
            now: Timestamp::now(),
            invite,
        };
        let user = self.store.create_user(&user).await.map_err(|e| match e {
            StoreError::Conflict("invite") => ServiceError::InvalidInvite,
            other => other.into(),
        })?;
        tracing::info!(user_id = %user.id, "account registered");
        Ok(user)
    }

    /// Replaces the caller's credentials and ends every other session of theirs.
    pub async fn change_credentials(
        &self,
        who: &Principal,
        change: CredentialChange,
    ) -> Result<(), ServiceError> {
        check_auth_hash("current_auth_hash", &change.current_auth_hash)?;
        check_auth_hash("new_auth_hash", &change.new_auth_hash)?;
        check_salt("new_salt", &change.new_salt)?;
        let iterations = self.check_iterations(change.iterations)?;
        let user = self.store.user_by_id(who.user_id).await?.ok_or(ServiceError::TokenRevoked)?;
        self.check_password(&user.username, Some(&user), change.current_auth_hash, change.client).await?;
        let auth_phc = self.hasher.hash(change.new_auth_hash).await?;
        let changed = self
            .store
            .change_credentials(&NewCredentials {
                user_id: user.id,
                expected_stamp: user.security_stamp,
                auth_phc,
                kdf_salt: change.new_salt,
                kdf_iterations: iterations,
                keep_session: who.session_id,
                now: Timestamp::now(),
            })
            .await?;
        if !changed {
            // Another change won the race: the "current" hash is no longer current.
            return Err(ServiceError::InvalidCredentials);
        }
        self.changes.announce(Change::User(user.id)).await;
        let actor = Actor::new(Some(who.session_id), change.client);
        self.audit.record(user.id, "password_changed", &actor, serde_json::json!({})).await;
        tracing::info!(user_id = %user.id, "credentials changed; other sessions revoked");
        Ok(())
    }

    /// Re-confirms the caller's credentials (from `client`) before an irreversible change,
    /// throttled as logins are.
    pub async fn confirm(
        &self,
        who: &Principal,
        auth_hash: Vec<u8>,
        client: IpAddr,
    ) -> Result<(), ServiceError> {
        self.reconfirm(who, auth_hash, client).await.map(drop)
    }

    /// Checks `auth_hash` against `user`'s stored hash (a decoy's for an unknown username,
    /// with the same work) behind the throttle: the attempt counts as a failure before any
    /// hashing, and only a match takes it back. `InvalidCredentials` when it does not match.
    pub(super) async fn check_password(
        &self,
        username: &str,
        user: Option<&User>,
        auth_hash: Vec<u8>,
        client: IpAddr,
    ) -> Result<Verified, ServiceError> {
        let stored = match user {
            Some(user) => user.auth_phc.clone(),
            None => self.decoys.of(username).await?.phc,
        };
        let attempt = self.throttle.reserve(username, client, Timestamp::now()).await?;
        let verified = match self.hasher.verify(auth_hash, stored).await {
            Ok(verified) => verified,
            Err(e) => {
                self.throttle.not_checked(attempt).await;
                return Err(e);
            }
        };
        if user.is_none() || !verified.matches {
            return Err(ServiceError::InvalidCredentials);
        }
        self.throttle.succeeded(attempt).await?;
        Ok(verified)
    }

    fn check_iterations(&self, iterations: u64) -> Result<i64, ServiceError> {
        let min = u64::from(self.policy.min_kdf_iterations);
        if !(min..=MAX_KDF_ITERATIONS).contains(&iterations) {
            return Err(ServiceError::invalid(
                "iterations",
                format!("must be between {min} and {MAX_KDF_ITERATIONS}"),
            ));
        }
        Ok(iterations as i64)
    }
}

/// The stored form of an invite code: SHA-256 of the code as given, trimmed (128 random bits).
pub fn invite_hash(code: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(code.trim().as_bytes()).to_vec()
}

pub(super) fn kdf_of(user: &User) -> KdfParams {
    KdfParams {
        kdf: user.kdf.clone(),
        iterations: u64::try_from(user.kdf_iterations).unwrap_or_default(),
        salt: user.kdf_salt.clone(),
    }
}

/// Lowercases `raw` and checks it against `[a-z0-9._@+-]{3,64}`.
pub fn normalize_username(raw: &str) -> Result<String, ServiceError> {
    let name = raw.to_ascii_lowercase();
    let ok = (3..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._@+-".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(ServiceError::invalid("username", "3 to 64 characters of a-z, 0-9 and . _ @ + -"))
    }
}

pub(super) fn check_auth_hash(field: &'static str, hash: &[u8]) -> Result<(), ServiceError> {
    if hash.len() == AUTH_HASH_LEN {
        Ok(())
    } else {
        Err(ServiceError::invalid(field, format!("must be {AUTH_HASH_LEN} bytes")))
    }
}

fn check_salt(field: &'static str, salt: &[u8]) -> Result<(), ServiceError> {
    if (16..=64).contains(&salt.len()) {
        Ok(())
    } else {
        Err(ServiceError::invalid(field, "must be 16 to 64 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(
            normalize_username("Alice.Smith+vault@Example.org").unwrap(),
            "alice.smith+vault@example.org"
        );
        for bad in ["ab", "has space", "ünïcode", &"x".repeat(65), "semi;colon"] {
            assert!(normalize_username(bad).is_err(), "{bad}");
        }
    }
}
