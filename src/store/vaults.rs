//! Vault metadata: records, the [`VaultStore`] trait, and the object-key scheme.

use async_trait::async_trait;
use bytes::Bytes;
use uuid::Uuid;

use super::{Quota, StoreError, Usage};
use crate::domain::{ChangeKind, Precondition, Retention, Timestamp, Upload, Vault};

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
    /// The new vault's uid, for a create (a replace keeps the vault's).
    pub uid: Uuid,
    /// Opaque bytes a client sent with a restore.
    pub receipt: Option<Vec<u8>>,
    /// How the change is logged: [`ChangeKind::Create`], [`ChangeKind::Replace`] or
    /// [`ChangeKind::Restore`] (the latter two only for a replace).
    pub kind: ChangeKind,
    /// Which earlier revisions a replace keeps.
    pub retention: Retention,
    /// The body itself, when it is small enough to keep in the database: the commit stores it
    /// there under the revision's object key (and expects no upload queue entry for it).
    pub inline: Option<Bytes>,
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
    Done(Option<Box<Vault>>),
    /// The vault's etag is not the expected one: its current etag, or `None` if it is absent.
    Mismatch(Option<String>),
    /// The upload's queue entry was gone; nothing changed.
    UploadLost,
    /// The user was deleted after the write began; nothing changed.
    UserGone,
    /// The new revision would exceed this limit of the quota; nothing changed.
    OverQuota(&'static str),
}

/// What waits for the sweeper (see [`VaultStore::backlog`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Queued objects whose deletion time has passed.
    pub due_objects: i64,
    /// When the oldest of them came due.
    pub oldest_due: Option<Timestamp>,
    /// Resumable uploads past their expiry, not yet swept.
    pub expired_uploads: i64,
}

/// Bodies kept in the database under their object keys (see [`NewRevision::inline`]).
#[async_trait]
pub trait SmallObjectStore: Send + Sync + 'static {
    /// The body kept under `key`, if it is kept here.
    async fn small_object(&self, key: &str) -> Result<Option<Bytes>, StoreError>;

    /// The keys kept for `user`, in order.
    async fn small_object_keys(&self, user: Uuid) -> Result<Vec<String>, StoreError>;

    /// Up to `limit` bodies with keys after `after`, in key order.
    async fn small_objects_after(&self, after: &str, limit: i64) -> Result<Vec<(String, Bytes)>, StoreError>;

    /// Drops the body under `key`; false when none was kept.
    async fn drop_small_object(&self, key: &str) -> Result<bool, StoreError>;
}

/// Vault metadata and the object-deletion queue. Compare-and-swap happens here, in one
/// transaction per commit, so correctness never depends on the object store's conditionals.
#[async_trait]
pub trait VaultStore:
    super::UploadStore + super::HistoryStore + SmallObjectStore + Send + Sync + 'static
{
    /// The vault, if the user has one with that id.
    async fn vault(&self, user: Uuid, vault_id: &str) -> Result<Option<Vault>, StoreError>;

    /// Up to `limit` vaults of the user with ids after `after`, ordered by id (bytewise).
    async fn list_vaults(&self, user: Uuid, after: &str, limit: i64) -> Result<Vec<Vault>, StoreError>;

    /// Bytes and vaults the user holds, and what open uploads reserve.
    async fn usage(&self, user: Uuid) -> Result<Usage, StoreError>;

    /// The user's quota: `default`, with what an operator set for this account in its place.
    async fn quota_of(&self, user: Uuid, default: &super::Quota) -> Result<super::Quota, StoreError>;

    /// Records an upload about to start, so that a crash leaves a trace for the sweeper.
    async fn begin_upload(&self, key: &str, user: Uuid, abandon_after: Timestamp) -> Result<(), StoreError>;

    /// Forgets a queue entry whose object is deleted.
    async fn forget_object(&self, key: &str) -> Result<(), StoreError>;

    /// Commits a new vault (fails over to `Exists` on an existing id) if the user stays
    /// within `quota` (counting what other open uploads reserve).
    async fn commit_create(&self, rev: &NewRevision, quota: &Quota) -> Result<CreateOutcome, StoreError>;

    /// Commits a replace if the vault is as `expect` requires and the user stays within
    /// `quota`; the replaced object is queued for deletion after the grace period.
    async fn commit_replace(
        &self,
        rev: &NewRevision,
        expect: &Precondition,
        quota: &Quota,
    ) -> Result<ChangeOutcome, StoreError>;

    /// Deletes a vault if it is as `expect` requires, at `now`: into the trash until
    /// `trash_until`, or, with none, at once (its objects and its history's queued for deletion
    /// after `delete_after`).
    async fn delete_vault(
        &self,
        user: Uuid,
        vault_id: &str,
        expect: &Precondition,
        now: Timestamp,
        trash_until: Option<Timestamp>,
        delete_after: Timestamp,
    ) -> Result<ChangeOutcome, StoreError>;

    /// Deletes the user with sessions, vaults, history, trash and unfinished uploads; their
    /// objects are queued for deletion now. Returns the queued keys and the uploads, whose parts the caller
    /// releases (no PATCH can continue them: their rows are gone).
    async fn delete_account(
        &self,
        user: Uuid,
        now: Timestamp,
    ) -> Result<(Vec<String>, Vec<Upload>), StoreError>;

    /// What waits for the sweeper at `now`: objects due for deletion and the oldest's due time,
    /// and resumable uploads past their expiry (for the operator's alerts).
    async fn backlog(&self, now: Timestamp) -> Result<Backlog, StoreError>;

    /// Leases up to `limit` queue entries whose time has come, until `lease_until`, and returns
    /// their keys. Only one replica sweeps at a time.
    async fn claim_expired_objects(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<String>, StoreError>;
}
