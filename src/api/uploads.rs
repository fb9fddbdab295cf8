//! `/api/v1/uploads`: resumable uploads with the tus 1.0 protocol (core, creation,
//! creation-with-upload, termination, expiration and checksum). Unmodified tus clients work;
//! the upload's metadata names the vault, its envelope and the precondition for the commit.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self as mw, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use uuid::Uuid;

use super::bearer::{Authenticated, WriteScope};
use super::error::ApiError;
use super::extract::body_stream;
use super::preconditions::{etag_header, single};
use super::state::AppState;
use crate::domain::{Precondition, Upload, VaultId};
use crate::service::{Chunk, NewUpload, Patched, ServiceError};
use blindvault_wire::Code;
use blindvault_wire::etag::{EntityTag, TagList};
use blindvault_wire::tus::{self, OFFSET_OCTET_STREAM, VERSION, metadata as key};

const TUS_RESUMABLE: HeaderName = HeaderName::from_static(tus::header::TUS_RESUMABLE);
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static(tus::header::UPLOAD_OFFSET);
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static(tus::header::UPLOAD_LENGTH);
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static(tus::header::UPLOAD_EXPIRES);
const UPLOAD_METADATA: HeaderName = HeaderName::from_static(tus::header::UPLOAD_METADATA);
const UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static(tus::header::UPLOAD_CHECKSUM);

/// The upload routes, with `Tus-Resumable` checked on requests and set on every response.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", post(create).options(options))
        .route("/{upload_id}", axum::routing::head(status).patch(patch).delete(terminate))
        .layer(mw::from_fn(tus_version))
}

async fn tus_version(req: axum::extract::Request, next: Next) -> Response {
    let supported = req.headers().get(&TUS_RESUMABLE).is_some_and(|v| v == VERSION);
    let mut response = if supported || req.method() == Method::OPTIONS {
        next.run(req).await
    } else {
        let mut refused = ApiError::new(
            Code::TusVersionUnsupported,
            "send Tus-Resumable: 1.0.0 (the only version this server speaks)",
        )
        .into_response();
        refused.headers_mut().insert(tus::header::TUS_VERSION, HeaderValue::from_static(VERSION));
        refused
    };
    response.headers_mut().insert(TUS_RESUMABLE, HeaderValue::from_static(VERSION));
    response
}

#[utoipa::path(options, path = "/api/v1/uploads", tag = "uploads",
    responses((status = 204, description = "What this tus server supports",
        headers(("Tus-Version" = String), ("Tus-Extension" = String), ("Tus-Max-Size" = u64), ("Tus-Checksum-Algorithm" = String)))))]
pub(super) async fn options(State(app): State<AppState>) -> Response {
    let max = app.vaults.limits().max_vault_bytes;
    (
        StatusCode::NO_CONTENT,
        [
            (tus::header::TUS_VERSION, HeaderValue::from_static(VERSION)),
            (tus::header::TUS_EXTENSION, HeaderValue::from_static(tus::EXTENSIONS)),
            (tus::header::TUS_MAX_SIZE, HeaderValue::from(max)),
            (tus::header::TUS_CHECKSUM_ALGORITHM, HeaderValue::from_static(tus::CHECKSUM_ALGORITHM)),
        ],
    )
        .into_response()
}

fn bad(name: &str, why: &str) -> ApiError {
    ApiError::new(Code::InvalidHeader, format!("{name} {why}"))
}

fn number(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>, ApiError> {
    single(headers, name)?
        .map(|v| v.trim().parse::<u64>().map_err(|_| bad(name.as_str(), "must be a non-negative integer")))
        .transpose()
}

/// `Upload-Metadata`, values decoded.
fn metadata(headers: &HeaderMap) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let Some(raw) = single(headers, &UPLOAD_METADATA)? else { return Ok(Vec::new()) };
    tus::parse_metadata(raw).map_err(|tus::NotBase64(key)| {
        bad("Upload-Metadata", &format!("has a value for {key} that is not base64"))
    })
}

/// The precondition an `if_match` metadata value names: `*`, one entity tag, or (as tus
/// clients that do not quote send it) the bare ETag.
fn if_match_value(value: &str) -> Precondition {
    let value = value.trim();
    match TagList::parse(value) {
        Some(TagList::Any) => Precondition::Exists,
        Some(TagList::Tags(tags)) if tags.len() == 1 => match tags[0] {
            EntityTag { weak: false, opaque } => Precondition::Etag(opaque.to_owned()),
            EntityTag { weak: true, opaque } => Precondition::Etag(format!("W/{opaque}")),
        },
        _ => Precondition::Etag(value.to_owned()),
    }
}

