//! Direct uploads: the client sends a vault's ciphertext to the object store itself, part by
//! part, through presigned URLs, so the bytes never pass through the gateway; the gateway
//! then commits the revision with the same compare-and-swap as any other write.
//!
//! A direct upload is an upload row like a tus upload's (the quota reservation, expiry and
//! sweeping are theirs), marked in `part_etags`, whose object is an S3 multipart upload to a
//! fresh key that no revision has ever had. Each part's URL is signed when the client asks for
//! it, with the part's SHA-256 (S3 checks the body against it, which pins the bytes and so
//! their length), and expires quickly. The commit takes the
//! upload's lease (one commit at a time), completes the multipart upload from the ETags the
//! client reports, checks the object's size, and commits: the object becomes visible only
//! through that one decision in the database. The revision's digest is the digest of the
//! part digests, the same construction a tus upload uses.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use uuid::Uuid;

use super::ServiceError;
use super::upload_end::target;
use super::uploads::{NewUpload, UPLOAD_LEASE};
use super::vault_write::Written;
use super::vaults::VaultService;
use crate::domain::{DIRECT_COMMITTED, DIRECT_PENDING, Timestamp, Upload, VaultId};
use crate::store::UPLOAD_PART_SIZE;

/// Bytes in every part of a direct upload but the last (10 GiB is 1,280 parts, well under
/// S3's 10,000).
pub const DIRECT_PART_SIZE: u64 = UPLOAD_PART_SIZE as u64;

/// How many parts an upload of `length` bytes has: at least one, even for no bytes.
pub fn part_count(length: u64) -> u32 {
    u32::try_from(length.div_ceil(DIRECT_PART_SIZE).max(1)).unwrap_or(u32::MAX)
}

/// Bytes in part `number` (from 1) of an upload of `length` bytes.
fn part_length(length: u64, number: u32) -> u64 {
    let start = u64::from(number - 1) * DIRECT_PART_SIZE;
    length.saturating_sub(start).min(DIRECT_PART_SIZE)
}

/// Where and how to send one part.
#[derive(Debug, Clone)]
pub struct DirectPart {
    /// The presigned `PUT` URL.
    pub url: url::Url,
    /// The part's length (signed).
    pub length: u64,
    /// Its base64 SHA-256, to send as `x-amz-checksum-sha256` (signed).
    pub sha256: String,
    /// When the URL stops working.
    pub expires_at: Timestamp,
}

/// How a commit ended.
#[derive(Debug)]
pub enum DirectCommit {
    /// The revision is committed.
    Written(Box<Written>),
    /// The upload had committed already (a client that missed the answer asks again): its
    /// revision's etag.
    Already(String),
}

impl VaultService {
    /// How long part URLs live, if direct uploads are possible here.
    fn direct_ttl(&self) -> Result<Duration, ServiceError> {
        match self.timing.direct_url_ttl {
            Some(ttl) if self.blobs.signs_urls() => Ok(ttl),
            _ => Err(ServiceError::DirectUnavailable),
        }
    }

    /// Creates a direct upload after the checks a streamed PUT of `length` bytes would pass
    /// (quota reserved, precondition checked now and again at the commit).
    pub async fn create_direct_upload(&self, n: NewUpload) -> Result<Upload, ServiceError> {
        self.direct_ttl()?;
        self.create_upload_of(n, DIRECT_PENDING.to_owned()).await
    }

    /// The caller's live direct upload `id` for vault `vault`, or `NotFound`.
    async fn direct_upload(&self, user: Uuid, vault: &VaultId, id: Uuid) -> Result<Upload, ServiceError> {
        let upload = self.live_upload(user, id, true).await?;
        if upload.vault_id != vault.as_str() {
            return Err(ServiceError::NotFound);
        }
        Ok(upload)
    }

