//! Vaults, the quota check inside each commit, and the object-deletion queue.

use async_trait::async_trait;
use uuid::Uuid;

use super::changes::append_change;
use super::retention::keep_replaced;
use super::shared::{
    enqueue_object, lock_user, over_quota, select_usage, select_vault, select_vault_for_update,
};
use super::small_objects::insert_small_object;
use super::trash::{bury, purge_uid};
use super::{Affected, Arg, AtOnce, AtOnceOutcome, Columns, Engine, SqlStore, UserLock, rows, sql};
use crate::domain::{ChangeKind, NewChange, Precondition, Timestamp, Upload, Vault};
use crate::store::{
    Change, ChangeOutcome, CreateOutcome, NewRevision, Quota, StoreError, Usage, VaultStore, object_key,
};

#[async_trait]
impl<DB: Engine> VaultStore for SqlStore<DB> {
    async fn vault(&self, user: Uuid, vault_id: &str) -> Result<Option<Vault>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        select_vault::<DB>(&mut conn, user, vault_id).await
    }

    async fn list_vaults(&self, user: Uuid, after: &str, limit: i64) -> Result<Vec<Vault>, StoreError> {
        Ok(sql::<DB>("SELECT * FROM vaults WHERE user_id = $1 AND vault_id > $2 ORDER BY vault_id LIMIT $3")
            .arg(user)
            .arg(after)
            .arg(limit)
            .try_map(rows::vault)
            .fetch_all(DB::pooled(&self.pool))
            .await?)
    }

    async fn usage(&self, user: Uuid) -> Result<Usage, StoreError> {
        let mut conn = self.pool.acquire().await?;
        select_usage::<DB>(&mut conn, user, "", Timestamp::now()).await
    }

    async fn quota_of(
        &self,
        user: Uuid,
        default: &crate::store::Quota,
    ) -> Result<crate::store::Quota, StoreError> {
        let overrides = sql::<DB>("SELECT quota_bytes, quota_vaults FROM users WHERE id = $1")
            .arg(user)
            .try_map(|row: DB::Row| Ok((row.opt_int("quota_bytes")?, row.opt_int("quota_vaults")?)))
            .fetch_optional(DB::pooled(&self.pool))
            .await?
            .unwrap_or_default();
        let unsigned = |v: i64| u64::try_from(v).unwrap_or_default();
        Ok(crate::store::Quota {
            bytes: overrides.0.map(unsigned).or(default.bytes),
            vaults: overrides.1.map(unsigned).or(default.vaults),
        })
    }

    async fn begin_upload(&self, key: &str, user: Uuid, abandon_after: Timestamp) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        enqueue_object::<DB>(&mut conn, key, user, abandon_after, Timestamp::now()).await
    }

    async fn forget_object(&self, key: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for statement in [
            "DELETE FROM pending_objects WHERE object_key = $1",
            "DELETE FROM small_objects WHERE object_key = $1",
        ] {
            sql::<DB>(statement).arg(key).execute(DB::on(&mut tx)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn commit_create(&self, rev: &NewRevision, quota: &Quota) -> Result<CreateOutcome, StoreError> {
        if !quota.is_limited()
            && let Some(outcome) = DB::commit_at_once(&self.pool, AtOnce::Create(rev)).await?
        {
            return Ok(match outcome {
                AtOnceOutcome::Done(vault) => CreateOutcome::Created(*vault),
                AtOnceOutcome::UserGone => CreateOutcome::UserGone,
                AtOnceOutcome::UploadLost => CreateOutcome::UploadLost,
                // Deleted since: report it as a lost race, as the transaction does.
                AtOnceOutcome::Refused => match self.vault(rev.user_id, &rev.vault_id).await? {
                    Some(vault) => CreateOutcome::Exists(vault),
                    None => CreateOutcome::UploadLost,
                },
            });
        }
        let mut tx = self.pool.begin().await?;
        if !lock_user::<DB>(&mut tx, rev.user_id, quota).await? {
            return Ok(CreateOutcome::UserGone);
        }
        if !claim_upload::<DB>(&mut tx, rev).await? {
            return Ok(CreateOutcome::UploadLost);
        }
        let created = bind_revision::<DB>(
            "INSERT INTO vaults (user_id, vault_id, etag, revision, version, size, sha256, iv, salt, \
             created_at, updated_at, uid) VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $9, $10) \
             ON CONFLICT (user_id, vault_id) DO NOTHING RETURNING *",
            rev,
        )
        .arg(rev.uid)
        .try_map(rows::vault)
        .fetch_optional(DB::on(&mut tx))
        .await?;
        let Some(vault) = created else {
            let existing = select_vault::<DB>(&mut tx, rev.user_id, &rev.vault_id).await?;
            return Ok(match existing {
                Some(vault) => CreateOutcome::Exists(vault),
                // Deleted between the insert and the read: report it as a lost race.
                None => CreateOutcome::UploadLost,
            });
        };
        if let Some(limit) = over_quota::<DB>(&mut tx, rev.user_id, quota, &rev.etag, rev.now).await? {
            return Ok(CreateOutcome::OverQuota(limit));
        }
        append_change::<DB>(&mut tx, rev.user_id, &NewChange::of(ChangeKind::Create, &vault), rev.now)
            .await?;
        DB::announce_in(&mut tx, &Change::vault(rev.user_id, &rev.vault_id)).await?;
        tx.commit().await?;
        Ok(CreateOutcome::Created(vault))
    }

    async fn commit_replace(
        &self,
        rev: &NewRevision,
        expect: &Precondition,
        quota: &Quota,
    ) -> Result<ChangeOutcome, StoreError> {
        let expected = match expect {
            Precondition::Exists => Some(None),
            Precondition::Etag(etag) => Some(Some(etag.as_str())),
            Precondition::Absent | Precondition::AbsentOrSame => None,
        };
        if let Some(expected) = expected.filter(|_| !quota.is_limited())
            && let Some(outcome) = DB::commit_at_once(&self.pool, AtOnce::Replace(rev, expected)).await?
        {
            return Ok(match outcome {
                AtOnceOutcome::Done(vault) => ChangeOutcome::Done(Some(vault)),
                AtOnceOutcome::UserGone => ChangeOutcome::UserGone,
                AtOnceOutcome::UploadLost => ChangeOutcome::UploadLost,
                AtOnceOutcome::Refused => {
                    ChangeOutcome::Mismatch(self.vault(rev.user_id, &rev.vault_id).await?.map(|v| v.etag))
                }
            });
        }
        let mut tx = self.pool.begin().await?;
        if !lock_user::<DB>(&mut tx, rev.user_id, quota).await? {
            return Ok(ChangeOutcome::UserGone);
        }
        if !claim_upload::<DB>(&mut tx, rev).await? {
            return Ok(ChangeOutcome::UploadLost);
        }
        let current = select_vault_for_update::<DB>(&mut tx, rev.user_id, &rev.vault_id).await?;
        let old = match current {
            Some(old) if expect.admits(Some(&old.etag)) => old,
            other => return Ok(ChangeOutcome::Mismatch(other.map(|v| v.etag))),
        };
        let replaced = bind_revision::<DB>(
            "UPDATE vaults SET etag = $3, revision = revision + 1, version = $4, size = $5, sha256 = $6, \
             iv = $7, salt = $8, updated_at = $9, receipt = $10, written_as = NULL, rename_receipt = NULL \
             WHERE user_id = $1 AND vault_id = $2 AND etag = $11 RETURNING *",
            rev,
        )
        .arg(rev.receipt.clone())
        .arg(old.etag.as_str())
        .try_map(rows::vault)
        .fetch_optional(DB::on(&mut tx))
        .await?;
        let Some(vault) = replaced else {
            // Another writer committed between our read and our update.
            drop(tx);
            let now = self.vault(rev.user_id, &rev.vault_id).await?;
            return Ok(ChangeOutcome::Mismatch(now.map(|v| v.etag)));
        };
        keep_replaced::<DB>(&mut tx, &old, rev).await?;
        if let Some(limit) = over_quota::<DB>(&mut tx, rev.user_id, quota, &rev.etag, rev.now).await? {
            return Ok(ChangeOutcome::OverQuota(limit));
        }
        append_change::<DB>(&mut tx, rev.user_id, &NewChange::of(rev.kind, &vault), rev.now).await?;
        DB::announce_in(&mut tx, &Change::vault(rev.user_id, &rev.vault_id)).await?;
        tx.commit().await?;
        Ok(ChangeOutcome::Done(Some(Box::new(vault))))
    }

    async fn delete_vault(
        &self,
        user: Uuid,
        vault_id: &str,
        expect: &Precondition,
        now: Timestamp,
        trash_until: Option<Timestamp>,
        delete_after: Timestamp,
    ) -> Result<ChangeOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let wanted = match expect {
            Precondition::Exists => None,
            Precondition::Etag(e) => Some(e.clone()),
            // Nothing to delete where the vault must be absent: report what is there.
            Precondition::Absent | Precondition::AbsentOrSame => {
                let current = select_vault::<DB>(&mut tx, user, vault_id).await?;
                return Ok(ChangeOutcome::Mismatch(current.map(|v| v.etag)));
            }
        };
        // The user's row first, as every commit and account deletion take it.
        if !lock_user::<DB>(&mut tx, user, &Quota::default()).await? {
            return Ok(ChangeOutcome::Mismatch(None));
        }
        let deleted = sql::<DB>(
            "DELETE FROM vaults WHERE user_id = $1 AND vault_id = $2 AND etag = COALESCE($3, etag) \
             RETURNING *",
        )
        .arg(user)
        .arg(vault_id)
        .arg(wanted)
        .try_map(|row: DB::Row| Ok((row.int("history_bytes")?, row.int("history_count")?, rows::vault(row)?)))
        .fetch_optional(DB::on(&mut tx))
        .await?;
        let Some((history_bytes, history_count, vault)) = deleted else {
            let current = select_vault::<DB>(&mut tx, user, vault_id).await?;
            return Ok(ChangeOutcome::Mismatch(current.map(|v| v.etag)));
        };
        let mut change = NewChange::of(ChangeKind::Delete, &vault);
        match trash_until {
            Some(expires_at) => {
                bury::<DB>(&mut tx, &vault, (history_bytes, history_count), now, expires_at).await?;
                change.trash_id = Some(vault.uid);
            }
            None => purge_uid::<DB>(&mut tx, user, vault.uid, &vault.etag, delete_after, now).await?,
        }
        append_change::<DB>(&mut tx, user, &change, now).await?;
        DB::announce_in(&mut tx, &Change::vault(user, vault_id)).await?;
        tx.commit().await?;
        Ok(ChangeOutcome::Done(None))
    }

    async fn delete_account(
        &self,
        user: Uuid,
        now: Timestamp,
    ) -> Result<(Vec<String>, Vec<Upload>), StoreError> {
        let mut tx = self.pool.begin().await?;
        // First the user's row, exclusively: a commit or a new upload of this user either
        // finished before (and what it stored is found below) or waits and then finds no user.
        // Then the vaults, deleted rather than read, so that a replace committing meanwhile is
        // waited for and its new etag is the one returned.
        DB::lock_user_row(&mut tx, user, UserLock::Delete).await?;
        let mut etags = Vec::new();
        for table in [
            "DELETE FROM vaults WHERE user_id = $1 RETURNING etag",
            "DELETE FROM vault_revisions WHERE user_id = $1 RETURNING etag",
            "DELETE FROM trash WHERE user_id = $1 RETURNING etag",
        ] {
            let gone = sql::<DB>(table)
                .arg(user)
                .try_map(|row: DB::Row| row.text("etag"))
                .fetch_all(DB::on(&mut tx))
                .await?;
            etags.extend(gone);
        }
        let uploads = sql::<DB>("DELETE FROM uploads WHERE user_id = $1 AND part_etags <> '-' RETURNING *")
            .arg(user)
            .try_map(rows::upload)
            .fetch_all(DB::on(&mut tx))
            .await?;
        etags.extend(uploads.iter().map(|u| u.etag.clone()));
        let keys: Vec<String> = etags.iter().map(|e| object_key(user, e)).collect();
        for key in &keys {
            enqueue_object::<DB>(&mut tx, key, user, now, now).await?;
        }
        sql::<DB>("DELETE FROM users WHERE id = $1").arg(user).execute(DB::on(&mut tx)).await?;
        tx.commit().await?;
        Ok((keys, uploads))
    }

    async fn backlog(&self, now: Timestamp) -> Result<crate::store::Backlog, StoreError> {
        let (due_objects, oldest_due) = sql::<DB>(
            "SELECT COUNT(*) AS n, MIN(delete_after) AS oldest FROM pending_objects WHERE delete_after <= $1",
        )
        .arg(now)
        .try_map(|row: DB::Row| Ok((row.int("n")?, row.opt_time("oldest")?)))
        .fetch_one(DB::pooled(&self.pool))
        .await?;
        let expired_uploads = sql::<DB>("SELECT COUNT(*) AS n FROM uploads WHERE expires_at <= $1")
            .arg(now)
            .try_map(|row: DB::Row| row.int("n"))
            .fetch_one(DB::pooled(&self.pool))
            .await?;
        Ok(crate::store::Backlog { due_objects, oldest_due, expired_uploads })
    }

    async fn claim_expired_objects(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !DB::try_sweep_lock(&mut tx).await? {
            return Ok(Vec::new());
        }
        let keys = sql::<DB>(
            "UPDATE pending_objects SET lease_until = $1 WHERE object_key IN \
             (SELECT object_key FROM pending_objects WHERE delete_after <= $2 \
              AND (lease_until IS NULL OR lease_until <= $2) ORDER BY delete_after LIMIT $3) \
             RETURNING object_key",
        )
        .arg(lease_until)
        .arg(now)
        .arg(limit)
        .try_map(|row: DB::Row| row.text("object_key"))
        .fetch_all(DB::on(&mut tx))
        .await?;
        tx.commit().await?;
        Ok(keys)
    }
}

/// `statement` with a revision's columns bound as `$1..$9`: user, vault id, etag, version,
/// size, sha256, iv, salt, time.
pub(crate) fn bind_revision<DB: Engine>(
    statement: &'static str,
    rev: &NewRevision,
) -> sqlx::query::Query<'static, DB, DB::Arguments> {
    sql::<DB>(statement)
        .arg(rev.user_id)
        .arg(rev.vault_id.as_str())
        .arg(rev.etag.as_str())
        .arg(rev.version)
        .arg(rev.size)
        .arg(rev.sha256.as_slice())
        .arg(rev.iv.as_slice())
        .arg(rev.salt.as_slice())
        .arg(rev.now)
}

/// Takes the upload's queue entry: from now on the object belongs to the vault. False when
/// the upload is overdue or the sweeper has leased it as abandoned. A body kept in the
/// database has no queue entry: it is stored here instead, in the commit's transaction.
async fn claim_upload<DB: Engine>(conn: &mut DB::Connection, rev: &NewRevision) -> Result<bool, StoreError> {
    let key = object_key(rev.user_id, &rev.etag);
    if let Some(body) = &rev.inline {
        insert_small_object::<DB>(conn, &key, rev.user_id, body).await?;
        return Ok(true);
    }
    let claimed = sql::<DB>(
        "DELETE FROM pending_objects WHERE object_key = $1 AND delete_after > $2 AND lease_until IS NULL",
    )
    .arg(key)
    .arg(rev.now)
    .execute(DB::on(conn))
    .await?;
    Ok(claimed.rows_affected() == 1)
}