fn decode(meta: &[(String, Vec<u8>)], user: uuid::Uuid, length: u64) -> Result<NewUpload, ApiError> {
    let get = |k: &str| meta.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let text = |k: &str| {
        get(k).map(|v| String::from_utf8(v).map_err(|_| bad("Upload-Metadata", &format!("{k} is not UTF-8"))))
    };
    let required = |k: &str| {
        get(k).ok_or_else(|| {
            ApiError::from(ServiceError::invalid(k_static(k), "is required in Upload-Metadata"))
        })
    };
    let vault_id = text(key::VAULT_ID)
        .transpose()?
        .ok_or_else(|| ApiError::from(ServiceError::invalid("vault_id", "is required in Upload-Metadata")))?;
    let version = match text(key::VERSION).transpose()? {
        Some(v) => {
            v.parse().map_err(|_| ApiError::from(ServiceError::invalid("version", "must be an integer")))?
        }
        None => 1,
    };
    let precondition = match (text(key::IF_MATCH).transpose()?, text(key::IF_NONE_MATCH).transpose()?) {
        (Some(etag), None) => if_match_value(&etag),
        (None, Some(star)) if star.trim() == "*" => Precondition::Absent,
        _ => {
            return Err(ApiError::new(
                Code::PreconditionRequired,
                "Upload-Metadata needs exactly one of if_match (an ETag) or if_none_match (*)",
            ));
        }
    };
    Ok(NewUpload {
        user,
        id: VaultId::parse(&vault_id)?,
        iv: required(key::IV)?,
        salt: required(key::SALT)?,
        version,
        precondition,
        length,
    })
}

fn describe(upload: &Upload, headers: &mut HeaderMap) {
    headers.insert(UPLOAD_OFFSET, HeaderValue::from(upload.upload_offset));
    if let Ok(expires) = HeaderValue::from_str(&upload.expires_at.http_date()) {
        headers.insert(UPLOAD_EXPIRES, expires);
    }
}

/// Metadata keys that are required, as the `'static` field names errors carry.
fn k_static(key: &str) -> &'static str {
    match key {
        "iv" => "iv",
        "salt" => "salt",
        _ => "metadata",
    }
}

fn upload_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found())
}

