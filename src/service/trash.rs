//! The trash: listing, bringing a vault back (under its id or another), purging.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use super::ServiceError;
use super::VaultService;
use super::vault_write::check_opaque;
use crate::domain::{Timestamp, TrashEntry, Vault, VaultId};
use crate::store::{Change, TrashCursor, UntrashOutcome};

/// One page of the trash.
#[derive(Debug, Clone)]
pub struct TrashPage {
    /// Newest first.
    pub items: Vec<TrashEntry>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl VaultService {
    /// A page of the user's trash, newest first, after `cursor`.
    pub async fn trash(
        &self,
        user: Uuid,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<TrashPage, ServiceError> {
        if !(1..=1000).contains(&limit) {
            return Err(ServiceError::invalid("limit", "must be between 1 and 1000"));
        }
        let after = cursor.map(decode_trash_cursor).transpose()?;
        let mut items = self.store.trash(user, after, i64::from(limit) + 1).await?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|e| encode_trash_cursor((e.deleted_at, e.id)))
        } else {
            None
        };
        Ok(TrashPage { items, next_cursor })
    }

    /// Brings trash entry `trash_id` back as a live vault, under `as_id` or its own id, with
    /// its history. `receipt` (opaque) is kept with it when the id is another.
    pub async fn untrash(
        &self,
        user: Uuid,
        trash_id: Uuid,
        as_id: Option<VaultId>,
        receipt: Option<Vec<u8>>,
    ) -> Result<Vault, ServiceError> {
        if let Some(receipt) = &receipt {
            check_opaque("receipt", receipt)?;
        }
        let quota = self.quota_of(user).await?;
        let as_id = as_id.as_ref().map(VaultId::as_str);
        let outcome = self.store.untrash(user, trash_id, as_id, receipt, &quota, Timestamp::now()).await?;
        match outcome {
            UntrashOutcome::Restored(vault) => {
                self.changes.announce(Change::vault(user, &vault.vault_id)).await;
                tracing::info!(user_id = %user, revision = vault.revision, "vault restored from the trash");
                Ok(*vault)
            }
            UntrashOutcome::Taken(current) => Err(ServiceError::VaultIdTaken { current }),
            UntrashOutcome::NotFound => Err(ServiceError::NotFound),
            UntrashOutcome::OverQuota(what) => Err(ServiceError::QuotaExceeded { what }),
        }
    }

    /// Purges trash entry `trash_id` and its history now.
    pub async fn purge(&self, user: Uuid, trash_id: Uuid) -> Result<(), ServiceError> {
        if !self.store.purge(user, trash_id, Timestamp::now()).await? {
            return Err(ServiceError::NotFound);
        }
        self.changes.announce(Change::Feed(user)).await;
        tracing::info!(user_id = %user, "trash entry purged");
        Ok(())
    }
}

/// The opaque cursor that continues a listing of the trash after an entry.
fn encode_trash_cursor((at, id): TrashCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", at.unix_millis(), id.simple()))
}

fn decode_trash_cursor(cursor: &str) -> Result<TrashCursor, ServiceError> {
    let invalid = || ServiceError::invalid("cursor", "is not a cursor this server issued");
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let (at, id) = text.split_once('.').ok_or_else(invalid)?;
    let at = at.parse::<i64>().map_err(|_| invalid())?;
    Ok((Timestamp::from_unix_millis(at), Uuid::parse_str(id).map_err(|_| invalid())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trash_cursors_round_trip_and_refuse_others() {
        let cursor = (Timestamp::from_unix_millis(1_764_000_000_123), Uuid::new_v4());
        assert_eq!(decode_trash_cursor(&encode_trash_cursor(cursor)).unwrap(), cursor);
        for bad in ["", "x", "bWFpbg", &URL_SAFE_NO_PAD.encode("12.not-a-uuid")] {
            assert!(decode_trash_cursor(bad).is_err(), "{bad}");
        }
    }
}
