//! The refusals and answers many operations share, named once for the OpenAPI description.
//! A leaf: the handlers refer to these, and nothing here refers to a handler.

use blindvault_wire::{Problem, VaultResponse};

/// Refusals every authenticated operation can answer.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum TokenErrors {
    /// `unauthenticated`, `token_expired` or `token_revoked` (with `WWW-Authenticate: Bearer`)
    #[response(status = 401, content_type = "application/problem+json", headers(("WWW-Authenticate" = String)))]
    Unauthorized(Problem),
    /// `insufficient_scope`
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
}

/// Refusals of a path, query or header that does not parse or is out of range.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum InputErrors {
    /// `invalid_header` (e.g. a malformed `If-Match`) or `invalid_base64`
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// `invalid_field`: a vault id, query parameter or header value out of range
    #[response(status = 422, content_type = "application/problem+json")]
    Unprocessable(Problem),
}

/// Refusals of a request body that does not parse, does not arrive or does not fit.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum BodyErrors {
    /// `malformed_json`, `invalid_base64`, `invalid_header` or `incomplete_body`
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// `request_timeout`: the body sent nothing for `BLINDVAULT_BODY_READ_TIMEOUT`
    #[response(status = 408, content_type = "application/problem+json")]
    Timeout(Problem),
    /// `payload_too_large`
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// `unsupported_media_type`
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// `invalid_field`: parses, but a value is out of range, unknown or missing
    #[response(status = 422, content_type = "application/problem+json")]
    Unprocessable(Problem),
}

/// A dependency (database, object store) is down; nothing changed.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum Unavailable {
    /// `unavailable`: try again after `Retry-After` seconds
    #[response(status = 503, content_type = "application/problem+json", headers(("Retry-After" = u64)))]
    Unavailable(Problem),
}

/// Refusals of a vault write.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum WriteErrors {
    /// `precondition_failed`: the vault is not at the expected revision; `ETag` is the current one
    #[response(status = 412, content_type = "application/problem+json", headers(("ETag" = String)))]
    PreconditionFailed(Problem),
    /// `payload_too_large` or `quota_exceeded`: nothing was committed
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// `precondition_required`: a replace without `If-Match` or `If-None-Match`
    #[response(status = 428, content_type = "application/problem+json")]
    PreconditionRequired(Problem),
    /// `unavailable`: a dependency failed; the vault keeps its previous revision
    #[response(status = 503, content_type = "application/problem+json", headers(("Retry-After" = u64)))]
    Unavailable(Problem),
}

/// A committed vault write.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum WriteOk {
    /// Replaced (or an identical create repeated: a safe retry)
    #[response(status = 200, headers(("ETag" = String, description = "Strong ETag of the new revision")))]
    Replaced(VaultResponse),
    /// Created
    #[response(status = 201, headers(("ETag" = String, description = "Strong ETag of the new revision"), ("Location" = String)))]
    Created(VaultResponse),
}

/// The preconditions of a vault write.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct WritePreconditions {
    /// Replace only this revision (a strong ETag), or `*` for whatever exists.
    #[serde(rename = "If-Match")]
    if_match: Option<String>,
    /// `*`: create only.
    #[serde(rename = "If-None-Match")]
    if_none_match: Option<String>,
}

/// The refusal of an operation that checks the password or a second-factor code.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum Throttled {
    /// `rate_limited`: too many wrong hashes or codes for the account or from the address
    #[response(status = 429, content_type = "application/problem+json", headers(("Retry-After" = u64)))]
    TooManyRequests(Problem),
}
