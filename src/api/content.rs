//! `/api/v1/vault/{vault_id}/content`: the raw, streamed representation of a vault.

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::TryStreamExt;

use super::bearer::{Authenticated, ReadScope, WriteScope};
use super::error::ApiError;
use super::extract::{b64, classify_body_error, to_b64};
use super::preconditions::{byte_range, etag_header, not_modified, put_mode, single};
use super::state::AppState;
use super::vault_http::{VaultPath, not_modified_response, written};
use crate::domain::Vault;
use crate::service::{Ciphertext, ServiceError, VaultWrite};
use blindvault_wire::{Code, vaults};

const X_VAULT_IV: HeaderName = HeaderName::from_static(vaults::X_VAULT_IV);
const X_VAULT_SALT: HeaderName = HeaderName::from_static(vaults::X_VAULT_SALT);
const X_VAULT_VERSION: HeaderName = HeaderName::from_static(vaults::X_VAULT_VERSION);
const X_VAULT_SIZE: HeaderName = HeaderName::from_static(vaults::X_VAULT_SIZE);
const OCTET_STREAM: &str = "application/octet-stream";

/// The content route (nested with the vault routes under `/vault`).
pub fn router() -> Router<AppState> {
    Router::new().route("/{vault_id}/content", get(read).head(read).put(upload))
}

fn required<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<&'a str, ApiError> {
    single(headers, name)?.ok_or_else(|| ApiError::new(Code::InvalidHeader, format!("{name} is required")))
}

#[utoipa::path(put, path = "/api/v1/vault/{vault_id}/content", tag = "vaults", security(("bearer" = ["vault:write"])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "Ciphertext, streamed (chunked or sized)"),
    params(("vault_id" = String, Path, description = "`[A-Za-z0-9._-]{1,128}`, not `.` or `..`"),
        ("X-Vault-Iv" = String, Header, description = "base64, 8 to 64 bytes"),
        ("X-Vault-Salt" = String, Header, description = "base64, 8 to 64 bytes"),
        ("X-Vault-Version" = Option<i64>, Header, description = "Client format version, default 1"),
        super::responses::WritePreconditions),
    responses(
        super::responses::WriteOk,
        super::responses::TokenErrors,
        super::responses::BodyErrors,
        super::responses::WriteErrors,
    ))]
pub(super) async fn upload(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    VaultPath(id): VaultPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let content_type = single(&headers, &header::CONTENT_TYPE)?.unwrap_or_default();
    if content_type.split(';').next().map(str::trim) != Some(OCTET_STREAM) {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            "expected Content-Type: application/octet-stream",
        ));
    }
    let mode = put_mode(&headers)?;
    let iv = b64("X-Vault-Iv", required(&headers, &X_VAULT_IV)?)?;
    let salt = b64("X-Vault-Salt", required(&headers, &X_VAULT_SALT)?)?;
    let version = number::<i64>(&headers, &X_VAULT_VERSION)?.unwrap_or(1);
    let declared_len = number::<u64>(&headers, &header::CONTENT_LENGTH)?;
    let body = Shared::new(body.into_data_stream());
    let write = VaultWrite {
        user: auth.principal.user_id,
        id,
        precondition: mode,
        iv,
        salt,
        version,
        body: body.clone(),
        declared_len,
        inline: false,
    };
    let done = match app.vaults.write(write).await {
        Ok(done) => done,
        Err(e) => {
            let err = ApiError::from(e);
            return Err(if body.drain().await { err } else { err.closing() });
        }
    };
    app.metrics.bytes_uploaded.inc_by(done.vault.size as u64);
    Ok(written(&done))
}

/// Bytes of a refused body read and dropped before answering, so that a client still
/// sending sees the error response rather than a reset connection.
const DRAIN_BYTES: usize = 8 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// A request body the handler can take back after the service is done with it.
#[derive(Clone)]
struct Shared(std::sync::Arc<std::sync::Mutex<axum::body::BodyDataStream>>);

impl Shared {
    fn new(body: axum::body::BodyDataStream) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(body)))
    }

    /// Reads and drops what is left of the body, up to a bound in bytes and time. True when
    /// the body was read to its end (the connection can carry another request).
    async fn drain(self) -> bool {
        let mut drained = 0usize;
        let finished = tokio::time::timeout(DRAIN_TIME, async {
            let mut rest = self;
            while drained < DRAIN_BYTES {
                match futures::StreamExt::next(&mut rest).await {
                    Some(Ok(chunk)) => drained += chunk.len(),
                    Some(Err(_)) => return false,
                    None => return true,
                }
            }
            false
        })
        .await;
        finished.unwrap_or(false)
    }
}

impl futures::Stream for Shared {
    type Item = Result<bytes::Bytes, crate::domain::BoxError>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        match self.0.lock() {
            Ok(mut body) => futures::StreamExt::poll_next_unpin(&mut *body, cx)
                .map(|item| item.map(|r| r.map_err(classify_body_error))),
            Err(_) => std::task::Poll::Ready(None),
        }
    }
}

fn number<T: std::str::FromStr>(headers: &HeaderMap, name: &HeaderName) -> Result<Option<T>, ApiError> {
    match single(headers, name)? {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| ApiError::new(Code::InvalidHeader, format!("{name} is not a whole number"))),
    }
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

