//! The trash: a deleted vault's row moves here with its history until it is restored,
//! purged, or expires.

use sqlx::Pool;
use uuid::Uuid;

use super::changes::append_change;
use super::shared::{enqueue_object, lock_user, over_quota, select_vault};
use super::{Arg, Columns, Engine, rows, sql};
use crate::domain::{ChangeKind, NewChange, Timestamp, TrashEntry, Vault};
use crate::store::{Quota, StoreError, TrashCursor, UntrashOutcome, object_key};

/// In a delete's transaction: puts the deleted `vault` (with what its history holds) in the
/// trash until `expires_at`.
pub(super) async fn bury<DB: Engine>(
    conn: &mut DB::Connection,
    vault: &Vault,
    (history_bytes, history_count): (i64, i64),
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    sql::<DB>(
        "INSERT INTO trash (id, user_id, vault_id, etag, revision, version, size, sha256, iv, salt, receipt, \
         written_as, rename_receipt, history_bytes, history_count, created_at, updated_at, deleted_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
    )
    .arg(vault.uid)
    .arg(vault.user_id)
    .arg(vault.vault_id.as_str())
    .arg(vault.etag.as_str())
    .arg(vault.revision)
    .arg(vault.version)
    .arg(vault.size)
    .arg(vault.sha256.as_slice())
    .arg(vault.iv.as_slice())
    .arg(vault.salt.as_slice())
    .arg(vault.receipt.clone())
    .arg(vault.written_as.clone())
    .arg(vault.rename_receipt.clone())
    .arg(history_bytes)
    .arg(history_count)
    .arg(vault.created_at)
    .arg(vault.updated_at)
    .arg(now)
    .arg(expires_at)
    .execute(DB::on(conn))
    .await?;
    Ok(())
}

/// In a transaction: forgets vault `uid`'s earlier revisions and queues their objects, and the
/// object of its last revision `etag`, for deletion after `delete_after`.
pub(super) async fn purge_uid<DB: Engine>(
    conn: &mut DB::Connection,
    user: Uuid,
    uid: Uuid,
    etag: &str,
    delete_after: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut etags = sql::<DB>("DELETE FROM vault_revisions WHERE uid = $1 RETURNING etag")
        .arg(uid)
        .try_map(|row: DB::Row| row.text("etag"))
        .fetch_all(DB::on(conn))
        .await?;
    etags.push(etag.to_owned());
    for etag in &etags {
        enqueue_object::<DB>(conn, &object_key(user, etag), user, delete_after, now).await?;
    }
    Ok(())
}

pub(super) async fn list<DB: Engine>(
    pool: &Pool<DB>,
    user: Uuid,
    after: Option<TrashCursor>,
    limit: i64,
) -> Result<Vec<TrashEntry>, StoreError> {
    // Newest first; the cursor is the last entry shown (a time no entry has, before the first).
    let (at, id) = after.unwrap_or((Timestamp::from_unix_millis(253_402_300_799_000), Uuid::max()));
    Ok(sql::<DB>(
        "SELECT * FROM trash WHERE user_id = $1 AND (deleted_at < $2 OR (deleted_at = $2 AND id < $3)) \
         ORDER BY deleted_at DESC, id DESC LIMIT $4",
    )
    .arg(user)
    .arg(at)
    .arg(id)
    .arg(limit)
    .try_map(rows::trash_entry)
    .fetch_all(DB::pooled(pool))
    .await?)
}

