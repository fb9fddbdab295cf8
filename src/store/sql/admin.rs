//! The audit trail, invites and the operator's administration: the [`AdminStore`]
//! implementation.

use async_trait::async_trait;
use uuid::Uuid;

use super::security::end_others;
use super::{Affected, Arg, Columns, Engine, SqlStore, sql};
use crate::domain::Timestamp;
use crate::store::{AdminStore, AuditEvent, Backend, NewAuditEvent, StoreError, UserSummary};

#[async_trait]
impl<DB: Engine> AdminStore for SqlStore<DB> {
    async fn append_audit(&self, e: &NewAuditEvent) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_audit::<DB>(&mut conn, e).await
    }

    async fn audit_events(
        &self,
        user: Uuid,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(sql::<DB>(
            "SELECT id, at, kind, session_id, address, detail FROM audit_events \
             WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .arg(user)
        .arg(before.unwrap_or(i64::MAX))
        .arg(limit)
        .try_map(|row: DB::Row| {
            Ok(AuditEvent {
                id: row.int("id")?,
                at: row.time("at")?,
                kind: row.text("kind")?,
                session_id: row.opt_uuid("session_id")?,
                address: row.text("address")?,
                detail: row.text("detail")?,
            })
        })
        .fetch_all(DB::pooled(&self.pool))
        .await?)
    }

    async fn prune_security(&self, before: Timestamp, now: Timestamp) -> Result<u64, StoreError> {
        let mut pruned = 0;
        for statement in [
            "DELETE FROM audit_events WHERE at < $1",
            "DELETE FROM ceremonies WHERE expires_at < $2",
            "DELETE FROM invites WHERE expires_at < $2",
        ] {
            pruned += sql::<DB>(statement)
                .arg(before)
                .arg(now)
                .execute(DB::pooled(&self.pool))
                .await?
                .rows_affected();
        }
        if DB::BACKEND == Backend::Sqlite {
            pruned += sql::<DB>("DELETE FROM notifications WHERE at < $1")
                .arg(now.minus(std::time::Duration::from_secs(60)))
                .execute(DB::pooled(&self.pool))
                .await?
                .rows_affected();
        }
        Ok(pruned)
    }

    async fn create_invite(
        &self,
        hash: &[u8],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        sql::<DB>("INSERT INTO invites (code_hash, created_at, expires_at) VALUES ($1, $2, $3)")
            .arg(hash)
            .arg(now)
            .arg(expires_at)
            .execute(DB::pooled(&self.pool))
            .await?;
        Ok(())
    }

    async fn user_summaries(
        &self,
        now: Timestamp,
        only: Option<&str>,
    ) -> Result<Vec<UserSummary>, StoreError> {
        Ok(sql::<DB>(
            "SELECT u.id, u.username, u.created_at, u.disabled_at, u.quota_bytes, u.quota_vaults, \
             (SELECT COUNT(*) FROM vaults v WHERE v.user_id = u.id) AS vaults, \
             (SELECT CAST(COALESCE(SUM(v.size), 0) AS BIGINT) FROM vaults v WHERE v.user_id = u.id) AS bytes, \
             (SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id AND s.revoked_at IS NULL \
                AND s.expires_at > $1) AS sessions, \
             (SELECT COUNT(*) FROM totp_factors t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) AS totp, \
             (SELECT COUNT(*) FROM webauthn_credentials w WHERE w.user_id = u.id) AS webauthn \
             FROM users u WHERE $2 = '' OR u.username = $2 ORDER BY u.username",
        )
        .arg(now)
        .arg(only.unwrap_or_default())
        .try_map(|row: DB::Row| {
            Ok(UserSummary {
                id: row.uuid("id")?,
                username: row.text("username")?,
                created_at: row.time("created_at")?,
                disabled_at: row.opt_time("disabled_at")?,
                vaults: row.int("vaults")?,
                bytes: row.int("bytes")?,
                sessions: row.int("sessions")?,
                totp: row.int("totp")? > 0,
                webauthn: row.int("webauthn")?,
                quota_bytes: row.opt_int("quota_bytes")?,
                quota_vaults: row.opt_int("quota_vaults")?,
            })
        })
        .fetch_all(DB::pooled(&self.pool))
        .await?)
    }

    async fn set_disabled(&self, user: Uuid, disabled: Option<Timestamp>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sql::<DB>("UPDATE users SET disabled_at = $1 WHERE id = $2")
            .arg(disabled)
            .arg(user)
            .execute(DB::on(&mut tx))
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(now) = disabled {
            end_others::<DB>(&mut tx, user, None, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn reset_factors(&self, user: Uuid, now: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut removed = 0;
        for (statement, counts) in [
            ("DELETE FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL", true),
            ("DELETE FROM webauthn_credentials WHERE user_id = $1", true),
            ("DELETE FROM totp_factors WHERE user_id = $1", false),
            ("DELETE FROM recovery_codes WHERE user_id = $1", false),
        ] {
            let done = sql::<DB>(statement).arg(user).execute(DB::on(&mut tx)).await?;
            removed += if counts { done.rows_affected() } else { 0 };
        }
        end_others::<DB>(&mut tx, user, None, now).await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn set_user_quota(
        &self,
        user: Uuid,
        bytes: Option<i64>,
        vaults: Option<i64>,
    ) -> Result<bool, StoreError> {
        let done = sql::<DB>("UPDATE users SET quota_bytes = $1, quota_vaults = $2 WHERE id = $3")
            .arg(bytes)
            .arg(vaults)
            .arg(user)
            .execute(DB::pooled(&self.pool))
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn notify_servers(&self, payload: &str, now: Timestamp) -> Result<(), StoreError> {
        let statement = match DB::BACKEND {
            Backend::Postgres => "SELECT pg_notify('blindvault_invalidate', $1), $2",
            Backend::Sqlite => "INSERT INTO notifications (payload, at) VALUES ($1, $2)",
        };
        sql::<DB>(statement).arg(payload).arg(now).execute(DB::pooled(&self.pool)).await?;
        Ok(())
    }
}

/// Appends `e` to the audit trail on `conn` (a transaction's, to keep it with its change).
pub(super) async fn insert_audit<DB: Engine>(
    conn: &mut DB::Connection,
    e: &NewAuditEvent,
) -> Result<(), StoreError> {
    sql::<DB>(
        "INSERT INTO audit_events (user_id, at, kind, session_id, address, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .arg(e.user_id)
    .arg(e.at)
    .arg(e.kind)
    .arg(e.session_id)
    .arg(e.address.as_str())
    .arg(e.detail.as_str())
    .execute(DB::on(conn))
    .await?;
    Ok(())
}
