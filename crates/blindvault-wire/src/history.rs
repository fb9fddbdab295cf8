//! Revision history, the trash, the change feed and the account's usage.

use serde::{Deserialize, Serialize};

use crate::vaults::VaultResponse;

/// Header of the revision a restore was made from, on its answer.
pub const X_RESTORED_FROM: &str = "x-restored-from";
/// Longest wait a `GET /changes` may ask for, in seconds.
pub const MAX_WAIT_SECONDS: u64 = 60;

/// The path of a vault's revision list.
pub fn revisions_path(vault_id: &str) -> String {
    format!("{}/revisions", crate::vaults::vault_path(vault_id))
}

/// The path of one revision of a vault.
pub fn revision_path(vault_id: &str, revision: u64) -> String {
    format!("{}/{revision}", revisions_path(vault_id))
}

/// `GET /vault/{vault_id}/revisions` response: newest first, the current revision first of all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevisionList {
    /// This page.
    pub items: Vec<VaultResponse>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// `POST /vault/{vault_id}/revisions/{revision}/restore` request (the body is optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// Base64, 8 to 64 bytes, opaque to the server: kept with the new revision and served
    /// with it, so that other devices can tell a restore they may trust (docs/CRYPTO.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// A vault in the trash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrashEntry {
    /// The entry's id, for restoring or purging it.
    pub trash_id: String,
    /// The vault as it was when deleted.
    #[serde(flatten)]
    pub vault: VaultResponse,
    /// Bytes of its retained earlier revisions (restored with it).
    pub history_size: u64,
    /// How many earlier revisions it keeps.
    pub history_revisions: u64,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub deleted_at: String,
    /// RFC 3339: when it is purged unless restored first.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub expires_at: String,
}

/// `GET /trash` response: newest deletion first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrashList {
    /// This page.
    pub items: Vec<TrashEntry>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// `POST /trash/{trash_id}/restore` request (the body is optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UntrashRequest {
    /// Restore under this id instead of the vault's own (which a live vault may have taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_id: Option<String>,
    /// Base64, 8 to 64 bytes, opaque: kept with the vault when it comes back under another id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeEntry {
    /// This change's position: pass it as `since` (or `Last-Event-ID`) to get what follows.
    pub cursor: String,
    /// `create`, `replace`, `restore` (a revision restored), `delete` (into the trash, or for
    /// good where there is none), `untrash` or `purge`.
    pub kind: String,
    /// The vault id (for `untrash`, the id it came back under).
    pub vault_id: String,
    /// The revision made, deleted or purged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// That revision's quoted ETag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The trash entry of a `delete` into the trash, an `untrash` or a `purge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trash_id: Option<String>,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub at: String,
}

/// `GET /changes` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangesResponse {
    /// Oldest first.
    pub changes: Vec<ChangeEntry>,
    /// Pass as `since` next time.
    pub cursor: String,
    /// Whether more changes already follow `cursor` (ask again at once).
    pub more: bool,
}

/// `GET /changes` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// A `cursor` from an earlier answer; without one, the answer holds no changes and the
    /// cursor of the newest (list the vaults, then follow from there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// 1 to 1000 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
    /// Seconds to wait for a change when there is none yet, 0 to 60 (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(maximum = 60))]
    pub wait: Option<u64>,
}

/// What an account holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    /// Ciphertext bytes of the live vaults' current revisions.
    pub bytes: u64,
    /// Live vaults.
    pub vaults: u64,
    /// Bytes of the live vaults' retained earlier revisions.
    pub history_bytes: u64,
    /// Retained earlier revisions.
    pub history_revisions: u64,
    /// Bytes in the trash, history included.
    pub trash_bytes: u64,
    /// Vaults in the trash.
    pub trash_vaults: u64,
    /// Bytes open resumable uploads reserve.
    pub reserved_bytes: u64,
    /// Bytes counted against `quota_bytes`: all of the above bytes together.
    pub counted_bytes: u64,
}

/// `GET /account` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountResponse {
    /// The user id.
    pub user_id: String,
    /// The normalised username.
    pub username: String,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// What the account holds.
    pub usage: Usage,
    /// Most bytes (`counted_bytes`), if limited.
    pub quota_bytes: Option<u64>,
    /// Most live vaults, if limited.
    pub quota_vaults: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_paths() {
        assert_eq!(revisions_path("notes"), "/api/v1/vault/notes/revisions");
        assert_eq!(revision_path("a b", 7), "/api/v1/vault/a%20b/revisions/7");
    }
}
