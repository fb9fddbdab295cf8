//! `/api/v1/vault`: the JSON representation of vaults, and listing.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use blindvault_wire::vaults::{ListQuery, content_path};
use blindvault_wire::{CreateRequest, FullVault, ListResponse, ReplaceRequest, VaultResponse};
use bytes::Bytes;

use super::bearer::{Authenticated, ReadScope, WriteScope};
use super::error::ApiError;
use super::extract::{ApiJson, ClientIp, b64, to_b64};
use super::preconditions::{etag_header, if_match, not_modified, put_mode};
use super::state::AppState;
use super::vault_http::{PageQuery, VaultPath, not_modified_response, vault_response, written};
use crate::domain::{Precondition, Vault, VaultId};
use crate::service::VaultWrite;

/// Routes under `/api/v1/vault`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", post(create).get(list))
        .route("/{vault_id}", get(read).put(replace).delete(remove))
}

struct Body {
    ciphertext: Vec<u8>,
    iv: Vec<u8>,
    salt: Vec<u8>,
    version: i64,
}

impl Body {
    fn decode(ciphertext: &str, iv: &str, salt: &str, version: Option<i64>) -> Result<Self, ApiError> {
        Ok(Self {
            ciphertext: b64("ciphertext", ciphertext)?,
            iv: b64("iv", iv)?,
            salt: b64("salt", salt)?,
            version: version.unwrap_or(1),
        })
    }
}

async fn write_json(
    app: &AppState,
    user: uuid::Uuid,
    id: VaultId,
    mode: Precondition,
    body: Body,
) -> Result<Response, ApiError> {
    let len = body.ciphertext.len() as u64;
    let chunk = Ok::<_, std::convert::Infallible>(Bytes::from(body.ciphertext));
    let write = VaultWrite {
        user,
        id,
        precondition: mode,
        iv: body.iv,
        salt: body.salt,
        version: body.version,
        body: futures::stream::once(async move { chunk }),
        declared_len: Some(len),
        inline: true,
    };
    let done = app.vaults.write(write).await?;
    app.metrics.bytes_uploaded.inc_by(done.vault.size as u64);
    Ok(written(&done))
}

#[utoipa::path(post, path = "/api/v1/vault", tag = "vaults", security(("bearer" = ["vault:write"])), request_body = CreateRequest,
    responses(
        (status = 201, description = "Created", body = VaultResponse, headers(("ETag" = String), ("Location" = String))),
        (status = 200, description = "An identical create repeated (safe retry)", body = VaultResponse, headers(("ETag" = String, description = "Strong ETag of the revision"))),
        (status = 409, description = "`vault_exists` with other content", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::BodyErrors,
        super::responses::WriteErrors,
    ))]
pub(super) async fn create(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<Response, ApiError> {
    let id = VaultId::parse(&req.vault_id)?;
    let body = Body::decode(&req.ciphertext, &req.iv, &req.salt, req.version)?;
    write_json(&app, auth.principal.user_id, id, Precondition::AbsentOrSame, body).await
}

#[utoipa::path(put, path = "/api/v1/vault/{vault_id}", tag = "vaults", security(("bearer" = ["vault:write"])), request_body = ReplaceRequest,
    params(("vault_id" = String, Path, description = "`[A-Za-z0-9._-]{1,128}`, not `.` or `..`"),
        super::responses::WritePreconditions),
    responses(
        super::responses::WriteOk,
        super::responses::TokenErrors,
        super::responses::BodyErrors,
        super::responses::WriteErrors,
    ))]
pub(super) async fn replace(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    VaultPath(id): VaultPath,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ReplaceRequest>,
) -> Result<Response, ApiError> {
    let mode = put_mode(&headers)?;
    let body = Body::decode(&req.ciphertext, &req.iv, &req.salt, req.version)?;
    write_json(&app, auth.principal.user_id, id, mode, body).await
}

