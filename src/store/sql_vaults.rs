//! The vault SQL that Postgres and SQLite share (see `sql.rs` for why one body serves both).

/// Columns of `vaults`, in [`Vault`](super::Vault) field order.
macro_rules! vault_columns {
    () => {
        "user_id, vault_id, etag, revision, version, size, sha256, iv, salt, created_at, updated_at"
    };
}

/// Implements [`VaultStore`](super::VaultStore) for `$store` on engine `$db`. The backend
/// provides `async fn try_sweep_lock(tx) -> Result<bool, StoreError>` and
/// `async fn lock_user_row(tx, user, UserLock) -> Result<bool, StoreError>` (false: no such user).
macro_rules! impl_vault_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::VaultStore for $store {
            async fn vault(&self, user: Uuid, vault_id: &str) -> Result<Option<Vault>, StoreError> {
                Ok(select_vault(&self.pool, user, vault_id).await?)
            }

            async fn list_vaults(&self, user: Uuid, after: &str, limit: i64) -> Result<Vec<Vault>, StoreError> {
                Ok(sqlx::query_as::<_, Vault>(concat!(
                    "SELECT ",
                    $crate::store::sql_vaults::vault_columns!(),
                    " FROM vaults WHERE user_id = $1 AND vault_id > $2 ORDER BY vault_id LIMIT $3"
                ))
                .bind(user)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn usage(&self, user: Uuid) -> Result<Usage, StoreError> {
                Ok(select_usage(&self.pool, user, "", Timestamp::now()).await?)
            }

            async fn begin_upload(&self, key: &str, user: Uuid, abandon_after: Timestamp) -> Result<(), StoreError> {
                enqueue_object(&self.pool, key, user, abandon_after, Timestamp::now()).await
            }

            async fn forget_object(&self, key: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM pending_objects WHERE object_key = $1")
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn commit_create(&self, rev: &NewRevision, quota: &Quota) -> Result<CreateOutcome, StoreError> {
                let mut tx = self.pool.begin().await?;
                if !lock_user(&mut tx, rev.user_id, quota).await? {
                    return Ok(CreateOutcome::UserGone);
                }
                if !claim_upload(&mut *tx, rev).await? {
                    return Ok(CreateOutcome::UploadLost);
                }
                let created = bind_revision(sqlx::query_as::<_, Vault>(concat!(
                    "INSERT INTO vaults (user_id, vault_id, etag, revision, version, size, sha256, iv, salt, \
                     created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $9) \
                     ON CONFLICT (user_id, vault_id) DO NOTHING RETURNING ",
                    $crate::store::sql_vaults::vault_columns!()
                )), rev)
                .fetch_optional(&mut *tx)
                .await?;
                match created {
                    Some(vault) => {
                        if let Some(limit) = over_quota(&mut tx, rev.user_id, quota, &rev.etag, rev.now).await? {
                            return Ok(CreateOutcome::OverQuota(limit));
                        }
                        tx.commit().await?;
                        Ok(CreateOutcome::Created(vault))
                    }
                    None => {
                        let existing = select_vault(&mut *tx, rev.user_id, &rev.vault_id).await?;
                        drop(tx);
                        match existing {
                            Some(vault) => Ok(CreateOutcome::Exists(vault)),
                            // Deleted between the insert and the read: report it as a lost race.
                            None => Ok(CreateOutcome::UploadLost),
                        }
                    }
                }
            }

            async fn commit_replace(
                &self,
                rev: &NewRevision,
                expect: &Expect,
                quota: &Quota,
            ) -> Result<ChangeOutcome, StoreError> {
                let mut tx = self.pool.begin().await?;
                if !lock_user(&mut tx, rev.user_id, quota).await? {
                    return Ok(ChangeOutcome::UserGone);
                }
                if !claim_upload(&mut *tx, rev).await? {
                    return Ok(ChangeOutcome::UploadLost);
                }
                let current = select_vault(&mut *tx, rev.user_id, &rev.vault_id).await?;
                let expected = match (expect, &current) {
                    (_, None) => return Ok(ChangeOutcome::Mismatch(None)),
                    (Expect::Any, Some(v)) => v.etag.clone(),
                    (Expect::Etag(e), Some(v)) if *e == v.etag => e.clone(),
                    (Expect::Etag(_), Some(v)) => return Ok(ChangeOutcome::Mismatch(Some(v.etag.clone()))),
                };
                let replaced = bind_revision(sqlx::query_as::<_, Vault>(concat!(
                    "UPDATE vaults SET etag = $3, revision = revision + 1, version = $4, size = $5, \
                     sha256 = $6, iv = $7, salt = $8, updated_at = $9 \
                     WHERE user_id = $1 AND vault_id = $2 AND etag = $10 RETURNING ",
                    $crate::store::sql_vaults::vault_columns!()
                )), rev)
                .bind(&expected)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(vault) = replaced else {
                    // Another writer committed between our read and our update.
                    drop(tx);
                    let now = select_vault(&self.pool, rev.user_id, &rev.vault_id).await?;
                    return Ok(ChangeOutcome::Mismatch(now.map(|v| v.etag)));
                };
                if let Some(limit) = over_quota(&mut tx, rev.user_id, quota, &rev.etag, rev.now).await? {
                    return Ok(ChangeOutcome::OverQuota(limit));
                }
                let old_key = $crate::store::object_key(rev.user_id, &expected);
                enqueue_object(&mut *tx, &old_key, rev.user_id, rev.old_object_delete_after, rev.now).await?;
                tx.commit().await?;
                Ok(ChangeOutcome::Done(Some(vault)))
            }

            async fn delete_vault(
                &self,
                user: Uuid,
                vault_id: &str,
                expect: &Expect,
                delete_after: Timestamp,
            ) -> Result<ChangeOutcome, StoreError> {
                let mut tx = self.pool.begin().await?;
                let wanted = match expect {
                    Expect::Any => None,
                    Expect::Etag(e) => Some(e.as_str()),
                };
                let deleted: Option<String> = sqlx::query_scalar(
                    "DELETE FROM vaults WHERE user_id = $1 AND vault_id = $2 AND etag = COALESCE($3, etag) \
                     RETURNING etag",
                )
                .bind(user)
                .bind(vault_id)
                .bind(wanted)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(etag) = deleted else {
                    let current = select_vault(&mut *tx, user, vault_id).await?;
                    return Ok(ChangeOutcome::Mismatch(current.map(|v| v.etag)));
                };
                let key = $crate::store::object_key(user, &etag);
                enqueue_object(&mut *tx, &key, user, delete_after, Timestamp::now()).await?;
                tx.commit().await?;
                Ok(ChangeOutcome::Done(None))
            }

            async fn delete_account(
                &self,
                user: Uuid,
                now: Timestamp,
            ) -> Result<(Vec<String>, Vec<$crate::store::Upload>), StoreError> {
                let mut tx = self.pool.begin().await?;
                // First the user's row, exclusively: a commit or a new upload of this user
                // either finished before (and what it stored is found below) or waits and then
                // finds no user. Then the vaults, deleted rather than read, so that a replace
                // committing meanwhile is waited for and its new etag is the one returned.
                Self::lock_user_row(&mut tx, user, $crate::store::sql_vaults::UserLock::Delete).await?;
                let mut etags: Vec<String> =
                    sqlx::query_scalar("DELETE FROM vaults WHERE user_id = $1 RETURNING etag")
                        .bind(user)
                        .fetch_all(&mut *tx)
                        .await?;
                let uploads = sqlx::query_as::<_, $crate::store::Upload>(concat!(
                    "DELETE FROM uploads WHERE user_id = $1 AND part_etags <> '-' RETURNING ",
                    $crate::store::sql_uploads::upload_columns!()
                ))
                .bind(user)
                .fetch_all(&mut *tx)
                .await?;
                etags.extend(uploads.iter().map(|u| u.etag.clone()));
                let keys: Vec<String> = etags.iter().map(|e| $crate::store::object_key(user, e)).collect();
                for key in &keys {
                    enqueue_object(&mut *tx, key, user, now, now).await?;
                }
                sqlx::query("DELETE FROM users WHERE id = $1").bind(user).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok((keys, uploads))
            }

            async fn claim_expired_objects(
                &self,
                now: Timestamp,
                lease_until: Timestamp,
                limit: i64,
            ) -> Result<Vec<String>, StoreError> {
                let mut tx = self.pool.begin().await?;
                if !Self::try_sweep_lock(&mut tx).await? {
                    return Ok(Vec::new());
                }
                let keys: Vec<String> = sqlx::query_scalar(
                    "UPDATE pending_objects SET lease_until = $1 WHERE object_key IN \
                     (SELECT object_key FROM pending_objects WHERE delete_after <= $2 \
                      AND (lease_until IS NULL OR lease_until <= $2) \
                      ORDER BY delete_after LIMIT $3) RETURNING object_key",
                )
                .bind(lease_until)
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(keys)
            }
        }

        /// Binds a revision's columns as `$1..$9`: user, vault id, etag, version, size,
        /// sha256, iv, salt, time.
        fn bind_revision<'q>(
            query: sqlx::query::QueryAs<'q, $db, Vault, <$db as sqlx::Database>::Arguments>,
            rev: &'q NewRevision,
        ) -> sqlx::query::QueryAs<'q, $db, Vault, <$db as sqlx::Database>::Arguments> {
            query
                .bind(rev.user_id)
                .bind(&rev.vault_id)
                .bind(&rev.etag)
                .bind(rev.version)
                .bind(rev.size)
                .bind(&rev.sha256)
                .bind(&rev.iv)
                .bind(&rev.salt)
                .bind(rev.now)
        }

        async fn select_vault<'e, E>(executor: E, user: Uuid, vault_id: &str) -> Result<Option<Vault>, sqlx::Error>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query_as::<_, Vault>(concat!(
                "SELECT ",
                $crate::store::sql_vaults::vault_columns!(),
                " FROM vaults WHERE user_id = $1 AND vault_id = $2"
            ))
            .bind(user)
            .bind(vault_id)
            .fetch_optional(executor)
            .await
        }

        async fn enqueue_object<'e, E>(
            executor: E,
            key: &str,
            user: Uuid,
            delete_after: Timestamp,
            now: Timestamp,
        ) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query(
                "INSERT INTO pending_objects (object_key, user_id, delete_after, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (object_key) DO UPDATE SET delete_after = excluded.delete_after, lease_until = NULL",
            )
            .bind(key)
            .bind(user)
            .bind(delete_after)
            .bind(now)
            .execute(executor)
            .await?;
            Ok(())
        }

        /// What `user` holds and what their open uploads other than the one writing revision
        /// `except` reserve (an upload reserves its length, less the size of the vault a
        /// replace frees; a create also reserves a vault), until its revision is the vault's.
        async fn select_usage<'e, E>(executor: E, user: Uuid, except: &str, now: Timestamp) -> Result<Usage, sqlx::Error>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query_as::<_, Usage>(
                "SELECT \
                   (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM vaults WHERE user_id = $1) AS bytes, \
                   (SELECT COUNT(*) FROM vaults WHERE user_id = $1) AS vaults, \
                   (SELECT CAST(COALESCE(SUM(CASE \
                        WHEN u.precondition = '*' THEN u.upload_length \
                        WHEN u.upload_length > COALESCE(v.size, 0) THEN u.upload_length - COALESCE(v.size, 0) \
                        ELSE 0 END), 0) AS BIGINT) \
                    FROM uploads u LEFT JOIN vaults v ON v.user_id = u.user_id AND v.vault_id = u.vault_id \
                    WHERE u.user_id = $1 AND u.part_etags <> '-' AND u.expires_at > $2 AND u.etag <> $3 \
                      AND (v.etag IS NULL OR v.etag <> u.etag)) AS reserved_bytes, \
                   (SELECT COUNT(*) FROM uploads u \
                    WHERE u.user_id = $1 AND u.part_etags <> '-' AND u.expires_at > $2 AND u.etag <> $3 \
                      AND u.precondition = '*' \
                      AND NOT EXISTS (SELECT 1 FROM vaults v WHERE v.user_id = u.user_id AND v.vault_id = u.vault_id)) \
                   AS reserved_vaults",
            )
            .bind(user)
            .bind(now)
            .bind(except)
            .fetch_one(executor)
            .await
        }

        /// First in every commit and upload creation: locks the user's row (see [`UserLock`]),
        /// so that on Postgres concurrent writers of one user decide one after another when a
        /// quota applies, each seeing what the one before committed, and none slips past an
        /// account deletion (SQLite has one writer at a time anyway, and this write makes the
        /// transaction that writer from its first statement). Taken before any other row, as
        /// account deletion does, so the two cannot deadlock. False when the user is gone.
        ///
        /// [`UserLock`]: $crate::store::sql_vaults::UserLock
        async fn lock_user(
            tx: &mut sqlx::Transaction<'_, $db>,
            user: Uuid,
            quota: &$crate::store::Quota,
        ) -> Result<bool, StoreError> {
            let lock = match quota.is_limited() {
                true => $crate::store::sql_vaults::UserLock::Serialize,
                false => $crate::store::sql_vaults::UserLock::Share,
            };
            <$store>::lock_user_row(tx, user, lock).await
        }

        /// After the change, in the same transaction (locked by [`lock_user`]): the limit
        /// of `quota` the user is now past, if any; the caller then drops the transaction.
        async fn over_quota(
            tx: &mut sqlx::Transaction<'_, $db>,
            user: Uuid,
            quota: &$crate::store::Quota,
            except: &str,
            now: Timestamp,
        ) -> Result<Option<&'static str>, StoreError> {
            if !quota.is_limited() {
                return Ok(None);
            }
            Ok(select_usage(&mut **tx, user, except, now).await?.exceeds(quota))
        }

        /// Takes the upload's queue entry: from now on the object belongs to the vault. False
        /// when the upload is overdue or the sweeper has leased it as abandoned.
        async fn claim_upload<'e, E>(executor: E, rev: &NewRevision) -> Result<bool, StoreError>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let key = $crate::store::object_key(rev.user_id, &rev.etag);
            let claimed = sqlx::query(
                "DELETE FROM pending_objects WHERE object_key = $1 AND delete_after > $2 AND lease_until IS NULL",
            )
                .bind(key)
                .bind(rev.now)
                .execute(executor)
                .await?
                .rows_affected();
            Ok(claimed == 1)
        }
    };
}

/// How a transaction locks its user's row (on Postgres; SQLite's single writer needs none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserLock {
    /// A commit or new upload without a quota: only account deletion must wait for it (and it
    /// for account deletion), as its foreign key does anyway (`FOR KEY SHARE`).
    Share,
    /// A commit or new upload under a quota: one at a time per user (`FOR NO KEY UPDATE`).
    Serialize,
    /// Account deletion: waits for all of the above and keeps them out (`FOR UPDATE`).
    Delete,
}

pub(crate) use {impl_vault_store, vault_columns};
