//! The per-user change log. Each change takes the next number from the user's row in
//! `change_heads` inside the transaction that makes it: the row stays locked until that
//! transaction ends, so numbers are handed out in commit order and a reader that has seen
//! change n has seen every change before it.

use std::collections::HashMap;

use sqlx::Pool;
use uuid::Uuid;

use super::{Arg, Columns, Engine, rows, sql};
use crate::domain::{ChangesSince, NewChange, Timestamp};
use crate::store::StoreError;

/// Logs `change` of `user` in the transaction on `conn`. The last statement of a change's
/// transaction, so that the user's head row is held only while it commits.
pub(super) async fn append_change<DB: Engine>(
    conn: &mut DB::Connection,
    user: Uuid,
    change: &NewChange,
    now: Timestamp,
) -> Result<(), StoreError> {
    let seq = sql::<DB>(
        "INSERT INTO change_heads (user_id, seq) VALUES ($1, 1) \
         ON CONFLICT (user_id) DO UPDATE SET seq = change_heads.seq + 1 RETURNING seq",
    )
    .arg(user)
    .try_map(|row: DB::Row| row.int("seq"))
    .fetch_one(DB::on(conn))
    .await?;
    sql::<DB>(
        "INSERT INTO changes (user_id, seq, kind, vault_id, revision, etag, trash_id, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .arg(user)
    .arg(seq)
    .arg(change.kind.as_str())
    .arg(change.vault_id.as_str())
    .arg(change.revision)
    .arg(change.etag.clone())
    .arg(change.trash_id)
    .arg(now)
    .execute(DB::on(conn))
    .await?;
    Ok(())
}

/// The user's head: (newest position, compacted through).
async fn head_row<DB: Engine>(pool: &Pool<DB>, user: Uuid) -> Result<(i64, i64), StoreError> {
    let row = sql::<DB>("SELECT seq, compacted_through FROM change_heads WHERE user_id = $1")
        .arg(user)
        .try_map(|row: DB::Row| Ok((row.int("seq")?, row.int("compacted_through")?)))
        .fetch_optional(DB::pooled(pool))
        .await?;
    Ok(row.unwrap_or((0, 0)))
}

pub(super) async fn head<DB: Engine>(pool: &Pool<DB>, user: Uuid) -> Result<i64, StoreError> {
    Ok(head_row(pool, user).await?.0)
}

pub(super) async fn since<DB: Engine>(
    pool: &Pool<DB>,
    user: Uuid,
    since: i64,
    limit: i64,
) -> Result<ChangesSince, StoreError> {
    let (head, compacted) = head_row(pool, user).await?;
    // A cursor from before what compaction kept, or from beyond the head (a database restored
    // from a backup): the client cannot catch up from the log.
    if since < compacted || since > head {
        return Ok(ChangesSince::Expired);
    }
    let changes = sql::<DB>("SELECT * FROM changes WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
        .arg(user)
        .arg(since)
        .arg(limit)
        .try_map(rows::logged_change)
        .fetch_all(DB::pooled(pool))
        .await?;
    Ok(ChangesSince::Changes { changes, head })
}

pub(super) async fn compact<DB: Engine>(
    pool: &Pool<DB>,
    before: Timestamp,
    limit: i64,
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    if !DB::try_sweep_lock(&mut tx).await? {
        return Ok(0);
    }
    let gone = sql::<DB>(
        "DELETE FROM changes WHERE (user_id, seq) IN \
         (SELECT user_id, seq FROM changes WHERE at < $1 ORDER BY at LIMIT $2) RETURNING user_id, seq",
    )
    .arg(before)
    .arg(limit)
    .try_map(|row: DB::Row| Ok((row.uuid("user_id")?, row.int("seq")?)))
    .fetch_all(DB::on(&mut tx))
    .await?;
    let mut through: HashMap<Uuid, i64> = HashMap::new();
    for (user, seq) in &gone {
        let top = through.entry(*user).or_default();
        *top = (*top).max(*seq);
    }
    for (user, seq) in through {
        sql::<DB>(
            "UPDATE change_heads SET compacted_through = $2 WHERE user_id = $1 AND compacted_through < $2",
        )
        .arg(user)
        .arg(seq)
        .execute(DB::on(&mut tx))
        .await?;
    }
    tx.commit().await?;
    Ok(gone.len() as u64)
}
