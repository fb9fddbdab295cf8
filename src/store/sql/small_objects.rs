//! Bodies kept in the database: written in the commit's own transaction (no object-store
//! request, no upload queue entry), read by object key, dropped with the queue entry the
//! sweeper deletes, or with their account.

use async_trait::async_trait;
use bytes::Bytes;
use uuid::Uuid;

use super::{Arg, Columns, Engine, SqlStore, sql};
use crate::store::{SmallObjectStore, StoreError};

/// Keeps `body` under `key` for `user`, in the caller's transaction.
pub(super) async fn insert_small_object<DB: Engine>(
    conn: &mut DB::Connection,
    key: &str,
    user: Uuid,
    body: &[u8],
) -> Result<(), StoreError> {
    sql::<DB>("INSERT INTO small_objects (object_key, user_id, body) VALUES ($1, $2, $3)")
        .arg(key)
        .arg(user)
        .arg(body)
        .execute(DB::on(conn))
        .await?;
    Ok(())
}

#[async_trait]
impl<DB: Engine> SmallObjectStore for SqlStore<DB> {
    async fn small_object(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        Ok(sql::<DB>("SELECT body FROM small_objects WHERE object_key = $1")
            .arg(key)
            .try_map(|row: DB::Row| row.bytes("body"))
            .fetch_optional(DB::pooled(&self.pool))
            .await?
            .map(Bytes::from))
    }

    async fn small_object_keys(&self, user: Uuid) -> Result<Vec<String>, StoreError> {
        Ok(sql::<DB>("SELECT object_key FROM small_objects WHERE user_id = $1 ORDER BY object_key")
            .arg(user)
            .try_map(|row: DB::Row| row.text("object_key"))
            .fetch_all(DB::pooled(&self.pool))
            .await?)
    }

    async fn small_objects_after(&self, after: &str, limit: i64) -> Result<Vec<(String, Bytes)>, StoreError> {
        Ok(sql::<DB>(
            "SELECT object_key, body FROM small_objects WHERE object_key > $1 ORDER BY object_key LIMIT $2",
        )
        .arg(after)
        .arg(limit)
        .try_map(|row: DB::Row| Ok((row.text("object_key")?, Bytes::from(row.bytes("body")?))))
        .fetch_all(DB::pooled(&self.pool))
        .await?)
    }

    async fn drop_small_object(&self, key: &str) -> Result<bool, StoreError> {
        let done = sql::<DB>("DELETE FROM small_objects WHERE object_key = $1")
            .arg(key)
            .execute(DB::pooled(&self.pool))
            .await?;
        Ok(super::Affected::rows_affected(&done) == 1)
    }
}
