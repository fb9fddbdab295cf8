//! Resumable uploads (tus 1.0) on top of the vault write protocol: an upload is created with
//! its vault, envelope and precondition; PATCHes append bytes (each one durable before it is
//! acknowledged); the PATCH that completes it commits the revision exactly as a streamed PUT
//! does, with the same compare-and-swap.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ServiceError;
use super::upload_end::target;
use super::vault_write::{Content, Written, check_opaque, new_etag};
use super::vaults::VaultService;
use crate::domain::{BoxError, Precondition, Timestamp, Upload, VaultId};
use crate::store::{PartTarget, Progress, UPLOAD_PART_SIZE, object_key};

/// How long a PATCH holds an upload without storing a part. A part (8 MiB) arrives within the
/// body read timeout or the PATCH fails, and every part renews the lease, so only a PATCH that
/// has stopped can lose it.
pub(super) const UPLOAD_LEASE: std::time::Duration = std::time::Duration::from_secs(300);

/// `part_etags` of an upload that committed (no real part list is a lone `-`).
const COMMITTED: &str = "-";

/// A new upload, decoded from its creation request.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// Owner.
    pub user: Uuid,
    /// The vault it becomes.
    pub id: VaultId,
    /// Opaque IV.
    pub iv: Vec<u8>,
    /// Opaque salt.
    pub salt: Vec<u8>,
    /// Client format version.
    pub version: i64,
    /// Checked at creation and again, in the commit's transaction, at completion.
    pub precondition: Precondition,
    /// Total bytes.
    pub length: u64,
}

/// How a PATCH ended.
#[derive(Debug)]
pub enum Patched {
    /// Bytes stored; the upload continues from this offset.
    Progress(u64),
    /// The last bytes arrived and the vault revision is committed.
    Committed(Box<Written>),
    /// The upload had already committed (a client that missed the answer asks again).
    AlreadyCommitted {
        /// The committed revision's etag.
        etag: String,
        /// Its size.
        size: u64,
    },
}

/// One PATCH's body and its optional checksum.
pub struct Chunk<S> {
    /// Where the client says the chunk starts (`Upload-Offset`).
    pub offset: u64,
    /// SHA-256 the chunk must have (`Upload-Checksum: sha256 ...`).
    pub sha256: Option<[u8; 32]>,
    /// The bytes.
    pub body: S,
}

/// Whether the upload committed (it is kept until it expires, so clients can ask).
fn finished(u: &Upload) -> bool {
    u.committed()
}

impl VaultService {
    /// Creates an upload after the checks a streamed PUT of `length` bytes would pass.
    pub async fn create_upload(&self, n: NewUpload) -> Result<Upload, ServiceError> {
        self.create_upload_of(n, String::new()).await
    }

    /// Creates an upload whose `part_etags` start as `parts` (empty for tus; a direct upload's
    /// marker).
    pub(super) async fn create_upload_of(&self, n: NewUpload, parts: String) -> Result<Upload, ServiceError> {
        check_opaque("iv", &n.iv)?;
        check_opaque("salt", &n.salt)?;
        if n.version < 1 {
            return Err(ServiceError::invalid("version", "must be at least 1"));
        }
        if n.length > self.limits.max_vault_bytes {
            return Err(ServiceError::TooLarge { limit: self.limits.max_vault_bytes });
        }
        if n.length > self.room(n.user, &n.id, &n.precondition, self.limits.max_vault_bytes).await? {
            return Err(ServiceError::QuotaExceeded { what: "bytes" });
        }
        // Fail fast rather than after the last byte; the commit checks again.
        let current = self.store.vault(n.user, n.id.as_str()).await?.map(|v| v.etag);
        if !n.precondition.admits(current.as_deref()) {
            return Err(ServiceError::PreconditionFailed { current });
        }
        let (id, etag, now) = (Uuid::new_v4(), new_etag(), Timestamp::now());
        let multipart_id = self.blobs.parts().begin(id, &object_key(n.user, &etag)).await?;
        let upload = Upload {
            id,
            user_id: n.user,
            vault_id: n.id.to_string(),
            etag,
            iv: n.iv,
            salt: n.salt,
            version: n.version,
            precondition: n.precondition,
            upload_length: n.length as i64,
            upload_offset: 0,
            multipart_id,
            part_etags: parts,
            part_digests: Vec::new(),
            lease_owner: None,
            lease_until: None,
            expires_at: now.plus(self.timing.upload_timeout),
            created_at: now,
        };
        // The length is reserved against the quota in the same transaction that records it.
        let quota = self.quota_of(upload.user_id).await?;
        let created = self.store.create_upload(&upload, &quota).await;
        if !matches!(created, Ok(Ok(()))) {
            self.release_parts(&upload).await;
        }
        match created? {
            Ok(()) => {}
            // The session went with the account after this request was let in.
            Err("account") => return Err(ServiceError::TokenRevoked),
            Err(what) => return Err(ServiceError::QuotaExceeded { what }),
        }
        tracing::info!(user_id = %n.user, upload_id = %id, length = n.length, "upload created");
        Ok(upload)
    }

