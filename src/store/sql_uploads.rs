//! The resumable-upload SQL that Postgres and SQLite share (see `sql.rs` for why one body
//! serves both). Expands next to `impl_vault_store!`, whose `enqueue_object` it uses.

/// Columns of `uploads`, in [`Upload`](super::Upload) field order.
macro_rules! upload_columns {
    () => {
        "id, user_id, vault_id, etag, iv, salt, version, precondition, upload_length, upload_offset, \
         multipart_id, part_etags, part_digests, lease_owner, lease_until, expires_at, created_at"
    };
}

/// Implements [`UploadStore`](super::UploadStore) for `$store` on engine `$db`.
macro_rules! impl_upload_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::UploadStore for $store {
            async fn create_upload(
                &self,
                u: &$crate::store::Upload,
                quota: &$crate::store::Quota,
            ) -> Result<Result<(), &'static str>, StoreError> {
                let mut tx = self.pool.begin().await?;
                if !lock_user(&mut tx, u.user_id, quota).await? {
                    // The account was deleted after this request was authenticated.
                    return Ok(Err("account"));
                }
                enqueue_object(
                    &mut *tx,
                    &$crate::store::object_key(u.user_id, &u.etag),
                    u.user_id,
                    u.expires_at,
                    u.created_at,
                )
                .await?;
                sqlx::query(concat!(
                    "INSERT INTO uploads (",
                    $crate::store::sql_uploads::upload_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
                ))
                .bind(u.id)
                .bind(u.user_id)
                .bind(&u.vault_id)
                .bind(&u.etag)
                .bind(&u.iv)
                .bind(&u.salt)
                .bind(u.version)
                .bind(&u.precondition)
                .bind(u.upload_length)
                .bind(u.upload_offset)
                .bind(&u.multipart_id)
                .bind(&u.part_etags)
                .bind(&u.part_digests)
                .bind(u.lease_owner)
                .bind(u.lease_until)
                .bind(u.expires_at)
                .bind(u.created_at)
                .execute(&mut *tx)
                .await?;
                if let Some(limit) = over_quota(&mut tx, u.user_id, quota, "", u.created_at).await? {
                    return Ok(Err(limit));
                }
                tx.commit().await?;
                Ok(Ok(()))
            }

            async fn upload(&self, user: Uuid, id: Uuid) -> Result<Option<$crate::store::Upload>, StoreError> {
                Ok(sqlx::query_as::<_, $crate::store::Upload>(concat!(
                    "SELECT ",
                    $crate::store::sql_uploads::upload_columns!(),
                    " FROM uploads WHERE id = $1 AND user_id = $2"
                ))
                .bind(id)
                .bind(user)
                .fetch_optional(&self.pool)
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
                let done = sqlx::query(
                    "UPDATE uploads SET lease_owner = $1, lease_until = $2 WHERE id = $3 AND upload_offset = $4 \
                     AND (lease_until IS NULL OR lease_until < $5) AND expires_at > $5",
                )
                .bind(owner)
                .bind(until)
                .bind(id)
                .bind(offset)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn renew_upload(&self, id: Uuid, owner: Uuid, until: Timestamp) -> Result<bool, StoreError> {
                let done = sqlx::query("UPDATE uploads SET lease_until = $1 WHERE id = $2 AND lease_owner = $3")
                    .bind(until)
                    .bind(id)
                    .bind(owner)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn advance_upload(
                &self,
                id: Uuid,
                owner: Uuid,
                p: &$crate::store::Progress,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE uploads SET upload_offset = $1, part_etags = $2, part_digests = $3, \
                     lease_owner = NULL, lease_until = NULL WHERE id = $4 AND upload_offset = $5 AND lease_owner = $6",
                )
                .bind(p.to_offset)
                .bind(&p.part_etags)
                .bind(&p.part_digests)
                .bind(id)
                .bind(p.from_offset)
                .bind(owner)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_upload(&self, id: Uuid, owner: Uuid) -> Result<(), StoreError> {
                sqlx::query("UPDATE uploads SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2")
                    .bind(id)
                    .bind(owner)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_upload(&self, id: Uuid) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id).execute(&self.pool).await?;
                Ok(())
            }

            async fn end_upload(&self, user: Uuid, id: Uuid) -> Result<Option<bool>, StoreError> {
                let mut tx = self.pool.begin().await?;
                let ended: Option<(String, String)> = sqlx::query_as(
                    "DELETE FROM uploads WHERE id = $1 AND user_id = $2 RETURNING etag, part_etags",
                )
                .bind(id)
                .bind(user)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((etag, part_etags)) = ended else { return Ok(None) };
                if part_etags == "-" {
                    // Marked committed: its object is (or was) a vault revision, which a later
                    // replace or delete may have queued with its grace period: leave that alone.
                    tx.commit().await?;
                    return Ok(Some(false));
                }
                // A commit deletes this queue entry in its own transaction (`claim_upload`, which
                // wants `delete_after` in the future): whichever of the two comes first wins.
                let released = sqlx::query("UPDATE pending_objects SET delete_after = created_at WHERE object_key = $1")
                    .bind($crate::store::object_key(user, &etag))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                tx.commit().await?;
                Ok(Some(released))
            }

            async fn expired_uploads(
                &self,
                now: Timestamp,
                limit: i64,
            ) -> Result<Vec<$crate::store::Upload>, StoreError> {
                Ok(sqlx::query_as::<_, $crate::store::Upload>(concat!(
                    "SELECT ",
                    $crate::store::sql_uploads::upload_columns!(),
                    " FROM uploads WHERE expires_at < $1 ORDER BY expires_at LIMIT $2"
                ))
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}

pub(crate) use {impl_upload_store, upload_columns};
