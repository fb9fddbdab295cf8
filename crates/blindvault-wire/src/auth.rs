//! `/api/v1/auth/*` and `/api/v1/account`: the key-derivation parameters, accounts and tokens.
//! The server never sees a password: `auth_hash` is derived from it on the client.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The one key derivation of the contract.
pub const KDF_PBKDF2_SHA256: &str = "pbkdf2-sha256";

/// `POST /auth/prelogin` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PreloginRequest {
    /// The account's username, as typed.
    pub username: String,
}

/// The key-derivation parameters of an account: the prelogin response, and what a client pins
/// for the account once it has seen them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KdfParams {
    /// Always [`KDF_PBKDF2_SHA256`].
    pub kdf: String,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// The PBKDF2 salt (base64 on the wire).
    #[serde(with = "crate::base64_text")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    pub salt: Vec<u8>,
}

/// `POST /auth/register` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// `[a-z0-9._@+-]{3,64}` once lowercased.
    pub username: String,
    /// H_auth, base64.
    pub auth_hash: String,
    /// The KDF salt, base64.
    pub salt: String,
    /// Always [`KDF_PBKDF2_SHA256`].
    pub kdf: String,
    /// PBKDF2 iterations.
    pub iterations: u64,
    /// The invite code, where the server registers by invite only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

/// `POST /auth/register` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserResponse {
    /// The account's id.
    pub user_id: Uuid,
    /// The normalised username.
    pub username: String,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
}

/// `POST /auth/login` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// As registered.
    pub username: String,
    /// H_auth, base64.
    pub auth_hash: String,
    /// Space-separated scopes to narrow the session to (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// A name for this device, shown in the sessions list (at most 64 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
}

/// `POST /auth/login` and `/auth/refresh` response (RFC 6749 section 5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// A short-lived bearer token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token is valid for.
    pub expires_in: u64,
    /// Single use: refreshing returns a new one, and reusing an old one ends the session.
    pub refresh_token: String,
    /// The session's scopes, space-separated.
    pub scope: String,
}

/// `POST /auth/refresh` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the last pair.
    pub refresh_token: String,
}

/// `GET /auth/session` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionResponse {
    /// The account.
    pub user_id: Uuid,
    /// Its username.
    pub username: String,
    /// The session the token belongs to.
    pub session_id: Uuid,
    /// The session's scopes, space-separated.
    pub scope: String,
    /// When the session ends unless refreshed (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub expires_at: String,
}

/// `PUT /auth/credentials` request: a new password's hash and salt, re-confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CredentialsRequest {
    /// H_auth of the password in use, base64.
    pub current_auth_hash: String,
    /// H_auth of the new password, base64.
    pub new_auth_hash: String,
    /// The new KDF salt, base64.
    pub new_salt: String,
    /// The new PBKDF2 iterations.
    pub iterations: u64,
}

/// `DELETE /account` request: the account's H_auth, re-confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    /// H_auth, base64.
    pub auth_hash: String,
}
