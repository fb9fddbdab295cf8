//! HTTP only: routes, extractors and the mapping of results to responses. Handlers extract
//! their inputs, call one service function and shape the answer.

mod account;
mod auth;
mod bearer;
mod content;
mod error;
mod extract;
mod health;
mod middleware;
mod openapi;
pub mod preconditions;
mod state;
mod uploads;
mod vaults;

pub use bearer::{AccountScope, AnyScope, Authenticated, ReadScope, RequiredScope, WriteScope};
pub use error::{ApiError, PROBLEM_JSON};
pub use middleware::{RequestId, X_REQUEST_ID};
pub use openapi::ApiDoc;
pub use state::{App, AppState};

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get};
use axum::{Router, middleware as mw};
use tower_http::catch_panic::CatchPanicLayer;

/// Largest JSON body the auth endpoints read.
const AUTH_BODY_LIMIT: usize = 64 * 1024;

fn metrics_routes() -> Router<AppState> {
    Router::new().route("/metrics", get(health::metrics))
}

/// `/metrics` alone, for a separate metrics listener.
pub fn metrics_router(state: AppState) -> Router {
    metrics_routes().with_state(state)
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    // Base64 makes 3 bytes 4; the rest of a vault's JSON is small.
    let json_vault_limit =
        (state.settings.max_json_vault_bytes as usize).saturating_mul(4) / 3 + AUTH_BODY_LIMIT;
    let api = Router::new()
        .nest("/auth", auth::router().layer(DefaultBodyLimit::max(AUTH_BODY_LIMIT)))
        .nest("/vault", vaults::router().layer(DefaultBodyLimit::max(json_vault_limit)))
        .route("/account", delete(account::delete_account).layer(DefaultBodyLimit::max(AUTH_BODY_LIMIT)))
        .nest("/uploads", uploads::router().layer(DefaultBodyLimit::disable()))
        .route("/limits", get(health::limits))
        .route("/openapi.json", get(openapi::openapi_json));
    Router::new()
        .route("/health", get(health::live))
        .route("/health/ready", get(health::ready))
        .merge(if state.settings.metrics_listen.is_none() { metrics_routes() } else { Router::new() })
        .nest("/api/v1", api)
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(mw::from_fn_with_state(state.clone(), middleware::request_context))
        .with_state(state)
}
