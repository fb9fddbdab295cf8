//! `/api/v1/vault/{vault_id}/direct-uploads`: direct uploads, whose bytes go from the client to
//! the object store through presigned part URLs (see `service::direct`).

use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use blindvault_wire::{
    DirectCommitRequest, DirectPartRequest, DirectPartResponse, DirectUploadRequest, DirectUploadResponse,
};
use uuid::Uuid;

use super::bearer::{Authenticated, WriteScope};
use super::error::ApiError;
use super::extract::{ApiJson, b64};
use super::preconditions::put_mode;
use super::state::AppState;
use super::vault_http::{vault_response, written};
use crate::domain::VaultId;
use crate::service::{DIRECT_PART_SIZE, DirectCommit, NewUpload, ServiceError, part_count};

/// Bodies of these routes name parts, not bytes: 1 MiB holds the commit of the largest vault.
pub const DIRECT_BODY_LIMIT: usize = 1 << 20;

/// The direct-upload routes (merged with the vault routes under `/vault`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{vault_id}/direct-uploads", post(create))
        .route("/{vault_id}/direct-uploads/{upload_id}", delete(cancel))
        .route("/{vault_id}/direct-uploads/{upload_id}/parts/{number}", post(part))
        .route("/{vault_id}/direct-uploads/{upload_id}/commit", post(commit))
}

/// `{vault_id}/direct-uploads/{upload_id}[/parts/{number}]`, validated.
pub(super) struct UploadPath(VaultId, Uuid, u32);

impl<S: Send + Sync> FromRequestParts<S> for UploadPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(segments) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        let get = |name: &str| segments.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let vault = VaultId::parse(get("vault_id").unwrap_or_default())?;
        let upload =
            get("upload_id").and_then(|u| Uuid::parse_str(u).ok()).ok_or_else(ApiError::not_found)?;
        let number = match get("number") {
            Some(n) => n.parse().map_err(|_| ApiError::invalid_field("`number`: a part number from 1"))?,
            None => 0,
        };
        Ok(Self(vault, upload, number))
    }
}

const VAULT_ID: &str = "`[A-Za-z0-9._-]{1,128}`, not `.` or `..`";

#[utoipa::path(post, path = "/api/v1/vault/{vault_id}/direct-uploads", tag = "vaults", security(("bearer" = ["vault:write"])),
    request_body = DirectUploadRequest,
    params(("vault_id" = String, Path, description = VAULT_ID), super::responses::WritePreconditions),
    responses(
        (status = 201, description = "Created: ask for each part's URL, send the parts to the object store, then commit", body = DirectUploadResponse),
        (status = 409, description = "`direct_unavailable`: send the bytes through the gateway (`PUT .../content` or tus)", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::WriteErrors,
    ))]
pub(super) async fn create(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    Path(vault): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<DirectUploadRequest>,
) -> Result<Response, ApiError> {
    let id = VaultId::parse(&vault)?;
    let new = NewUpload {
        user: auth.principal.user_id,
        id: id.clone(),
        iv: b64("iv", &req.iv)?,
        salt: b64("salt", &req.salt)?,
        version: req.version.unwrap_or(1),
        precondition: put_mode(&headers)?,
        length: req.length,
    };
    let upload = app.vaults.create_direct_upload(new).await?;
    let body = DirectUploadResponse {
        upload_id: upload.id,
        part_size: DIRECT_PART_SIZE,
        parts: part_count(req.length),
        expires_at: upload.expires_at.rfc3339(),
    };
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    let location = format!("/api/v1/vault/{}/direct-uploads/{}", id.as_str(), upload.id);
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(post, path = "/api/v1/vault/{vault_id}/direct-uploads/{upload_id}/parts/{number}", tag = "vaults", security(("bearer" = ["vault:write"])),
    request_body = DirectPartRequest,
    params(("vault_id" = String, Path, description = VAULT_ID), ("upload_id" = Uuid, Path), ("number" = u32, Path, description = "From 1 to `parts`")),
    responses(
        (status = 200, description = "`PUT` the part's bytes to `url` with `headers`, without credentials; keep the `ETag` it answers", body = DirectPartResponse),
        (status = 404, description = "`not_found`: no such live direct upload", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::InputErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn part(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    UploadPath(vault, upload, number): UploadPath,
    ApiJson(req): ApiJson<DirectPartRequest>,
) -> Result<axum::Json<DirectPartResponse>, ApiError> {
    let sha256 = sha256_of("sha256", &req.sha256)?;
    let part = app.vaults.direct_part(auth.principal.user_id, &vault, upload, number, sha256).await?;
    let headers = [("x-amz-checksum-sha256".to_owned(), part.sha256)].into();
    Ok(axum::Json(DirectPartResponse {
        url: part.url.to_string(),
        headers,
        length: part.length,
        expires_at: part.expires_at.rfc3339(),
    }))
}

fn sha256_of(field: &str, text: &str) -> Result<[u8; 32], ApiError> {
    b64(field, text)?
        .try_into()
        .map_err(|_| ApiError::invalid_field(format!("`{field}`: base64 of 32 bytes (a SHA-256)")))
}

#[utoipa::path(post, path = "/api/v1/vault/{vault_id}/direct-uploads/{upload_id}/commit", tag = "vaults", security(("bearer" = ["vault:write"])),
    request_body = DirectCommitRequest,
    params(("vault_id" = String, Path, description = VAULT_ID), ("upload_id" = Uuid, Path)),
    responses(
        super::responses::WriteOk,
        (status = 422, description = "`parts_mismatch`: the parts are not what the object store holds; nothing was committed", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 423, description = "`upload_busy`: another commit of this upload is under way", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::WriteErrors,
    ))]
pub(super) async fn commit(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    UploadPath(vault, upload, _): UploadPath,
    ApiJson(req): ApiJson<DirectCommitRequest>,
) -> Result<Response, ApiError> {
    let user = auth.principal.user_id;
    let parts = req
        .parts
        .into_iter()
        .map(|p| Ok((p.etag, sha256_of("sha256", &p.sha256)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    match app.vaults.commit_direct_upload(user, &vault, upload, parts).await? {
        DirectCommit::Written(done) => {
            app.metrics.bytes_uploaded.inc_by(done.vault.size as u64);
            Ok(written(&done))
        }
        // Asked again: the vault as it stands, if that revision is still the current one.
        DirectCommit::Already(etag) => {
            let current = app.vaults.get(user, &vault).await.ok();
            match current {
                Some(v) if v.etag == etag => {
                    let mut response = axum::Json(vault_response(&v)).into_response();
                    response.headers_mut().insert(header::ETAG, super::preconditions::etag_header(&v.etag));
                    Ok(response)
                }
                other => Err(ServiceError::PreconditionFailed { current: other.map(|v| v.etag) }.into()),
            }
        }
    }
}

#[utoipa::path(delete, path = "/api/v1/vault/{vault_id}/direct-uploads/{upload_id}", tag = "vaults", security(("bearer" = ["vault:write"])),
    params(("vault_id" = String, Path, description = VAULT_ID), ("upload_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Ended; its storage is released (a committed upload's object stays the vault's)"),
        (status = 404, description = "`not_found`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn cancel(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    UploadPath(vault, upload, _): UploadPath,
) -> Result<StatusCode, ApiError> {
    app.vaults.delete_direct_upload(auth.principal.user_id, &vault, upload).await?;
    Ok(StatusCode::NO_CONTENT)
}
