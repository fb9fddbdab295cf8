//! `/api/v1/trash`: deleted vaults, restored (under their id or another) or purged.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use blindvault_wire::vaults::{DEFAULT_PAGE, ListQuery, vault_path};
use blindvault_wire::{TrashEntry, TrashList, UntrashRequest, VaultResponse};
use uuid::Uuid;

use super::bearer::{Authenticated, ReadScope, WriteScope};
use super::error::ApiError;
use super::extract::{ClientIp, OptionalJson, b64};
use super::preconditions::etag_header;
use super::state::AppState;
use super::vault_http::{PageQuery, vault_response};
use crate::domain::VaultId;

/// Routes under `/api/v1/trash`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list))
        .route("/{trash_id}", delete(purge))
        .route("/{trash_id}/restore", post(restore))
}

/// A `{trash_id}` path segment; anything but a UUID names nothing (404).
pub struct TrashPath(Uuid);

impl<S: Send + Sync> FromRequestParts<S> for TrashPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) =
            Path::<String>::from_request_parts(parts, state).await.map_err(|_| ApiError::not_found())?;
        Uuid::parse_str(&raw).map(Self).map_err(|_| ApiError::not_found())
    }
}

fn entry(e: &crate::domain::TrashEntry) -> TrashEntry {
    TrashEntry {
        trash_id: e.id.to_string(),
        vault: vault_response(&e.vault),
        history_size: e.history_bytes.max(0) as u64,
        history_revisions: e.history_count.max(0) as u64,
        deleted_at: e.deleted_at.rfc3339(),
        expires_at: e.expires_at.rfc3339(),
    }
}

#[utoipa::path(get, path = "/api/v1/trash", tag = "history", security(("bearer" = ["vault:read"])), params(ListQuery),
    responses(
        (status = 200, description = "A page of the trash, newest deletion first", body = TrashList),
        super::responses::TokenErrors,
        super::responses::InputErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn list(
    State(app): State<AppState>,
    auth: Authenticated<ReadScope>,
    PageQuery(query): PageQuery,
) -> Result<Json<TrashList>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    let page = app.vaults.trash(auth.principal.user_id, query.cursor.as_deref(), limit).await?;
    Ok(Json(TrashList { items: page.items.iter().map(entry).collect(), next_cursor: page.next_cursor }))
}

#[utoipa::path(post, path = "/api/v1/trash/{trash_id}/restore", tag = "history", security(("bearer" = ["vault:write"])),
    request_body(content = UntrashRequest, description = "Optional"),
    params(("trash_id" = String, Path, description = "The entry's `trash_id`")),
    responses(
        (status = 201, description = "The vault is live again, with its history, at `Location`", body = VaultResponse,
         headers(("ETag" = String, description = "Strong ETag of its revision"), ("Location" = String))),
        (status = 404, description = "`not_found`: no such entry", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`vault_exists`: a live vault has the id (its `ETag` given); restore under another `vault_id`", body = blindvault_wire::Problem, content_type = "application/problem+json", headers(("ETag" = String))),
        (status = 413, description = "`quota_exceeded`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::BodyErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn restore(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    TrashPath(trash_id): TrashPath,
    OptionalJson(req): OptionalJson<UntrashRequest>,
) -> Result<Response, ApiError> {
    let as_id = req.vault_id.as_deref().map(VaultId::parse).transpose()?;
    let receipt = req.receipt.as_deref().map(|r| b64("receipt", r)).transpose()?;
    let vault = app.vaults.untrash(auth.principal.user_id, trash_id, as_id, receipt).await?;
    let mut response = (StatusCode::CREATED, Json(vault_response(&vault))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag_header(&vault.etag));
    if let Ok(location) = HeaderValue::from_str(&vault_path(&vault.vault_id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(delete, path = "/api/v1/trash/{trash_id}", tag = "history", security(("bearer" = ["vault:write"])),
    params(("trash_id" = String, Path, description = "The entry's `trash_id`")),
    responses(
        (status = 204, description = "Purged: the vault and its history are gone for good"),
        (status = 404, description = "`not_found`: no such entry", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn purge(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    ClientIp(client): ClientIp,
    TrashPath(trash_id): TrashPath,
) -> Result<StatusCode, ApiError> {
    app.vaults.purge(auth.principal.user_id, trash_id).await?;
    let detail = serde_json::json!({ "trash_id": trash_id });
    app.auth.record(&auth.principal, client, "vault_purged", detail).await;
    Ok(StatusCode::NO_CONTENT)
}