#[utoipa::path(post, path = "/api/v1/uploads", tag = "uploads", security(("bearer" = ["vault:write"])),
    params(("Tus-Resumable" = String, Header, description = "`1.0.0`"),
        ("Upload-Length" = u64, Header, description = "Total bytes"),
        ("Upload-Metadata" = String, Header, description = "`vault_id`, `iv`, `salt`, optional `version`, and `if_match` (an ETag) or `if_none_match` (`*`); each value base64")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream", description = "Optional first bytes (creation-with-upload)"),
    responses(
        (status = 201, description = "Created", headers(("Location" = String), ("Upload-Expires" = String), ("Upload-Offset" = u64))),
        (status = 412, description = "`tus_version_unsupported`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 428, description = "`precondition_required`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::BodyErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn create(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let length = number(&headers, &UPLOAD_LENGTH)?.ok_or_else(|| bad("Upload-Length", "is required"))?;
    let user = auth.principal.user_id;
    let upload = app.vaults.create_upload(decode(&metadata(&headers)?, user, length)?).await?;
    let location = format!("/api/v1/uploads/{}", upload.id);
    let with_upload =
        single(&headers, &header::CONTENT_TYPE)?.is_some_and(|t| t.trim() == OFFSET_OCTET_STREAM);
    let mut response = if with_upload {
        let chunk = Chunk { offset: 0, sha256: checksum(&headers)?, body: body_stream(body) };
        match app.vaults.patch_upload(user, upload.id, chunk).await {
            Ok(done) => patched(&app, user, upload.id, done).await?,
            // The upload exists whatever happened to its first bytes: say where it stands, so
            // that the client can go on with PATCH (unless the upload itself is gone).
            Err(e) => match app.vaults.settled_upload(user, upload.id).await {
                Ok(now) => {
                    tracing::info!(upload_id = %upload.id, error = %e, "the bytes sent with the creation were not all kept");
                    let mut response = StatusCode::NO_CONTENT.into_response();
                    describe(&now, response.headers_mut());
                    response
                }
                Err(_) => return Err(e.into()),
            },
        }
    } else {
        let mut response = StatusCode::NO_CONTENT.into_response();
        describe(&upload, response.headers_mut());
        response
    };
    *response.status_mut() = StatusCode::CREATED;
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(head, path = "/api/v1/uploads/{upload_id}", tag = "uploads", security(("bearer" = ["vault:write"])),
    params(("upload_id" = String, Path), ("Tus-Resumable" = String, Header, description = "`1.0.0`")),
    responses(
        (status = 200, description = "Where to resume; a finished upload (kept until it expires) has `Upload-Offset` = `Upload-Length` and the `ETag` it committed",
         headers(("Upload-Offset" = u64), ("Upload-Length" = u64), ("Upload-Expires" = String), ("Cache-Control" = String), ("ETag" = String))),
        (status = 404, description = "No such upload (or another user's, or expired)"),
        (status = 412, description = "`tus_version_unsupported`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
    ))]
pub(super) async fn status(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let upload = app.vaults.settled_upload(auth.principal.user_id, upload_id(&id)?).await?;
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    describe(&upload, headers);
    headers.insert(UPLOAD_LENGTH, HeaderValue::from(upload.upload_length));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if upload.committed() {
        // Finished: the revision it committed (kept until the upload expires).
        headers.insert(header::ETAG, etag_header(&upload.etag));
    }
    Ok(response)
}

/// `Upload-Checksum: sha256 <base64>`; other algorithms are refused.
fn checksum(headers: &HeaderMap) -> Result<Option<[u8; 32]>, ApiError> {
    let Some(raw) = single(headers, &UPLOAD_CHECKSUM)? else { return Ok(None) };
    let (algorithm, value) = raw.trim().split_once(' ').unwrap_or((raw, ""));
    if !algorithm.eq_ignore_ascii_case("sha256") {
        return Err(bad("Upload-Checksum", "supports only sha256"));
    }
    let digest = STANDARD.decode(value.trim()).ok().and_then(|d| <[u8; 32]>::try_from(d).ok());
    digest.map(Some).ok_or_else(|| bad("Upload-Checksum", "needs a base64 SHA-256"))
}

#[utoipa::path(patch, path = "/api/v1/uploads/{upload_id}", tag = "uploads", security(("bearer" = ["vault:write"])),
    params(("upload_id" = String, Path), ("Tus-Resumable" = String, Header, description = "`1.0.0`"),
        ("Upload-Offset" = u64, Header, description = "Must equal the upload's offset"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha256 <base64>` of this chunk")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Stored; on the last chunk the vault revision is committed and `ETag` names it",
         headers(("Upload-Offset" = u64), ("Upload-Expires" = String), ("ETag" = String))),
        (status = 404, description = "`not_found`: no such upload, or it was ended (`DELETE`, expiry, account deletion) while this PATCH ran, which then committed nothing", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`offset_mismatch`: resume from `Upload-Offset`", body = blindvault_wire::Problem, content_type = "application/problem+json", headers(("Upload-Offset" = u64))),
        (status = 412, description = "`precondition_failed` at commit (the upload is discarded; `ETag` is the vault's) or `tus_version_unsupported`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 423, description = "`upload_busy`: another PATCH is running", body = blindvault_wire::Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
        (status = 460, description = "`checksum_mismatch`: the chunk was discarded", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::BodyErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn patch(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let id = upload_id(&id)?;
    if single(&headers, &header::CONTENT_TYPE)?.map(str::trim) != Some(OFFSET_OCTET_STREAM) {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            "expected Content-Type: application/offset+octet-stream",
        ));
    }
    let offset = number(&headers, &UPLOAD_OFFSET)?.ok_or_else(|| bad("Upload-Offset", "is required"))?;
    let chunk = Chunk { offset, sha256: checksum(&headers)?, body: body_stream(body) };
    let user = auth.principal.user_id;
    patched(&app, user, id, app.vaults.patch_upload(user, id, chunk).await?).await
}

async fn patched(app: &AppState, user: Uuid, id: Uuid, done: Patched) -> Result<Response, ApiError> {
    let mut response = StatusCode::NO_CONTENT.into_response();
    match done {
        Patched::Progress(_) => describe(&app.vaults.upload(user, id).await?, response.headers_mut()),
        Patched::Committed(written) => {
            app.metrics.bytes_uploaded.inc_by(written.vault.size as u64);
            let headers = response.headers_mut();
            headers.insert(UPLOAD_OFFSET, HeaderValue::from(written.vault.size));
            headers.insert(header::ETAG, etag_header(&written.vault.etag));
        }
        Patched::AlreadyCommitted { etag, size } => {
            let headers = response.headers_mut();
            headers.insert(UPLOAD_OFFSET, HeaderValue::from(size));
            headers.insert(header::ETAG, etag_header(&etag));
        }
    }
    Ok(response)
}

#[utoipa::path(delete, path = "/api/v1/uploads/{upload_id}", tag = "uploads", security(("bearer" = ["vault:write"])),
    params(("upload_id" = String, Path), ("Tus-Resumable" = String, Header, description = "`1.0.0`")),
    responses(
        (status = 204, description = "Ended; its storage is released (a finished upload's revision stays the vault's: ending and the final PATCH decide in one transaction)"),
        (status = 404, description = "`not_found`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        (status = 412, description = "`tus_version_unsupported`", body = blindvault_wire::Problem, content_type = "application/problem+json"),
        super::responses::TokenErrors,
        super::responses::Unavailable,
    ))]
pub(super) async fn terminate(
    State(app): State<AppState>,
    auth: Authenticated<WriteScope>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.vaults.delete_upload(auth.principal.user_id, upload_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_metadata_takes_quoted_bare_and_star() {
        assert_eq!(if_match_value("\"abc\""), Precondition::Etag("abc".into()));
        assert_eq!(if_match_value(" abc "), Precondition::Etag("abc".into()));
        assert_eq!(if_match_value("*"), Precondition::Exists);
        assert_eq!(if_match_value("W/\"abc\""), Precondition::Etag("W/abc".into()), "weak never matches");
    }
}
