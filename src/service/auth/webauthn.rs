//! WebAuthn authenticators (passkeys, security keys) as second factors, with webauthn-rs. The
//! ceremonies' server-side state lives in the database, so any replica can finish what another
//! began.

use std::net::IpAddr;

use uuid::Uuid;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
};

use super::audit::Actor;
use super::codes::{CHALLENGE_TTL, check_name, recovery_codes};
use super::{AuthService, Principal};
use crate::domain::Timestamp;
use crate::service::ServiceError;
use crate::service::tokens::{new_refresh_token, refresh_token_hash};
use crate::store::{Ceremony, Change, WebauthnCredential};

/// The ceremony kind of a registration.
const REGISTER: &str = "webauthn_register";

/// A registered authenticator as its owner sees it.
#[derive(Debug, Clone)]
pub struct WebauthnKey {
    /// Id (for renaming and removal).
    pub id: Uuid,
    /// The name given at registration.
    pub name: String,
    /// Registered.
    pub created_at: Timestamp,
    /// Last used to log in.
    pub last_used_at: Option<Timestamp>,
}

/// A registration in progress: the options for `navigator.credentials.create`.
#[derive(Debug, Clone)]
pub struct WebauthnRegistration {
    /// Single use; presented with the authenticator's answer.
    pub registration_token: String,
    /// `CreationChallengeResponse` (a `publicKey` member).
    pub options: serde_json::Value,
    /// Seconds it is accepted for.
    pub expires_in: u64,
}

/// What finishing a registration gives.
#[derive(Debug, Clone)]
pub struct WebauthnAdded {
    /// The new authenticator.
    pub key: WebauthnKey,
    /// Recovery codes, when this is the account's first second factor (shown only now).
    pub recovery_codes: Option<Vec<String>>,
}

fn key_of(cred: &WebauthnCredential) -> WebauthnKey {
    WebauthnKey {
        id: cred.id,
        name: cred.name.clone(),
        created_at: cred.created_at,
        last_used_at: cred.last_used_at,
    }
}

