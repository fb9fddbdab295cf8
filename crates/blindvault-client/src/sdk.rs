//! A typed client for the blindvault HTTP API, with encryption on the client side.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use blindvault_wire::auth::KDF_PBKDF2_SHA256;
use blindvault_wire::{
    CredentialsRequest, PreloginRequest, Problem, RefreshRequest, RegisterRequest, TokenResponse,
};
use reqwest::header::{ETAG, HeaderMap};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use tokio::sync::Mutex;

use super::crypto::{KDF_SALT_LEN, Keys};
use super::error::ClientError;
use super::verify::{KDF, check_kdf, check_transport};

/// Iterations this client asks for at registration (the contract's minimum).
pub const DEFAULT_ITERATIONS: u32 = 600_000;

/// The session a client holds.
#[derive(Debug, Clone)]
struct Tokens {
    access: String,
    refresh: String,
    access_until: Instant,
}

pub use blindvault_wire::KdfParams;
/// The session as the server reports it.
pub use blindvault_wire::SessionResponse;
/// A vault as the server describes it (the contract's `VaultResponse`).
pub use blindvault_wire::VaultResponse as VaultInfo;
/// What a write expects to find: `Absent`, `Exists`, or the vault at an (quoted) ETag.
pub use blindvault_wire::etag::Precondition;

/// What a download found.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// Quoted ETag of the revision read.
    pub etag: String,
    /// Plaintext bytes written.
    pub size: u64,
}

/// The stored parameters of a vault revision (from `HEAD .../content`).
#[derive(Debug, Clone)]
pub struct VaultHead {
    /// Quoted ETag.
    pub etag: String,
    /// Ciphertext bytes.
    pub size: u64,
    /// Stored iv.
    pub iv: Vec<u8>,
    /// Stored salt.
    pub salt: Vec<u8>,
    /// Format version.
    pub version: u32,
}

/// A blindvault API client. Refreshes its access token by itself before it expires.
pub struct Client {
    base: String,
    pub(super) http: reqwest::Client,
    tokens: Mutex<Option<Tokens>>,
    /// Plain `http://` allowed beyond loopback (for the server and for direct-download URLs).
    pub(super) allow_insecure_http: bool,
}

async fn problem(resp: Response) -> ClientError {
    let status = resp.status();
    let etag = resp.headers().get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: Option<Problem> = resp.json().await.ok();
    match status {
        StatusCode::PRECONDITION_FAILED => ClientError::Conflict { current_etag: etag },
        StatusCode::NOT_FOUND => ClientError::NotFound,
        StatusCode::GONE => ClientError::CursorExpired,
        StatusCode::UNAUTHORIZED if body.as_ref().is_some_and(|p| p.code == "second_factor_required") => {
            let extra = body.map(|p| serde_json::Value::Object(p.extra)).unwrap_or_default();
            match serde_json::from_value(extra) {
                Ok(challenge) => ClientError::SecondFactorRequired(Box::new(challenge)),
                Err(_) => {
                    ClientError::Protocol("a second_factor_required problem without its challenge".into())
                }
            }
        }
        _ => ClientError::Api {
            status: status.as_u16(),
            detail: body.as_ref().map_or("the server refused the request", |p| &p.detail).to_owned(),
            code: body.map_or_else(|| "unknown".to_owned(), |p| p.code),
        },
    }
}

pub(super) async fn ok(resp: Response) -> Result<Response, ClientError> {
    if resp.status().is_success() { Ok(resp) } else { Err(problem(resp).await) }
}

pub(super) fn header(headers: &HeaderMap, name: &str) -> Result<String, ClientError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| ClientError::Protocol(format!("missing {name}")))
}

impl Client {
    /// A client for the server at `base` (e.g. `https://vault.example` or
    /// `http://127.0.0.1:8080`); plain `http://` only to loopback.
    pub fn new(base: &str) -> Result<Self, ClientError> {
        Self::connect(base, false)
    }

