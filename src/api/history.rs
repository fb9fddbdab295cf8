//! `/api/v1/vault/{vault_id}/revisions`: a vault's retained revisions, read as the vault is
//! read (JSON or streamed), and restored as a new revision.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use blindvault_wire::history::{X_RESTORED_FROM, revision_path};
use blindvault_wire::vaults::{DEFAULT_PAGE, ListQuery};
use blindvault_wire::{Code, FullVault, RestoreRequest, RevisionList, VaultResponse};

use super::bearer::{Authenticated, ReadScope, WriteScope};
use super::content::{Direct, serve};
use super::error::ApiError;
use super::extract::{OptionalJson, b64};
use super::preconditions::if_match;
use super::state::AppState;
use super::vault_http::{PageQuery, VaultPath, vault_response, written};
use super::vaults::full_vault;
use crate::domain::VaultId;

/// The revision routes (nested with the vault routes under `/vault`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{vault_id}/revisions", get(list))
        .route("/{vault_id}/revisions/{revision}", get(read))
        .route("/{vault_id}/revisions/{revision}/content", get(content).head(content))
        .route("/{vault_id}/revisions/{revision}/restore", post(restore))
}

/// Validated `{vault_id}` and `{revision}` path segments (a revision that is not a positive
/// whole number names nothing: 404).
pub struct RevisionPath(VaultId, i64);

impl<S: Send + Sync> FromRequestParts<S> for RevisionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((id, revision)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        let id = VaultId::parse(&id)?;
        let revision = revision.parse::<i64>().ok().filter(|r| *r >= 1).ok_or_else(ApiError::not_found)?;
        Ok(Self(id, revision))
    }
}

const VAULT_ID: &str = "`[A-Za-z0-9._-]{1,128}`, not `.` or `..`";

#[utoipa::path(get, path = "/api/v1/vault/{vault_id}/revisions", tag = "history", security(("bearer" = ["vault:read"])),
    params(("vault_id" = String, Path, description = VAULT_ID), ListQuery),
    responses(
        (status = 200, description = "A page of revisions, newest first: the current one, then the retained earlier ones", body = RevisionList),
        (status = 404, description = "`not_found`: no such vault", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::InputErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn list(
    State(app): State<AppState>,
    auth: Authenticated<ReadScope>,
    VaultPath(id): VaultPath,
    PageQuery(query): PageQuery,
) -> Result<Json<RevisionList>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    let page = app.vaults.revisions(auth.principal.user_id, &id, query.cursor.as_deref(), limit).await?;
    Ok(Json(RevisionList {
        items: page.items.iter().map(vault_response).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/vault/{vault_id}/revisions/{revision}", tag = "history", security(("bearer" = ["vault:read"])),
    params(("vault_id" = String, Path, description = VAULT_ID), ("revision" = u64, Path, description = "A revision number"),
        ("If-None-Match" = Option<String>, Header, description = "304 when it matches")),
    responses(
        (status = 200, description = "The revision as `GET /vault/{vault_id}` shows a vault; `content_url` is the revision's", body = FullVault, headers(("ETag" = String, description = "Strong ETag of the revision"))),
        (status = 304, description = "Not modified"),
        (status = 404, description = "`not_found`: no such vault, or the revision is not retained", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::InputErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn read(
    State(app): State<AppState>,
    auth: Authenticated<ReadScope>,
    RevisionPath(id, revision): RevisionPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let vault = app.vaults.revision(auth.principal.user_id, &id, revision).await?;
    let content_url = format!("{}/content", revision_path(id.as_str(), revision as u64));
    full_vault(&app, &vault, &headers, content_url).await
}

#[utoipa::path(method(get, head), path = "/api/v1/vault/{vault_id}/revisions/{revision}/content", tag = "history", security(("bearer" = ["vault:read"])),
    params(("vault_id" = String, Path, description = VAULT_ID), ("revision" = u64, Path, description = "A revision number"),
        ("Range" = Option<String>, Header, description = "`bytes=a-b`, `bytes=a-` or `bytes=-n`"),
        ("If-Range" = Option<String>, Header, description = "Honour `Range` only at this ETag"),
        ("If-None-Match" = Option<String>, Header, description = "304 when it matches"),
        ("direct" = Option<bool>, Query, description = "As for `GET /vault/{vault_id}/content`")),
    responses(
        (status = 200, description = "The revision's ciphertext, streamed, with the headers of `GET /vault/{vault_id}/content`", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 206, description = "A range", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 304, description = "Not modified"),
        (status = 307, description = "`?direct=true`: as for `GET /vault/{vault_id}/content`"),
        (status = 404, description = "`not_found`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 416, description = "`range_not_satisfiable`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::InputErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn content(
    State(app): State<AppState>,
    auth: Authenticated<ReadScope>,
    RevisionPath(id, revision): RevisionPath,
    direct: Direct,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let vault = app.vaults.revision(auth.principal.user_id, &id, revision).await?;
    serve(&app, &vault, &method, &headers, direct).await
}

#[utoipa::path(post, path = "/api/v1/vault/{vault_id}/revisions/{revision}/restore", tag = "history", security(("bearer" = ["vault:write"])),
    request_body(content = RestoreRequest, description = "Optional"),
    params(("vault_id" = String, Path, description = VAULT_ID), ("revision" = u64, Path, description = "The revision whose content becomes the newest"),
        ("If-Match" = String, Header, description = "The vault's current ETag (or `*`)")),
    responses(
        (status = 200, description = "A new revision with the restored content and a new ETag", body = VaultResponse,
         headers(("ETag" = String, description = "Strong ETag of the new revision"), ("X-Restored-From" = u64, description = "The revision restored"))),
        (status = 404, description = "`not_found`: no such vault, or the revision is not retained", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::BodyErrors,
        super::responses::WriteErrors,
    ))]
pub(super) async fn restore(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    RevisionPath(id, revision): RevisionPath,
    headers: HeaderMap,
    OptionalJson(req): OptionalJson<RestoreRequest>,
) -> Result<Response, ApiError> {
    let expect = if_match(&headers)?.ok_or_else(|| {
        ApiError::new(Code::PreconditionRequired, "a restore needs If-Match with the vault's current ETag")
    })?;
    let receipt = req.receipt.as_deref().map(|r| b64("receipt", r)).transpose()?;
    let done = app.vaults.restore(auth.principal.user_id, &id, revision, &expect, receipt).await?;
    let mut response = written(&done);
    response.headers_mut().insert(HeaderName::from_static(X_RESTORED_FROM), HeaderValue::from(revision));
    Ok(response)
}
