//! Earlier revisions, the trash and the change log: the [`HistoryStore`] trait.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Quota, StoreError};
use crate::domain::{ChangesSince, Timestamp, TrashEntry, Vault};

/// What bringing a vault back from the trash did.
#[derive(Debug, Clone)]
pub enum UntrashOutcome {
    /// The vault is live again, as this.
    Restored(Box<Vault>),
    /// A live vault has that id: its etag. Nothing changed.
    Taken(String),
    /// No such entry in the user's trash.
    NotFound,
    /// Bringing it back would exceed this limit of the quota; nothing changed.
    OverQuota(&'static str),
}

/// Where a listing of the trash continues: after the entry deleted at this time with this id
/// (entries are listed newest first).
pub type TrashCursor = (Timestamp, Uuid);

/// Earlier revisions, the trash and the per-user change log. Every change to a vault is
/// logged in the transaction that makes it, numbered per user in commit order.
#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// The vault's revisions newest first, the current one included, below revision `before`
    /// (all with `None`), at most `limit`; `None` when the user has no such vault.
    async fn revisions(
        &self,
        user: Uuid,
        vault_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Option<Vec<Vault>>, StoreError>;

    /// One revision of the vault (the current one or a retained earlier one).
    async fn revision(&self, user: Uuid, vault_id: &str, revision: i64) -> Result<Option<Vault>, StoreError>;

    /// Up to `limit` entries of the user's trash, newest first, after `after`.
    async fn trash(
        &self,
        user: Uuid,
        after: Option<TrashCursor>,
        limit: i64,
    ) -> Result<Vec<TrashEntry>, StoreError>;

    /// Makes the trash entry a live vault again under `vault_id` (its own id with `None`),
    /// with its history; `receipt` is kept with it when the id is another.
    async fn untrash(
        &self,
        user: Uuid,
        trash_id: Uuid,
        vault_id: Option<&str>,
        receipt: Option<Vec<u8>>,
        quota: &Quota,
        now: Timestamp,
    ) -> Result<UntrashOutcome, StoreError>;

    /// Purges a trash entry with its history now; false when there is no such entry.
    async fn purge(&self, user: Uuid, trash_id: Uuid, now: Timestamp) -> Result<bool, StoreError>;

    /// The user's changes after position `since`, at most `limit`.
    async fn changes_since(&self, user: Uuid, since: i64, limit: i64) -> Result<ChangesSince, StoreError>;

    /// The position of the user's newest change (0 before the first).
    async fn change_head(&self, user: Uuid) -> Result<i64, StoreError>;

    /// Drops up to `limit` earlier revisions outside their count window that were replaced
    /// before `replaced_before`, queuing their objects for deletion after `delete_after`.
    /// Returns how many went; only one replica does this at a time (0 for the others).
    async fn drop_expired_revisions(
        &self,
        replaced_before: Timestamp,
        delete_after: Timestamp,
        limit: i64,
    ) -> Result<u64, StoreError>;

    /// Purges up to `limit` trash entries that expired by `now`. Returns the owner of each
    /// entry that went.
    async fn purge_expired_trash(&self, now: Timestamp, limit: i64) -> Result<Vec<Uuid>, StoreError>;

    /// Compacts away up to `limit` logged changes made before `before`. Returns how many went.
    async fn compact_changes(&self, before: Timestamp, limit: i64) -> Result<u64, StoreError>;
}