    /// The URL for part `number` of the upload, bound to its length and to `sha256`.
    pub async fn direct_part(
        &self,
        user: Uuid,
        vault: &VaultId,
        id: Uuid,
        number: u32,
        sha256: [u8; 32],
    ) -> Result<DirectPart, ServiceError> {
        let ttl = self.direct_ttl()?;
        let u = self.direct_upload(user, vault, id).await?;
        if u.committed() {
            return Err(ServiceError::invalid("upload_id", "the upload has committed"));
        }
        let count = part_count(u.upload_length as u64);
        if number == 0 || number > count {
            return Err(ServiceError::invalid("number", format!("parts are numbered 1 to {count}")));
        }
        let length = part_length(u.upload_length as u64, number);
        let sha256 = STANDARD.encode(sha256);
        let t = target(&u);
        let multipart = t.multipart_id.as_deref().ok_or(ServiceError::DirectUnavailable)?;
        let url = self.blobs.presigned_part(&t.key, multipart, number, &sha256, ttl).await?;
        let url = url.ok_or(ServiceError::DirectUnavailable)?;
        Ok(DirectPart { url, length, sha256, expires_at: Timestamp::now().plus(ttl) })
    }

    /// Commits the upload from its parts, as the object store acknowledged them (`(ETag,
    /// SHA-256)`, in order).
    pub async fn commit_direct_upload(
        &self,
        user: Uuid,
        vault: &VaultId,
        id: Uuid,
        parts: Vec<(String, [u8; 32])>,
    ) -> Result<DirectCommit, ServiceError> {
        let u = self.direct_upload(user, vault, id).await?;
        if u.committed() {
            return Ok(DirectCommit::Already(u.etag));
        }
        let count = part_count(u.upload_length as u64) as usize;
        if parts.len() != count {
            return Err(ServiceError::PartsMismatch(format!(
                "the upload has {count} parts, not {}",
                parts.len()
            )));
        }
        let (now, owner) = (Timestamp::now(), Uuid::new_v4());
        if !self.store.lease_upload(u.id, u.upload_offset, owner, now, now.plus(UPLOAD_LEASE)).await? {
            return Err(ServiceError::UploadBusy);
        }
        let t = target(&u);
        let digests: Vec<u8> = parts.iter().flat_map(|(_, sha)| *sha).collect();
        let etags = parts.into_iter().map(|(etag, _)| etag).collect();
        let stored = match self.blobs.parts().finish(&self.blobs, &t, etags).await {
            Ok(()) => self.blobs.size(&t.key).await.map_err(ServiceError::from),
            Err(e) => {
                tracing::info!(upload_id = %u.id, error = %e, "a direct upload's parts did not complete");
                let _ = self.store.release_upload(u.id, owner).await;
                return Err(ServiceError::PartsMismatch(
                    "the object store did not complete the upload from these parts; \
                     check the ETags (or send the parts again) and commit again"
                        .into(),
                ));
            }
        };
        match stored {
            Ok(size) if size == u.upload_length as u64 => {}
            Ok(size) => {
                // The parts are spent on an object of the wrong length: the upload ends.
                self.end(u.clone()).await?;
                return Err(ServiceError::PartsMismatch(format!(
                    "the parts hold {size} bytes, not the {} the upload declared; nothing was committed",
                    u.upload_length
                )));
            }
            Err(e) => {
                let _ = self.store.release_upload(u.id, owner).await;
                return Err(e);
            }
        }
        let written = self.commit_upload(&u, owner, &digests, DIRECT_COMMITTED).await?;
        Ok(DirectCommit::Written(Box::new(written)))
    }

    /// Ends the caller's direct upload and releases its storage (see `delete_upload`).
    pub async fn delete_direct_upload(
        &self,
        user: Uuid,
        vault: &VaultId,
        id: Uuid,
    ) -> Result<(), ServiceError> {
        self.end(self.direct_upload(user, vault, id).await?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_length_and_no_more() {
        let p = DIRECT_PART_SIZE;
        assert_eq!(part_count(0), 1);
        assert_eq!(part_length(0, 1), 0);
        assert_eq!((part_count(1), part_length(1, 1)), (1, 1));
        assert_eq!((part_count(p), part_length(p, 1)), (1, p));
        assert_eq!((part_count(p + 1), part_length(p + 1, 1), part_length(p + 1, 2)), (2, p, 1));
        assert_eq!(part_count(10 << 30), 1280);
    }
}
