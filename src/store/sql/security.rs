//! Sessions by owner, second factors and ceremonies: the [`FactorStore`] implementation.

use async_trait::async_trait;
use sqlx::Pool;
use sqlx::query::Query;
use uuid::Uuid;

use super::{Affected, Arg, Columns, Engine, SqlStore, rows, sql};
use crate::domain::Timestamp;
use crate::store::error::OnUnique;
use crate::store::{Ceremony, FactorStore, Session, StoreError, TotpFactor, WebauthnCredential};

#[async_trait]
impl<DB: Engine> FactorStore for SqlStore<DB> {
    async fn live_sessions(&self, user: Uuid, now: Timestamp) -> Result<Vec<Session>, StoreError> {
        Ok(sql::<DB>(
            "SELECT * FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at DESC, id",
        )
        .arg(user)
        .arg(now)
        .try_map(rows::session)
        .fetch_all(DB::pooled(&self.pool))
        .await?)
    }

    async fn end_session(&self, user: Uuid, id: Uuid, now: Timestamp) -> Result<bool, StoreError> {
        let done = sql::<DB>(
            "UPDATE sessions SET revoked_at = $1 \
             WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL AND expires_at > $1",
        )
        .arg(now)
        .arg(id)
        .arg(user)
        .execute(DB::pooled(&self.pool))
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn end_sessions(&self, user: Uuid, keep: Option<Uuid>, now: Timestamp) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        end_others::<DB>(&mut conn, user, keep, now).await
    }

