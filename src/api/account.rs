//! `DELETE /api/v1/account`: erase the caller, re-confirmed with the auth hash.

use axum::extract::State;
use axum::http::StatusCode;
use blindvault_wire::DeleteAccountRequest;

use super::bearer::{AccountScope, Authenticated};
use super::error::ApiError;
use super::extract::{ApiJson, ClientIp, b64};
use super::state::AppState;

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
    app.vaults.delete_account(auth.principal.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