pub(super) async fn untrash<DB: Engine>(
    pool: &Pool<DB>,
    user: Uuid,
    trash_id: Uuid,
    vault_id: Option<&str>,
    receipt: Option<Vec<u8>>,
    quota: &Quota,
    now: Timestamp,
) -> Result<UntrashOutcome, StoreError> {
    let mut tx = pool.begin().await?;
    if !lock_user::<DB>(&mut tx, user, quota).await? {
        return Ok(UntrashOutcome::NotFound);
    }
    let entry = sql::<DB>("DELETE FROM trash WHERE id = $1 AND user_id = $2 RETURNING *")
        .arg(trash_id)
        .arg(user)
        .try_map(rows::trash_entry)
        .fetch_optional(DB::on(&mut tx))
        .await?;
    let Some(entry) = entry else { return Ok(UntrashOutcome::NotFound) };
    let v = &entry.vault;
    let vault_id = vault_id.unwrap_or(&v.vault_id);
    // Under another id, the ciphertext stays bound to the id it was written under.
    let renamed = v.vault_id != vault_id;
    let written_as = match renamed {
        true => Some(v.written_as.clone().unwrap_or_else(|| v.vault_id.clone())),
        false => v.written_as.clone(),
    };
    let rename_receipt = if renamed { receipt } else { v.rename_receipt.clone() };
    let restored = sql::<DB>(
        "INSERT INTO vaults (user_id, vault_id, etag, revision, version, size, sha256, iv, salt, receipt, \
         written_as, rename_receipt, history_bytes, history_count, created_at, updated_at, uid) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (user_id, vault_id) DO NOTHING RETURNING *",
    )
    .arg(user)
    .arg(vault_id)
    .arg(v.etag.as_str())
    .arg(v.revision)
    .arg(v.version)
    .arg(v.size)
    .arg(v.sha256.as_slice())
    .arg(v.iv.as_slice())
    .arg(v.salt.as_slice())
    .arg(v.receipt.clone())
    .arg(written_as)
    .arg(rename_receipt.clone())
    .arg(entry.history_bytes)
    .arg(entry.history_count)
    .arg(v.created_at)
    .arg(v.updated_at)
    .arg(v.uid)
    .try_map(rows::vault)
    .fetch_optional(DB::on(&mut tx))
    .await?;
    let Some(vault) = restored else {
        let taken = select_vault::<DB>(&mut tx, user, vault_id).await?;
        return Ok(match taken {
            Some(live) => UntrashOutcome::Taken(live.etag),
            None => UntrashOutcome::NotFound,
        });
    };
    if renamed {
        sql::<DB>(
            "UPDATE vault_revisions SET written_as = $2, rename_receipt = $3 WHERE uid = $1 AND written_as IS NULL",
        )
        .arg(v.uid)
        .arg(v.vault_id.as_str())
        .arg(rename_receipt)
            .execute(DB::on(&mut tx))
            .await?;
    }
    if let Some(limit) = over_quota::<DB>(&mut tx, user, quota, "", now).await? {
        return Ok(UntrashOutcome::OverQuota(limit));
    }
    let mut change = NewChange::of(ChangeKind::Untrash, &vault);
    change.trash_id = Some(trash_id);
    append_change::<DB>(&mut tx, user, &change, now).await?;
    tx.commit().await?;
    Ok(UntrashOutcome::Restored(Box::new(vault)))
}

pub(super) async fn purge<DB: Engine>(
    pool: &Pool<DB>,
    user: Uuid,
    trash_id: Uuid,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    if !lock_user::<DB>(&mut tx, user, &Quota::default()).await? {
        return Ok(false);
    }
    let purged = purge_entry::<DB>(&mut tx, user, trash_id, now).await?;
    tx.commit().await?;
    Ok(purged)
}

/// In a transaction holding the user's row: removes trash entry `trash_id` with its history,
/// queues their objects for deletion now and logs the purge. False when there is none.
async fn purge_entry<DB: Engine>(
    conn: &mut DB::Connection,
    user: Uuid,
    trash_id: Uuid,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let entry = sql::<DB>("DELETE FROM trash WHERE id = $1 AND user_id = $2 RETURNING *")
        .arg(trash_id)
        .arg(user)
        .try_map(rows::trash_entry)
        .fetch_optional(DB::on(conn))
        .await?;
    let Some(entry) = entry else { return Ok(false) };
    purge_uid::<DB>(conn, user, trash_id, &entry.vault.etag, now, now).await?;
    let change = NewChange {
        kind: ChangeKind::Purge,
        vault_id: entry.vault.vault_id.clone(),
        revision: Some(entry.vault.revision),
        etag: Some(entry.vault.etag.clone()),
        trash_id: Some(trash_id),
    };
    append_change::<DB>(conn, user, &change, now).await?;
    Ok(true)
}

pub(super) async fn purge_expired<DB: Engine>(
    pool: &Pool<DB>,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<Uuid>, StoreError> {
    let due = sql::<DB>("SELECT id, user_id FROM trash WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2")
        .arg(now)
        .arg(limit)
        .try_map(|row: DB::Row| Ok((row.uuid("id")?, row.uuid("user_id")?)))
        .fetch_all(DB::pooled(pool))
        .await?;
    let mut purged = Vec::new();
    // One transaction per entry, each taking its user's row first like any other change.
    for (id, user) in due {
        let mut tx = pool.begin().await?;
        if lock_user::<DB>(&mut tx, user, &Quota::default()).await?
            && purge_entry::<DB>(&mut tx, user, id, now).await?
        {
            tx.commit().await?;
            purged.push(user);
        }
    }
    Ok(purged)
}
