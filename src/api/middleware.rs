//! Per-request context: a request id (echoed when the client sent a sane one), a tracing span
//! named by the matched route, and one log line per response. Headers and bodies are never
//! recorded: they carry tokens and ciphertext.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;
use uuid::Uuid;

use super::error::{ApiError, internal};
use super::state::AppState;
use crate::telemetry::metrics::HttpLabels;

/// The request id header.
pub const X_REQUEST_ID: &str = "x-request-id";

/// The request's id, in the request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Runs the request on a task of its own, so that a client going away (which drops this
/// future) never cuts its work off halfway: whatever it began in the database — a `BEGIN`
/// in flight included, which sqlx 0.9.0 cannot cancel safely (see `store::PgStore`) — runs
/// to completion and is logged. The answer is then dropped with the connection.
pub async fn request_context(State(app): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::spawn(in_context(app, req, next)).await {
        Ok(response) => response,
        Err(e) => internal().caused_by(format!("request task failed: {e}")).into_response(),
    }
}

/// Assigns the request id, opens the request span and logs the outcome.
async fn in_context(app: AppState, mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = req.method().to_string();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        route = %route,
        status = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("status", status);
    let labels = HttpLabels { route: route.clone(), method: method.clone(), status };
    app.metrics.http_requests.get_or_create(&labels).inc();
    app.metrics.http_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    span.in_scope(|| {
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::warn!(status, latency_ms, "request finished");
        } else {
            tracing::info!(status, latency_ms, "request finished");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    response
}

/// 1 to 128 characters of letters, digits and `-_.:/+=`: enough for UUIDs, trace ids and
/// the usual proxy formats, and safe to log and echo.
fn is_sane(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(&b))
}

/// `404 not_found` for unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// `405` for a known path with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(blindvault_wire::Code::MethodNotAllowed, "this method is not allowed here")
}

/// A panic in a handler becomes a plain 500 problem; the panic message is logged, not sent.
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = err
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    internal().caused_by(format!("handler panicked: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_checked() {
        assert!(super::is_sane("3f2b-11aa"));
        assert!(!super::is_sane(""));
        assert!(!super::is_sane("a b"));
        assert!(!super::is_sane(&"x".repeat(129)));
        assert!(!super::is_sane("line\nbreak"));
    }
}
