//! How resumable uploads end other than by committing: `DELETE`, expiry, and a PATCH that
//! finds its upload ended under it. Each end is decided in the database against the commit
//! (see [`UploadStore::end_upload`]), and storage is released only by whoever ended the
//! upload, or again by a PATCH that lost, for what it stored after that release.
//!
//! [`UploadStore::end_upload`]: crate::store::UploadStore::end_upload

use uuid::Uuid;

use super::ServiceError;
use super::vaults::VaultService;
use crate::domain::{Timestamp, Upload};
use crate::store::{PartTarget, object_key};

/// Where `u`'s bytes go until it completes.
pub(super) fn target(u: &Upload) -> PartTarget {
    PartTarget { upload: u.id, key: object_key(u.user_id, &u.etag), multipart_id: u.multipart_id.clone() }
}

impl VaultService {
    /// What a PATCH of `u` that failed with `err` answers. When the upload was ended meanwhile
    /// (a `DELETE`, expiry or account deletion won) that is `NotFound`, and its storage is
    /// released once more: the PATCH may have stored a part or a tail after the winner
    /// released everything (an S3 tail object, or a part racing the multipart abort).
    /// Releasing never touches a committed vault's object, so this is safe in any case.
    pub(super) async fn lost_patch(&self, u: &Upload, err: ServiceError) -> ServiceError {
        match self.store.upload(u.user_id, u.id).await {
            Ok(None) => {
                self.release_parts(u).await;
                ServiceError::NotFound
            }
            _ => err,
        }
    }

    /// Ends an upload and releases its storage, in one decision against a final PATCH
    /// committing it at the same moment (see [`UploadStore::end_upload`]): either the commit
    /// took the object, which then stays the vault's, or the commit fails and changes nothing.
    ///
    /// [`UploadStore::end_upload`]: crate::store::UploadStore::end_upload
    pub async fn delete_upload(&self, user: Uuid, id: Uuid) -> Result<(), ServiceError> {
        self.end(self.upload(user, id).await?).await
    }

    /// Ends `upload` (see [`Self::delete_upload`]).
    pub(super) async fn end(&self, upload: Upload) -> Result<(), ServiceError> {
        let (user, id) = (upload.user_id, upload.id);
        match self.store.end_upload(user, id).await? {
            None => return Err(ServiceError::NotFound),
            Some(true) => {
                self.release_parts(&upload).await;
                self.discard(&object_key(upload.user_id, &upload.etag)).await;
            }
            // Committed: its object is the vault's now.
            Some(false) => {}
        }
        tracing::info!(user_id = %user, upload_id = %id, "upload deleted");
        Ok(())
    }

    /// Removes expired uploads and their storage; returns how many. The row goes first, so a
    /// PATCH still running finds its upload gone and releases what it stored after this.
    pub async fn sweep_uploads(&self, now: Timestamp) -> Result<usize, ServiceError> {
        let expired = self.store.expired_uploads(now, 100).await?;
        for upload in &expired {
            self.store.delete_upload(upload.id).await?;
            self.release_parts(upload).await;
        }
        if !expired.is_empty() {
            tracing::info!(count = expired.len(), "expired uploads removed");
        }
        Ok(expired.len())
    }

    /// Releases everything an upload stored (parts, tail, spool); never its final object.
    pub(super) async fn release_parts(&self, u: &Upload) {
        if let Err(e) = self.blobs.parts().release(&self.blobs, &target(u)).await {
            tracing::warn!(error = %e, upload_id = %u.id, "releasing an upload's parts failed");
        }
    }

    /// Like [`Self::upload`], but first waits (up to 5 s) for a PATCH still storing what it
    /// received, so that a client resuming right after a dropped connection learns the
    /// offset that PATCH ends at.
    pub async fn settled_upload(&self, user: Uuid, id: Uuid) -> Result<Upload, ServiceError> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let upload = self.upload(user, id).await?;
            let busy = upload.lease_until.is_some_and(|until| until > Timestamp::now());
            if !busy || tokio::time::Instant::now() >= deadline {
                return Ok(upload);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