    /// [`Client::new`], with plain `http://` to any host when `allow_insecure_http`.
    pub fn connect(base: &str, allow_insecure_http: bool) -> Result<Self, ClientError> {
        check_transport(base, allow_insecure_http)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("blindvault-client/", env!("CARGO_PKG_VERSION")))
            // No request follows a redirect by itself: the one redirect the API has (a direct
            // download) is checked and followed without credentials.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            tokens: Mutex::new(None),
            allow_insecure_http,
        })
    }

    /// Resumes a session from a saved refresh token.
    pub async fn resume(&self, refresh_token: &str) -> Result<(), ClientError> {
        self.exchange(&RefreshRequest { refresh_token: refresh_token.to_owned() }, "/api/v1/auth/refresh")
            .await
    }

    /// The current refresh token (it changes on every refresh: save it after each command).
    pub async fn refresh_token(&self) -> Option<String> {
        self.tokens.lock().await.as_ref().map(|t| t.refresh.clone())
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Salt and iterations for `username`, unchecked: see [`Client::keys`].
    pub async fn prelogin(&self, username: &str) -> Result<KdfParams, ClientError> {
        let resp = self
            .http
            .post(self.url("/api/v1/auth/prelogin"))
            .json(&PreloginRequest { username: username.to_owned() })
            .send()
            .await?;
        Ok(ok(resp).await?.json().await?)
    }

    /// Creates an account: a random KDF salt, keys derived from the password, `auth_hash` sent.
    /// Returns the parameters used, to pin.
    pub async fn register(
        &self,
        username: &str,
        password: &str,
        iterations: u32,
    ) -> Result<KdfParams, ClientError> {
        self.register_invited(username, password, iterations, None).await
    }

    /// [`Client::register`] with an invite code, for servers that register by invite.
    pub async fn register_invited(
        &self,
        username: &str,
        password: &str,
        iterations: u32,
        invite: Option<&str>,
    ) -> Result<KdfParams, ClientError> {
        let salt: [u8; KDF_SALT_LEN] = rand::random();
        let params = KdfParams { kdf: KDF.into(), iterations, salt: salt.to_vec() };
        check_kdf(&params, &[])?;
        let keys = Keys::derive(username, password, &salt, iterations);
        let body = RegisterRequest {
            username: username.to_owned(),
            auth_hash: STANDARD.encode(keys.auth_hash),
            salt: STANDARD.encode(salt),
            kdf: KDF_PBKDF2_SHA256.to_owned(),
            iterations: u64::from(iterations),
            invite: invite.map(str::to_owned),
        };
        ok(self.http.post(self.url("/api/v1/auth/register")).json(&body).send().await?).await?;
        Ok(params)
    }

    /// Derives the keys for `username`/`password` from prelogin's parameters once they pass
    /// [`check_kdf`] against `pinned` (the account's last seen, if any). Returns the
    /// keys and the parameters to pin from now on.
    pub async fn keys(
        &self,
        username: &str,
        password: &str,
        pinned: &[KdfParams],
    ) -> Result<(Keys, KdfParams), ClientError> {
        let kdf = self.prelogin(username).await?;
        check_kdf(&kdf, pinned)?;
        Ok((Keys::derive(username, password, &kdf.salt, kdf.iterations), kdf))
    }

    /// Logs in with checked parameters (see [`Client::keys`]); returns the keys (K_enc stays in
    /// this process) and the parameters to pin. An account with a second factor answers
    /// [`ClientError::SecondFactorRequired`]: use [`Client::begin_login`] for those.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        pinned: &[KdfParams],
    ) -> Result<(Keys, KdfParams), ClientError> {
        match self.begin_login(username, password, pinned, None).await? {
            crate::security::LoginStep::Done(keys, kdf) => Ok((keys, kdf)),
            crate::security::LoginStep::SecondFactor(pending) => {
                Err(ClientError::SecondFactorRequired(Box::new(pending.challenge)))
            }
        }
    }

    pub(super) async fn exchange(&self, body: &impl Serialize, path: &str) -> Result<(), ClientError> {
        let resp = ok(self.http.post(self.url(path)).json(body).send().await?).await?;
        let tokens: TokenResponse =
            resp.json().await.map_err(|_| ClientError::Protocol("token response".into()))?;
        let access_until = Instant::now() + Duration::from_secs(tokens.expires_in);
        *self.tokens.lock().await =
            Some(Tokens { access: tokens.access_token, refresh: tokens.refresh_token, access_until });
        Ok(())
    }

    /// A request with a fresh access token (refreshed first when it is about to expire).
    pub(super) async fn authed(&self, method: Method, path: &str) -> Result<RequestBuilder, ClientError> {
        let current = self.tokens.lock().await.clone().ok_or(ClientError::NotLoggedIn)?;
        let access = if current.access_until <= Instant::now() + Duration::from_secs(30) {
            self.resume(&current.refresh).await?;
            self.tokens.lock().await.as_ref().map(|t| t.access.clone()).ok_or(ClientError::NotLoggedIn)?
        } else {
            current.access
        };
        Ok(self.http.request(method, self.url(path)).bearer_auth(access))
    }

    /// The session as the server reports it.
    pub async fn whoami(&self) -> Result<SessionResponse, ClientError> {
        Ok(ok(self.authed(Method::GET, "/api/v1/auth/session").await?.send().await?).await?.json().await?)
    }

    /// Ends the session on the server.
    pub async fn logout(&self) -> Result<(), ClientError> {
        ok(self.authed(Method::POST, "/api/v1/auth/logout").await?.send().await?).await?;
        *self.tokens.lock().await = None;
        Ok(())
    }

    /// Replaces the credentials (every other session of the user ends).
    pub async fn change_credentials(
        &self,
        old: &Keys,
        new: &Keys,
        new_salt: &[u8],
        iterations: u32,
    ) -> Result<(), ClientError> {
        let body = CredentialsRequest {
            current_auth_hash: STANDARD.encode(old.auth_hash),
            new_auth_hash: STANDARD.encode(new.auth_hash),
            new_salt: STANDARD.encode(new_salt),
            iterations: u64::from(iterations),
        };
        ok(self.authed(Method::PUT, "/api/v1/auth/credentials").await?.json(&body).send().await?).await?;
        Ok(())
    }
}
