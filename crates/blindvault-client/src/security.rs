//! Second factors, sessions and the audit trail, on the client side. A second factor guards
//! the account's session, not the vaults' keys: K_enc never depended on it and never will.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use blindvault_wire::{
    AuditEventList, FactorsResponse, KdfParams, LoginRequest, ReauthRequest, RecoveryCodesResponse,
    SecondFactorChallenge, SecondFactorRequest, SessionList, SessionsEnded, TotpConfirmRequest,
    TotpEnabledResponse, TotpEnrolmentResponse,
};
use reqwest::Method;

use super::crypto::Keys;
use super::error::ClientError;
use super::sdk::{Client, ok};

/// Where a login stands after the password.
pub enum LoginStep {
    /// Logged in: the keys and the KDF parameters to pin.
    Done(Keys, KdfParams),
    /// The account has a second factor: answer [`PendingLogin::challenge`].
    SecondFactor(PendingLogin),
}

/// A login waiting for its second factor. Holds the derived keys (in this process only).
pub struct PendingLogin {
    /// What the server asks for.
    pub challenge: SecondFactorChallenge,
    keys: Keys,
    kdf: KdfParams,
}

/// An answer to a login's challenge.
#[derive(Debug, Clone)]
pub enum SecondFactorAnswer {
    /// The authenticator app's 6-digit code.
    Totp(String),
    /// One of the recovery codes (it is used up, and every other session ends).
    RecoveryCode(String),
}

impl Client {
    /// Logs in with checked parameters (see [`Client::keys`]), naming this device for the
    /// sessions list. With a second factor enabled, the login is completed by
    /// [`Client::complete_login`].
    pub async fn begin_login(
        &self,
        username: &str,
        password: &str,
        pinned: &[KdfParams],
        device_name: Option<&str>,
    ) -> Result<LoginStep, ClientError> {
        let (keys, kdf) = self.keys(username, password, pinned).await?;
        let body = LoginRequest {
            username: username.to_owned(),
            auth_hash: STANDARD.encode(keys.auth_hash),
            scope: None,
            device_name: device_name.map(str::to_owned),
        };
        match self.exchange(&body, "/api/v1/auth/login").await {
            Ok(()) => Ok(LoginStep::Done(keys, kdf)),
            Err(ClientError::SecondFactorRequired(challenge)) => {
                Ok(LoginStep::SecondFactor(PendingLogin { challenge: *challenge, keys, kdf }))
            }
            Err(other) => Err(other),
        }
    }

    /// Answers the challenge of `pending`; on success the client holds the session.
    pub async fn complete_login(
        &self,
        pending: PendingLogin,
        answer: SecondFactorAnswer,
    ) -> Result<(Keys, KdfParams), ClientError> {
        let (method, code) = match answer {
            SecondFactorAnswer::Totp(code) => ("totp", code),
            SecondFactorAnswer::RecoveryCode(code) => ("recovery_code", code),
        };
        let body = SecondFactorRequest {
            challenge_token: pending.challenge.challenge_token.clone(),
            method: method.to_owned(),
            code: Some(code),
            credential: None,
        };
        self.exchange(&body, "/api/v1/auth/login/second-factor").await?;
        Ok((pending.keys, pending.kdf))
    }

    /// The account's live sessions, newest first.
    pub async fn sessions(&self) -> Result<SessionList, ClientError> {
        Ok(ok(self.authed(Method::GET, "/api/v1/auth/sessions").await?.send().await?).await?.json().await?)
    }

    /// Ends one of the account's sessions.
    pub async fn end_session(&self, id: blindvault_wire::security::SessionId) -> Result<(), ClientError> {
        let path = format!("/api/v1/auth/sessions/{id}");
        ok(self.authed(Method::DELETE, &path).await?.send().await?).await?;
        Ok(())
    }

    /// Ends every session of the account's but this one; how many ended.
    pub async fn end_other_sessions(&self) -> Result<u64, ClientError> {
        let resp = ok(self.authed(Method::DELETE, "/api/v1/auth/sessions").await?.send().await?).await?;
        Ok(resp.json::<SessionsEnded>().await?.ended)
    }

    /// Which second factors the account has.
    pub async fn factors(&self) -> Result<FactorsResponse, ClientError> {
        let resp = self.authed(Method::GET, "/api/v1/account/second-factors").await?.send().await?;
        Ok(ok(resp).await?.json().await?)
    }

    /// Starts a TOTP enrolment (the password is checked again): the secret for the app.
    pub async fn totp_begin(&self, keys: &Keys) -> Result<TotpEnrolmentResponse, ClientError> {
        let req = self.authed(Method::POST, "/api/v1/account/second-factors/totp").await?;
        Ok(ok(req.json(&reauth(keys)).send().await?).await?.json().await?)
    }

    /// Confirms the enrolment with the app's current code; the recovery codes (shown once) when
    /// TOTP is the account's first second factor.
    pub async fn totp_confirm(&self, code: &str) -> Result<Option<Vec<String>>, ClientError> {
        let req = self.authed(Method::POST, "/api/v1/account/second-factors/totp/confirm").await?;
        let body = TotpConfirmRequest { code: code.to_owned() };
        Ok(ok(req.json(&body).send().await?).await?.json::<TotpEnabledResponse>().await?.recovery_codes)
    }

    /// Turns TOTP off (the password is checked again; the other sessions end).
    pub async fn totp_remove(&self, keys: &Keys) -> Result<(), ClientError> {
        let req = self.authed(Method::DELETE, "/api/v1/account/second-factors/totp").await?;
        ok(req.json(&reauth(keys)).send().await?).await?;
        Ok(())
    }

    /// New recovery codes in place of the old ones (the password is checked again).
    pub async fn recovery_codes_renew(&self, keys: &Keys) -> Result<Vec<String>, ClientError> {
        let req = self.authed(Method::POST, "/api/v1/account/second-factors/recovery-codes").await?;
        Ok(ok(req.json(&reauth(keys)).send().await?)
            .await?
            .json::<RecoveryCodesResponse>()
            .await?
            .recovery_codes)
    }

    /// A page of the account's audit trail, newest first.
    pub async fn audit_events(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<AuditEventList, ClientError> {
        let mut path = format!("/api/v1/account/events?limit={limit}");
        if let Some(cursor) = cursor {
            path.push_str(&format!("&cursor={}", blindvault_wire::percent_encode(cursor)));
        }
        Ok(ok(self.authed(Method::GET, &path).await?.send().await?).await?.json().await?)
    }
}

fn reauth(keys: &Keys) -> ReauthRequest {
    ReauthRequest { auth_hash: STANDARD.encode(keys.auth_hash) }
}
