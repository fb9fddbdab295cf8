//! Sessions: login, refresh-token rotation, bearer authentication, logout.

use std::net::IpAddr;

use uuid::Uuid;

use super::audit::{Actor, Audit};
use super::codes::check_name;
use super::{AuthService, check_auth_hash, normalize_username};
use crate::domain::Timestamp;
use crate::service::ServiceError;
use crate::service::scope::Scopes;
use crate::service::tokens::{new_refresh_token, refresh_token_hash};
use crate::store::{Change, NewSession, RefreshRotation, Session, User};

/// A login attempt, decoded.
#[derive(Debug, Clone)]
pub struct Login {
    /// As typed.
    pub username: String,
    /// H_auth.
    pub auth_hash: Vec<u8>,
    /// Requested scopes (default: all).
    pub scope: Option<String>,
    /// A name for the session's device, shown in the sessions list.
    pub device_name: Option<String>,
    /// The client's address, for throttling.
    pub client: IpAddr,
}

/// What login and refresh hand out.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// Short-lived JWT.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single-use refresh token.
    pub refresh_token: String,
    /// Granted scopes.
    pub scope: String,
}

/// Who a valid access token speaks for.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user.
    pub user_id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// What the token may do.
    pub scopes: Scopes,
    /// When the access token expires.
    pub expires_at: Timestamp,
}

/// What `GET /auth/session` reports.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The user.
    pub user_id: Uuid,
    /// Their username.
    pub username: String,
    /// The session.
    pub session_id: Uuid,
    /// Granted scopes.
    pub scope: String,
    /// When the presented access token expires.
    pub expires_at: Timestamp,
}

impl AuthService {
    /// Verifies credentials and opens a session. A wrong username and a wrong hash fail the
    /// same way after the same Argon2 work. With a second factor enabled the answer is
    /// `SecondFactorRequired` with a challenge instead, and [`AuthService::complete_login`]
    /// opens the session.
    pub async fn login(&self, login: Login) -> Result<TokenPair, ServiceError> {
        let username = normalize_username(&login.username)?;
        check_auth_hash("auth_hash", &login.auth_hash)?;
        let scopes = match login.scope.as_deref() {
            Some(text) => Scopes::parse("scope", text)?,
            None => Scopes::all(),
        };
        let device_name = check_name("device_name", login.device_name.as_deref().unwrap_or_default())?;
        let actor = Actor::new(None, login.client);
        let user = self.store.user_by_username(&username).await?;
        let checked =
            self.check_password(&username, user.as_ref(), login.auth_hash.clone(), login.client).await;
        if let (Err(err), Some(user)) = (&checked, &user) {
            self.audit_failure(user.id, err, &actor);
        }
        let (verified, Some(user)) = (checked.inspect_err(log_failure)?, user) else {
            return Err(ServiceError::InvalidCredentials);
        };
        if user.disabled_at.is_some() {
            self.audit.record(user.id, "login_refused_disabled", &actor, serde_json::json!({})).await;
            return Err(ServiceError::AccountDisabled);
        }
        if verified.needs_rehash {
            let phc = self.hasher.hash(login.auth_hash).await?;
            self.store.rehash_auth(user.id, user.security_stamp, &phc).await?;
            tracing::info!(user_id = %user.id, "stored hash upgraded to current Argon2 parameters");
        }
        if let Some(challenge) = self.second_factor_challenge(&user, &scopes, &device_name, &actor).await? {
            tracing::info!(user_id = %user.id, outcome = "second_factor_required", "login");
            return Err(ServiceError::SecondFactorRequired(Box::new(challenge)));
        }
        Ok(self.open_session(&user, &scopes, &device_name, &actor, "password").await?.0)
    }

    /// Opens a session for `user` once every factor is checked; the pair and the session id.
    pub(super) async fn open_session(
        &self,
        user: &User,
        scopes: &Scopes,
        device_name: &str,
        actor: &Actor,
        method: &'static str,
    ) -> Result<(TokenPair, Uuid), ServiceError> {
        let now = Timestamp::now();
        let (refresh_token, refresh_hash) = new_refresh_token();
        let id = Uuid::new_v4();
        let opened = Actor { session: Some(id), ..actor.clone() };
        let detail = serde_json::json!({ "method": method, "device_name": device_name });
        let session = NewSession {
            id,
            user_id: user.id,
            scope: scopes.to_string(),
            refresh_hash,
            now,
            expires_at: now.plus(self.policy.refresh_ttl),
            device_name: device_name.to_owned(),
            address: actor.address.clone(),
            opened: Audit::event(user.id, "login_succeeded", &opened, detail),
        };
        self.store.create_session(&session).await?;
        tracing::info!(user_id = %user.id, session_id = %session.id, outcome = "ok", "login");
        Audit::emit(&session.opened);
        let pair = self.token_pair(user.id, session.id, session.scope, refresh_token, now)?;
        Ok((pair, session.id))
    }

