//! Users, sessions, refresh tokens, login failures and server secrets.

use std::collections::HashSet;

use async_trait::async_trait;
use uuid::Uuid;

use super::{Affected, Arg, Engine, SqlStore, migrations, rows, sql};
use crate::domain::Timestamp;
use crate::store::error::OnUnique;
use crate::store::{
    AccountShape, Backend, FailureWindow, MetadataStore, NewCredentials, NewSession, NewUser,
    RefreshRotation, Session, StoreError, User,
};

#[async_trait]
impl<DB: Engine> MetadataStore for SqlStore<DB> {
    fn backend(&self) -> Backend {
        DB::BACKEND
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        migrations::tolerant(DB::migrator()).run(&self.pool).await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let applied = migrations::applied::<DB>(&self.pool).await?;
        Ok(migrations::versions(DB::migrator()).filter(|v| !applied.contains(v)).collect())
    }

    async fn unknown_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let known: HashSet<i64> = migrations::versions(DB::migrator()).collect();
        let mut unknown: Vec<i64> =
            migrations::applied::<DB>(&self.pool).await?.into_iter().filter(|v| !known.contains(v)).collect();
        unknown.sort_unstable();
        Ok(unknown)
    }

    async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        Ok(migrations::applied::<DB>(&self.pool).await?.into_iter().max())
    }

    async fn snapshot_into(&self, to: &std::path::Path) -> Result<(), StoreError> {
        DB::snapshot(&self.pool, to).await
    }

    async fn load_snapshot(&self, from: &std::path::Path) -> Result<(), StoreError> {
        DB::load_snapshot(&self.pool, from).await
    }

    async fn migrate_to(&self, version: i64) -> Result<(), StoreError> {
        migrations::migrate_to::<DB>(&self.pool, version).await
    }

    fn pool_max(&self) -> u32 {
        self.pool.options().get_max_connections()
    }

    fn pool_stats(&self) -> (u32, u32) {
        (self.pool.size(), u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sql::<DB>("SELECT 1").execute(DB::pooled(&self.pool)).await?;
        Ok(())
    }

    async fn server_secret(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let fresh: [u8; 32] = rand::random();
        sql::<DB>(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .arg(name)
        .arg(&fresh[..])
        .arg(Timestamp::now())
        .execute(DB::pooled(&self.pool))
        .await?;
        let row = sql::<DB>("SELECT value FROM server_secrets WHERE name = $1")
            .arg(name)
            .fetch_one(DB::pooled(&self.pool))
            .await?;
        Ok(super::Columns::bytes(&row, "value")?)
    }

    async fn create_user(&self, user: &NewUser) -> Result<User, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(invite) = &user.invite {
            let claimed = sql::<DB>(
                "UPDATE invites SET used_at = $1, used_by = $2 \
                 WHERE code_hash = $3 AND used_at IS NULL AND expires_at > $1",
            )
            .arg(user.now)
            .arg(user.id)
            .arg(invite.as_slice())
            .execute(DB::on(&mut tx))
            .await?;
            if claimed.rows_affected() == 0 {
                return Err(StoreError::Conflict("invite"));
            }
        }
        let created = sql::<DB>(
            "INSERT INTO users (id, username, auth_phc, kdf, kdf_salt, kdf_iterations, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING *",
        )
        .arg(user.id)
        .arg(user.username.as_str())
        .arg(user.auth_phc.as_str())
        .arg(user.kdf.as_str())
        .arg(user.kdf_salt.as_slice())
        .arg(user.kdf_iterations)
        .arg(user.now)
        .try_map(rows::user)
        .fetch_one(DB::on(&mut tx))
        .await
        .on_unique("username")?;
        tx.commit().await?;
        Ok(created)
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(sql::<DB>("SELECT * FROM users WHERE username = $1")
            .arg(username)
            .try_map(rows::user)
            .fetch_optional(DB::pooled(&self.pool))
            .await?)
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        Ok(sql::<DB>("SELECT * FROM users WHERE id = $1")
            .arg(id)
            .try_map(rows::user)
            .fetch_optional(DB::pooled(&self.pool))
            .await?)
    }

    async fn rehash_auth(&self, id: Uuid, stamp: i64, phc: &str) -> Result<(), StoreError> {
        sql::<DB>("UPDATE users SET auth_phc = $1 WHERE id = $2 AND security_stamp = $3")
            .arg(phc)
            .arg(id)
            .arg(stamp)
            .execute(DB::pooled(&self.pool))
            .await?;
        Ok(())
    }

    async fn change_credentials(&self, creds: &NewCredentials) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let changed = sql::<DB>(
            "UPDATE users SET auth_phc = $1, kdf_salt = $2, kdf_iterations = $3, \
             security_stamp = security_stamp + 1, updated_at = $4 WHERE id = $5 AND security_stamp = $6",
        )
        .arg(creds.auth_phc.as_str())
        .arg(creds.kdf_salt.as_slice())
        .arg(creds.kdf_iterations)
        .arg(creds.now)
        .arg(creds.user_id)
        .arg(creds.expected_stamp)
        .execute(DB::on(&mut tx))
        .await?;
        if changed.rows_affected() == 0 {
            return Ok(false);
        }
        sql::<DB>(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL",
        )
        .arg(creds.now)
        .arg(creds.user_id)
        .arg(creds.keep_session)
        .execute(DB::on(&mut tx))
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sql::<DB>(
            "INSERT INTO sessions (id, user_id, scope, created_at, last_used_at, expires_at, device_name, address) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
        )
        .arg(session.id)
        .arg(session.user_id)
        .arg(session.scope.as_str())
        .arg(session.now)
        .arg(session.expires_at)
        .arg(session.device_name.as_str())
        .arg(session.address.as_str())
        .execute(DB::on(&mut tx))
        .await?;
        insert_refresh_token::<DB>(&mut tx, &session.refresh_hash, session.id, session.now).await?;
        super::admin::insert_audit::<DB>(&mut tx, &session.opened).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
        Ok(sql::<DB>("SELECT * FROM sessions WHERE id = $1")
            .arg(id)
            .try_map(rows::session)
            .fetch_optional(DB::pooled(&self.pool))
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
        let claimed = sql::<DB>(
            "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
             RETURNING session_id",
        )
        .arg(old_hash)
        .arg(now)
        .try_map(|row: DB::Row| super::Columns::uuid(&row, "session_id"))
        .fetch_optional(DB::on(&mut tx))
        .await?;
        let Some(session_id) = claimed else {
            let known = sql::<DB>("SELECT session_id FROM refresh_tokens WHERE token_hash = $1")
                .arg(old_hash)
                .try_map(|row: DB::Row| super::Columns::uuid(&row, "session_id"))
                .fetch_optional(DB::on(&mut tx))
                .await?;
            let Some(session_id) = known else {
                return Ok(RefreshRotation::Unknown);
            };
            revoke::<DB>(&mut tx, session_id, now).await?;
            tx.commit().await?;
            return Ok(RefreshRotation::Reused(session_id));
        };
        let session = sql::<DB>("SELECT * FROM sessions WHERE id = $1")
            .arg(session_id)
            .try_map(rows::session)
            .fetch_one(DB::on(&mut tx))
            .await?;
        if !session.is_live(now) {
            return Ok(RefreshRotation::SessionEnded(session));
        }
        insert_refresh_token::<DB>(&mut tx, new_hash, session_id, now).await?;
        let session =
            sql::<DB>("UPDATE sessions SET last_used_at = $1, expires_at = $2 WHERE id = $3 RETURNING *")
                .arg(now)
                .arg(expires_at)
                .arg(session_id)
                .try_map(rows::session)
                .fetch_one(DB::on(&mut tx))
                .await?;
        tx.commit().await?;
        Ok(RefreshRotation::Rotated(session))
    }

    async fn revoke_session(&self, id: Uuid, now: Timestamp) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        revoke::<DB>(&mut conn, id, now).await
    }

    async fn account_shapes(&self) -> Result<Vec<AccountShape>, StoreError> {
        // The Argon2 parameters are the PHC string less its salt and hash, which this server
        // always writes as 22 and 43 base64 characters (16 and 32 bytes) after a `$` each.
        Ok(sql::<DB>(
            "SELECT CAST(LENGTH(kdf_salt) AS BIGINT) AS salt_len, kdf_iterations AS iterations, \
             SUBSTR(auth_phc, 1, LENGTH(auth_phc) - 66) AS hash_params, COUNT(*) AS accounts \
             FROM users GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        )
        .try_map(rows::account_shape)
        .fetch_all(DB::pooled(&self.pool))
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
            DB::lock_throttle_key(&mut tx, key).await?;
        }
        for (key, limit) in limits {
            sql::<DB>("INSERT INTO login_failures (key, failed_at, attempt) VALUES ($1, $2, $3)")
                .arg(*key)
                .arg(now)
                .arg(attempt)
                .execute(DB::on(&mut tx))
                .await?;
            let window = sql::<DB>(
                "SELECT COUNT(*) AS count, MIN(failed_at) AS oldest FROM login_failures \
                 WHERE key = $1 AND failed_at > $2",
            )
            .arg(*key)
            .arg(since)
            .try_map(rows::failure_window)
            .fetch_one(DB::on(&mut tx))
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
            sql::<DB>("DELETE FROM login_failures WHERE key = $1 AND attempt = $2")
                .arg(*key)
                .arg(attempt)
                .execute(DB::pooled(&self.pool))
                .await?;
        }
        Ok(())
    }

    async fn login_succeeded(&self, account: &str, attempt: Uuid, address: &str) -> Result<(), StoreError> {
        sql::<DB>("DELETE FROM login_failures WHERE key = $1 OR (key = $2 AND attempt = $3)")
            .arg(account)
            .arg(address)
            .arg(attempt)
            .execute(DB::pooled(&self.pool))
            .await?;
        Ok(())
    }

    async fn prune(&self, before: Timestamp) -> Result<u64, StoreError> {
        let failures = sql::<DB>("DELETE FROM login_failures WHERE failed_at < $1")
            .arg(before)
            .execute(DB::pooled(&self.pool))
            .await?;
        let sessions = sql::<DB>("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
            .arg(before)
            .execute(DB::pooled(&self.pool))
            .await?;
        Ok(failures.rows_affected() + sessions.rows_affected())
    }
}

async fn insert_refresh_token<DB: Engine>(
    conn: &mut DB::Connection,
    hash: &[u8],
    session_id: Uuid,
    now: Timestamp,
) -> Result<(), StoreError> {
    sql::<DB>("INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)")
        .arg(hash)
        .arg(session_id)
        .arg(now)
        .execute(DB::on(conn))
        .await?;
    Ok(())
}

async fn revoke<DB: Engine>(conn: &mut DB::Connection, id: Uuid, now: Timestamp) -> Result<(), StoreError> {
    sql::<DB>("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
        .arg(now)
        .arg(id)
        .execute(DB::on(conn))
        .await?;
    Ok(())
}
