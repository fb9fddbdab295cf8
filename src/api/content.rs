//! `/api/v1/vault/{vault_id}/content`: the raw, streamed representation of a vault.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::TryStreamExt;

use super::bearer::{Authenticated, ReadScope, WriteScope};
use super::error::ApiError;
use super::extract::{b64, to_b64};
use super::preconditions::{byte_range, etag_header, not_modified, put_mode};
use super::state::AppState;
use super::vaults::{VaultPath, not_modified_response, written};
use crate::service::{ServiceError, VaultWrite};
use crate::store::Vault;

const X_VAULT_IV: HeaderName = HeaderName::from_static("x-vault-iv");
const X_VAULT_SALT: HeaderName = HeaderName::from_static("x-vault-salt");
const X_VAULT_VERSION: HeaderName = HeaderName::from_static("x-vault-version");
const OCTET_STREAM: &str = "application/octet-stream";

/// The content route (merged into the vault router).
pub fn router() -> Router<AppState> {
    Router::new().route("/{vault_id}/content", get(read).head(read).put(upload))
}

fn required<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<&'a str, ApiError> {
    headers
        .get(name)
        .ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_header", format!("{name} is required"))
        })?
        .to_str()
        .map_err(|_| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_header", format!("{name} is not visible ASCII"))
        })
}

async fn upload(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    VaultPath(id): VaultPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.split(';').next().map(str::trim) != Some(OCTET_STREAM) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/octet-stream",
        ));
    }
    let mode = put_mode(&headers)?;
    let iv = b64("X-Vault-Iv", required(&headers, &X_VAULT_IV)?)?;
    let salt = b64("X-Vault-Salt", required(&headers, &X_VAULT_SALT)?)?;
    let version = match headers.get(&X_VAULT_VERSION) {
        None => 1,
        Some(v) => v.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_header", "X-Vault-Version is not an integer")
        })?,
    };
    let declared_len = match headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => Some(v.to_str().ok().and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_header", "Content-Length is not a number")
        })?),
    };
    let write = VaultWrite {
        user: auth.principal.user_id,
        id,
        mode,
        iv,
        salt,
        version,
        body: body.into_data_stream(),
        declared_len,
        inline: false,
    };
    Ok(written(&app.vaults.write(write).await?))
}

fn describe(vault: &Vault, headers: &mut HeaderMap) {
    headers.insert(header::ETAG, etag_header(&vault.etag));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    for (name, value) in [
        (X_VAULT_IV, to_b64(&vault.iv)),
        (X_VAULT_SALT, to_b64(&vault.salt)),
        (X_VAULT_VERSION, vault.version.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

async fn read(
    State(app): State<AppState>,
    auth: Authenticated<ReadScope>,
    VaultPath(id): VaultPath,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let vault = app.vaults.get(auth.principal.user_id, &id).await?;
    if not_modified(&headers, &vault.etag)? {
        return Ok(not_modified_response(&vault.etag));
    }
    let size = vault.size as u64;
    let range = byte_range(&headers, size, &vault.etag)
        .map_err(|e| ApiError::from(ServiceError::RangeNotSatisfiable { size: e.size }))?;
    let (status, served) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.clone()),
        None => (StatusCode::OK, 0..size),
    };
    let body = if method == Method::HEAD || served.is_empty() {
        Body::empty()
    } else {
        let read = app.vaults.open(&vault, range.clone()).await?;
        Body::from_stream(read.body.map_err(std::io::Error::other))
    };
    let mut response = (status, body).into_response();
    let out = response.headers_mut();
    describe(&vault, out);
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(served.end - served.start));
    if range.is_some() {
        let value = format!("bytes {}-{}/{size}", served.start, served.end - 1);
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(header::CONTENT_RANGE, value);
        }
    }
    Ok(response)
}