    /// The caller's live tus upload, or `NotFound` (also for another user's, expired ones, and
    /// direct uploads).
    pub async fn upload(&self, user: Uuid, id: Uuid) -> Result<Upload, ServiceError> {
        self.live_upload(user, id, false).await
    }

    /// The caller's live upload of the kind asked for (direct or tus), or `NotFound`.
    pub(super) async fn live_upload(
        &self,
        user: Uuid,
        id: Uuid,
        direct: bool,
    ) -> Result<Upload, ServiceError> {
        let upload = self.store.upload(user, id).await?.ok_or(ServiceError::NotFound)?;
        if upload.expires_at <= Timestamp::now() || upload.is_direct() != direct {
            return Err(ServiceError::NotFound);
        }
        Ok(upload)
    }

    /// Appends a chunk. Runs in its own task, so a client that goes away mid-chunk cannot
    /// stop it half-way: what arrived is stored and recorded before the task ends.
    pub async fn patch_upload<S, E>(
        &self,
        user: Uuid,
        id: Uuid,
        chunk: Chunk<S>,
    ) -> Result<Patched, ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let upload = self.upload(user, id).await?;
        if finished(&upload) && chunk.offset == upload.upload_offset as u64 {
            let mut body = std::pin::pin!(chunk.body);
            if let Some(Ok(bytes)) = body.next().await
                && !bytes.is_empty()
            {
                return Err(ServiceError::TooLarge { limit: upload.upload_length as u64 });
            }
            return Ok(Patched::AlreadyCommitted { etag: upload.etag, size: upload.upload_length as u64 });
        }
        if chunk.offset != upload.upload_offset as u64 {
            return Err(ServiceError::OffsetMismatch { current: upload.upload_offset as u64 });
        }
        let (now, owner) = (Timestamp::now(), Uuid::new_v4());
        let lease = now.plus(UPLOAD_LEASE);
        if !self.store.lease_upload(id, upload.upload_offset, owner, now, lease).await? {
            return Err(self.lost_patch(&upload, ServiceError::UploadBusy).await);
        }
        let this = self.clone();
        tokio::spawn(async move {
            let result = match this.append(&upload, owner, chunk).await {
                // The upload's storage went away under it because a DELETE ended it meanwhile.
                Err(
                    e @ (ServiceError::Unavailable(_) | ServiceError::Internal(_) | ServiceError::UploadBusy),
                ) => Err(this.lost_patch(&upload, e).await),
                other => other,
            };
            if !matches!(result, Ok(Patched::Progress(_)))
                && let Err(e) = this.store.release_upload(upload.id, owner).await
            {
                tracing::warn!(error = %e, "releasing an upload lease failed; it lapses by itself");
            }
            result
        })
        .await
        .map_err(|e| ServiceError::internal(format!("upload task failed: {e}")))?
    }

    async fn append<S, E>(&self, u: &Upload, owner: Uuid, chunk: Chunk<S>) -> Result<Patched, ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<BoxError>,
    {
        let (t, parts) = (target(u), self.blobs.parts());
        let start = u.upload_offset as usize;
        let mut part = start / UPLOAD_PART_SIZE;
        let mut buffer = BytesMut::with_capacity(UPLOAD_PART_SIZE);
        buffer.extend_from_slice(&parts.tail(&self.blobs, &t, part, start % UPLOAD_PART_SIZE).await?);
        let mut etags: Vec<String> = u.part_etags.split_whitespace().map(str::to_owned).collect();
        let mut digests = u.part_digests.clone();
        etags.truncate(part);
        digests.truncate(part * 32);
        let (mut received, mut checksum) = (0u64, Sha256::new());
        let remaining = (u.upload_length - u.upload_offset) as u64;
        let mut body = std::pin::pin!(chunk.body);
        let broke = loop {
            let bytes = match body.next().await {
                None => break None,
                Some(Err(e)) => break Some(e.into()),
                Some(Ok(bytes)) => bytes,
            };
            received += bytes.len() as u64;
            if received > remaining {
                return Err(ServiceError::TooLarge { limit: u.upload_length as u64 });
            }
            checksum.update(&bytes);
            let mut rest = bytes;
            while !rest.is_empty() {
                let take = rest.len().min(UPLOAD_PART_SIZE - buffer.len());
                buffer.extend_from_slice(&rest.split_to(take));
                if buffer.len() == UPLOAD_PART_SIZE {
                    // Renewed before every part: a PATCH that lost its lease stops writing.
                    if !self.store.renew_upload(u.id, owner, Timestamp::now().plus(UPLOAD_LEASE)).await? {
                        return Err(ServiceError::UploadBusy);
                    }
                    let full = buffer.split().freeze();
                    digests.extend_from_slice(&Sha256::digest(&full));
                    etags.push(parts.put_part(&t, part, full).await?);
                    part += 1;
                }
            }
        };
        let complete = received == remaining && broke.is_none();
        match (chunk.sha256, &broke) {
            // A checked chunk is all or nothing: a broken one cannot match its checksum.
            (Some(_), Some(_)) => return Err(ServiceError::IncompleteBody),
            (Some(expected), None) if expected[..] != checksum.finalize()[..] => {
                return Err(ServiceError::ChecksumMismatch);
            }
            _ => {}
        }
        if complete {
            let done = self.complete(u, owner, &t, part, buffer.freeze(), etags, digests).await;
            return done.map(|w| Patched::Committed(Box::new(w)));
        }
        if !buffer.is_empty() {
            parts.put_tail(&self.blobs, &t, part, buffer.freeze()).await?;
        }
        let to_offset = u.upload_offset + received as i64;
        let progress = Progress {
            from_offset: u.upload_offset,
            to_offset,
            part_etags: etags.join(" "),
            part_digests: digests,
        };
        if !self.store.advance_upload(u.id, owner, &progress).await? {
            return Err(ServiceError::Unavailable("the upload was changed by another request".into()));
        }
        if let Some(cause) = broke {
            tracing::info!(upload_id = %u.id, offset = to_offset, error = %cause, "upload chunk broke off; kept what arrived");
            return Err(ServiceError::IncompleteBody);
        }
        Ok(Patched::Progress(to_offset as u64))
    }

    #[allow(clippy::too_many_arguments)]
    async fn complete(
        &self,
        u: &Upload,
        owner: Uuid,
        t: &PartTarget,
        part: usize,
        last: Bytes,
        mut etags: Vec<String>,
        mut digests: Vec<u8>,
    ) -> Result<Written, ServiceError> {
        let parts = self.blobs.parts();
        if !last.is_empty() || etags.is_empty() {
            digests.extend_from_slice(&Sha256::digest(&last));
            etags.push(parts.put_part(t, part, last).await?);
        }
        parts.finish(&self.blobs, t, etags).await?;
        self.commit_upload(u, owner, &digests, COMMITTED).await
    }

    /// Commits `u`'s completed object (whose parts have the SHA-256s `digests`) as the vault's
    /// new revision, under the lease `owner` holds; then keeps the upload, marked
    /// `committed_as`, until it expires (a client that missed the answer can ask again), or,
    /// when the commit fails, removes it and its object.
    pub(super) async fn commit_upload(
        &self,
        u: &Upload,
        owner: Uuid,
        digests: &[u8],
        committed_as: &str,
    ) -> Result<Written, ServiceError> {
        let content = Content {
            version: u.version,
            size: u.upload_length,
            // A digest of the part digests: equal content gives an equal digest between
            // uploads, which is all it is compared for.
            sha256: Sha256::digest(digests).to_vec(),
            iv: u.iv.clone(),
            salt: u.salt.clone(),
        };
        let rev = self.revision_of(u.user_id, &u.vault_id, u.etag.clone(), content, &u.precondition);
        let result = self.commit(&rev, &u.precondition).await;
        self.changes.committed(crate::store::Change::vault(u.user_id, &u.vault_id)).await;
        let kept = match &result {
            // Kept, finished, until it expires: a client that missed this answer can ask again.
            Ok(_) => {
                tracing::info!(user_id = %u.user_id, upload_id = %u.id, size = rev.size, "upload committed");
                let done = Progress {
                    from_offset: u.upload_offset,
                    to_offset: u.upload_length,
                    part_etags: committed_as.to_owned(),
                    part_digests: Vec::new(),
                };
                self.store.advance_upload(u.id, owner, &done).await
            }
            Err(_) => {
                self.discard(&object_key(u.user_id, &u.etag)).await;
                self.store.delete_upload(u.id).await.map(|()| true)
            }
        };
        if let Err(e) = kept {
            tracing::warn!(error = %e, upload_id = %u.id, "a finished upload's row was not updated; it expires");
        }
        result
    }
}