#[utoipa::path(get, path = "/api/v1/vault/{vault_id}", tag = "vaults", security(("bearer" = ["vault:read"])),
    params(("vault_id" = String, Path, description = "`[A-Za-z0-9._-]{1,128}`, not `.` or `..`"), ("If-None-Match" = Option<String>, Header, description = "304 when it matches")),
    responses(
        (status = 200, description = "The vault; `ciphertext` is null above the JSON limit (use `content_url`)", body = FullVault, headers(("ETag" = String, description = "Strong ETag of the revision"))),
        (status = 304, description = "Not modified", headers(("ETag" = String, description = "Strong ETag of the revision"))),
        (status = 404, description = "`not_found` (also another user's)", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::InputErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn read(
    State(app): State<AppState>,
    auth: Authenticated<ReadScope>,
    VaultPath(id): VaultPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let vault = app.vaults.get(auth.principal.user_id, &id).await?;
    full_vault(&app, &vault, &headers, content_path(&vault.vault_id)).await
}

/// `vault` as JSON, its ciphertext inline when small enough, else at `content_url`;
/// 304 when `If-None-Match` matches.
pub(super) async fn full_vault(
    app: &AppState,
    vault: &Vault,
    headers: &HeaderMap,
    content_url: String,
) -> Result<Response, ApiError> {
    if not_modified(headers, &vault.etag)? {
        return Ok(not_modified_response(&vault.etag));
    }
    let json = match app.changes.caches().rendered.get(vault, &content_url).await {
        Some(json) => {
            app.metrics.bytes_downloaded.inc_by(vault.size.max(0) as u64);
            json
        }
        None => render(app, vault, content_url).await?,
    };
    let mut response =
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response();
    response.headers_mut().insert(header::ETAG, etag_header(&vault.etag));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    Ok(response)
}

/// Renders `vault`'s JSON answer, and keeps it when its ciphertext is inline.
async fn render(app: &AppState, vault: &Vault, content_url: String) -> Result<bytes::Bytes, ApiError> {
    let body = app.vaults.inline_body(vault).await?;
    if let Some(b) = &body {
        app.metrics.bytes_downloaded.inc_by(b.len() as u64);
    }
    let inline = body.is_some();
    let answer = FullVault {
        meta: vault_response(vault),
        ciphertext: body.map(|b| to_b64(&b)),
        iv: to_b64(&vault.iv),
        salt: to_b64(&vault.salt),
        content_url,
    };
    // Serialized into a buffer sized for it up front: growing one from axum's default 128 bytes
    // to a 4 KiB vault's 6 KB of JSON copied it over and over (5% of a cached read's CPU).
    let mut json = Vec::with_capacity(answer.ciphertext.as_ref().map_or(0, String::len) + 512);
    serde_json::to_writer(&mut json, &answer).map_err(|e| super::error::internal().caused_by(e))?;
    let json = bytes::Bytes::from(json);
    if inline {
        app.changes.caches().rendered.keep(vault, answer.content_url, json.clone()).await;
    }
    Ok(json)
}

#[utoipa::path(delete, path = "/api/v1/vault/{vault_id}", tag = "vaults", security(("bearer" = ["vault:write"])),
    params(("vault_id" = String, Path, description = "`[A-Za-z0-9._-]{1,128}`, not `.` or `..`"), ("If-Match" = Option<String>, Header, description = "Delete only this revision")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 412, description = "`precondition_failed`", body = blindvault_wire::Problem, content_type = "application/problem+json", headers(("ETag" = String, description = "Strong ETag of the revision"))),
        super::responses::TokenErrors,
        super::responses::InputErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn remove(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    ClientIp(client): ClientIp,
    VaultPath(id): VaultPath,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let expect = if_match(&headers)?.unwrap_or(Precondition::Exists);
    app.vaults.delete(auth.principal.user_id, &id, &expect).await?;
    let detail = serde_json::json!({ "vault_id": id.as_str() });
    app.auth.record(&auth.principal, client, "vault_deleted", detail).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/vault", tag = "vaults", security(("bearer" = ["vault:read"])), params(ListQuery),
    responses(
        (status = 200, description = "A page, ordered by vault id", body = ListResponse),
        super::responses::TokenErrors,
        super::responses::InputErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn list(
    State(app): State<AppState>,
    auth: Authenticated<ReadScope>,
    PageQuery(query): PageQuery,
) -> Result<Json<ListResponse>, ApiError> {
    let page = app
        .vaults
        .list(
            auth.principal.user_id,
            query.cursor.as_deref(),
            query.limit.unwrap_or(blindvault_wire::vaults::DEFAULT_PAGE),
        )
        .await?;
    Ok(Json(ListResponse {
        items: page.items.iter().map(vault_response).collect(),
        next_cursor: page.next_cursor,
    }))
}
