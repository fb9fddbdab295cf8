//! Direct uploads (`/api/v1/vault/{vault_id}/direct-uploads`): the client sends a vault's
//! ciphertext to the object store itself, part by part through presigned URLs, and the
//! gateway commits it with the same compare-and-swap as any write.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /vault/{vault_id}/direct-uploads`, with `If-None-Match: *` or `If-Match` as a write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectUploadRequest {
    /// Ciphertext bytes the vault will hold.
    pub length: u64,
    /// base64, opaque to the server.
    pub iv: String,
    /// base64, opaque to the server.
    pub salt: String,
    /// Client format version (default 1).
    pub version: Option<i64>,
}

/// A direct upload, created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectUploadResponse {
    /// Names the upload in the routes below.
    pub upload_id: Uuid,
    /// Bytes in every part but the last.
    pub part_size: u64,
    /// How many parts (numbered from 1); at least one, even for no bytes.
    pub parts: u32,
    /// After this (RFC 3339) the upload is gone and its storage released.
    pub expires_at: String,
}

/// `POST .../direct-uploads/{upload_id}/parts/{number}`: the part's SHA-256, signed into its URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectPartRequest {
    /// base64 SHA-256 of the part's bytes.
    pub sha256: String,
}

/// Where and how to send one part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectPartResponse {
    /// `PUT` the part here, without credentials.
    pub url: String,
    /// Headers to send with it, exactly (they are part of the signature).
    pub headers: BTreeMap<String, String>,
    /// The part's length in bytes (also signed).
    pub length: u64,
    /// When the URL stops working (RFC 3339).
    pub expires_at: String,
}

/// One part as the object store acknowledged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectPartDone {
    /// The `ETag` the object store answered the part's `PUT` with.
    pub etag: String,
    /// base64 SHA-256 of the part, as given for its URL.
    pub sha256: String,
}

/// `POST .../direct-uploads/{upload_id}/commit`: every part, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectCommitRequest {
    /// Parts 1 to `parts`.
    pub parts: Vec<DirectPartDone>,
}
