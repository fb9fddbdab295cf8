//! Answers that must not be cached: token pairs (RFC 6749 section 5.1), secrets and
//! recovery codes. A leaf: the handlers use it, and it uses none of them.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use blindvault_wire::TokenResponse;

use crate::service::TokenPair;

/// Token responses must not be cached (RFC 6749 section 5.1).
pub fn token_response(pair: TokenPair) -> Response {
    no_store(Json(TokenResponse {
        access_token: pair.access_token,
        token_type: "Bearer".into(),
        expires_in: pair.expires_in,
        refresh_token: pair.refresh_token,
        scope: pair.scope,
    }))
}

/// `body` with `Cache-Control: no-store`: tokens, secrets and recovery codes.
pub fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
