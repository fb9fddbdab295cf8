//! Earlier revisions: listing, reading, and restoring one as a new revision, which is a
//! compare-and-swap like any write, with the bytes copied inside the object store.

use uuid::Uuid;

use super::ServiceError;
use super::vault_write::{Content, Written, check_opaque, new_etag};
use super::vaults::{MAX_INLINE_BYTES, VaultService};
use crate::domain::{ChangeKind, Precondition, Timestamp, Vault, VaultId};
use crate::store::{BlobStoreError, object_key};

/// One page of a vault's revisions.
#[derive(Debug, Clone)]
pub struct RevisionPage {
    /// Newest first; the first item of the first page is the current revision.
    pub items: Vec<Vault>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl VaultService {
    /// A page of the vault's revisions, newest first, after `cursor`.
    pub async fn revisions(
        &self,
        user: Uuid,
        id: &VaultId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<RevisionPage, ServiceError> {
        if !(1..=1000).contains(&limit) {
            return Err(ServiceError::invalid("limit", "must be between 1 and 1000"));
        }
        let before = match cursor {
            None => None,
            Some(c) => Some(
                c.parse::<i64>()
                    .ok()
                    .filter(|r| *r >= 1)
                    .ok_or_else(|| ServiceError::invalid("cursor", "is not a cursor this server issued"))?,
            ),
        };
        let found = self.store.revisions(user, id.as_str(), before, i64::from(limit) + 1).await?;
        let mut items = found.ok_or(ServiceError::NotFound)?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|v| v.revision.to_string())
        } else {
            None
        };
        Ok(RevisionPage { items, next_cursor })
    }

    /// Revision `revision` of the vault: the current one or a retained earlier one.
    pub async fn revision(&self, user: Uuid, id: &VaultId, revision: i64) -> Result<Vault, ServiceError> {
        self.store.revision(user, id.as_str(), revision).await?.ok_or(ServiceError::NotFound)
    }

    /// Makes revision `revision`'s content the vault's newest revision, if the vault is as
    /// `expect` requires: a new revision with a new etag, whose object is a copy made inside
    /// the object store. `receipt`, opaque to the server, is kept with it.
    pub async fn restore(
        &self,
        user: Uuid,
        id: &VaultId,
        revision: i64,
        expect: &Precondition,
        receipt: Option<Vec<u8>>,
    ) -> Result<Written, ServiceError> {
        if expect.creates() {
            return Err(ServiceError::invalid("If-Match", "a restore replaces the vault: send If-Match"));
        }
        if let Some(receipt) = &receipt {
            check_opaque("receipt", receipt)?;
        }
        let source = self.revision(user, id, revision).await?;
        // Not worth a copy when the vault has moved on already (the commit decides anyway).
        let current = self.store.vault(user, id.as_str()).await?.map(|v| v.etag);
        if !expect.admits(current.as_deref()) {
            return Err(ServiceError::PreconditionFailed { current });
        }
        let room = self.room(user, id, expect, self.limits.max_vault_bytes).await?;
        if source.size as u64 > room {
            return Err(ServiceError::QuotaExceeded { what: "bytes" });
        }
        let etag = new_etag();
        let key = object_key(user, &etag);
        let from = object_key(user, &source.etag);
        // A body kept in the database is copied with the commit; an object, before it.
        let inline = match source.size as u64 <= MAX_INLINE_BYTES {
            true => self.store.small_object(&from).await?,
            false => None,
        };
        if inline.is_none() {
            self.store.begin_upload(&key, user, Timestamp::now().plus(self.timing.upload_timeout)).await?;
            if let Err(err) = self.blobs.copy(&from, &key, source.size as u64).await {
                self.discard(&key).await;
                return Err(match err {
                    // Dropped by retention since it was read.
                    BlobStoreError::NotFound => ServiceError::NotFound,
                    other => other.into(),
                });
            }
        }
        let kept_inline = inline.is_some();
        let content = Content {
            version: source.version,
            size: source.size,
            sha256: source.sha256,
            iv: source.iv,
            salt: source.salt,
        };
        let mut rev = self.revision_of(user, id.as_str(), etag, content, expect);
        rev.kind = ChangeKind::Restore;
        rev.receipt = receipt;
        rev.inline = inline;
        let result = self.commit(&rev, expect).await;
        self.changes.committed(crate::store::Change::vault(user, id.as_str())).await;
        match &result {
            Ok(written) if written.vault.etag == rev.etag => {
                tracing::info!(user_id = %user, revision = written.vault.revision, from = revision, "revision restored");
            }
            _ if kept_inline => {}
            _ => self.discard(&key).await,
        }
        result
    }
}
