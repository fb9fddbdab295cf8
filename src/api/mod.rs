//! HTTP only: routes, extractors and the mapping of results to responses. Handlers extract
//! their inputs, call one service function and shape the answer.

mod account;
mod auth;
mod bearer;
mod content;
mod direct;
mod error;
mod extract;
mod factors;
mod feed;
mod health;
mod history;
mod middleware;
mod no_store;
mod openapi;
pub mod preconditions;
mod responses;
mod sessions;
mod state;
mod trash;
mod uploads;
mod vault_http;
mod vaults;
mod web;

pub use bearer::{AccountScope, AnyScope, Authenticated, ReadScope, RequiredScope, WriteScope};
pub use blindvault_wire::PROBLEM_JSON;
pub use error::ApiError;
pub use middleware::{RequestId, X_REQUEST_ID};
pub use openapi::ApiDoc;
pub use state::{App, AppState};

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Router, middleware as mw};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;

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
        .nest(
            "/vault",
            vaults::router()
                .merge(content::router())
                .merge(history::router())
                .merge(direct::router().layer(DefaultBodyLimit::max(direct::DIRECT_BODY_LIMIT)))
                .layer(DefaultBodyLimit::max(json_vault_limit)),
        )
        .nest("/trash", trash::router().layer(DefaultBodyLimit::max(AUTH_BODY_LIMIT)))
        .nest("/changes", feed::router())
        .route(
            "/account",
            get(account::read).delete(account::delete_account).layer(DefaultBodyLimit::max(AUTH_BODY_LIMIT)),
        )
        .nest("/account/second-factors", factors::router().layer(DefaultBodyLimit::max(AUTH_BODY_LIMIT)))
        .route("/account/events", get(sessions::events))
        .nest("/uploads", uploads::router().layer(DefaultBodyLimit::disable()))
        .route("/limits", get(health::limits))
        .route("/openapi.json", get(openapi::openapi_json));
    Router::new()
        .route("/health", get(health::live))
        .route("/health/ready", get(health::ready))
        .merge(if state.settings.metrics_listen.is_none() { metrics_routes() } else { Router::new() })
        .merge(web_routes(&state.settings))
        .nest("/api/v1", api)
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(mw::from_fn_with_state(state.clone(), middleware::request_context))
        .layer(cors(&state.settings.cors_origins))
        .with_state(state)
}

/// The web vault page, unless turned off: from `BLINDVAULT_WEB_DIR` when set, else built in.
fn web_routes(settings: &crate::config::Settings) -> Router<AppState> {
    match (settings.web, &settings.web_dir) {
        (false, _) => Router::new(),
        (true, Some(dir)) => web::router(web::WebFiles::Dir(dir.clone())),
        (true, None) => web::router(web::WebFiles::embedded()),
    }
}

/// CORS for the configured web origins (none: no CORS headers at all). Browsers may send the
/// headers the API and tus need, and read the ones a client must see.
fn cors(origins: &[String]) -> tower::util::Either<CorsLayer, tower::layer::util::Identity> {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    use blindvault_wire::tus::header as tus;
    use blindvault_wire::vaults::{X_VAULT_IV, X_VAULT_SALT, X_VAULT_VERSION};
    if origins.is_empty() {
        return tower::util::Either::Right(tower::layer::util::Identity::new());
    }
    let names = |list: &[&'static str]| list.iter().map(|h| HeaderName::from_static(h)).collect::<Vec<_>>();
    let allowed = names(&[
        tus::TUS_RESUMABLE,
        tus::UPLOAD_LENGTH,
        tus::UPLOAD_METADATA,
        tus::UPLOAD_OFFSET,
        tus::UPLOAD_CHECKSUM,
        X_VAULT_IV,
        X_VAULT_SALT,
        X_VAULT_VERSION,
        "x-request-id",
    ]);
    let exposed = names(&[
        "location",
        tus::UPLOAD_OFFSET,
        tus::UPLOAD_LENGTH,
        tus::UPLOAD_EXPIRES,
        tus::TUS_RESUMABLE,
        tus::TUS_VERSION,
        tus::TUS_EXTENSION,
        tus::TUS_MAX_SIZE,
        tus::TUS_CHECKSUM_ALGORITHM,
        X_VAULT_IV,
        X_VAULT_SALT,
        X_VAULT_VERSION,
        "x-request-id",
        "retry-after",
    ]);
    tower::util::Either::Left(
        CorsLayer::new()
            .allow_origin(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect::<Vec<_>>())
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers(
                [
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::IF_MATCH,
                    header::IF_NONE_MATCH,
                    header::RANGE,
                    header::IF_RANGE,
                ]
                .into_iter()
                .chain(allowed)
                .collect::<Vec<_>>(),
            )
            .expose_headers(
                [header::ETAG, header::CONTENT_RANGE, header::CONTENT_LENGTH]
                    .into_iter()
                    .chain(exposed)
                    .collect::<Vec<_>>(),
            )
            .max_age(std::time::Duration::from_secs(600)),
    )
}
