//! Managing second factors: TOTP enrolment and removal, recovery codes, and what is enabled.
//! Every change needs a fresh password check (throttled as logins are) and ends the user's
//! other sessions.

use std::net::IpAddr;

use super::audit::Actor;
use super::codes::recovery_codes;
use super::totp;
use super::{AuthService, Principal, check_auth_hash};
use crate::domain::Timestamp;
use crate::service::ServiceError;
use crate::store::{Change, User};

/// A TOTP enrolment in progress: what the authenticator app needs.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    /// The secret, base32 (for typing in).
    pub secret: String,
    /// The `otpauth://` URI (for a QR code).
    pub otpauth_uri: String,
}

/// Which second factors an account has.
#[derive(Debug, Clone)]
pub struct FactorStatus {
    /// A confirmed TOTP factor.
    pub totp: bool,
    /// A TOTP enrolment waiting for its first code.
    pub totp_pending: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
    /// Registered WebAuthn authenticators.
    pub webauthn: Vec<super::webauthn::WebauthnKey>,
}

impl AuthService {
    /// What the caller has enabled.
    pub async fn factors(&self, who: &Principal) -> Result<FactorStatus, ServiceError> {
        let totp = self.store.totp(who.user_id).await?;
        Ok(FactorStatus {
            totp: totp.as_ref().is_some_and(|f| f.confirmed_at.is_some()),
            totp_pending: totp.as_ref().is_some_and(|f| f.confirmed_at.is_none()),
            recovery_codes_left: self.store.recovery_codes_left(who.user_id).await?,
            webauthn: self.webauthn_keys(who.user_id).await?,
        })
    }

    /// Starts a TOTP enrolment (replacing an unconfirmed one): a fresh secret, stored sealed.
    /// `SecondFactorExists` when a confirmed one exists.
    pub async fn totp_begin(
        &self,
        who: &Principal,
        auth_hash: Vec<u8>,
        client: IpAddr,
    ) -> Result<TotpEnrolment, ServiceError> {
        let user = self.reconfirm(who, auth_hash, client).await?;
        let secret: [u8; totp::SECRET_LEN] = rand::random();
        let sealed = self.secrets.seal(&secret, user.id.as_bytes());
        if !self.store.begin_totp(user.id, &sealed, Timestamp::now()).await? {
            return Err(ServiceError::SecondFactorExists);
        }
        self.audit
            .record(user.id, "totp_enrolment_started", &actor(who, client), serde_json::json!({}))
            .await;
        Ok(TotpEnrolment {
            secret: totp::base32(&secret),
            otpauth_uri: totp::otpauth_uri(&self.policy.issuer, &user.username, &secret),
        })
    }

    /// Confirms the enrolment with a first code: the factor is on and the other sessions end.
    /// When it is the account's first second factor, the recovery codes (shown only now) come
    /// with it; otherwise the account keeps the ones it has. A wrong code counts toward the
    /// throttles.
    pub async fn totp_confirm(
        &self,
        who: &Principal,
        code: &str,
        client: IpAddr,
    ) -> Result<Option<Vec<String>>, ServiceError> {
        let user = self.store.user_by_id(who.user_id).await?.ok_or(ServiceError::TokenRevoked)?;
        let factor = self.store.totp(user.id).await?.filter(|f| f.confirmed_at.is_none());
        let Some(factor) = factor else { return Err(ServiceError::NotFound) };
        let secret = self.secrets.open(&factor.secret_sealed, user.id.as_bytes())?;
        let now = Timestamp::now();
        let attempt = self.throttle.reserve(&user.username, client, now).await?;
        let Some(step) = totp::matching_step(&secret, code, totp::step_of(now.unix_seconds())) else {
            self.audit
                .record(
                    user.id,
                    "second_factor_failed",
                    &actor(who, client),
                    serde_json::json!({ "method": "totp" }),
                )
                .await;
            return Err(ServiceError::InvalidSecondFactor);
        };
        self.throttle.succeeded(attempt).await?;
        let first = self.store.webauthn_credentials(user.id).await?.is_empty();
        let (codes, hashes) = recovery_codes(user.id);
        let fresh = first.then_some(hashes.as_slice());
        if !self.store.confirm_totp(user.id, step, fresh, who.session_id, now).await? {
            return Err(ServiceError::NotFound);
        }
        self.changes.announce(Change::User(user.id)).await;
        self.audit.record(user.id, "totp_enabled", &actor(who, client), serde_json::json!({})).await;
        Ok(first.then_some(codes))
    }

    /// Removes the TOTP factor and ends the other sessions.
    pub async fn totp_remove(
        &self,
        who: &Principal,
        auth_hash: Vec<u8>,
        client: IpAddr,
    ) -> Result<(), ServiceError> {
        let user = self.reconfirm(who, auth_hash, client).await?;
        if !self.store.remove_totp(user.id, who.session_id, Timestamp::now()).await? {
            return Err(ServiceError::NotFound);
        }
        self.changes.announce(Change::User(user.id)).await;
        self.audit.record(user.id, "totp_disabled", &actor(who, client), serde_json::json!({})).await;
        Ok(())
    }

    /// New recovery codes in place of the old ones (all of which stop working). `NotFound`
    /// when no second factor is enabled.
    pub async fn recovery_codes_renew(
        &self,
        who: &Principal,
        auth_hash: Vec<u8>,
        client: IpAddr,
    ) -> Result<Vec<String>, ServiceError> {
        let user = self.reconfirm(who, auth_hash, client).await?;
        let totp = self.store.totp(user.id).await?.is_some_and(|f| f.confirmed_at.is_some());
        if !totp && self.store.webauthn_credentials(user.id).await?.is_empty() {
            return Err(ServiceError::NotFound);
        }
        let (codes, hashes) = recovery_codes(user.id);
        self.store.replace_recovery_codes(user.id, &hashes).await?;
        self.audit
            .record(user.id, "recovery_codes_renewed", &actor(who, client), serde_json::json!({}))
            .await;
        Ok(codes)
    }

    /// The caller's account after a fresh check of their password (throttled as logins are).
    pub(super) async fn reconfirm(
        &self,
        who: &Principal,
        auth_hash: Vec<u8>,
        client: IpAddr,
    ) -> Result<User, ServiceError> {
        check_auth_hash("auth_hash", &auth_hash)?;
        let user = self.store.user_by_id(who.user_id).await?.ok_or(ServiceError::TokenRevoked)?;
        self.check_password(&user.username, Some(&user), auth_hash, client).await?;
        Ok(user)
    }
}

fn actor(who: &Principal, client: IpAddr) -> Actor {
    Actor::new(Some(who.session_id), client)
}
