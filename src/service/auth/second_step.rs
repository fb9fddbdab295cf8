//! The second step of a login: the password step answers with a challenge when the account
//! has a second factor, and a TOTP code, a recovery code or a WebAuthn assertion completes it.

use std::net::IpAddr;

use super::audit::Actor;
use super::codes::{CHALLENGE_TTL, recovery_code_hash};
use super::totp;
use super::{AuthService, TokenPair};
use crate::domain::Timestamp;
use crate::service::ServiceError;
pub use crate::service::error::Challenge;
use crate::service::scope::Scopes;
use crate::service::tokens::{new_refresh_token, refresh_token_hash};
use crate::store::{Ceremony, Change, User};

/// Wrong answers a challenge takes before it is void (the throttles count them as well).
const MAX_CHALLENGE_FAILURES: i64 = 5;
/// The ceremony kind of a login's second step.
pub(super) const LOGIN: &str = "login";

/// An answer to a challenge.
#[derive(Debug, Clone)]
pub enum SecondFactor {
    /// A 6-digit code of the authenticator app.
    Totp(String),
    /// One of the recovery codes shown at enrolment.
    RecoveryCode(String),
    /// A WebAuthn assertion (`PublicKeyCredential` as JSON).
    Webauthn(serde_json::Value),
}

impl SecondFactor {
    fn method(&self) -> &'static str {
        match self {
            SecondFactor::Totp(_) => "totp",
            SecondFactor::RecoveryCode(_) => "recovery_code",
            SecondFactor::Webauthn(_) => "webauthn",
        }
    }
}

/// The second step, decoded.
#[derive(Debug, Clone)]
pub struct SecondStep {
    /// From the `second_factor_required` problem.
    pub challenge_token: String,
    /// The answer.
    pub factor: SecondFactor,
    /// The client's address, for the throttles.
    pub client: IpAddr,
}

impl AuthService {
    /// The challenge `user` must answer after the password, or `None` when no second factor is
    /// enabled. The challenge remembers the scopes and device name asked for, and the user's
    /// security stamp: a password change in between voids it.
    pub(super) async fn second_factor_challenge(
        &self,
        user: &User,
        scopes: &Scopes,
        device_name: &str,
        actor: &Actor,
    ) -> Result<Option<Challenge>, ServiceError> {
        let totp = self.store.totp(user.id).await?.is_some_and(|f| f.confirmed_at.is_some());
        let keys = self.store.webauthn_credentials(user.id).await?;
        if !totp && keys.is_empty() {
            return Ok(None);
        }
        let now = Timestamp::now();
        let (token, token_hash) = new_refresh_token();
        let (webauthn, state) = match keys.is_empty() {
            true => (None, None),
            false => {
                let (options, state) = self.webauthn_challenge(&keys)?;
                (Some(options), Some(state))
            }
        };
        let mut factors = Vec::new();
        if totp {
            factors.push("totp");
        }
        if webauthn.is_some() {
            factors.push("webauthn");
        }
        factors.push("recovery_code");
        let ceremony = Ceremony {
            token_hash,
            kind: LOGIN.into(),
            user_id: user.id,
            stamp: user.security_stamp,
            scope: scopes.to_string(),
            device_name: device_name.to_owned(),
            address: actor.address.clone(),
            state,
            failures: 0,
            expires_at: now.plus(CHALLENGE_TTL),
        };
        self.store.create_ceremony(&ceremony, now).await?;
        self.audit
            .record(user.id, "second_factor_required", actor, serde_json::json!({ "factors": factors }))
            .await;
        Ok(Some(Challenge { token, expires_in: CHALLENGE_TTL.as_secs(), factors, webauthn }))
    }

