//! Keeping the revision a replace supersedes, and the count window that drops earlier ones.

use super::shared::enqueue_object;
use super::{Arg, Columns, Engine, sql};
use crate::domain::{Retention, Vault};
use crate::store::{NewRevision, StoreError, object_key};

/// In a replace's transaction, after the vault row moved on from `old`: keeps `old` as an
/// earlier revision, and drops those that leave the count window and are past the age rule
/// (their objects are queued for deletion after the grace period). Touches only the rows
/// leaving the window, so its cost does not grow with the history kept.
pub(super) async fn keep_replaced<DB: Engine>(
    conn: &mut DB::Connection,
    old: &Vault,
    rev: &NewRevision,
) -> Result<(), StoreError> {
    if rev.retention == Retention::NONE {
        let key = object_key(rev.user_id, &old.etag);
        return enqueue_object::<DB>(conn, &key, rev.user_id, rev.old_object_delete_after, rev.now).await;
    }
    sql::<DB>(
        "INSERT INTO vault_revisions (uid, revision, user_id, etag, version, size, sha256, iv, salt, \
         receipt, written_as, rename_receipt, created_at, replaced_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .arg(old.uid)
    .arg(old.revision)
    .arg(old.user_id)
    .arg(old.etag.as_str())
    .arg(old.version)
    .arg(old.size)
    .arg(old.sha256.as_slice())
    .arg(old.iv.as_slice())
    .arg(old.salt.as_slice())
    .arg(old.receipt.clone())
    .arg(old.written_as.clone())
    .arg(old.rename_receipt.clone())
    .arg(old.updated_at)
    .arg(rev.now)
    .execute(DB::on(conn))
    .await?;
    let floor = rev.retention.window_floor(old.revision + 1);
    let dropped = sql::<DB>(
        "DELETE FROM vault_revisions WHERE uid = $1 AND in_window AND revision <= $2 AND replaced_at <= $3 \
         RETURNING etag, size",
    )
    .arg(old.uid)
    .arg(floor)
    .arg(rev.now.minus(rev.retention.keep_for))
    .try_map(|row: DB::Row| Ok((row.text("etag")?, row.int("size")?)))
    .fetch_all(DB::on(conn))
    .await?;
    for (etag, _) in &dropped {
        let key = object_key(rev.user_id, etag);
        enqueue_object::<DB>(conn, &key, rev.user_id, rev.old_object_delete_after, rev.now).await?;
    }
    sql::<DB>("UPDATE vault_revisions SET in_window = FALSE WHERE uid = $1 AND in_window AND revision <= $2")
        .arg(old.uid)
        .arg(floor)
        .execute(DB::on(conn))
        .await?;
    let dropped_bytes: i64 = dropped.iter().map(|(_, size)| size).sum();
    sql::<DB>(
        "UPDATE vaults SET history_bytes = history_bytes + $2, history_count = history_count + $3 \
         WHERE uid = $1",
    )
    .arg(old.uid)
    .arg(old.size - dropped_bytes)
    .arg(1 - dropped.len() as i64)
    .execute(DB::on(conn))
    .await?;
    Ok(())
}