    fn audit_failure(&self, user: Uuid, err: &ServiceError, actor: &Actor) {
        let kind = match err {
            ServiceError::InvalidCredentials => "login_failed",
            ServiceError::RateLimited { .. } => "login_throttled",
            _ => return,
        };
        self.audit.record_later(user, kind, actor);
    }

    /// Exchanges a refresh token for a new pair. The old token stops working; presenting it
    /// again revokes the session.
    pub async fn refresh(&self, token: &str) -> Result<TokenPair, ServiceError> {
        let now = Timestamp::now();
        let (refresh_token, new_hash) = new_refresh_token();
        let rotation = self
            .store
            .rotate_refresh_token(
                &refresh_token_hash(token),
                &new_hash,
                now,
                now.plus(self.policy.refresh_ttl),
            )
            .await?;
        let session = match rotation {
            RefreshRotation::Rotated(session) => session,
            RefreshRotation::Reused(session_id) => {
                self.changes.announce(Change::Session(session_id)).await;
                tracing::warn!("a used refresh token was presented again; its session is revoked");
                return Err(ServiceError::TokenRevoked);
            }
            RefreshRotation::SessionEnded(session) => return Err(ended(&session)),
            RefreshRotation::Unknown => return Err(ServiceError::Unauthenticated),
        };
        self.token_pair(session.user_id, session.id, session.scope, refresh_token, now)
    }

    fn token_pair(
        &self,
        user: Uuid,
        session: Uuid,
        scope: String,
        refresh_token: String,
        now: Timestamp,
    ) -> Result<TokenPair, ServiceError> {
        let access = self.tokens.issue(user, session, &scope, now)?;
        Ok(TokenPair { access_token: access.token, expires_in: access.expires_in, refresh_token, scope })
    }

    /// Checks a bearer token: signature, expiry and lifetime, and that its session is still
    /// live. Scope comes from the session as stored: a token claiming more is refused.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, ServiceError> {
        let now = Timestamp::now();
        let claims = self.tokens.verify(bearer, now)?;
        let claimed = Scopes::parse("scope", &claims.scope).map_err(|_| ServiceError::Unauthenticated)?;
        let load = self.store.session(claims.sid);
        let session =
            self.changes.caches().session(claims.sid, load).await?.ok_or(ServiceError::TokenRevoked)?;
        if session.user_id != claims.sub || !session.is_live(now) {
            return Err(ServiceError::TokenRevoked);
        }
        let scopes = Scopes::parse("scope", &session.scope).map_err(|_| ServiceError::Unauthenticated)?;
        if claimed != scopes {
            return Err(ServiceError::Unauthenticated);
        }
        Ok(Principal {
            user_id: claims.sub,
            session_id: claims.sid,
            scopes,
            expires_at: Timestamp::from_unix_millis(claims.exp.saturating_mul(1000)),
        })
    }

    /// The caller's session, as `GET /auth/session` shows it.
    pub async fn session_info(&self, who: &Principal) -> Result<SessionInfo, ServiceError> {
        let load = async { Ok(self.store.user_by_id(who.user_id).await?.map(|user| user.username)) };
        let username =
            self.changes.caches().username(who.user_id, load).await?.ok_or(ServiceError::TokenRevoked)?;
        Ok(SessionInfo {
            user_id: who.user_id,
            username,
            session_id: who.session_id,
            scope: who.scopes.to_string(),
            expires_at: who.expires_at,
        })
    }

    /// Ends the caller's session: its access and refresh tokens stop working.
    pub async fn logout(&self, who: &Principal, client: IpAddr) -> Result<(), ServiceError> {
        self.store.revoke_session(who.session_id, Timestamp::now()).await?;
        self.changes.announce(Change::Session(who.session_id)).await;
        let actor = Actor::new(Some(who.session_id), client);
        self.audit.record(who.user_id, "logout", &actor, serde_json::json!({})).await;
        tracing::info!(user_id = %who.user_id, session_id = %who.session_id, "logout");
        Ok(())
    }
}

fn log_failure(err: &ServiceError) {
    match err {
        ServiceError::InvalidCredentials => tracing::info!(outcome = "invalid_credentials", "login failed"),
        ServiceError::RateLimited { .. } => tracing::info!(outcome = "throttled", "login refused"),
        _ => {}
    }
}

fn ended(session: &Session) -> ServiceError {
    if session.revoked_at.is_some() { ServiceError::TokenRevoked } else { ServiceError::TokenExpired }
}