    async fn touch_session(&self, session: Uuid, now: Timestamp) -> Result<(), StoreError> {
        sql::<DB>("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
            .arg(now)
            .arg(session)
            .execute(DB::pooled(&self.pool))
            .await?;
        Ok(())
    }

    async fn totp(&self, user: Uuid) -> Result<Option<TotpFactor>, StoreError> {
        Ok(sql::<DB>("SELECT secret_sealed, confirmed_at, last_step FROM totp_factors WHERE user_id = $1")
            .arg(user)
            .try_map(|row: DB::Row| {
                Ok(TotpFactor {
                    secret_sealed: row.bytes("secret_sealed")?,
                    confirmed_at: row.opt_time("confirmed_at")?,
                    last_step: row.int("last_step")?,
                })
            })
            .fetch_optional(DB::pooled(&self.pool))
            .await?)
    }

    async fn begin_totp(&self, user: Uuid, sealed: &[u8], now: Timestamp) -> Result<bool, StoreError> {
        let done = sql::<DB>(
            "INSERT INTO totp_factors (user_id, secret_sealed, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, \
             created_at = excluded.created_at, last_step = 0 WHERE totp_factors.confirmed_at IS NULL",
        )
        .arg(user)
        .arg(sealed)
        .arg(now)
        .execute(DB::pooled(&self.pool))
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn confirm_totp(
        &self,
        user: Uuid,
        step: i64,
        recovery: Option<&[Vec<u8>]>,
        keep: Uuid,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sql::<DB>(
            "UPDATE totp_factors SET confirmed_at = $1, last_step = $2 \
             WHERE user_id = $3 AND confirmed_at IS NULL",
        )
        .arg(now)
        .arg(step)
        .arg(user)
        .execute(DB::on(&mut tx))
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(recovery) = recovery {
            put_recovery_codes::<DB>(&mut tx, user, recovery).await?;
        }
        end_others::<DB>(&mut tx, user, Some(keep), now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn accept_totp_step(&self, user: Uuid, step: i64) -> Result<bool, StoreError> {
        let done = sql::<DB>(
            "UPDATE totp_factors SET last_step = $1 \
             WHERE user_id = $2 AND confirmed_at IS NOT NULL AND last_step < $1",
        )
        .arg(step)
        .arg(user)
        .execute(DB::pooled(&self.pool))
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_totp(&self, user: Uuid, keep: Uuid, now: Timestamp) -> Result<bool, StoreError> {
        let delete = sql::<DB>("DELETE FROM totp_factors WHERE user_id = $1").arg(user);
        drop_factor::<DB>(&self.pool, delete, user, keep, now).await
    }

    async fn replace_recovery_codes(&self, user: Uuid, hashes: &[Vec<u8>]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        put_recovery_codes::<DB>(&mut tx, user, hashes).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn use_recovery_code(&self, user: Uuid, hash: &[u8], now: Timestamp) -> Result<bool, StoreError> {
        let done = sql::<DB>(
            "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .arg(now)
        .arg(user)
        .arg(hash)
        .execute(DB::pooled(&self.pool))
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn recovery_codes_left(&self, user: Uuid) -> Result<i64, StoreError> {
        Ok(sql::<DB>("SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .arg(user)
            .try_map(|row: DB::Row| row.int("n"))
            .fetch_one(DB::pooled(&self.pool))
            .await?)
    }

    async fn webauthn_credentials(&self, user: Uuid) -> Result<Vec<WebauthnCredential>, StoreError> {
        Ok(sql::<DB>("SELECT * FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id")
            .arg(user)
            .try_map(|row: DB::Row| {
                Ok(WebauthnCredential {
                    id: row.uuid("id")?,
                    user_id: row.uuid("user_id")?,
                    credential_id: row.bytes("credential_id")?,
                    name: row.text("name")?,
                    credential: row.text("credential")?,
                    created_at: row.time("created_at")?,
                    last_used_at: row.opt_time("last_used_at")?,
                })
            })
            .fetch_all(DB::pooled(&self.pool))
            .await?)
    }

    async fn add_webauthn_credential(&self, cred: &WebauthnCredential) -> Result<(), StoreError> {
        sql::<DB>(
            "INSERT INTO webauthn_credentials (id, user_id, credential_id, name, credential, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .arg(cred.id)
        .arg(cred.user_id)
        .arg(cred.credential_id.as_slice())
        .arg(cred.name.as_str())
        .arg(cred.credential.as_str())
        .arg(cred.created_at)
        .execute(DB::pooled(&self.pool))
        .await
        .on_unique("credential_id")?;
        Ok(())
    }

    async fn webauthn_used(&self, id: Uuid, credential: &str, now: Timestamp) -> Result<(), StoreError> {
        sql::<DB>("UPDATE webauthn_credentials SET credential = $1, last_used_at = $2 WHERE id = $3")
            .arg(credential)
            .arg(now)
            .arg(id)
            .execute(DB::pooled(&self.pool))
            .await?;
        Ok(())
    }

    async fn remove_webauthn_credential(
        &self,
        user: Uuid,
        id: Uuid,
        keep: Uuid,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let delete =
            sql::<DB>("DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2").arg(id).arg(user);
        drop_factor::<DB>(&self.pool, delete, user, keep, now).await
    }

    async fn rename_webauthn_credential(&self, user: Uuid, id: Uuid, name: &str) -> Result<bool, StoreError> {
        let done = sql::<DB>("UPDATE webauthn_credentials SET name = $1 WHERE id = $2 AND user_id = $3")
            .arg(name)
            .arg(id)
            .arg(user)
            .execute(DB::pooled(&self.pool))
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_ceremony(&self, c: &Ceremony, now: Timestamp) -> Result<(), StoreError> {
        sql::<DB>(
            "INSERT INTO ceremonies (token_hash, kind, user_id, stamp, scope, device_name, address, state, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .arg(c.token_hash.as_slice())
        .arg(c.kind.as_str())
        .arg(c.user_id)
        .arg(c.stamp)
        .arg(c.scope.as_str())
        .arg(c.device_name.as_str())
        .arg(c.address.as_str())
        .arg(c.state.clone())
        .arg(now)
        .arg(c.expires_at)
        .execute(DB::pooled(&self.pool))
        .await?;
        Ok(())
    }

    async fn ceremony(
        &self,
        token_hash: &[u8],
        kind: &str,
        now: Timestamp,
    ) -> Result<Option<Ceremony>, StoreError> {
        Ok(sql::<DB>(
            "SELECT * FROM ceremonies WHERE token_hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .arg(token_hash)
        .arg(kind)
        .arg(now)
        .try_map(|row: DB::Row| {
            Ok(Ceremony {
                token_hash: row.bytes("token_hash")?,
                kind: row.text("kind")?,
                user_id: row.uuid("user_id")?,
                stamp: row.int("stamp")?,
                scope: row.text("scope")?,
                device_name: row.text("device_name")?,
                address: row.text("address")?,
                state: row.opt_text("state")?,
                failures: row.int("failures")?,
                expires_at: row.time("expires_at")?,
            })
        })
        .fetch_optional(DB::pooled(&self.pool))
        .await?)
    }

    async fn finish_ceremony(&self, token_hash: &[u8], now: Timestamp) -> Result<bool, StoreError> {
        let done = sql::<DB>(
            "UPDATE ceremonies SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .arg(now)
        .arg(token_hash)
        .execute(DB::pooled(&self.pool))
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn ceremony_failed(&self, token_hash: &[u8]) -> Result<i64, StoreError> {
        Ok(sql::<DB>(
            "UPDATE ceremonies SET failures = failures + 1 WHERE token_hash = $1 RETURNING failures",
        )
        .arg(token_hash)
        .try_map(|row: DB::Row| row.int("failures"))
        .fetch_optional(DB::pooled(&self.pool))
        .await?
        .unwrap_or(i64::MAX))
    }
}

/// Removes a factor with `delete` (false when it removed nothing), the recovery codes when no
/// factor is left, and every session of `user` but `keep`: one transaction.
async fn drop_factor<DB: Engine>(
    pool: &Pool<DB>,
    delete: Query<'static, DB, DB::Arguments>,
    user: Uuid,
    keep: Uuid,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    if delete.execute(DB::on(&mut tx)).await?.rows_affected() == 0 {
        return Ok(false);
    }
    sql::<DB>(
        "DELETE FROM recovery_codes WHERE user_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM webauthn_credentials WHERE user_id = $1) \
         AND NOT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL)",
    )
    .arg(user)
    .execute(DB::on(&mut tx))
    .await?;
    end_others::<DB>(&mut tx, user, Some(keep), now).await?;
    tx.commit().await?;
    Ok(true)
}

/// In a transaction: ends every live session of `user` but `keep`.
pub(super) async fn end_others<DB: Engine>(
    conn: &mut DB::Connection,
    user: Uuid,
    keep: Option<Uuid>,
    now: Timestamp,
) -> Result<u64, StoreError> {
    // A nil id matches no session: `keep` absent ends them all.
    let done = sql::<DB>(
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL",
    )
    .arg(now)
    .arg(user)
    .arg(keep.unwrap_or(Uuid::nil()))
    .execute(DB::on(conn))
    .await?;
    Ok(done.rows_affected())
}

async fn put_recovery_codes<DB: Engine>(
    conn: &mut DB::Connection,
    user: Uuid,
    hashes: &[Vec<u8>],
) -> Result<(), StoreError> {
    sql::<DB>("DELETE FROM recovery_codes WHERE user_id = $1").arg(user).execute(DB::on(conn)).await?;
    for hash in hashes {
        sql::<DB>("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .arg(user)
            .arg(hash.as_slice())
            .execute(DB::on(conn))
            .await?;
    }
    Ok(())
}
