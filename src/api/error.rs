//! Every error leaves as RFC 9457 `application/problem+json` with a stable `code`. The cause,
//! if any, goes to the log under the request's span, never into the body.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::service::ServiceError;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error response: status, stable code, a human detail, and optional headers. Boxed, so
/// that `Result<_, ApiError>` stays small on the happy path.
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    status: StatusCode,
    code: &'static str,
    detail: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    extra: Option<serde_json::Value>,
    cause: Option<String>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: &'a str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a serde_json::Value>,
}

impl ApiError {
    /// An error with `status`, `code` and `detail`.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            status,
            code,
            detail: detail.into(),
            headers: Vec::new(),
            extra: None,
            cause: None,
        }))
    }

    /// `400 malformed_json`.
    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", detail)
    }

    /// `400 invalid_base64` for `field`.
    pub fn invalid_base64(field: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_base64",
            format!("`{field}` is not standard padded base64"),
        )
    }

    /// `422 invalid_field`.
    pub fn invalid_field(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", detail)
    }

    /// `404 not_found`.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    /// `503 unavailable` with `Retry-After`.
    pub fn unavailable(detail: impl Into<String>, retry_after: u64) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail).retry_after(retry_after)
    }

    /// `408 request_timeout`: the body stalled; the connection is closed, as the rest is unread.
    pub fn body_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body sent nothing for too long; nothing was stored",
        )
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

    /// Adds members to the problem object.
    pub fn with_extra(mut self, extra: serde_json::Value) -> Self {
        self.0.extra = Some(extra);
        self
    }

    /// Records an internal cause for the log.
    pub fn caused_by(mut self, cause: impl std::fmt::Display) -> Self {
        self.0.cause = Some(cause.to_string());
        self
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.0.code
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
        use StatusCode as S;
        match err {
            ServiceError::InvalidField { field, message } => {
                Self::invalid_field(format!("`{field}` {message}"))
            }
            ServiceError::InvalidCredentials => {
                Self::new(S::UNAUTHORIZED, "invalid_credentials", "unknown username or wrong auth hash")
                    .challenge(r#"Bearer realm="blindvault""#)
            }
            ServiceError::Unauthenticated => {
                Self::new(S::UNAUTHORIZED, "unauthenticated", "a valid bearer token is required")
                    .challenge(r#"Bearer realm="blindvault""#)
            }
            ServiceError::TokenExpired => {
                Self::new(S::UNAUTHORIZED, "token_expired", "the token has expired")
                    .challenge(bearer("invalid_token", "token expired"))
            }
            ServiceError::TokenRevoked => {
                Self::new(S::UNAUTHORIZED, "token_revoked", "the token's session has ended")
                    .challenge(bearer("invalid_token", "session ended"))
            }
            ServiceError::InsufficientScope(scope) => Self::new(
                S::FORBIDDEN,
                "insufficient_scope",
                format!("this operation needs the `{scope}` scope"),
            )
            .challenge(format!(r#"Bearer realm="blindvault", error="insufficient_scope", scope="{scope}""#)),
            ServiceError::RegistrationClosed => {
                Self::new(S::FORBIDDEN, "registration_closed", "this server does not accept new accounts")
            }
            ServiceError::UsernameTaken => Self::new(S::CONFLICT, "username_taken", "that username is taken"),
            ServiceError::RateLimited { retry_after } => {
                Self::new(S::TOO_MANY_REQUESTS, "rate_limited", "too many failed logins; try again later")
                    .retry_after(retry_after.as_secs_f64().ceil() as u64)
            }
            ServiceError::NotFound => Self::not_found(),
            ServiceError::VaultExists => {
                Self::new(S::CONFLICT, "vault_exists", "a vault with this id exists with other content")
            }
            ServiceError::PreconditionFailed { current } => {
                let err = Self::new(
                    S::PRECONDITION_FAILED,
                    "precondition_failed",
                    "the vault is not at the expected revision",
                );
                match current.and_then(|etag| HeaderValue::from_str(&format!("\"{etag}\"")).ok()) {
                    Some(etag) => err.with_header(header::ETAG, etag),
                    None => err,
                }
            }
            ServiceError::TooLarge { limit } => Self::new(
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the vault exceeds the limit of {limit} bytes"),
            ),
            ServiceError::QuotaExceeded { what } => Self::new(
                S::PAYLOAD_TOO_LARGE,
                "quota_exceeded",
                format!("this write would exceed your quota of {what}"),
            ),
            ServiceError::RangeNotSatisfiable { size } => Self::new(
                S::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                "the range lies outside the vault",
            )
            .with_header(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}"))
                    .unwrap_or(HeaderValue::from_static("bytes */0")),
            ),
            ServiceError::IncompleteBody => Self::new(
                S::BAD_REQUEST,
                "incomplete_body",
                "the request body ended early; nothing was stored",
            ),
            ServiceError::BodyTimeout => Self::body_timeout(),
            ServiceError::OffsetMismatch { current } => Self::new(
                S::CONFLICT,
                "offset_mismatch",
                "Upload-Offset is not where the upload stands; resume from the Upload-Offset sent back",
            )
            .with_header(HeaderName::from_static("upload-offset"), HeaderValue::from(current)),
            ServiceError::UploadBusy => {
                Self::new(S::LOCKED, "upload_busy", "another request is appending to this upload")
                    .retry_after(1)
            }
            ServiceError::ChecksumMismatch => Self::new(
                S::from_u16(460).unwrap_or(S::BAD_REQUEST),
                "checksum_mismatch",
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
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "the server failed to handle this request",
    )
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
        let this = *self.0;
        if let Some(cause) = &this.cause {
            if this.status.is_server_error() {
                tracing::error!(code = this.code, cause = %cause, "request failed");
            } else {
                tracing::info!(code = this.code, cause = %cause, "request refused");
            }
        }
        let title = this.status.canonical_reason().unwrap_or("Error");
        let problem = Problem {
            kind: "about:blank",
            title,
            status: this.status.as_u16(),
            code: this.code,
            detail: &this.detail,
            extra: this.extra.as_ref(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (this.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in this.headers {
            headers.insert(name, value);
        }
        response
    }
}
