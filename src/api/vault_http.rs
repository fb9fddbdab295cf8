//! What the JSON and the streamed representations of a vault share: the `{vault_id}` path
//! segment, the vault's metadata as the wire carries it, and the answers to a committed write
//! and to a read that matched `If-None-Match`.

use axum::Json;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blindvault_wire::VaultResponse;
use blindvault_wire::etag::quote;
use blindvault_wire::vaults::vault_path;

use super::error::ApiError;
use super::preconditions::etag_header;
use crate::domain::{Vault, VaultId};
use crate::service::Written;

/// The `limit` and `cursor` of a paged listing; anything else in the query is a 422.
pub struct PageQuery(pub blindvault_wire::vaults::ListQuery);

impl<S: Send + Sync> FromRequestParts<S> for PageQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(query) =
            axum::extract::Query::from_request_parts(parts, state).await.map_err(|_| {
                ApiError::invalid_field("the query accepts `limit` (1 to 1000) and `cursor` only")
            })?;
        Ok(Self(query))
    }
}

/// A validated `{vault_id}` path segment.
pub struct VaultPath(pub VaultId);

impl<S: Send + Sync> FromRequestParts<S> for VaultPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) =
            Path::<String>::from_request_parts(parts, state).await.map_err(|_| ApiError::not_found())?;
        Ok(Self(VaultId::parse(&raw)?))
    }
}

/// A vault's metadata as the wire carries it.
pub fn vault_response(v: &Vault) -> VaultResponse {
    VaultResponse {
        vault_id: v.vault_id.clone(),
        version: v.version,
        revision: u64::try_from(v.revision).unwrap_or_default(),
        etag: quote(&v.etag),
        size: u64::try_from(v.size).unwrap_or_default(),
        created_at: v.created_at.rfc3339(),
        updated_at: v.updated_at.rfc3339(),
        receipt: v.receipt.as_deref().map(super::extract::to_b64),
        written_as: v.written_as.clone(),
        rename_receipt: v.rename_receipt.as_deref().map(super::extract::to_b64),
    }
}

/// The answer to a committed write: 201 with `Location` when it created the vault, else 200;
/// `ETag` of the new revision either way.
pub fn written(w: &Written) -> Response {
    let status = if w.created { StatusCode::CREATED } else { StatusCode::OK };
    let mut response = (status, Json(vault_response(&w.vault))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag_header(&w.vault.etag));
    if w.created
        && let Ok(location) = HeaderValue::from_str(&vault_path(&w.vault.vault_id))
    {
        headers.insert(header::LOCATION, location);
    }
    response
}

/// `304 Not Modified` with the current `ETag`.
pub fn not_modified_response(etag: &str) -> Response {
    (StatusCode::NOT_MODIFIED, [(header::ETAG, etag_header(etag))]).into_response()
}