#[utoipa::path(method(get, head), path = "/api/v1/vault/{vault_id}/content", tag = "vaults", security(("bearer" = ["vault:read"])),
    params(("vault_id" = String, Path, description = "`[A-Za-z0-9._-]{1,128}`, not `.` or `..`"),
        ("Range" = Option<String>, Header, description = "`bytes=a-b`, `bytes=a-` or `bytes=-n`"),
        ("If-Range" = Option<String>, Header, description = "Honour `Range` only at this ETag"),
        ("If-None-Match" = Option<String>, Header, description = "304 when it matches"),
        ("direct" = Option<bool>, Query, description = "`true`: answer a `GET` with 307 to a short-lived presigned URL of the object store where it can sign one (S3), so the bytes bypass the gateway; streamed as usual otherwise")),
    responses(
        (status = 200, description = "The ciphertext, streamed (HEAD: headers only)", body = Vec<u8>, content_type = "application/octet-stream",
         headers(("ETag" = String), ("Content-Length" = u64), ("Accept-Ranges" = String), ("X-Vault-Iv" = String, description = "base64"), ("X-Vault-Salt" = String, description = "base64"), ("X-Vault-Version" = i64))),
        (status = 206, description = "A range", body = Vec<u8>, content_type = "application/octet-stream",
         headers(("ETag" = String), ("Content-Range" = String), ("X-Vault-Iv" = String, description = "base64"), ("X-Vault-Salt" = String, description = "base64"), ("X-Vault-Version" = i64))),
        (status = 304, description = "Not modified", headers(("ETag" = String, description = "Strong ETag of the revision"))),
        (status = 307, description = "`?direct=true`: fetch the ciphertext from `Location` (no credentials; send `Range` there)",
         headers(("Location" = String, description = "Presigned URL, valid for `BLINDVAULT_DIRECT_URL_TTL`"), ("ETag" = String), ("X-Vault-Size" = u64, description = "Bytes at `Location`"), ("X-Vault-Iv" = String, description = "base64"), ("X-Vault-Salt" = String, description = "base64"), ("X-Vault-Version" = i64))),
        (status = 404, description = "`not_found`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 416, description = "`range_not_satisfiable`", body = blindvault_wire::Problem, content_type = "application/problem+json", headers(("Content-Range" = String))),
        super::responses::TokenErrors,
        super::responses::InputErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn read(
    State(app): State<AppState>,
    auth: Authenticated<ReadScope>,
    VaultPath(id): VaultPath,
    direct: Direct,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let vault = app.vaults.get(auth.principal.user_id, &id).await?;
    serve(&app, &vault, &method, &headers, direct).await
}

/// `?direct=true`: the client would rather fetch the bytes from the object store itself.
#[derive(Debug, Clone, Copy)]
pub(super) struct Direct(bool);

impl<S: Send + Sync> FromRequestParts<S> for Direct {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let mut direct = false;
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if name == "direct" {
                direct = match value.as_ref() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(ApiError::invalid_field("`direct` is `true` or `false`")),
                };
            }
        }
        Ok(Direct(direct))
    }
}

/// `vault`'s ciphertext as a response to `method` (GET or HEAD) with `headers`: conditional
/// (`If-None-Match`), ranged (`Range`, `If-Range`), streamed; or, for a `GET` with
/// `?direct=true` where the object store can sign URLs, a 307 to a short-lived presigned URL
/// of the revision's immutable object, with the same metadata headers (ranges then go there).
pub(super) async fn serve(
    app: &AppState,
    vault: &Vault,
    method: &Method,
    headers: &HeaderMap,
    Direct(direct): Direct,
) -> Result<Response, ApiError> {
    if not_modified(headers, &vault.etag)? {
        return Ok(not_modified_response(&vault.etag));
    }
    if direct
        && method == Method::GET
        && let Some(url) = app.vaults.direct_url(vault).await?
        && let Ok(location) = HeaderValue::from_str(url.as_str())
    {
        let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
        let out = response.headers_mut();
        describe(vault, out);
        out.remove(header::CONTENT_TYPE);
        // The URL is a credential until it expires: no cache keeps it.
        out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        out.insert(header::LOCATION, location);
        out.insert(X_VAULT_SIZE, HeaderValue::from(vault.size));
        return Ok(response);
    }
    let size = vault.size as u64;
    let range = byte_range(headers, size, &vault.etag)
        .map_err(|e| ApiError::from(ServiceError::RangeNotSatisfiable { size: e.size }))?;
    let (status, served) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.clone()),
        None => (StatusCode::OK, 0..size),
    };
    let body = if method == Method::HEAD || served.is_empty() {
        Body::empty()
    } else {
        let sent = app.metrics.bytes_downloaded.clone();
        match app.vaults.bytes(vault, range.clone()).await? {
            Ciphertext::Whole(bytes) => {
                sent.inc_by(bytes.len() as u64);
                Body::from(bytes)
            }
            Ciphertext::Stream(bytes) => Body::from_stream(
                bytes
                    .inspect_ok(move |b| {
                        sent.inc_by(b.len() as u64);
                    })
                    .map_err(std::io::Error::other),
            ),
        }
    };
    let mut response = (status, body).into_response();
    let out = response.headers_mut();
    describe(vault, out);
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(served.end - served.start));
    if range.is_some() {
        let value = format!("bytes {}-{}/{size}", served.start, served.end - 1);
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(header::CONTENT_RANGE, value);
        }
    }
    Ok(response)
}
