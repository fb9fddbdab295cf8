//! Vault writes: stream to a fresh object, then compare-and-swap the metadata in one
//! transaction. A failure anywhere leaves the vault at its previous revision.

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use uuid::Uuid;

use super::ServiceError;
use super::vaults::{MAX_INLINE_BYTES, VaultService};
use crate::domain::{BoxError, ChangeKind, Precondition, Timestamp, Vault, VaultId};
use crate::store::{BlobStoreError, ChangeOutcome, CreateOutcome, Meter, NewRevision, object_key};

/// One write request, decoded.
pub struct VaultWrite<S> {
    /// Owner.
    pub user: Uuid,
    /// Which vault.
    pub id: VaultId,
    /// What the vault must be for the write to apply.
    pub precondition: Precondition,
    /// Opaque IV, 8..64 bytes.
    pub iv: Vec<u8>,
    /// Opaque salt, 8..64 bytes.
    pub salt: Vec<u8>,
    /// Client format version, at least 1.
    pub version: i64,
    /// The ciphertext.
    pub body: S,
    /// `Content-Length`, when the client sent one.
    pub declared_len: Option<u64>,
    /// Whether this came as JSON (and so is held to the JSON size limit).
    pub inline: bool,
}

/// What a revision holds besides its object.
pub(super) struct Content {
    pub(super) version: i64,
    pub(super) size: i64,
    pub(super) sha256: Vec<u8>,
    pub(super) iv: Vec<u8>,
    pub(super) salt: Vec<u8>,
}

/// A committed write.
#[derive(Debug, Clone)]
pub struct Written {
    /// The vault as it now is.
    pub vault: Vault,
    /// Whether the write created it.
    pub created: bool,
}

impl VaultService {
    /// Stores a new revision. Exactly one of several writers expecting the same revision wins;
    /// the others get `PreconditionFailed` and their uploads are deleted.
    pub async fn write<S, E>(&self, w: VaultWrite<S>) -> Result<Written, ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<BoxError>,
    {
        check_opaque("iv", &w.iv)?;
        check_opaque("salt", &w.salt)?;
        if w.version < 1 {
            return Err(ServiceError::invalid("version", "must be at least 1"));
        }
        let size_limit = if w.inline { self.limits.max_json_bytes } else { self.limits.max_vault_bytes };
        let inline_max = self.limits.inline_bytes.min(MAX_INLINE_BYTES);
        let inline_len = w.declared_len.filter(|&len| len <= inline_max);
        // A body small enough for the database is held to the quota by the commit alone: the
        // early check only spares a large upload that could not commit.
        let limit = match inline_len {
            Some(_) => size_limit,
            None => self.room(w.user, &w.id, &w.precondition, size_limit).await?,
        };
        if let Some(len) = w.declared_len {
            if len > size_limit {
                return Err(ServiceError::TooLarge { limit: size_limit });
            }
            if len > limit {
                return Err(ServiceError::QuotaExceeded { what: "bytes" });
            }
        }

        let etag = new_etag();
        let key = object_key(w.user, &etag);
        let (content, inline) = match inline_len {
            // Small and of known length: kept in the database, committed in one transaction.
            Some(len) => {
                let (body, digest) = collect_small(w.body, len).await?;
                (content_of(body.len() as u64, digest, w.iv, w.salt, w.version), Some(body))
            }
            None => {
                let put = self.put_object(&key, w.body, limit, size_limit, w.user).await?;
                (content_of(put.size, put.digest.to_vec(), w.iv, w.salt, w.version), None)
            }
        };
        let kept_inline = inline.is_some();
        let mut rev = self.revision_of(w.user, w.id.as_str(), etag, content, &w.precondition);
        rev.inline = inline;
        let result = self.commit(&rev, &w.precondition).await;
        self.changes.committed(crate::store::Change::vault(w.user, w.id.as_str())).await;
        match &result {
            Ok(written) if written.vault.etag == rev.etag => {
                tracing::info!(user_id = %w.user, revision = written.vault.revision, size = rev.size, "vault written");
            }
            _ if kept_inline => {}
            _ => self.discard(&key).await,
        }
        result
    }

    /// Streams `body` to a new object at `key`, queued first so that a crash leaves a trace for
    /// the sweeper; at most `limit` bytes (less than `size_limit` when a byte quota is nearer).
    async fn put_object<S, E>(
        &self,
        key: &str,
        body: S,
        limit: u64,
        size_limit: u64,
        user: Uuid,
    ) -> Result<crate::store::PutOutcome, ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<BoxError>,
    {
        let started = Timestamp::now();
        self.store.begin_upload(key, user, started.plus(self.timing.upload_timeout)).await?;
        match self.blobs.put_stream(key, body, limit).await {
            Ok(put) => Ok(put),
            Err(err) => {
                self.discard(key).await;
                Err(match err {
                    BlobStoreError::TooLarge { .. } if limit < size_limit => {
                        ServiceError::QuotaExceeded { what: "bytes" }
                    }
                    other => other.into(),
                })
            }
        }
    }

    /// A revision of `vault_id` with `content` in the object named by `etag`, to commit now
    /// under `expect`: a create gets a new uid, a replace keeps history as configured.
    pub(super) fn revision_of(
        &self,
        user: Uuid,
        vault_id: &str,
        etag: String,
        content: Content,
        expect: &Precondition,
    ) -> NewRevision {
        let now = Timestamp::now();
        NewRevision {
            user_id: user,
            vault_id: vault_id.to_owned(),
            etag,
            version: content.version,
            size: content.size,
            sha256: content.sha256,
            iv: content.iv,
            salt: content.salt,
            now,
            old_object_delete_after: now.plus(self.timing.delete_grace),
            uid: Uuid::new_v4(),
            receipt: None,
            kind: if expect.creates() { ChangeKind::Create } else { ChangeKind::Replace },
            retention: self.timing.retention,
            inline: None,
        }
    }

