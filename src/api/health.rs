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
        (status = 503, description = "`unavailable`; `checks` names what failed", body = blindvault_wire::Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds"))),
    ))]
pub async fn ready(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let checks = app.readiness.check(CHECK_TIMEOUT).await;
    let word = |ok: bool| if ok { "ok" } else { "failed" };
    let named = [
        ("database", checks.database.is_ok()),
        ("object_store", checks.object_store.is_ok()),
        ("change_feed", checks.change_feed),
    ];
    let body = Value::Object(named.iter().map(|(name, ok)| (name.to_string(), json!(word(*ok)))).collect());
    if checks.all_ok() {
        return Ok(Json(json!({"status": "ok", "checks": body})));
    }
    let failed: Vec<&str> = named.iter().filter(|(_, ok)| !ok).map(|(name, _)| *name).collect();
    tracing::warn!(change_feed = checks.change_feed, database = ?checks.database.err(), object_store = ?checks.object_store.err(), "not ready");
    Err(ApiError::unavailable(format!("not ready: {} failed", failed.join(" and ")), 5)
        .with_extra("checks", body))
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
