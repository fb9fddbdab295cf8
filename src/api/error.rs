//! Every error leaves as RFC 9457 `application/problem+json` with a stable `code`. The cause,
//! if any, goes to the log under the request's span, never into the body.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blindvault_wire::{Code, PROBLEM_JSON, Problem};

use crate::service::ServiceError;

/// An error response: status, stable code, a human detail, and optional headers. Boxed, so
/// that `Result<_, ApiError>` stays small on the happy path.
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    code: Code,
    detail: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    extra: serde_json::Map<String, serde_json::Value>,
    cause: Option<String>,
}

impl ApiError {
    /// An error with `code` (which decides the status) and `detail`.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            code,
            detail: detail.into(),
            headers: Vec::new(),
            extra: serde_json::Map::new(),
            cause: None,
        }))
    }

    /// `400 malformed_json`.
    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(Code::MalformedJson, detail)
    }

    /// `400 invalid_base64` for `field`.
    pub fn invalid_base64(field: &str) -> Self {
        Self::new(Code::InvalidBase64, format!("`{field}` is not standard padded base64"))
    }

    /// `422 invalid_field`.
    pub fn invalid_field(detail: impl Into<String>) -> Self {
        Self::new(Code::InvalidField, detail)
    }

    /// `404 not_found`.
    pub fn not_found() -> Self {
        Self::new(Code::NotFound, "no such resource")
    }

    /// `503 unavailable` with `Retry-After`.
    pub fn unavailable(detail: impl Into<String>, retry_after: u64) -> Self {
        Self::new(Code::Unavailable, detail).retry_after(retry_after)
    }

    /// `408 request_timeout`: the body stalled; the connection is closed, as the rest is unread.
    pub fn body_timeout() -> Self {
        Self::new(Code::RequestTimeout, "the request body sent nothing for too long; nothing was stored")
            .closing()
    }

    /// Adds `Retry-After: seconds`.
    pub fn retry_after(self, seconds: u64) -> Self {
        self.with_header(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)))
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.push((name, value));
        self
    }

    /// Adds `Connection: close`: for answers given before the request body was read to its
    /// end, so that the client does not send its next request on a connection the server drops.
    pub fn closing(self) -> Self {
        self.with_header(header::CONNECTION, HeaderValue::from_static("close"))
    }

    /// With `ETag: "<etag>"` when there is one (the current revision, on a conflict).
    pub fn with_etag(self, etag: Option<String>) -> Self {
        match etag.and_then(|etag| HeaderValue::from_str(&blindvault_wire::etag::quote(&etag)).ok()) {
            Some(value) => self.with_header(header::ETAG, value),
            None => self,
        }
    }

    /// Adds a member to the problem object.
    pub fn with_extra(mut self, name: &str, value: serde_json::Value) -> Self {
        self.0.extra.insert(name.to_owned(), value);
        self
    }

    /// Records an internal cause for the log.
    pub fn caused_by(mut self, cause: impl std::fmt::Display) -> Self {
        self.0.cause = Some(cause.to_string());
        self
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.0.code.as_str()
    }

    /// The status the code is sent with.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn challenge(self, value: impl Into<String>) -> Self {
        match HeaderValue::from_str(&value.into()) {
            Ok(v) => self.with_header(header::WWW_AUTHENTICATE, v),
            Err(_) => self,
        }
    }
}

