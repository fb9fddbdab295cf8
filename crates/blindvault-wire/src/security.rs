//! Second factors, sessions and the audit trail: `/api/v1/auth/login/second-factor`,
//! `/api/v1/auth/sessions`, `/api/v1/account/second-factors/*` and `/api/v1/account/events`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Members of the `second_factor_required` problem (401) that answers a right password when
/// the account has a second factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecondFactorChallenge {
    /// Single use, for `POST /auth/login/second-factor`.
    pub challenge_token: String,
    /// Seconds the challenge is accepted for.
    pub expires_in: u64,
    /// What may answer: `totp`, `webauthn`, `recovery_code`.
    pub factors: Vec<String>,
    /// WebAuthn request options (`{"publicKey": ...}` for `navigator.credentials.get`), when
    /// `webauthn` is among the factors; null otherwise.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub webauthn: Option<serde_json::Value>,
}

/// `POST /auth/login/second-factor` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecondFactorRequest {
    /// From the `second_factor_required` problem.
    pub challenge_token: String,
    /// `totp`, `recovery_code` or `webauthn`.
    pub method: String,
    /// The TOTP code or the recovery code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The WebAuthn assertion (`PublicKeyCredential` as JSON), for `webauthn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credential: Option<serde_json::Value>,
}

/// One live session, as `GET /auth/sessions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionEntry {
    /// For `DELETE /auth/sessions/{session_id}`.
    pub session_id: Uuid,
    /// The name the client gave at login (may be empty).
    pub device_name: String,
    /// Login time, RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// Last refresh, RFC 3339 (coarse: using an access token does not count).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub last_used_at: String,
    /// The network it logged in from: IPv4 /24 or IPv6 /48.
    pub address: String,
    /// Granted scopes.
    pub scope: String,
    /// Whether this is the session of the token that asked.
    pub current: bool,
}

/// `GET /auth/sessions` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionList {
    /// Newest first.
    pub sessions: Vec<SessionEntry>,
}

/// `DELETE /auth/sessions` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionsEnded {
    /// How many sessions ended.
    pub ended: u64,
}

/// A fresh password check, required by every change of second factors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReauthRequest {
    /// H_auth, base64.
    pub auth_hash: String,
}

/// A registered WebAuthn authenticator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebauthnKeyEntry {
    /// For renaming and removal.
    pub id: Uuid,
    /// The name given to it.
    pub name: String,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// RFC 3339; absent until it is first used to log in.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub last_used_at: Option<String>,
}

/// `GET /account/second-factors` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FactorsResponse {
    /// A TOTP factor is enabled.
    pub totp: bool,
    /// A TOTP enrolment waits for its first code.
    pub totp_pending: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
    /// Registered authenticators, oldest first.
    pub webauthn: Vec<WebauthnKeyEntry>,
}

/// `POST /account/second-factors/totp` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TotpEnrolmentResponse {
    /// The secret, base32 (to type into an authenticator app).
    pub secret: String,
    /// `otpauth://totp/...` (to show as a QR code).
    pub otpauth_uri: String,
}

/// `POST /account/second-factors/totp/confirm` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TotpConfirmRequest {
    /// The authenticator app's current 6-digit code.
    pub code: String,
}

/// `POST /account/second-factors/totp/confirm` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TotpEnabledResponse {
    /// Ten recovery codes when TOTP is the account's first second factor (shown only now);
    /// null when the account keeps the ones it has.
    pub recovery_codes: Option<Vec<String>>,
}

/// Recovery codes: shown once, each usable once in place of a second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryCodesResponse {
    /// Ten codes, `xxxxx-xxxxx`.
    pub recovery_codes: Vec<String>,
}

/// `POST /account/second-factors/webauthn` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebauthnBeginRequest {
    /// H_auth, base64 (a fresh password check).
    pub auth_hash: String,
    /// A name for the authenticator (at most 64 characters).
    pub name: String,
}

/// `POST /account/second-factors/webauthn` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebauthnBeginResponse {
    /// Single use, for `POST /account/second-factors/webauthn/finish`.
    pub registration_token: String,
    /// `{"publicKey": ...}` for `navigator.credentials.create`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub options: serde_json::Value,
    /// Seconds the registration is accepted for.
    pub expires_in: u64,
}

/// `POST /account/second-factors/webauthn/finish` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebauthnFinishRequest {
    /// From the begin response.
    pub registration_token: String,
    /// The authenticator's answer (`PublicKeyCredential` as JSON).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credential: serde_json::Value,
}

/// `POST /account/second-factors/webauthn/finish` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebauthnAddedResponse {
    /// The new authenticator.
    pub key: WebauthnKeyEntry,
    /// Recovery codes, when this is the account's first second factor (shown only now).
    pub recovery_codes: Option<Vec<String>>,
}

/// `PATCH /account/second-factors/webauthn/{id}` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebauthnRenameRequest {
    /// The new name.
    pub name: String,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEventEntry {
    /// Increasing.
    pub id: i64,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub at: String,
    /// What happened: `login_succeeded`, `login_failed`, `second_factor_failed`, ... (see the
    /// API document for the list; expect kinds you do not know).
    pub kind: String,
    /// The session it happened in or to.
    pub session_id: Option<Uuid>,
    /// The network the request came from (IPv4 /24, IPv6 /48); empty for the operator.
    pub address: String,
    /// Details: a JSON object, never a token, hash or code.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
}

/// `GET /account/events` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEventList {
    /// Newest first.
    pub items: Vec<AuditEventEntry>,
    /// Pass as `cursor` for older events; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A session's id.
pub type SessionId = Uuid;
