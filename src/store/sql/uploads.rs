//! Resumable uploads: every change a compare-and-swap on the row.

use async_trait::async_trait;
use uuid::Uuid;

use super::shared::{enqueue_object, lock_user, over_quota};
use super::{Affected, Arg, Columns, Engine, SqlStore, rows, sql};
use crate::domain::{Timestamp, Upload};
use crate::store::{Progress, Quota, StoreError, UploadStore, object_key};

#[async_trait]
impl<DB: Engine> UploadStore for SqlStore<DB> {
    async fn create_upload(&self, u: &Upload, quota: &Quota) -> Result<Result<(), &'static str>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !lock_user::<DB>(&mut tx, u.user_id, quota).await? {
            // The account was deleted after this request was authenticated.
            return Ok(Err("account"));
        }
        let key = object_key(u.user_id, &u.etag);
        enqueue_object::<DB>(&mut tx, &key, u.user_id, u.expires_at, u.created_at).await?;
        sql::<DB>(
            "INSERT INTO uploads (id, user_id, vault_id, etag, iv, salt, version, precondition, \
             upload_length, upload_offset, multipart_id, part_etags, part_digests, lease_owner, lease_until, \
             expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .arg(u.id)
        .arg(u.user_id)
        .arg(u.vault_id.as_str())
        .arg(u.etag.as_str())
        .arg(u.iv.as_slice())
        .arg(u.salt.as_slice())
        .arg(u.version)
        .arg(rows::stored_precondition(&u.precondition))
        .arg(u.upload_length)
        .arg(u.upload_offset)
        .arg(u.multipart_id.clone())
        .arg(u.part_etags.as_str())
        .arg(u.part_digests.as_slice())
        .arg(u.lease_owner)
        .arg(u.lease_until)
        .arg(u.expires_at)
        .arg(u.created_at)
        .execute(DB::on(&mut tx))
        .await?;
        if let Some(limit) = over_quota::<DB>(&mut tx, u.user_id, quota, "", u.created_at).await? {
            return Ok(Err(limit));
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn upload(&self, user: Uuid, id: Uuid) -> Result<Option<Upload>, StoreError> {
        Ok(sql::<DB>("SELECT * FROM uploads WHERE id = $1 AND user_id = $2")
            .arg(id)
            .arg(user)
            .try_map(rows::upload)
            .fetch_optional(DB::pooled(&self.pool))
            .await?)
    }

    async fn lease_upload(
        &self,
        id: Uuid,
        offset: i64,
        owner: Uuid,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sql::<DB>(
            "UPDATE uploads SET lease_owner = $1, lease_until = $2 WHERE id = $3 AND upload_offset = $4 \
             AND (lease_until IS NULL OR lease_until < $5) AND expires_at > $5",
        )
        .arg(owner)
        .arg(until)
        .arg(id)
        .arg(offset)
        .arg(now)
        .execute(DB::pooled(&self.pool))
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn renew_upload(&self, id: Uuid, owner: Uuid, until: Timestamp) -> Result<bool, StoreError> {
        let done = sql::<DB>("UPDATE uploads SET lease_until = $1 WHERE id = $2 AND lease_owner = $3")
            .arg(until)
            .arg(id)
            .arg(owner)
            .execute(DB::pooled(&self.pool))
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn advance_upload(&self, id: Uuid, owner: Uuid, p: &Progress) -> Result<bool, StoreError> {
        let done = sql::<DB>(
            "UPDATE uploads SET upload_offset = $1, part_etags = $2, part_digests = $3, lease_owner = NULL, \
             lease_until = NULL WHERE id = $4 AND upload_offset = $5 AND lease_owner = $6",
        )
        .arg(p.to_offset)
        .arg(p.part_etags.as_str())
        .arg(p.part_digests.as_slice())
        .arg(id)
        .arg(p.from_offset)
        .arg(owner)
        .execute(DB::pooled(&self.pool))
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_upload(&self, id: Uuid, owner: Uuid) -> Result<(), StoreError> {
        sql::<DB>(
            "UPDATE uploads SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2",
        )
        .arg(id)
        .arg(owner)
        .execute(DB::pooled(&self.pool))
        .await?;
        Ok(())
    }

    async fn delete_upload(&self, id: Uuid) -> Result<(), StoreError> {
        sql::<DB>("DELETE FROM uploads WHERE id = $1").arg(id).execute(DB::pooled(&self.pool)).await?;
        Ok(())
    }

    async fn end_upload(&self, user: Uuid, id: Uuid) -> Result<Option<bool>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let ended =
            sql::<DB>("DELETE FROM uploads WHERE id = $1 AND user_id = $2 RETURNING etag, part_etags")
                .arg(id)
                .arg(user)
                .try_map(|row: DB::Row| Ok((row.text("etag")?, row.text("part_etags")?)))
                .fetch_optional(DB::on(&mut tx))
                .await?;
        let Some((etag, part_etags)) = ended else { return Ok(None) };
        if part_etags == "-" {
            // Marked committed: its object is (or was) a vault revision, which a later replace
            // or delete may have queued with its grace period: leave that alone.
            tx.commit().await?;
            return Ok(Some(false));
        }
        // A commit deletes this queue entry in its own transaction (`claim_upload`, which wants
        // `delete_after` in the future): whichever of the two comes first wins.
        let released =
            sql::<DB>("UPDATE pending_objects SET delete_after = created_at WHERE object_key = $1")
                .arg(object_key(user, &etag))
                .execute(DB::on(&mut tx))
                .await?;
        tx.commit().await?;
        Ok(Some(released.rows_affected() == 1))
    }

    async fn expired_uploads(&self, now: Timestamp, limit: i64) -> Result<Vec<Upload>, StoreError> {
        Ok(sql::<DB>("SELECT * FROM uploads WHERE expires_at < $1 ORDER BY expires_at LIMIT $2")
            .arg(now)
            .arg(limit)
            .try_map(rows::upload)
            .fetch_all(DB::pooled(&self.pool))
            .await?)
    }
}
