//! Resumable uploads (tus 1.0): what the metadata store keeps of them.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Quota, StoreError};
use crate::domain::{Timestamp, Upload};

/// What a PATCH durably stored: the new offset and part list, to record if the upload is
/// still where the PATCH found it.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The offset the PATCH started at (compare-and-swap).
    pub from_offset: i64,
    /// The offset now.
    pub to_offset: i64,
    /// All part ETags, space-separated.
    pub part_etags: String,
    /// All part digests.
    pub part_digests: Vec<u8>,
}

/// Upload state in the metadata store. Every change is a compare-and-swap on the offset, so
/// two replicas can never both extend an upload.
#[async_trait]
pub trait UploadStore: Send + Sync + 'static {
    /// Records a new upload and queues its object key, so that an upload that never completes
    /// is swept at `expires_at`.
    /// `Ok(Err(limit))`, recording nothing, when its length would take the user past this
    /// limit of `quota` (counting vaults and the other open uploads); `Ok(Err("account"))`
    /// when the user no longer exists (deleted while the request was under way).
    async fn create_upload(
        &self,
        upload: &Upload,
        quota: &Quota,
    ) -> Result<Result<(), &'static str>, StoreError>;

    /// The user's upload, if it exists (expired ones included; the caller checks).
    async fn upload(&self, user: Uuid, id: Uuid) -> Result<Option<Upload>, StoreError>;

    /// Takes the PATCH lease for `owner` until `until` if the upload is at `offset`, has not
    /// expired and no live lease is held; false otherwise.
    async fn lease_upload(
        &self,
        id: Uuid,
        offset: i64,
        owner: Uuid,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Extends `owner`'s lease; false when it no longer holds it (and must stop writing).
    async fn renew_upload(&self, id: Uuid, owner: Uuid, until: Timestamp) -> Result<bool, StoreError>;

    /// Records progress and drops the lease, if `owner` holds it and the upload is still at
    /// `from_offset`.
    async fn advance_upload(&self, id: Uuid, owner: Uuid, progress: &Progress) -> Result<bool, StoreError>;

    /// Drops `owner`'s lease without recording progress.
    async fn release_upload(&self, id: Uuid, owner: Uuid) -> Result<(), StoreError>;

    /// Deletes the upload's row (its object key stays queued until committed or swept).
    async fn delete_upload(&self, id: Uuid) -> Result<(), StoreError>;

    /// Ends `user`'s upload `id` in one decision against its commit: deletes its row and,
    /// unless a commit already took its object for a vault, makes that object due for
    /// deletion at once, so that a commit still under way can no longer take it. `None` when
    /// there is no such upload; `Some(true)` when its storage is the caller's to release,
    /// `Some(false)` when its object belongs to a vault (a commit took it, or the upload is
    /// marked committed, whose object a later replace may have queued with its grace period).
    async fn end_upload(&self, user: Uuid, id: Uuid) -> Result<Option<bool>, StoreError>;

    /// Up to `limit` uploads that expired before `now`.
    async fn expired_uploads(&self, now: Timestamp, limit: i64) -> Result<Vec<Upload>, StoreError>;
}
