//! Vault writes: stream to a fresh object, then compare-and-swap the metadata in one
//! transaction. A failure anywhere leaves the vault at its previous revision.

use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use uuid::Uuid;

use super::ServiceError;
use super::vaults::VaultService;
use crate::domain::{BoxError, ChangeKind, Precondition, Timestamp, Vault, VaultId};
use crate::store::{BlobStoreError, ChangeOutcome, CreateOutcome, NewRevision, object_key};

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
        let limit = self.room(w.user, &w.id, &w.precondition, size_limit).await?;
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
        let started = Timestamp::now();
        self.store.begin_upload(&key, w.user, started.plus(self.timing.upload_timeout)).await?;
        let put = match self.blobs.put_stream(&key, w.body, limit).await {
            Ok(put) => put,
            Err(err) => {
                self.discard(&key).await;
                return Err(match err {
                    BlobStoreError::TooLarge { .. } if limit < size_limit => {
                        ServiceError::QuotaExceeded { what: "bytes" }
                    }
                    other => other.into(),
                });
            }
        };
        let body = Content {
            version: w.version,
            size: put.size as i64,
            sha256: put.sha256.to_vec(),
            iv: w.iv,
            salt: w.salt,
        };
        let rev = self.revision_of(w.user, w.id.as_str(), etag, body, &w.precondition);
        let result = self.commit(&rev, &w.precondition).await;
        self.changes.announce(super::vaults::vault_change(w.user, w.id.as_str())).await;
        match &result {
            Ok(written) if written.vault.etag == rev.etag => {
                tracing::info!(user_id = %w.user, revision = written.vault.revision, size = rev.size, "vault written");
            }
            _ => self.discard(&key).await,
        }
        result
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
        }
    }

    pub(super) async fn commit(
        &self,
        rev: &NewRevision,
        expect: &Precondition,
    ) -> Result<Written, ServiceError> {
        let lost = || ServiceError::Unavailable("the upload outlived BLINDVAULT_UPLOAD_TIMEOUT".into());
        let quota = self.limits.quota();
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
        if self.limits.quota_bytes.is_none() && self.limits.quota_vaults.is_none() {
            return Ok(size_limit);
        }
        let usage = self.store.usage(user).await?;
        let existing = self.store.vault(user, id.as_str()).await?;
        let creates = expect.creates();
        // Open uploads hold their reservations: this write gets what is left beside them.
        if let (Some(max), None, true) = (self.limits.quota_vaults, &existing, creates)
            && (usage.vaults + usage.reserved_vaults) as u64 >= max
        {
            return Err(ServiceError::QuotaExceeded { what: "vaults" });
        }
        let Some(quota) = self.limits.quota_bytes else { return Ok(size_limit) };
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
