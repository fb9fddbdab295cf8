//! The SQL that Postgres and SQLite share. Both engines accept `$n` parameters, `RETURNING`
//! and `ON CONFLICT`, and [`Timestamp`](super::Timestamp) maps to each engine's own type, so
//! one body serves both; each backend module instantiates it with its pool type.

/// Columns of `users`, in [`User`](super::User) field order.
macro_rules! user_columns {
    () => {
        "id, username, auth_phc, kdf, kdf_salt, kdf_iterations, security_stamp, created_at, updated_at"
    };
}

/// Columns of `sessions`, in [`Session`](super::Session) field order.
macro_rules! session_columns {
    () => {
        "id, user_id, scope, created_at, last_used_at, expires_at, revoked_at"
    };
}

/// Implements [`MetadataStore`](super::MetadataStore) for `$store` (which has a `pool` field)
/// on engine `$db`, migrating with `$migrator`.
macro_rules! impl_metadata_store {
    ($store:ty, $db:ty, $backend:expr, $migrator:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::MetadataStore for $store {
            fn backend(&self) -> $crate::store::Backend {
                $backend
            }

            async fn migrate(&self) -> Result<(), StoreError> {
                $migrator.run(&self.pool).await?;
                Ok(())
            }

            async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
                use sqlx::migrate::Migrate;
                let migrator: &sqlx::migrate::Migrator = &$migrator;
                let mut conn = self.pool.acquire().await?;
                conn.ensure_migrations_table(&migrator.table_name).await?;
                let applied: std::collections::HashSet<i64> = conn
                    .list_applied_migrations(&migrator.table_name)
                    .await?
                    .into_iter()
                    .map(|m| m.version)
                    .collect();
                Ok(migrator
                    .iter()
                    .filter(|m| !m.migration_type.is_down_migration())
                    .map(|m| m.version)
                    .filter(|v| !applied.contains(v))
                    .collect())
            }

            fn pool_stats(&self) -> (u32, u32) {
                (self.pool.size(), u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX))
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn server_secret(&self, name: &str) -> Result<Vec<u8>, StoreError> {
                let fresh: [u8; 32] = rand::random();
                sqlx::query(
                    "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(&fresh[..])
                .bind(Timestamp::now())
                .execute(&self.pool)
                .await?;
                let value: Vec<u8> = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(value)
            }

            async fn create_user(&self, user: &NewUser) -> Result<User, StoreError> {
                sqlx::query_as::<_, User>(concat!(
                    "INSERT INTO users (id, username, auth_phc, kdf, kdf_salt, kdf_iterations, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING ",
                    $crate::store::sql::user_columns!()
                ))
                .bind(user.id)
                .bind(&user.username)
                .bind(&user.auth_phc)
                .bind(&user.kdf)
                .bind(&user.kdf_salt)
                .bind(user.kdf_iterations)
                .bind(user.now)
                .fetch_one(&self.pool)
                .await
                .on_unique("username")
            }

            async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
                Ok(sqlx::query_as::<_, User>(concat!(
                    "SELECT ",
                    $crate::store::sql::user_columns!(),
                    " FROM users WHERE username = $1"
                ))
                .bind(username)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError> {
                Ok(sqlx::query_as::<_, User>(concat!(
                    "SELECT ",
                    $crate::store::sql::user_columns!(),
                    " FROM users WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn rehash_auth(&self, id: Uuid, stamp: i64, phc: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE users SET auth_phc = $1 WHERE id = $2 AND security_stamp = $3")
                    .bind(phc)
                    .bind(id)
                    .bind(stamp)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn change_credentials(&self, creds: &NewCredentials) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                let changed = sqlx::query(
                    "UPDATE users SET auth_phc = $1, kdf_salt = $2, kdf_iterations = $3, \
                     security_stamp = security_stamp + 1, updated_at = $4 \
                     WHERE id = $5 AND security_stamp = $6",
                )
                .bind(&creds.auth_phc)
                .bind(&creds.kdf_salt)
                .bind(creds.kdf_iterations)
                .bind(creds.now)
                .bind(creds.user_id)
                .bind(creds.expected_stamp)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed == 0 {
                    return Ok(false);
                }
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1 \
                     WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL",
                )
                .bind(creds.now)
                .bind(creds.user_id)
                .bind(creds.keep_session)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO sessions (id, user_id, scope, created_at, last_used_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $4, $5)",
                )
                .bind(session.id)
                .bind(session.user_id)
                .bind(&session.scope)
                .bind(session.now)
                .bind(session.expires_at)
                .execute(&mut *tx)
                .await?;
                insert_refresh_token(&mut *tx, &session.refresh_hash, session.id, session.now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn session(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
                Ok(sqlx::query_as::<_, Session>(concat!(
                    "SELECT ",
                    $crate::store::sql::session_columns!(),
                    " FROM sessions WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn rotate_refresh_token(
                &self,
                old_hash: &[u8],
                new_hash: &[u8],
                now: Timestamp,
                expires_at: Timestamp,
            ) -> Result<RefreshRotation, StoreError> {
                let mut tx = self.pool.begin().await?;
                let claimed: Option<Uuid> = sqlx::query_scalar(
                    "UPDATE refresh_tokens SET used_at = $2 \
                     WHERE token_hash = $1 AND used_at IS NULL RETURNING session_id",
                )
                .bind(old_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(session_id) = claimed else {
                    let known: Option<Uuid> =
                        sqlx::query_scalar("SELECT session_id FROM refresh_tokens WHERE token_hash = $1")
                            .bind(old_hash)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let Some(session_id) = known else {
                        return Ok(RefreshRotation::Unknown);
                    };
                    revoke(&mut *tx, session_id, now).await?;
                    tx.commit().await?;
                    return Ok(RefreshRotation::Reused(session_id));
                };
                let session = sqlx::query_as::<_, Session>(concat!(
                    "SELECT ",
                    $crate::store::sql::session_columns!(),
                    " FROM sessions WHERE id = $1"
                ))
                .bind(session_id)
                .fetch_one(&mut *tx)
                .await?;
                if !session.is_live(now) {
                    return Ok(RefreshRotation::SessionEnded(session));
                }
                insert_refresh_token(&mut *tx, new_hash, session_id, now).await?;
                let session = sqlx::query_as::<_, Session>(concat!(
                    "UPDATE sessions SET last_used_at = $1, expires_at = $2 WHERE id = $3 RETURNING ",
                    $crate::store::sql::session_columns!()
                ))
                .bind(now)
                .bind(expires_at)
                .bind(session_id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(RefreshRotation::Rotated(session))
            }

            async fn revoke_session(&self, id: Uuid, now: Timestamp) -> Result<(), StoreError> {
                revoke(&self.pool, id, now).await
            }

            async fn account_shapes(&self) -> Result<Vec<$crate::store::AccountShape>, StoreError> {
                // The Argon2 parameters are the PHC string less its salt and hash, which this
                // server always writes as 22 and 43 base64 characters (16 and 32 bytes) after a `$` each.
                Ok(sqlx::query_as::<_, $crate::store::AccountShape>(
                    "SELECT CAST(LENGTH(kdf_salt) AS BIGINT) AS salt_len, kdf_iterations AS iterations, \
                     SUBSTR(auth_phc, 1, LENGTH(auth_phc) - 66) AS hash_params, COUNT(*) AS accounts \
                     FROM users GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn reserve_attempt(
                &self,
                attempt: Uuid,
                limits: &[(&str, i64)],
                since: Timestamp,
                now: Timestamp,
            ) -> Result<Option<FailureWindow>, StoreError> {
                let mut tx = self.pool.begin().await?;
                let mut keys: Vec<&str> = limits.iter().map(|(key, _)| *key).collect();
                keys.sort_unstable();
                for key in keys {
                    Self::lock_throttle_key(&mut tx, key).await?;
                }
                for (key, limit) in limits {
                    sqlx::query("INSERT INTO login_failures (key, failed_at, attempt) VALUES ($1, $2, $3)")
                        .bind(*key)
                        .bind(now)
                        .bind(attempt)
                        .execute(&mut *tx)
                        .await?;
                    let window = sqlx::query_as::<_, FailureWindow>(
                        "SELECT COUNT(*) AS count, MIN(failed_at) AS oldest \
                         FROM login_failures WHERE key = $1 AND failed_at > $2",
                    )
                    .bind(*key)
                    .bind(since)
                    .fetch_one(&mut *tx)
                    .await?;
                    if window.count > *limit {
                        // Dropping the transaction records nothing.
                        return Ok(Some(FailureWindow { count: window.count - 1, ..window }));
                    }
                }
                tx.commit().await?;
                Ok(None)
            }

            async fn release_attempt(&self, attempt: Uuid, keys: &[&str]) -> Result<(), StoreError> {
                for key in keys {
                    sqlx::query("DELETE FROM login_failures WHERE key = $1 AND attempt = $2")
                        .bind(*key)
                        .bind(attempt)
                        .execute(&self.pool)
                        .await?;
                }
                Ok(())
            }

            async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM login_failures WHERE key = $1")
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn prune(&self, before: Timestamp) -> Result<u64, StoreError> {
                let failures = sqlx::query("DELETE FROM login_failures WHERE failed_at < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(failures + sessions)
            }
        }

        async fn insert_refresh_token<'e, E>(
            executor: E,
            hash: &[u8],
            session_id: Uuid,
            now: Timestamp,
        ) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(hash)
            .bind(session_id)
            .bind(now)
            .execute(executor)
            .await?;
            Ok(())
        }

        async fn revoke<'e, E>(executor: E, id: Uuid, now: Timestamp) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(executor)
                .await?;
            Ok(())
        }
    };
}

pub(crate) use {impl_metadata_store, session_columns, user_columns};
