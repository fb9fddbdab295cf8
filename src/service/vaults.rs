//! Vaults: reads, listing, deletion and account erasure. Writes are in `vault_write.rs`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

use super::{Changes, ServiceError};
use crate::domain::{ByteRange, Precondition, Retention, Timestamp, Vault, VaultId};
use crate::store::{
    BlobRead, BlobStore, BlobStoreError, Change, ChangeOutcome, MAX_CACHED_BODY, VaultStore, user_prefix,
};

/// A vault's ciphertext as [`VaultService::bytes`] hands it out.
pub enum Ciphertext {
    /// In memory already (a small body): answered as one buffer of known length.
    Whole(Bytes),
    /// Streamed from storage in bounded chunks.
    Stream(BoxStream<'static, Result<Bytes, BlobStoreError>>),
}

impl Ciphertext {
    /// As a stream, whichever it is.
    pub fn into_stream(self) -> BoxStream<'static, Result<Bytes, BlobStoreError>> {
        match self {
            Self::Whole(bytes) => futures::stream::once(async move { Ok(bytes) }).boxed(),
            Self::Stream(stream) => stream,
        }
    }
}

/// The most `inline_bytes` may be: bodies kept in the database are read whole into memory.
pub const MAX_INLINE_BYTES: u64 = MAX_CACHED_BODY as u64;

/// Size limits and quotas.
#[derive(Debug, Clone, Copy)]
pub struct VaultLimits {
    /// Largest vault written or read inline as JSON.
    pub max_json_bytes: u64,
    /// Largest vault at all.
    pub max_vault_bytes: u64,
    /// Largest body written with a known length that is kept in the database rather than the
    /// object store (0: none).
    pub inline_bytes: u64,
    /// Most ciphertext bytes per user, if limited.
    pub quota_bytes: Option<u64>,
    /// Most vaults per user, if limited.
    pub quota_vaults: Option<u64>,
}

impl VaultLimits {
    /// The per-user quota, as the store checks it inside each commit.
    pub fn quota(&self) -> crate::store::Quota {
        crate::store::Quota { bytes: self.quota_bytes, vaults: self.quota_vaults }
    }
}

