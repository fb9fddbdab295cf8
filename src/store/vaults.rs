//! Vault metadata: records, the [`VaultStore`] trait, and the object-key scheme.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{Timestamp, Upload, Vault};

/// The object key of a vault revision. Every write makes a new etag, so a key is never reused
/// and an upload never touches the object that readers are streaming.
pub fn object_key(user: Uuid, etag: &str) -> String {
    format!("vaults/{}/{etag}", user.simple())
}

/// The key prefix of all of a user's objects.
pub fn user_prefix(user: Uuid) -> String {
    format!("vaults/{}", user.simple())
}

/// A revision whose object is uploaded and that is ready to commit.
#[derive(Debug, Clone)]
pub struct NewRevision {
    /// Owner.
    pub user_id: Uuid,
    /// Vault id.
    pub vault_id: String,
    /// The new etag (its object is at [`object_key`]).
    pub etag: String,
    /// Client format version.
    pub version: i64,
    /// Ciphertext bytes.
    pub size: i64,
    /// SHA-256 of the ciphertext.
    pub sha256: Vec<u8>,
    /// IV.
    pub iv: Vec<u8>,
    /// Salt.
    pub salt: Vec<u8>,
    /// Commit time.
    pub now: Timestamp,
    /// When a replaced object may be deleted.
    pub old_object_delete_after: Timestamp,
}

/// What a create commit did.
#[derive(Debug, Clone)]
pub enum CreateOutcome {
    /// The vault now exists with this revision.
    Created(Vault),
    /// A vault with that id already exists (as given); nothing changed.
    Exists(Vault),
    /// The upload's queue entry was gone (swept as abandoned, or its upload ended); nothing
    /// changed.
    UploadLost,
    /// The user was deleted after the write began; nothing changed.
    UserGone,
    /// The new vault would exceed this limit of the quota; nothing changed.
    OverQuota(&'static str),
}

/// What a replace or delete commit did.
#[derive(Debug, Clone)]
pub enum ChangeOutcome {
    /// Done; for a replace, the new revision.
    Done(Option<Vault>),
    /// The vault's etag is not the expected one: its current etag, or `None` if it is absent.
    Mismatch(Option<String>),
    /// The upload's queue entry was gone; nothing changed.
    UploadLost,
    /// The user was deleted after the write began; nothing changed.
    UserGone,
    /// The new revision would exceed this limit of the quota; nothing changed.
    OverQuota(&'static str),
}

/// Which revision a replace or delete expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Whatever revision exists (`If-Match: *`, or a delete without `If-Match`).
    Any,
    /// This etag.
    Etag(String),
}

/// A user's storage use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Ciphertext bytes over all vaults.
    pub bytes: i64,
    /// Number of vaults.
    pub vaults: i64,
    /// Bytes that open resumable uploads may still add (their length, less the size of the
    /// vault a replace frees).
    pub reserved_bytes: i64,
    /// Vaults that open resumable uploads may still create.
    pub reserved_vaults: i64,
}

impl Usage {
    /// Which limit of `quota` this use exceeds, if any.
    pub fn exceeds(&self, quota: &Quota) -> Option<&'static str> {
        let over = |limit: Option<u64>, used: i64| limit.is_some_and(|max| used.max(0) as u64 > max);
        if over(quota.vaults, self.vaults + self.reserved_vaults) {
            Some("vaults")
        } else if over(quota.bytes, self.bytes + self.reserved_bytes) {
            Some("bytes")
        } else {
            None
        }
    }
}

/// Per-user limits that a commit or a new upload must leave intact, checked inside its
/// transaction (with the user's row locked) so that concurrent writes cannot all squeeze in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// Bytes over all vaults and open uploads.
    pub bytes: Option<u64>,
    /// Vaults, counting those open uploads would create.
    pub vaults: Option<u64>,
}

impl Quota {
    /// Whether any limit is set (with none, nothing is locked or counted).
    pub fn is_limited(&self) -> bool {
        self.bytes.is_some() || self.vaults.is_some()
    }
}

/// Vault metadata and the object-deletion queue. Compare-and-swap happens here, in one
/// transaction per commit, so correctness never depends on the object store's conditionals.
#[async_trait]
pub trait VaultStore: super::UploadStore + Send + Sync + 'static {
    /// The vault, if the user has one with that id.
    async fn vault(&self, user: Uuid, vault_id: &str) -> Result<Option<Vault>, StoreError>;

    /// Up to `limit` vaults of the user with ids after `after`, ordered by id (bytewise).
    async fn list_vaults(&self, user: Uuid, after: &str, limit: i64) -> Result<Vec<Vault>, StoreError>;

    /// Bytes and vaults the user holds, and what open uploads reserve.
    async fn usage(&self, user: Uuid) -> Result<Usage, StoreError>;

    /// Records an upload about to start, so that a crash leaves a trace for the sweeper.
    async fn begin_upload(&self, key: &str, user: Uuid, abandon_after: Timestamp) -> Result<(), StoreError>;

    /// Forgets a queue entry whose object is deleted.
    async fn forget_object(&self, key: &str) -> Result<(), StoreError>;

    /// Commits a new vault (fails over to `Exists` on an existing id) if the user stays
    /// within `quota` (counting what other open uploads reserve).
    async fn commit_create(&self, rev: &NewRevision, quota: &Quota) -> Result<CreateOutcome, StoreError>;

    /// Commits a replace if the vault is at the expected revision and the user stays within
    /// `quota`; the replaced object is queued for deletion after the grace period.
    async fn commit_replace(
        &self,
        rev: &NewRevision,
        expect: &Expect,
        quota: &Quota,
    ) -> Result<ChangeOutcome, StoreError>;

    /// Deletes a vault if it is at the expected revision, queuing its object.
    async fn delete_vault(
        &self,
        user: Uuid,
        vault_id: &str,
        expect: &Expect,
        delete_after: Timestamp,
    ) -> Result<ChangeOutcome, StoreError>;

    /// Deletes the user with sessions, vaults and unfinished uploads; their objects are queued
    /// for deletion now. Returns the queued keys and the uploads, whose parts the caller
    /// releases (no PATCH can continue them: their rows are gone).
    async fn delete_account(
        &self,
        user: Uuid,
        now: Timestamp,
    ) -> Result<(Vec<String>, Vec<Upload>), StoreError>;

    /// Leases up to `limit` queue entries whose time has come, until `lease_until`, and returns
    /// their keys. Only one replica sweeps at a time.
    async fn claim_expired_objects(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<String>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_count_against_the_quota() {
        let quota = Quota { bytes: Some(100_000), vaults: Some(2) };
        let usage = |bytes, vaults, reserved_bytes, reserved_vaults| Usage {
            bytes,
            vaults,
            reserved_bytes,
            reserved_vaults,
        };
        assert_eq!(usage(100_000, 2, 0, 0).exceeds(&quota), None, "exactly at the limits");
        assert_eq!(
            usage(10_000, 1, 90_001, 0).exceeds(&quota),
            Some("bytes"),
            "an open upload's length counts"
        );
        assert_eq!(
            usage(10_000, 1, 0, 2).exceeds(&quota),
            Some("vaults"),
            "so do the vaults uploads would create"
        );
        assert_eq!(usage(u32::MAX.into(), 0, 0, 0).exceeds(&Quota { bytes: None, vaults: Some(1) }), None);
        assert!(!Quota::default().is_limited());
    }
}
