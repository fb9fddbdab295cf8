//! A write in one round trip on PostgreSQL: `blindvault_create` and `blindvault_replace`
//! (migration 20261207000001) run the statements of a commit's transaction inside the
//! database, so a small write costs one statement from here instead of eight (each a round
//! trip, and on a busy machine a pair of context switches on either side). A refusal is an
//! outcome, decided before anything is written, not an error in the database's log.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres};

use super::StoreError;
use super::feed::{CHANNEL, Change};
use super::sql::{AtOnce, AtOnceOutcome, Columns, bind_revision, rows_vault};
use super::vaults::object_key;
use crate::domain::Retention;

/// Runs `write` as one call of its function (one statement: its own transaction).
pub(super) async fn commit(pool: &PgPool, write: AtOnce<'_>) -> Result<AtOnceOutcome, StoreError> {
    let (rev, query) = match write {
        AtOnce::Create(rev) => {
            let query = bind_revision::<Postgres>(
                "SELECT outcome, (vault).* FROM blindvault_create($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                 $13, $14, $15)",
                rev,
            )
            .bind(rev.uid)
            .bind(object_key(rev.user_id, &rev.etag))
            .bind(rev.inline.as_deref());
            (rev, query)
        }
        AtOnce::Replace(rev, expect) => {
            let history =
                (rev.retention != Retention::NONE).then_some(i64::from(rev.retention.keep_revisions));
            let query = bind_revision::<Postgres>(
                "SELECT outcome, (vault).* FROM blindvault_replace($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                 $13, $14, $15, $16, $17, $18, $19, $20)",
                rev,
            )
            .bind(rev.receipt.as_deref())
            .bind(object_key(rev.user_id, ""))
            .bind(object_key(rev.user_id, &rev.etag))
            .bind(rev.inline.as_deref())
            .bind(expect)
            .bind(history)
            .bind(rev.now.minus(rev.retention.keep_for))
            .bind(rev.old_object_delete_after);
            (rev, query)
        }
    };
    // Both functions end with the change log's kind and the announcement to other replicas.
    let result = query
        .bind(rev.kind.as_str())
        .bind(CHANNEL)
        .bind(Change::vault(rev.user_id, &rev.vault_id).encode())
        .try_map(outcome)
        .fetch_one(pool)
        .await;
    match result {
        Ok(outcome) => Ok(outcome),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23503") => Ok(AtOnceOutcome::UserGone),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("BV002") => {
            Ok(AtOnceOutcome::UploadLost)
        }
        Err(e) => Err(e.into()),
    }
}

/// A row of the functions' answer: the outcome, then the vault's columns (null unless done).
fn outcome(row: PgRow) -> Result<AtOnceOutcome, sqlx::Error> {
    Ok(match row.text("outcome")?.as_str() {
        "done" => AtOnceOutcome::Done(Box::new(rows_vault(row)?)),
        "user_gone" => AtOnceOutcome::UserGone,
        "upload_lost" => AtOnceOutcome::UploadLost,
        "refused" => AtOnceOutcome::Refused,
        other => return Err(sqlx::Error::Decode(format!("unknown commit outcome {other:?}").into())),
    })
}
