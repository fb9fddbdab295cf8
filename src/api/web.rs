//! The web vault page: static files served at `/`, built into the binary from `web/dist/`
//! (or read from `BLINDVAULT_WEB_DIR` while developing the page), under a strict
//! Content-Security-Policy. The page talks to the API on the same origin only; it makes no
//! request anywhere else and runs no inline script.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::preconditions::not_modified;

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// What the page may load and connect to: its own files and its own origin's API, nothing
/// inline, no frames, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; \
     form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Where the page's files come from.
#[derive(Clone)]
pub enum WebFiles {
    /// The files built into the binary, hashed once.
    Embedded(Arc<HashMap<&'static str, (&'static [u8], String)>>),
    /// A directory, read on every request (for developing the page).
    Dir(PathBuf),
}

impl WebFiles {
    /// The files built into this binary.
    pub fn embedded() -> Self {
        Self::Embedded(Arc::new(
            ASSETS.iter().map(|(name, bytes)| (*name, (*bytes, etag_of(bytes)))).collect(),
        ))
    }

    /// Names of the embedded files.
    pub fn embedded_names() -> impl Iterator<Item = &'static str> {
        ASSETS.iter().map(|(name, _)| *name)
    }

    async fn get(&self, name: &str) -> Option<(Vec<u8>, String)> {
        match self {
            Self::Embedded(files) => files.get(name).map(|(bytes, etag)| (bytes.to_vec(), etag.clone())),
            Self::Dir(dir) => {
                if !safe_name(name) {
                    return None;
                }
                let bytes = tokio::fs::read(dir.join(name)).await.ok()?;
                let etag = etag_of(&bytes);
                Some((bytes, etag))
            }
        }
    }
}

/// One path segment of letters, digits, `.`, `_` and `-`, not starting with a dot.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn etag_of(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json" | "map") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The page's routes: `/` and each file by name (every embedded one, or any name when the
/// files come from a directory).
pub fn router<S: Clone + Send + Sync + 'static>(files: WebFiles) -> Router<S> {
    let mut router = Router::new().route("/", get(index));
    match &files {
        WebFiles::Embedded(_) => {
            for name in WebFiles::embedded_names().filter(|n| *n != "index.html") {
                let named = move |State(files): State<WebFiles>, headers: HeaderMap| async move {
                    serve(&files, name, &headers).await
                };
                router = router.route(&format!("/{name}"), get(named));
            }
        }
        WebFiles::Dir(_) => router = router.route("/{name}", get(file)),
    }
    router.with_state(files)
}

async fn index(State(files): State<WebFiles>, headers: HeaderMap) -> Result<Response, ApiError> {
    serve(&files, "index.html", &headers).await
}

async fn file(
    State(files): State<WebFiles>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    serve(&files, &name, &headers).await
}

async fn serve(files: &WebFiles, name: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let (bytes, etag) = files.get(name).await.ok_or_else(ApiError::not_found)?;
    let mut response = if not_modified(headers, &etag)? {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type(name))], bytes).into_response()
    };
    let out = response.headers_mut();
    out.insert(header::ETAG, super::preconditions::etag_header(&etag));
    // Revalidated every time (cheap with the ETag), so an upgraded server never runs an old page.
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(out);
    Ok(response)
}

/// The headers every page response carries.
pub fn secure(headers: &mut HeaderMap) {
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
        (HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_are_read_from_a_directory() {
        for ok in ["index.html", "app.js", "sw-1.js", "a_b.css"] {
            assert!(safe_name(ok), "{ok}");
        }
        for bad in ["", ".env", "..", "../etc/passwd", "a/b", "a\\b", "%2e%2e", "a b"] {
            assert!(!safe_name(bad), "{bad}");
        }
    }

    #[test]
    fn types_follow_extensions() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("x.unknown"), "application/octet-stream");
        assert_eq!(etag_of(b"abc").len(), 32);
    }
}