/// How long objects wait before deletion.
#[derive(Debug, Clone, Copy)]
pub struct VaultTiming {
    /// A replaced or deleted revision's object is kept this long for readers still streaming it.
    pub delete_grace: Duration,
    /// An upload that has not committed after this long is abandoned and swept.
    pub upload_timeout: Duration,
    /// Which earlier revisions are kept.
    pub retention: Retention,
    /// How long a deleted vault stays in the trash (zero: a delete purges at once).
    pub trash_for: Duration,
    /// How long a direct download's presigned URL is valid (`None`: direct downloads off).
    pub direct_url_ttl: Option<Duration>,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page {
    /// Vaults in id order.
    pub items: Vec<Vault>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Vault rules over a [`VaultStore`] and a [`BlobStore`]. Cheap to clone (shared handles).
#[derive(Clone)]
pub struct VaultService {
    pub(super) store: Arc<dyn VaultStore>,
    pub(super) blobs: BlobStore,
    pub(super) limits: VaultLimits,
    pub(super) timing: VaultTiming,
    pub(super) changes: Arc<Changes>,
}

impl VaultService {
    /// The service.
    pub fn new(
        store: Arc<dyn VaultStore>,
        blobs: BlobStore,
        limits: VaultLimits,
        timing: VaultTiming,
        changes: Arc<Changes>,
    ) -> Self {
        Self { store, blobs, limits, timing, changes }
    }

    /// The configured limits.
    pub fn limits(&self) -> VaultLimits {
        self.limits
    }

    /// The user's quota: the deployment's, or what an operator set for the account.
    pub async fn quota_of(&self, user: Uuid) -> Result<crate::store::Quota, ServiceError> {
        let load = async { Ok(Some(self.store.quota_of(user, &self.limits.quota()).await?)) };
        Ok(self.changes.caches().quota(user, load).await?.unwrap_or_else(|| self.limits.quota()))
    }

    /// What the user holds, as the quota counts it.
    pub async fn usage(&self, user: Uuid) -> Result<crate::store::Usage, ServiceError> {
        Ok(self.store.usage(user).await?)
    }

    /// The user's vault, or `NotFound` (also for another user's).
    pub async fn get(&self, user: Uuid, id: &VaultId) -> Result<Vault, ServiceError> {
        let load = self.store.vault(user, id.as_str());
        self.changes.caches().vault(user, id.as_str(), load).await?.ok_or(ServiceError::NotFound)
    }

    /// The ciphertext of a vault small enough for JSON; `None` when it is larger.
    pub async fn inline_body(&self, vault: &Vault) -> Result<Option<Bytes>, ServiceError> {
        if vault.size as u64 > self.limits.max_json_bytes {
            return Ok(None);
        }
        if vault.size as usize > MAX_CACHED_BODY {
            return self.read_whole(vault).await.map(Some);
        }
        let load = async {
            self.read_whole(vault).await.map_err(|e| crate::store::StoreError::Shared {
                unavailable: matches!(e, ServiceError::Unavailable(_)),
                message: e.to_string(),
            })
        };
        Ok(Some(self.changes.caches().body(&vault.etag, load).await?))
    }

    async fn read_whole(&self, vault: &Vault) -> Result<Bytes, ServiceError> {
        if vault.size == 0 {
            return Ok(Bytes::new());
        }
        let read = self.open(vault, None).await?;
        let parts: Vec<Bytes> = read.body.try_collect().await?;
        Ok(Bytes::from(parts.concat()))
    }

    /// A URL from which `vault`'s ciphertext can be fetched without credentials for a short
    /// while (the object of a revision is immutable): `None` when direct downloads are off or
    /// the object store cannot sign URLs (local files).
    pub async fn direct_url(&self, vault: &Vault) -> Result<Option<url::Url>, ServiceError> {
        let Some(ttl) = self.timing.direct_url_ttl else { return Ok(None) };
        let key = crate::store::object_key(vault.user_id, &vault.etag);
        if vault.size as u64 <= MAX_INLINE_BYTES && self.store.small_object(&key).await?.is_some() {
            return Ok(None);
        }
        Ok(self.blobs.presigned_get(&key, ttl).await?)
    }

    /// A vault's ciphertext, or the `range` of it (already checked against its size): whole from
    /// the body cache for a vault small enough to be cached, else streamed from storage.
    pub async fn bytes(&self, vault: &Vault, range: Option<ByteRange>) -> Result<Ciphertext, ServiceError> {
        if vault.size as usize <= MAX_CACHED_BODY
            && let Some(body) = self.inline_body(vault).await?
        {
            return Ok(Ciphertext::Whole(match range {
                Some(r) => body.slice(r.start as usize..r.end as usize),
                None => body,
            }));
        }
        Ok(Ciphertext::Stream(self.open(vault, range).await?.body))
    }

    /// Streams a vault's ciphertext, or the `range` of it (already checked against its size).
    /// A revision whose object is already gone was read from stale metadata (replaced longer
    /// than the grace period ago): the entry is dropped and the client asked to retry.
    pub async fn open(&self, vault: &Vault, range: Option<ByteRange>) -> Result<BlobRead, ServiceError> {
        let key = crate::store::object_key(vault.user_id, &vault.etag);
        if vault.size as u64 <= MAX_INLINE_BYTES
            && let Some(body) = self.store.small_object(&key).await?
        {
            return Ok(BlobRead::whole_or_range(body, range));
        }
        match self.blobs.get(&key, range).await {
            Ok(read) => Ok(read),
            Err(BlobStoreError::NotFound) => {
                self.changes.caches().apply(&Change::vault(vault.user_id, &vault.vault_id)).await;
                Err(ServiceError::Unavailable("the vault changed while it was read; retry".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A page of the user's vaults after `cursor`.
    pub async fn list(&self, user: Uuid, cursor: Option<&str>, limit: u32) -> Result<Page, ServiceError> {
        if !(1..=1000).contains(&limit) {
            return Err(ServiceError::invalid("limit", "must be between 1 and 1000"));
        }
        let after = match cursor {
            None => String::new(),
            Some(c) => decode_cursor(c)?,
        };
        let mut items = self.store.list_vaults(user, &after, i64::from(limit) + 1).await?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|v| encode_cursor(&v.vault_id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Deletes a vault if it is at the expected revision: into the trash, or where there is
    /// none, for good (its objects go after the grace period).
    pub async fn delete(&self, user: Uuid, id: &VaultId, expect: &Precondition) -> Result<(), ServiceError> {
        let now = Timestamp::now();
        let trash_until = (!self.timing.trash_for.is_zero()).then(|| now.plus(self.timing.trash_for));
        let delete_after = now.plus(self.timing.delete_grace);
        let outcome =
            self.store.delete_vault(user, id.as_str(), expect, now, trash_until, delete_after).await;
        self.changes.committed(Change::vault(user, id.as_str())).await;
        match outcome? {
            ChangeOutcome::Done(_) => Ok(()),
            ChangeOutcome::Mismatch(None) => Err(ServiceError::NotFound),
            ChangeOutcome::Mismatch(current) => Err(ServiceError::PreconditionFailed { current }),
            ChangeOutcome::UploadLost | ChangeOutcome::UserGone | ChangeOutcome::OverQuota(_) => {
                Err(ServiceError::internal("a delete reported a write's outcome"))
            }
        }
    }

    /// Erases the user: account, sessions, vault metadata, and every stored object. Objects
    /// that cannot be deleted now stay queued for the sweeper.
    pub async fn delete_account(&self, user: Uuid) -> Result<(), ServiceError> {
        let (keys, uploads) = self.store.delete_account(user, Timestamp::now()).await?;
        self.changes.announce(Change::User(user)).await;
        // Unfinished uploads first: their spools, multipart parts and tails live outside the
        // user's prefix, and nothing else would ever find them once their rows are gone.
        for upload in &uploads {
            self.release_parts(upload).await;
        }
        let strays = self.blobs.list(&user_prefix(user)).await.unwrap_or_default();
        let mut left = 0usize;
        for key in keys.iter().chain(strays.iter()) {
            match self.blobs.delete(key).await {
                Ok(()) => self.store.forget_object(key).await?,
                Err(e) => {
                    left += 1;
                    tracing::warn!(error = %e, "object of a deleted account left for the sweeper");
                }
            }
        }
        tracing::info!(user_id = %user, objects = keys.len(), uploads = uploads.len(), left, "account deleted");
        Ok(())
    }
}

/// The opaque `next_cursor` that continues a listing after vault `id`.
pub fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// The vault id a cursor from [`encode_cursor`] continues after; anything else is a 400.
pub fn decode_cursor(cursor: &str) -> Result<String, ServiceError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .filter(|id| VaultId::parse(id).is_ok())
        .ok_or_else(|| ServiceError::invalid("cursor", "is not a cursor this server issued"))
}
