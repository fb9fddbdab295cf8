//! The tus 1.0 vocabulary of resumable uploads (`/api/v1/uploads`): versions, headers, and the
//! `Upload-Metadata` that names the vault, its envelope and the precondition of the commit.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The one protocol version spoken.
pub const VERSION: &str = "1.0.0";
/// The extensions the server implements.
pub const EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration,checksum";
/// The one `Upload-Checksum` algorithm.
pub const CHECKSUM_ALGORITHM: &str = "sha256";
/// Content type of a `PATCH` body.
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// The route that creates uploads.
pub const UPLOADS_PATH: &str = "/api/v1/uploads";

/// Header names (lowercase, as HTTP/2 sends them).
pub mod header {
    /// The protocol version of a request or response.
    pub const TUS_RESUMABLE: &str = "tus-resumable";
    /// Versions the server speaks (`OPTIONS`, and with `412`).
    pub const TUS_VERSION: &str = "tus-version";
    /// Extensions the server implements.
    pub const TUS_EXTENSION: &str = "tus-extension";
    /// Largest upload accepted.
    pub const TUS_MAX_SIZE: &str = "tus-max-size";
    /// Checksum algorithms accepted.
    pub const TUS_CHECKSUM_ALGORITHM: &str = "tus-checksum-algorithm";
    /// Bytes the server holds, or where a `PATCH` starts.
    pub const UPLOAD_OFFSET: &str = "upload-offset";
    /// Total bytes of the upload.
    pub const UPLOAD_LENGTH: &str = "upload-length";
    /// When an unfinished upload is discarded (an HTTP date).
    pub const UPLOAD_EXPIRES: &str = "upload-expires";
    /// The upload's [metadata](super::metadata).
    pub const UPLOAD_METADATA: &str = "upload-metadata";
    /// `sha256 <base64 digest>` of a `PATCH` body.
    pub const UPLOAD_CHECKSUM: &str = "upload-checksum";
}

/// The keys of `Upload-Metadata`.
pub mod metadata {
    /// The vault to commit to (required).
    pub const VAULT_ID: &str = "vault_id";
    /// The vault's IV (required).
    pub const IV: &str = "iv";
    /// The vault's salt (required).
    pub const SALT: &str = "salt";
    /// The client's format version (default 1).
    pub const VERSION: &str = "version";
    /// The current ETag, to replace that revision (or `*`); exclusive with [`IF_NONE_MATCH`].
    pub const IF_MATCH: &str = "if_match";
    /// `*`, to create only.
    pub const IF_NONE_MATCH: &str = "if_none_match";

    /// The metadata key of a precondition's header name (`if-match` → `if_match`).
    pub fn key_of(header: &str) -> &'static str {
        if header == crate::etag::IF_NONE_MATCH { IF_NONE_MATCH } else { IF_MATCH }
    }
}

/// `Upload-Metadata` text: comma-separated `key base64(value)` pairs.
pub fn encode_metadata<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    pairs.into_iter().map(|(k, v)| format!("{k} {}", STANDARD.encode(v))).collect::<Vec<_>>().join(",")
}

/// A metadata value that is not base64, named by its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotBase64(pub String);

/// Parses `Upload-Metadata` into `(key, value)` pairs, values decoded; a key without a value
/// has an empty one (as tus allows).
pub fn parse_metadata(text: &str) -> Result<Vec<(String, Vec<u8>)>, NotBase64> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair.trim().split_once(' ').unwrap_or((pair.trim(), ""));
            let value = STANDARD.decode(value.trim()).map_err(|_| NotBase64(key.to_owned()))?;
            Ok((key.to_owned(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips() {
        let text = encode_metadata([(metadata::VAULT_ID, &b"main"[..]), (metadata::IF_NONE_MATCH, b"*")]);
        assert_eq!(text, "vault_id bWFpbg==,if_none_match Kg==");
        let parsed = parse_metadata(&text).unwrap();
        assert_eq!(
            parsed,
            vec![("vault_id".into(), b"main".to_vec()), ("if_none_match".into(), b"*".to_vec())]
        );
        assert_eq!(parse_metadata("flag, iv !!"), Err(NotBase64("iv".into())));
        assert_eq!(parse_metadata("flag").unwrap(), vec![("flag".into(), vec![])]);
        assert_eq!(metadata::key_of(crate::etag::IF_MATCH), "if_match");
    }
}
