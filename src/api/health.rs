//! Service endpoints: liveness, readiness and the published limits.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::error::ApiError;
use super::state::AppState;

/// How long each readiness check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health`: the process serves. No I/O.
#[utoipa::path(get, path = "/health", tag = "service",
    responses((status = 200, description = "The process serves (no I/O)", body = serde_json::Value, example = json!({"status": "ok"}))))]
pub async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /health/ready`: 200 when the database and the object store both answer in time and
/// the replica follows the others' changes (`change_feed`; always with SQLite), else 503
/// naming which failed (and nothing about where they are).
#[utoipa::path(get, path = "/health/ready", tag = "service",
    responses(
        (status = 200, description = "The database and the object store answer, and other replicas' changes are followed", body = serde_json::Value),
        (status = 503, description = "`unavailable`; `checks` names what failed", body = super::openapi::Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds"))),
    ))]
pub async fn ready(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (database, objects) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, app.store.ping()),
        tokio::time::timeout(CHECK_TIMEOUT, app.blobs.probe()),
    );
    let database_ok = matches!(database, Ok(Ok(())));
    let objects_ok = matches!(objects, Ok(Ok(())));
    let feed_ok = app.changes.following();
    let word = |ok: bool| if ok { "ok" } else { "failed" };
    let checks = json!({
        "database": word(database_ok),
        "object_store": word(objects_ok),
        "change_feed": word(feed_ok),
    });
    if database_ok && objects_ok && feed_ok {
        return Ok(Json(json!({"status": "ok", "checks": checks})));
    }
    let failed: Vec<&str> =
        [("database", database_ok), ("object_store", objects_ok), ("change_feed", feed_ok)]
            .into_iter()
            .filter(|(_, ok)| !ok)
            .map(|(name, _)| name)
            .collect();
    tracing::warn!(change_feed = feed_ok, database = ?database.map(|r| r.err().map(|e| e.to_string())), object_store = ?objects.map(|r| r.err().map(|e| e.to_string())), "not ready");
    Err(ApiError::unavailable(format!("not ready: {} failed", failed.join(" and ")), 5)
        .with_extra(json!({"checks": checks})))
}

/// `GET /api/v1/limits`.
#[utoipa::path(get, path = "/api/v1/limits", tag = "service",
    responses((status = 200, description = "Size limits, quotas, KDF minimum, registration", body = serde_json::Value)))]
pub async fn limits(State(app): State<AppState>) -> Json<Value> {
    let s = &app.settings;
    Json(json!({
        "max_json_vault_bytes": s.max_json_vault_bytes,
        "max_vault_bytes": s.max_vault_bytes,
        "min_kdf_iterations": s.min_kdf_iterations,
        "registration": s.registration.as_str(),
        "quota_bytes": s.quota_bytes,
        "quota_vaults": s.quota_vaults,
    }))
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus/OpenMetrics text (absent here when BLINDVAULT_METRICS_LISTEN is set)", body = String, content_type = "application/openmetrics-text")))]
pub async fn metrics(State(app): State<AppState>) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        app.metrics.render(),
    )
}
