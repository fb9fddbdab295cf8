//! `/api/v1/account`: what the caller holds, and erasing the caller (re-confirmed with the
//! auth hash).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use blindvault_wire::{AccountResponse, DeleteAccountRequest, Usage};

use super::bearer::{AccountScope, Authenticated, ReadScope};
use super::error::ApiError;
use super::extract::{ApiJson, ClientIp, b64};
use super::state::AppState;

/// The caller's account and what it holds.
#[utoipa::path(get, path = "/api/v1/account", tag = "auth", security(("bearer" = ["vault:read"])),
    responses(
        (status = 200, description = "The account, its usage (live vaults, history, trash, open uploads) and its quota", body = AccountResponse),
        super::responses::TokenErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn read(
    State(app): State<AppState>,
    auth: Authenticated<ReadScope>,
) -> Result<Json<AccountResponse>, ApiError> {
    let user = app.auth.user(auth.principal.user_id).await?;
    let u = app.vaults.usage(user.id).await?;
    let n = |v: i64| v.max(0) as u64;
    let quota = app.vaults.quota_of(user.id).await?;
    Ok(Json(AccountResponse {
        user_id: user.id.to_string(),
        username: user.username,
        created_at: user.created_at.rfc3339(),
        usage: Usage {
            bytes: n(u.bytes),
            vaults: n(u.vaults),
            history_bytes: n(u.history_bytes),
            history_revisions: n(u.history_revisions),
            trash_bytes: n(u.trash_bytes),
            trash_vaults: n(u.trash_vaults),
            reserved_bytes: n(u.reserved_bytes),
            counted_bytes: n(u.held_bytes()),
        },
        quota_bytes: quota.bytes,
        quota_vaults: quota.vaults,
    }))
}

/// Deletes the user, their sessions and all their vaults, metadata and objects.
#[utoipa::path(delete, path = "/api/v1/account", tag = "auth", security(("bearer" = ["account"])), request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "The user, their sessions and all their vaults (metadata and objects) are deleted"),
        (status = 429, description = "`rate_limited`: too many wrong hashes for the account or from the address", body = blindvault_wire::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
        super::responses::TokenErrors,
        super::responses::BodyErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn delete_account(
    State(app): State<AppState>,
    auth: Authenticated<AccountScope>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<DeleteAccountRequest>,
) -> Result<StatusCode, ApiError> {
    let auth_hash = b64("auth_hash", &req.auth_hash)?;
    app.auth.confirm(&auth.principal, auth_hash, client).await?;
    // The trail goes with the account; the structured log keeps this last event.
    app.auth.record(&auth.principal, client, "account_deletion_requested", serde_json::json!({})).await;
    app.vaults.delete_account(auth.principal.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
