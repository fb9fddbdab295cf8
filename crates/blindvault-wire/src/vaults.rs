//! `/api/v1/vault`: vaults as JSON, listing, and the headers of the streamed representation.

use serde::{Deserialize, Serialize};

/// Header carrying a vault's IV (base64) with its streamed content.
pub const X_VAULT_IV: &str = "x-vault-iv";
/// Header carrying a vault's salt (base64) with its streamed content.
pub const X_VAULT_SALT: &str = "x-vault-salt";
/// Header carrying a vault's client format version with its streamed content.
pub const X_VAULT_VERSION: &str = "x-vault-version";
/// Header of a direct download's 307: the ciphertext's length at `Location`.
pub const X_VAULT_SIZE: &str = "x-vault-size";
/// Largest page of `GET /vault`.
pub const MAX_PAGE: u32 = 1000;
/// Page size of `GET /vault` when none is asked for.
pub const DEFAULT_PAGE: u32 = 50;

/// The path of a vault (`/api/v1/vault/{vault_id}`), the id one percent-encoded segment: a
/// valid id is left as it is, and anything else cannot name another route.
pub fn vault_path(vault_id: &str) -> String {
    format!("{}/vault/{}", crate::API_V1, crate::percent_encode(vault_id))
}

/// The path of a vault's streamed content.
pub fn content_path(vault_id: &str) -> String {
    format!("{}/content", vault_path(vault_id))
}

/// A vault's metadata: the `VaultResponse` of the contract, and an item of the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VaultResponse {
    /// `[A-Za-z0-9._-]{1,128}`, not `.` or `..`.
    pub vault_id: String,
    /// The client's format version (at least 1).
    pub version: i64,
    /// Starts at 1; every committed write adds one.
    pub revision: u64,
    /// The strong, quoted ETag of the revision.
    pub etag: String,
    /// Ciphertext bytes.
    pub size: u64,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated_at: String,
    /// Base64: the opaque receipt a client sent with the restore that made this revision
    /// (docs/CRYPTO.md); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// The vault id this revision's ciphertext was written under, when the vault has since
    /// come back from the trash under another id; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_as: Option<String>,
    /// Base64: the opaque receipt a client sent with the trash restore that set `written_as`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rename_receipt: Option<String>,
}

/// `POST /vault` request: a new vault as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// The new vault's id.
    pub vault_id: String,
    /// Base64.
    pub ciphertext: String,
    /// Base64, 12 bytes.
    pub iv: String,
    /// Base64, 16 to 64 bytes.
    pub salt: String,
    /// Client format version (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// `PUT /vault/{vault_id}` request: a new revision as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplaceRequest {
    /// Base64.
    pub ciphertext: String,
    /// Base64, 12 bytes.
    pub iv: String,
    /// Base64, 16 to 64 bytes.
    pub salt: String,
    /// Client format version (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// `GET /vault/{vault_id}` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FullVault {
    /// The metadata.
    #[serde(flatten)]
    pub meta: VaultResponse,
    /// Base64; `null` above the server's JSON limit (read `content_url` instead).
    pub ciphertext: Option<String>,
    /// Base64.
    pub iv: String,
    /// Base64.
    pub salt: String,
    /// Where the streamed content is.
    pub content_url: String,
}

/// `GET /vault` response: a page ordered by vault id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListResponse {
    /// This page.
    pub items: Vec<VaultResponse>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// `GET /vault` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1 to [`MAX_PAGE`] (default [`DEFAULT_PAGE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_ids_are_one_encoded_segment() {
        assert_eq!(vault_path("main-1.x_y"), "/api/v1/vault/main-1.x_y");
        assert_eq!(vault_path("x%41"), "/api/v1/vault/x%2541");
        assert_eq!(content_path("plan#v2.txt"), "/api/v1/vault/plan%23v2.txt/content");
        assert_eq!(vault_path("a/../b?c"), "/api/v1/vault/a%2F..%2Fb%3Fc");
    }
}