    pub(super) async fn commit(
        &self,
        rev: &NewRevision,
        expect: &Precondition,
    ) -> Result<Written, ServiceError> {
        let lost = || ServiceError::Unavailable("the upload outlived BLINDVAULT_UPLOAD_TIMEOUT".into());
        let quota = self.quota_of(rev.user_id).await?;
        match expect {
            Precondition::Absent | Precondition::AbsentOrSame => {
                match self.store.commit_create(rev, &quota).await? {
                    CreateOutcome::Created(vault) => Ok(Written { vault, created: true }),
                    CreateOutcome::Exists(vault) if *expect == Precondition::Absent => {
                        Err(ServiceError::PreconditionFailed { current: Some(vault.etag) })
                    }
                    CreateOutcome::Exists(vault) if same_content(&vault, rev) => {
                        Ok(Written { vault, created: false })
                    }
                    CreateOutcome::Exists(_) => Err(ServiceError::VaultExists),
                    CreateOutcome::UploadLost => Err(lost()),
                    // The session went with the account after this request was let in.
                    CreateOutcome::UserGone => Err(ServiceError::TokenRevoked),
                    CreateOutcome::OverQuota(what) => Err(ServiceError::QuotaExceeded { what }),
                }
            }
            Precondition::Exists | Precondition::Etag(_) => {
                match self.store.commit_replace(rev, expect, &quota).await? {
                    ChangeOutcome::Done(Some(vault)) => Ok(Written { vault: *vault, created: false }),
                    ChangeOutcome::Done(None) => Err(ServiceError::internal("replace returned no revision")),
                    ChangeOutcome::Mismatch(current) => Err(ServiceError::PreconditionFailed { current }),
                    ChangeOutcome::UploadLost => Err(lost()),
                    ChangeOutcome::UserGone => Err(ServiceError::TokenRevoked),
                    ChangeOutcome::OverQuota(what) => Err(ServiceError::QuotaExceeded { what }),
                }
            }
        }
    }

    /// The most bytes this write may store: the size limit, or less when a byte quota is
    /// nearer. A create past the vault-count quota is refused here.
    pub(super) async fn room(
        &self,
        user: Uuid,
        id: &VaultId,
        expect: &Precondition,
        size_limit: u64,
    ) -> Result<u64, ServiceError> {
        let quota = self.quota_of(user).await?;
        if !quota.is_limited() {
            return Ok(size_limit);
        }
        let usage = self.store.usage(user).await?;
        let existing = self.store.vault(user, id.as_str()).await?;
        let creates = expect.creates();
        // Open uploads hold their reservations: this write gets what is left beside them.
        if let (Some(max), None, true) = (quota.vaults, &existing, creates)
            && (usage.vaults + usage.reserved_vaults) as u64 >= max
        {
            return Err(ServiceError::QuotaExceeded { what: "vaults" });
        }
        let Some(quota) = quota.bytes else { return Ok(size_limit) };
        let freed = match creates {
            false => existing.map_or(0, |v| v.size as u64),
            true => 0,
        };
        let held = usage.held_bytes().max(0) as u64;
        let room = quota.saturating_sub(held).saturating_add(freed);
        Ok(room.min(size_limit))
    }

    /// Deletes an upload that will not commit; if that fails, the sweeper finds it later.
    pub(super) async fn discard(&self, key: &str) {
        match self.blobs.delete(key).await {
            Ok(()) => {
                if let Err(e) = self.store.forget_object(key).await {
                    tracing::warn!(error = %e, "discarded upload stays queued for the sweeper");
                }
            }
            Err(e) => tracing::warn!(error = %e, "discarding an upload failed; the sweeper will retry"),
        }
    }
}

fn content_of(size: u64, digest: Vec<u8>, iv: Vec<u8>, salt: Vec<u8>, version: i64) -> Content {
    Content { version, size: size as i64, sha256: digest, iv, salt }
}

/// The whole of a body that declared `len` bytes, and its digest: more is refused, as a
/// stream upload would.
async fn collect_small<S, E>(body: S, len: u64) -> Result<(Bytes, Vec<u8>), ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let (mut meter, mut out) = (Meter::new(len), bytes::BytesMut::with_capacity(len as usize));
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&meter.take(chunk)?);
    }
    Ok((out.freeze(), meter.finish().digest.to_vec()))
}

fn same_content(vault: &Vault, rev: &NewRevision) -> bool {
    vault.sha256 == rev.sha256
        && vault.size == rev.size
        && vault.iv == rev.iv
        && vault.salt == rev.salt
        && vault.version == rev.version
}

pub(super) fn check_opaque(field: &'static str, value: &[u8]) -> Result<(), ServiceError> {
    if (8..=64).contains(&value.len()) {
        Ok(())
    } else {
        Err(ServiceError::invalid(field, "must be 8 to 64 bytes"))
    }
}

/// 128 random bits, hex: the etag of a new revision and the name of its object.
pub(super) fn new_etag() -> String {
    rand::random::<[u8; 16]>().iter().map(|b| format!("{b:02x}")).collect()
}

/// How long the sweeper's lease on a queue entry lasts.
pub const SWEEP_LEASE: Duration = Duration::from_secs(300);
