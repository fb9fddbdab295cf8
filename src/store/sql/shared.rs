//! Statements that transactions of several kinds share: reading a vault, queuing an object
//! for deletion, locking the user's row, and the usage the quota is checked against.

use uuid::Uuid;

use super::{Arg, Engine, UserLock, rows, sql};
use crate::domain::{Timestamp, Vault};
use crate::store::{Backend, Quota, StoreError, Usage};

/// The user's vault `vault_id`, if any.
pub(super) async fn select_vault<DB: Engine>(
    conn: &mut DB::Connection,
    user: Uuid,
    vault_id: &str,
) -> Result<Option<Vault>, StoreError> {
    Ok(sql::<DB>("SELECT * FROM vaults WHERE user_id = $1 AND vault_id = $2")
        .arg(user)
        .arg(vault_id)
        .try_map(rows::vault)
        .fetch_optional(DB::on(conn))
        .await?)
}

/// The vault with its row locked to the end of the transaction (Postgres; SQLite has one
/// writer at a time), so that the etag a replace compares is the one it then updates: two
/// `If-Match: *` replaces of one vault both apply, one after the other, instead of the later
/// one failing on the etag the earlier one just changed.
pub(super) async fn select_vault_for_update<DB: Engine>(
    conn: &mut DB::Connection,
    user: Uuid,
    vault_id: &str,
) -> Result<Option<Vault>, StoreError> {
    let statement = match DB::BACKEND {
        Backend::Postgres => "SELECT * FROM vaults WHERE user_id = $1 AND vault_id = $2 FOR UPDATE",
        Backend::Sqlite => "SELECT * FROM vaults WHERE user_id = $1 AND vault_id = $2",
    };
    Ok(sql::<DB>(statement).arg(user).arg(vault_id).try_map(rows::vault).fetch_optional(DB::on(conn)).await?)
}

/// Queues `key` for deletion at `delete_after` (or moves its time there).
pub(super) async fn enqueue_object<DB: Engine>(
    conn: &mut DB::Connection,
    key: &str,
    user: Uuid,
    delete_after: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    sql::<DB>(
        "INSERT INTO pending_objects (object_key, user_id, delete_after, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (object_key) DO UPDATE SET delete_after = excluded.delete_after, lease_until = NULL",
    )
    .arg(key)
    .arg(user)
    .arg(delete_after)
    .arg(now)
    .execute(DB::on(conn))
    .await?;
    Ok(())
}

/// What `user` holds (live vaults, their history, the trash: counted by triggers into
/// `user_usage`, so this reads one row however many vaults there are) and what their open uploads
/// other than the one writing revision `except` reserve (an upload reserves its length, less
/// the size of the vault a replace frees; a create also reserves a vault), until its revision
/// is the vault's.
pub(super) async fn select_usage<DB: Engine>(
    conn: &mut DB::Connection,
    user: Uuid,
    except: &str,
    now: Timestamp,
) -> Result<Usage, StoreError> {
    Ok(sql::<DB>(
        "SELECT \
           COALESCE((SELECT bytes FROM user_usage WHERE user_id = $1), 0) AS bytes, \
           COALESCE((SELECT vaults FROM user_usage WHERE user_id = $1), 0) AS vaults, \
           COALESCE((SELECT history_bytes FROM user_usage WHERE user_id = $1), 0) AS history_bytes, \
           COALESCE((SELECT history_revisions FROM user_usage WHERE user_id = $1), 0) AS history_revisions, \
           COALESCE((SELECT trash_bytes FROM user_usage WHERE user_id = $1), 0) AS trash_bytes, \
           COALESCE((SELECT trash_vaults FROM user_usage WHERE user_id = $1), 0) AS trash_vaults, \
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
    .arg(user)
    .arg(now)
    .arg(except)
    .try_map(rows::usage)
    .fetch_one(DB::on(conn))
    .await?)
}

/// First in every commit and upload creation: locks the user's row (see [`UserLock`]), so
/// that on Postgres concurrent writers of one user decide one after another when a quota
/// applies, each seeing what the one before committed, and none slips past an account
/// deletion (SQLite has one writer at a time anyway, and this write makes the transaction that
/// writer from its first statement). Taken before any other row, as account deletion does, so
/// the two cannot deadlock. False when the user is gone.
pub(super) async fn lock_user<DB: Engine>(
    conn: &mut DB::Connection,
    user: Uuid,
    quota: &Quota,
) -> Result<bool, StoreError> {
    let lock = match quota.is_limited() {
        true => UserLock::Serialize,
        false => UserLock::Share,
    };
    DB::lock_user_row(conn, user, lock).await
}

/// After the change, in the same transaction (locked by [`lock_user`]): the limit of `quota`
/// the user is now past, if any; the caller then drops the transaction.
pub(super) async fn over_quota<DB: Engine>(
    conn: &mut DB::Connection,
    user: Uuid,
    quota: &Quota,
    except: &str,
    now: Timestamp,
) -> Result<Option<&'static str>, StoreError> {
    if !quota.is_limited() {
        return Ok(None);
    }
    Ok(select_usage::<DB>(conn, user, except, now).await?.exceeds(quota))
}
