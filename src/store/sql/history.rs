//! Earlier revisions, the trash and the change log: the [`HistoryStore`] implementation. It
//! reads and ages out earlier revisions itself (a replace keeps them: `retention.rs`) and hands
//! the trash and the change log to `trash.rs` and `changes.rs`.

use async_trait::async_trait;
use uuid::Uuid;

use super::shared::{enqueue_object, select_vault};
use super::{Arg, Columns, Engine, SqlStore, changes, rows, sql, trash};
use crate::domain::{ChangesSince, Timestamp, TrashEntry, Vault};
use crate::store::{HistoryStore, Quota, StoreError, TrashCursor, UntrashOutcome, object_key};

#[async_trait]
impl<DB: Engine> HistoryStore for SqlStore<DB> {
    async fn revisions(
        &self,
        user: Uuid,
        vault_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Option<Vec<Vault>>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let Some(current) = select_vault::<DB>(&mut conn, user, vault_id).await? else { return Ok(None) };
        let before = before.unwrap_or(i64::MAX);
        let mut items = Vec::new();
        if current.revision < before {
            items.push(current.clone());
        }
        let earlier = sql::<DB>(
            "SELECT * FROM vault_revisions WHERE uid = $1 AND revision < $2 ORDER BY revision DESC LIMIT $3",
        )
        .arg(current.uid)
        .arg(before.min(current.revision))
        .arg(limit - items.len() as i64)
        .try_map(|row: DB::Row| rows::earlier_revision(row, &current))
        .fetch_all(DB::on(&mut conn))
        .await?;
        items.extend(earlier);
        Ok(Some(items))
    }

    async fn revision(&self, user: Uuid, vault_id: &str, revision: i64) -> Result<Option<Vault>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let Some(current) = select_vault::<DB>(&mut conn, user, vault_id).await? else { return Ok(None) };
        if current.revision == revision {
            return Ok(Some(current));
        }
        Ok(sql::<DB>("SELECT * FROM vault_revisions WHERE uid = $1 AND revision = $2")
            .arg(current.uid)
            .arg(revision)
            .try_map(|row: DB::Row| rows::earlier_revision(row, &current))
            .fetch_optional(DB::on(&mut conn))
            .await?)
    }

    async fn trash(
        &self,
        user: Uuid,
        after: Option<TrashCursor>,
        limit: i64,
    ) -> Result<Vec<TrashEntry>, StoreError> {
        trash::list::<DB>(&self.pool, user, after, limit).await
    }

    async fn untrash(
        &self,
        user: Uuid,
        trash_id: Uuid,
        vault_id: Option<&str>,
        receipt: Option<Vec<u8>>,
        quota: &Quota,
        now: Timestamp,
    ) -> Result<UntrashOutcome, StoreError> {
        trash::untrash::<DB>(&self.pool, user, trash_id, vault_id, receipt, quota, now).await
    }

    async fn purge(&self, user: Uuid, trash_id: Uuid, now: Timestamp) -> Result<bool, StoreError> {
        trash::purge::<DB>(&self.pool, user, trash_id, now).await
    }

    async fn changes_since(&self, user: Uuid, since: i64, limit: i64) -> Result<ChangesSince, StoreError> {
        changes::since::<DB>(&self.pool, user, since, limit).await
    }

    async fn change_head(&self, user: Uuid) -> Result<i64, StoreError> {
        changes::head::<DB>(&self.pool, user).await
    }

    async fn drop_expired_revisions(
        &self,
        replaced_before: Timestamp,
        delete_after: Timestamp,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !DB::try_sweep_lock(&mut tx).await? {
            return Ok(0);
        }
        let dropped = sql::<DB>(
            "DELETE FROM vault_revisions WHERE (uid, revision) IN (SELECT uid, revision FROM vault_revisions \
             WHERE NOT in_window AND replaced_at <= $1 ORDER BY replaced_at LIMIT $2) \
             RETURNING uid, user_id, etag, size",
        )
        .arg(replaced_before)
        .arg(limit)
        .try_map(|row: DB::Row| {
            Ok((row.uuid("uid")?, row.uuid("user_id")?, row.text("etag")?, row.int("size")?))
        })
        .fetch_all(DB::on(&mut tx))
        .await?;
        let now = Timestamp::now();
        for (uid, user, etag, size) in &dropped {
            enqueue_object::<DB>(&mut tx, &object_key(*user, etag), *user, delete_after, now).await?;
            for statement in [
                "UPDATE vaults SET history_bytes = history_bytes - $2, history_count = history_count - 1 \
                 WHERE uid = $1",
                "UPDATE trash SET history_bytes = history_bytes - $2, history_count = history_count - 1 \
                 WHERE id = $1",
            ] {
                sql::<DB>(statement).arg(*uid).arg(*size).execute(DB::on(&mut tx)).await?;
            }
        }
        tx.commit().await?;
        Ok(dropped.len() as u64)
    }

    async fn purge_expired_trash(&self, now: Timestamp, limit: i64) -> Result<Vec<Uuid>, StoreError> {
        trash::purge_expired::<DB>(&self.pool, now, limit).await
    }

    async fn compact_changes(&self, before: Timestamp, limit: i64) -> Result<u64, StoreError> {
        changes::compact::<DB>(&self.pool, before, limit).await
    }
}