    /// Completes a login with a second factor. Wrong answers count toward the same throttles
    /// as wrong passwords (per account and per address), and a challenge dies after a few of
    /// them; a right one opens the session once, whichever replica answers.
    pub async fn complete_login(&self, step: SecondStep) -> Result<TokenPair, ServiceError> {
        let now = Timestamp::now();
        let token_hash = refresh_token_hash(&step.challenge_token);
        let ceremony =
            self.store.ceremony(&token_hash, LOGIN, now).await?.ok_or(ServiceError::InvalidChallenge)?;
        let user = self.store.user_by_id(ceremony.user_id).await?.ok_or(ServiceError::InvalidChallenge)?;
        if user.security_stamp != ceremony.stamp {
            return Err(ServiceError::InvalidChallenge);
        }
        if user.disabled_at.is_some() {
            return Err(ServiceError::AccountDisabled);
        }
        let actor = Actor::new(None, step.client);
        let method = step.factor.method();
        let attempt = match self.throttle.reserve(&user.username, step.client, now).await {
            Ok(attempt) => attempt,
            Err(err) => {
                self.audit
                    .record(
                        user.id,
                        "second_factor_throttled",
                        &actor,
                        serde_json::json!({ "method": method }),
                    )
                    .await;
                return Err(err);
            }
        };
        let accepted = match self.check_factor(&user, &ceremony, &step.factor, now).await {
            Ok(accepted) => accepted,
            Err(err) => {
                self.throttle.not_checked(attempt).await;
                return Err(err);
            }
        };
        if !accepted {
            if self.store.ceremony_failed(&token_hash).await? >= MAX_CHALLENGE_FAILURES {
                self.store.finish_ceremony(&token_hash, now).await?;
            }
            self.audit
                .record(user.id, "second_factor_failed", &actor, serde_json::json!({ "method": method }))
                .await;
            return Err(ServiceError::InvalidSecondFactor);
        }
        self.throttle.succeeded(attempt).await?;
        if !self.store.finish_ceremony(&token_hash, now).await? {
            return Err(ServiceError::InvalidChallenge);
        }
        let scopes = Scopes::parse("scope", &ceremony.scope).map_err(|_| ServiceError::InvalidChallenge)?;
        let pair = self.open_session(&user, &scopes, &ceremony.device_name, &actor, method).await?;
        if let SecondFactor::RecoveryCode(_) = step.factor {
            // A recovery code is what someone holding only the password and a stolen code
            // would use: every other session ends, and the owner sees it in the trail.
            let session = pair.1;
            self.store.end_sessions(user.id, Some(session), now).await?;
            self.changes.announce(Change::User(user.id)).await;
            let left = self.store.recovery_codes_left(user.id).await?;
            let actor = Actor { session: Some(session), ..actor };
            self.audit
                .record(user.id, "recovery_code_used", &actor, serde_json::json!({ "codes_left": left }))
                .await;
        }
        Ok(pair.0)
    }

    async fn check_factor(
        &self,
        user: &User,
        ceremony: &Ceremony,
        factor: &SecondFactor,
        now: Timestamp,
    ) -> Result<bool, ServiceError> {
        match factor {
            SecondFactor::Totp(code) => self.check_totp(user.id, code, now).await,
            SecondFactor::RecoveryCode(code) => {
                let hash = recovery_code_hash(user.id, code);
                Ok(self.store.use_recovery_code(user.id, &hash, now).await?)
            }
            SecondFactor::Webauthn(assertion) => self.check_webauthn(user.id, ceremony, assertion, now).await,
        }
    }

    /// Whether `code` is the confirmed factor's code for now (±1 step) and no code of that step
    /// or a later one was accepted before; if so, it is now used.
    pub(super) async fn check_totp(
        &self,
        user: uuid::Uuid,
        code: &str,
        now: Timestamp,
    ) -> Result<bool, ServiceError> {
        let Some(factor) = self.store.totp(user).await? else { return Ok(false) };
        if factor.confirmed_at.is_none() {
            return Ok(false);
        }
        let secret = self.secrets.open(&factor.secret_sealed, user.as_bytes())?;
        let Some(step) = totp::matching_step(&secret, code, totp::step_of(now.unix_seconds())) else {
            return Ok(false);
        };
        Ok(self.store.accept_totp_step(user, step).await?)
    }
}
