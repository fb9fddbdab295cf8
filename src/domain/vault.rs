//! Vaults: the id a client gives one, and its current revision.

use std::fmt;

use thiserror::Error;
use uuid::Uuid;

use super::Timestamp;

/// Why a vault id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("must be 1 to 128 characters of A-Z a-z 0-9 . _ - (not . or ..)")]
pub struct InvalidVaultId;

/// A validated vault id: `[A-Za-z0-9._-]{1,128}`, not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VaultId(String);

impl VaultId {
    /// Checks `raw` against the vault-id rules.
    pub fn parse(raw: &str) -> Result<Self, InvalidVaultId> {
        let ok = (1..=128).contains(&raw.len())
            && raw != "."
            && raw != ".."
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if ok { Ok(Self(raw.to_owned())) } else { Err(InvalidVaultId) }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VaultId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One vault's current revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vault {
    /// Owner.
    pub user_id: Uuid,
    /// Client-chosen id, unique per user.
    pub vault_id: String,
    /// Strong validator of this revision (unquoted).
    pub etag: String,
    /// 1 on create, +1 on every replace.
    pub revision: i64,
    /// The client's format version.
    pub version: i64,
    /// Ciphertext bytes.
    pub size: i64,
    /// SHA-256 of the ciphertext.
    pub sha256: Vec<u8>,
    /// Opaque IV.
    pub iv: Vec<u8>,
    /// Opaque salt.
    pub salt: Vec<u8>,
    /// First revision's time.
    pub created_at: Timestamp,
    /// This revision's time.
    pub updated_at: Timestamp,
    /// The vault's identity for life (through the trash and back), made when it was created;
    /// its earlier revisions are kept under it.
    pub uid: Uuid,
    /// Opaque bytes a client sent with the restore that made this revision, if one did.
    pub receipt: Option<Vec<u8>>,
    /// The vault id this revision's ciphertext was written under, where that is not
    /// `vault_id` (the vault was restored from the trash under another id since).
    pub written_as: Option<String>,
    /// Opaque bytes the client sent with the trash restore that set `written_as`.
    pub rename_receipt: Option<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_ids() {
        for ok in ["main", "a", "Notes_2026.v1-final", &"x".repeat(128), "..."] {
            assert!(VaultId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(129), "%2e%2e"] {
            assert!(VaultId::parse(bad).is_err(), "{bad}");
        }
    }
}