fn passkey(cred: &WebauthnCredential) -> Result<Passkey, ServiceError> {
    serde_json::from_str(&cred.credential).map_err(|e| ServiceError::internal(format!("stored passkey: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ServiceError> {
    serde_json::to_string(value).map_err(|e| ServiceError::internal(format!("webauthn state: {e}")))
}

impl AuthService {
    /// The user's authenticators.
    pub(super) async fn webauthn_keys(&self, user: Uuid) -> Result<Vec<WebauthnKey>, ServiceError> {
        Ok(self.store.webauthn_credentials(user).await?.iter().map(key_of).collect())
    }

    /// Request options and the state to keep, for a login's second step.
    pub(super) fn webauthn_challenge(
        &self,
        keys: &[WebauthnCredential],
    ) -> Result<(serde_json::Value, String), ServiceError> {
        let passkeys = keys.iter().map(passkey).collect::<Result<Vec<_>, _>>()?;
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|e| ServiceError::internal(format!("webauthn: {e}")))?;
        let options = serde_json::to_value(&options).map_err(|e| ServiceError::internal(e.to_string()))?;
        Ok((options, to_json(&state)?))
    }

    /// Whether `assertion` answers the ceremony's challenge with one of the user's
    /// authenticators; if so, its counter and last use are stored.
    pub(super) async fn check_webauthn(
        &self,
        user: Uuid,
        ceremony: &Ceremony,
        assertion: &serde_json::Value,
        now: Timestamp,
    ) -> Result<bool, ServiceError> {
        let Some(state) = &ceremony.state else { return Ok(false) };
        let state: PasskeyAuthentication = serde_json::from_str(state)
            .map_err(|e| ServiceError::internal(format!("webauthn state: {e}")))?;
        let Ok(credential) = serde_json::from_value::<PublicKeyCredential>(assertion.clone()) else {
            return Ok(false);
        };
        let Ok(result) = self.webauthn.finish_passkey_authentication(&credential, &state) else {
            return Ok(false);
        };
        for cred in self.store.webauthn_credentials(user).await? {
            let mut key = passkey(&cred)?;
            if key.cred_id() == result.cred_id() {
                key.update_credential(&result);
                self.store.webauthn_used(cred.id, &to_json(&key)?, now).await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Starts registering an authenticator named `name` (after a fresh password check).
    pub async fn webauthn_begin(
        &self,
        who: &Principal,
        auth_hash: Vec<u8>,
        name: &str,
        client: IpAddr,
    ) -> Result<WebauthnRegistration, ServiceError> {
        let name = check_name("name", name)?;
        let user = self.reconfirm(who, auth_hash, client).await?;
        let exclude = self
            .store
            .webauthn_credentials(user.id)
            .await?
            .iter()
            .map(|c| passkey(c).map(|p| p.cred_id().clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let (options, state) = self
            .webauthn
            .start_passkey_registration(user.id, &user.username, &user.username, Some(exclude))
            .map_err(|e| ServiceError::internal(format!("webauthn: {e}")))?;
        let now = Timestamp::now();
        let (token, token_hash) = new_refresh_token();
        let ceremony = Ceremony {
            token_hash,
            kind: REGISTER.into(),
            user_id: user.id,
            stamp: user.security_stamp,
            scope: String::new(),
            device_name: name,
            address: Actor::new(None, client).address,
            state: Some(to_json(&state)?),
            failures: 0,
            expires_at: now.plus(CHALLENGE_TTL),
        };
        self.store.create_ceremony(&ceremony, now).await?;
        Ok(WebauthnRegistration {
            registration_token: token,
            options: serde_json::to_value(&options).map_err(|e| ServiceError::internal(e.to_string()))?,
            expires_in: CHALLENGE_TTL.as_secs(),
        })
    }

    /// Finishes a registration with the authenticator's answer; the other sessions end.
    pub async fn webauthn_finish(
        &self,
        who: &Principal,
        registration_token: &str,
        credential: serde_json::Value,
        client: IpAddr,
    ) -> Result<WebauthnAdded, ServiceError> {
        let now = Timestamp::now();
        let hash = refresh_token_hash(registration_token);
        let ceremony = self.store.ceremony(&hash, REGISTER, now).await?;
        let Some(ceremony) = ceremony.filter(|c| c.user_id == who.user_id) else {
            return Err(ServiceError::InvalidChallenge);
        };
        let state: PasskeyRegistration = serde_json::from_str(ceremony.state.as_deref().unwrap_or_default())
            .map_err(|e| ServiceError::internal(format!("webauthn state: {e}")))?;
        let credential: RegisterPublicKeyCredential = serde_json::from_value(credential)
            .map_err(|_| ServiceError::invalid("credential", "is not a WebAuthn registration response"))?;
        let key = self
            .webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(|_| ServiceError::InvalidSecondFactor)?;
        if !self.store.finish_ceremony(&hash, now).await? {
            return Err(ServiceError::InvalidChallenge);
        }
        let first = self.store.totp(who.user_id).await?.is_none_or(|f| f.confirmed_at.is_none())
            && self.store.webauthn_credentials(who.user_id).await?.is_empty();
        let cred = WebauthnCredential {
            id: Uuid::now_v7(),
            user_id: who.user_id,
            credential_id: key.cred_id().as_slice().to_vec(),
            name: ceremony.device_name,
            credential: to_json(&key)?,
            created_at: now,
            last_used_at: None,
        };
        self.store.add_webauthn_credential(&cred).await.map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => ServiceError::SecondFactorExists,
            other => other.into(),
        })?;
        let recovery_codes = match first {
            true => {
                let (codes, hashes) = recovery_codes(who.user_id);
                self.store.replace_recovery_codes(who.user_id, &hashes).await?;
                Some(codes)
            }
            false => None,
        };
        self.store.end_sessions(who.user_id, Some(who.session_id), now).await?;
        self.changes.announce(Change::User(who.user_id)).await;
        let actor = Actor::new(Some(who.session_id), client);
        self.audit
            .record(who.user_id, "webauthn_added", &actor, serde_json::json!({ "key_id": cred.id }))
            .await;
        Ok(WebauthnAdded { key: key_of(&cred), recovery_codes })
    }

    /// Removes an authenticator (after a fresh password check); the other sessions end.
    pub async fn webauthn_remove(
        &self,
        who: &Principal,
        id: Uuid,
        auth_hash: Vec<u8>,
        client: IpAddr,
    ) -> Result<(), ServiceError> {
        let user = self.reconfirm(who, auth_hash, client).await?;
        if !self.store.remove_webauthn_credential(user.id, id, who.session_id, Timestamp::now()).await? {
            return Err(ServiceError::NotFound);
        }
        self.changes.announce(Change::User(user.id)).await;
        let actor = Actor::new(Some(who.session_id), client);
        self.audit.record(user.id, "webauthn_removed", &actor, serde_json::json!({ "key_id": id })).await;
        Ok(())
    }

    /// Renames one of the caller's authenticators.
    pub async fn webauthn_rename(
        &self,
        who: &Principal,
        id: Uuid,
        name: &str,
    ) -> Result<WebauthnKey, ServiceError> {
        let name = check_name("name", name)?;
        if !self.store.rename_webauthn_credential(who.user_id, id, &name).await? {
            return Err(ServiceError::NotFound);
        }
        let keys = self.webauthn_keys(who.user_id).await?;
        keys.into_iter().find(|k| k.id == id).ok_or(ServiceError::NotFound)
    }
}