fn bearer(error: &str, description: &str) -> String {
    format!(r#"Bearer realm="blindvault", error="{error}", error_description="{description}""#)
}

impl From<crate::domain::InvalidVaultId> for ApiError {
    fn from(err: crate::domain::InvalidVaultId) -> Self {
        ServiceError::from(err).into()
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::InvalidField { field, message } => {
                Self::invalid_field(format!("`{field}` {message}"))
            }
            ServiceError::InvalidCredentials => {
                Self::new(Code::InvalidCredentials, "unknown username or wrong auth hash")
                    .challenge(r#"Bearer realm="blindvault""#)
            }
            ServiceError::Unauthenticated => {
                Self::new(Code::Unauthenticated, "a valid bearer token is required")
                    .challenge(r#"Bearer realm="blindvault""#)
            }
            ServiceError::TokenExpired => Self::new(Code::TokenExpired, "the token has expired")
                .challenge(bearer("invalid_token", "token expired")),
            ServiceError::TokenRevoked => Self::new(Code::TokenRevoked, "the token's session has ended")
                .challenge(bearer("invalid_token", "session ended")),
            ServiceError::InsufficientScope(scope) => {
                Self::new(Code::InsufficientScope, format!("this operation needs the `{scope}` scope"))
                    .challenge(format!(
                        r#"Bearer realm="blindvault", error="insufficient_scope", scope="{scope}""#
                    ))
            }
            ServiceError::RegistrationClosed => {
                Self::new(Code::RegistrationClosed, "this server does not accept new accounts")
            }
            ServiceError::UsernameTaken => Self::new(Code::UsernameTaken, "that username is taken"),
            ServiceError::InviteRequired => {
                Self::new(Code::InviteRequired, "this server accepts new accounts only with an invite code")
            }
            ServiceError::InvalidInvite => {
                Self::new(Code::InvalidInvite, "the invite code is unknown, used or expired")
            }
            ServiceError::SecondFactorRequired(challenge) => Self::new(
                Code::SecondFactorRequired,
                "the password is right; complete the login with a second factor at \
                 POST /api/v1/auth/login/second-factor",
            )
            .with_extra("challenge_token", challenge.token.clone().into())
            .with_extra("expires_in", challenge.expires_in.into())
            .with_extra("factors", serde_json::json!(challenge.factors))
            .with_extra("webauthn", challenge.webauthn.clone().unwrap_or(serde_json::Value::Null))
            .challenge(r#"Bearer realm="blindvault""#),
            ServiceError::InvalidSecondFactor => {
                Self::new(Code::InvalidSecondFactor, "the code or assertion is wrong, or was used before")
            }
            ServiceError::InvalidChallenge => Self::new(
                Code::InvalidChallenge,
                "the login challenge is unknown, used or expired: log in with the password again",
            ),
            ServiceError::AccountDisabled => {
                Self::new(Code::AccountDisabled, "this account is disabled; ask the server's operator")
            }
            ServiceError::SecondFactorExists => {
                Self::new(Code::SecondFactorExists, "this factor is enabled already; remove it first")
            }
            ServiceError::RateLimited { retry_after } => {
                Self::new(Code::RateLimited, "too many failed logins; try again later")
                    .retry_after(retry_after.as_secs_f64().ceil() as u64)
            }
            ServiceError::NotFound => Self::not_found(),
            ServiceError::VaultExists => {
                Self::new(Code::VaultExists, "a vault with this id exists with other content")
            }
            ServiceError::VaultIdTaken { current } => Self::new(
                Code::VaultExists,
                "a live vault has this id: restore the entry under another one (body field vault_id)",
            )
            .with_etag(Some(current)),
            ServiceError::PreconditionFailed { current } => {
                Self::new(Code::PreconditionFailed, "the vault is not at the expected revision")
                    .with_etag(current)
            }
            ServiceError::CursorExpired => Self::new(
                Code::CursorExpired,
                "the change log no longer reaches back to this cursor: list the vaults afresh and follow the \
                 changes from the cursor GET /api/v1/changes gives",
            ),
            ServiceError::TooLarge { limit } => {
                Self::new(Code::PayloadTooLarge, format!("the vault exceeds the limit of {limit} bytes"))
            }
            ServiceError::QuotaExceeded { what } => {
                Self::new(Code::QuotaExceeded, format!("this write would exceed your quota of {what}"))
            }
            ServiceError::RangeNotSatisfiable { size } => {
                Self::new(Code::RangeNotSatisfiable, "the range lies outside the vault").with_header(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes */{size}"))
                        .unwrap_or(HeaderValue::from_static("bytes */0")),
                )
            }
            ServiceError::IncompleteBody => {
                Self::new(Code::IncompleteBody, "the request body ended early; nothing was stored")
            }
            ServiceError::BodyTimeout => Self::body_timeout(),
            ServiceError::OffsetMismatch { current } => Self::new(
                Code::OffsetMismatch,
                "Upload-Offset is not where the upload stands; resume from the Upload-Offset sent back",
            )
            .with_header(
                HeaderName::from_static(blindvault_wire::tus::header::UPLOAD_OFFSET),
                HeaderValue::from(current),
            ),
            ServiceError::UploadBusy => {
                Self::new(Code::UploadBusy, "another request is appending to this upload").retry_after(1)
            }
            ServiceError::DirectUnavailable => Self::new(
                Code::DirectUnavailable,
                "this server's storage takes no direct uploads: send the bytes through the gateway",
            ),
            ServiceError::PartsMismatch(why) => Self::new(Code::PartsMismatch, why),
            ServiceError::ChecksumMismatch => Self::new(
                Code::ChecksumMismatch,
                "the chunk does not match its Upload-Checksum; it was discarded",
            ),
            ServiceError::Saturated => Self::unavailable("the server is busy; try again shortly", 1),
            ServiceError::Unavailable(cause) => {
                Self::unavailable("a storage dependency is unavailable; try again shortly", 5)
                    .caused_by(error_chain(&*cause))
            }
            ServiceError::Internal(cause) => internal().caused_by(format!("{cause:#}")),
        }
    }
}

/// `500 internal_error`, with nothing about the cause in the body.
pub fn internal() -> ApiError {
    ApiError::new(Code::InternalError, "the server failed to handle this request")
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let this = *self.0;
        if let Some(cause) = &this.cause {
            if status.is_server_error() {
                tracing::error!(code = this.code.as_str(), cause = %cause, "request failed");
            } else {
                tracing::info!(code = this.code.as_str(), cause = %cause, "request refused");
            }
        }
        let mut problem = Problem::new(this.code, status.canonical_reason().unwrap_or("Error"), this.detail);
        problem.extra = this.extra;
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in this.headers {
            headers.insert(name, value);
        }
        response
    }
}
