//! Consistent snapshots of the Postgres metadata database, made by the server itself: no
//! `pg_dump` (whose client must be at least as new as the server it dumps, which an image
//! cannot promise for every server it will meet) and no PostgreSQL client in the image.
//!
//! A snapshot is read in one `REPEATABLE READ, READ ONLY` transaction, so every table is seen
//! at the same instant while the server keeps serving. The file holds a header line, the
//! header (the migrations the database had applied, and each table with its columns, in an
//! order that loads parents before the rows that reference them), then each table's rows in
//! `COPY ... (FORMAT binary)` (exact values, no text round trip) preceded by its length, then a
//! trailer that proves the file is whole. The schema is not in the file: loading brings an
//! empty database to the snapshot's migration version with this binary's own migrations, then
//! copies the rows in, all in one transaction, and moves identity sequences past the rows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgConnection, PgPool};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};

use super::StoreError;

/// The first line of every snapshot.
const MAGIC: &[u8] = b"blindvault postgres snapshot 1\n";
/// The last bytes of every whole snapshot.
const TRAILER: &[u8] = b"\nend of blindvault snapshot\n";
/// The most a header may take (it names tables and columns: a few KiB).
const MAX_HEADER: u32 = 1 << 20;

/// What a snapshot holds, ahead of the rows.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    /// The migrations the database had applied, ascending.
    migrations: Vec<i64>,
    /// Every table, parents before the tables that reference them.
    tables: Vec<Table>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Table {
    name: String,
    columns: Vec<String>,
}

fn snapshot_error(what: impl Into<String>) -> StoreError {
    StoreError::Snapshot(what.into())
}

/// `name` as a quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column_list(table: &Table) -> String {
    table.columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ")
}

/// Writes a snapshot of the database to the new file `to`.
pub(super) async fn export(pool: &PgPool, to: &Path) -> Result<(), StoreError> {
    let mut tx = pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
    let migrations: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&mut *tx)
            .await?;
    let header = Header { migrations, tables: tables(&mut tx).await? };
    let mut out = BufWriter::new(tokio::fs::File::create_new(to).await?);
    let json = serde_json::to_vec(&header).map_err(|e| snapshot_error(e.to_string()))?;
    out.write_all(MAGIC).await?;
    out.write_u32(u32::try_from(json.len()).map_err(|_| snapshot_error("header too large"))?).await?;
    out.write_all(&json).await?;
    for table in &header.tables {
        // The length goes before the rows: written as a placeholder, filled in after them.
        out.flush().await?;
        let at = out.get_mut().stream_position().await?;
        out.write_u64(0).await?;
        let statement =
            format!("COPY {} ({}) TO STDOUT (FORMAT binary)", ident(&table.name), column_list(table));
        let mut rows = tx.copy_out_raw(&statement).await?;
        let mut len = 0u64;
        while let Some(chunk) = rows.try_next().await? {
            len += chunk.len() as u64;
            out.write_all(&chunk).await?;
        }
        drop(rows);
        out.flush().await?;
        let file = out.get_mut();
        let end = file.stream_position().await?;
        file.seek(std::io::SeekFrom::Start(at)).await?;
        file.write_u64(len).await?;
        file.seek(std::io::SeekFrom::Start(end)).await?;
    }
    out.write_all(TRAILER).await?;
    out.flush().await?;
    out.get_mut().sync_all().await?;
    tx.commit().await?;
    Ok(())
}

/// Loads the snapshot in `from` into the database, which must hold no rows: `migrate_to`
/// first brings its schema to the snapshot's version, then the rows go in in one transaction
/// (a failure leaves the schema and no rows, so the load can simply be run again).
pub(super) async fn import<F, Fut>(pool: &PgPool, from: &Path, migrate_to: F) -> Result<(), StoreError>
where
    F: FnOnce(i64) -> Fut,
    Fut: Future<Output = Result<(), StoreError>>,
{
    let mut file = tokio::fs::File::open(from).await?;
    let mut magic = vec![0u8; MAGIC.len()];
    if file.read_exact(&mut magic).await.is_err() || magic != MAGIC {
        return Err(snapshot_error("not a blindvault Postgres snapshot"));
    }
    let len = file.read_u32().await?;
    if len > MAX_HEADER {
        return Err(snapshot_error("the snapshot's header is damaged"));
    }
    let mut json = vec![0u8; len as usize];
    file.read_exact(&mut json).await?;
    let header: Header =
        serde_json::from_slice(&json).map_err(|_| snapshot_error("the snapshot's header is damaged"))?;
    let Some(&version) = header.migrations.last() else {
        return Err(snapshot_error("the snapshot holds no schema"));
    };

    let mut conn = pool.acquire().await?;
    if let Some(table) = first_with_rows(&mut conn).await? {
        return Err(snapshot_error(format!(
            "the database is not empty (table {table} holds rows): restore into a new, empty one"
        )));
    }
    drop(conn);
    migrate_to(version).await.map_err(|e| match e {
        StoreError::Conflict(_) => snapshot_error(format!(
            "the snapshot is of schema version {version}, which this binary does not ship: \
             restore it with the blindvault that made it"
        )),
        other => other,
    })?;

    let mut tx = pool.begin().await?;
    for table in &header.tables {
        sqlx::query(AssertSqlSafe(format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", ident(&table.name))))
            .execute(&mut *tx)
            .await?;
    }
    if let Some(table) = first_with_rows(&mut tx).await? {
        return Err(snapshot_error(format!("table {table} gained rows during the restore")));
    }
    for table in &header.tables {
        let len = file.read_u64().await?;
        let statement =
            format!("COPY {} ({}) FROM STDIN (FORMAT binary)", ident(&table.name), column_list(table));
        let mut copy = tx.copy_in_raw(&statement).await?;
        copy.read_from((&mut file).take(len)).await?;
        copy.finish().await?;
    }
    let mut trailer = vec![0u8; TRAILER.len()];
    if file.read_exact(&mut trailer).await.is_err() || trailer != TRAILER {
        return Err(snapshot_error("the snapshot is truncated"));
    }
    for table in &header.tables {
        for column in &table.columns {
            let sequence: Option<String> = sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
                .bind(ident(&table.name))
                .bind(column)
                .fetch_one(&mut *tx)
                .await?;
            if let Some(sequence) = sequence {
                let statement = format!(
                    "SELECT setval($1, COALESCE(max({}), 0) + 1, false) FROM {}",
                    ident(column),
                    ident(&table.name)
                );
                sqlx::query(AssertSqlSafe(statement)).bind(sequence).execute(&mut *tx).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The tables of the current schema with their columns, parents before children: all but the
/// migrations' own and `user_usage`, which is derived (its triggers count the rows back in as
/// they load).
async fn tables(conn: &mut PgConnection) -> Result<Vec<Table>, StoreError> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
           AND c.relname NOT IN ('_sqlx_migrations', 'user_usage')
           AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
         ORDER BY c.relname, a.attnum",
    )
    .fetch_all(&mut *conn)
    .await?;
    let references: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, p.relname::text
         FROM pg_constraint k
         JOIN pg_class c ON c.oid = k.conrelid
         JOIN pg_class p ON p.oid = k.confrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE k.contype = 'f' AND n.nspname = current_schema()",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut by_table: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (table, column) in columns {
        by_table.entry(table).or_default().push(column);
    }
    let order = load_order(by_table.keys().cloned().collect(), &references)?;
    Ok(order
        .into_iter()
        .map(|name| {
            let columns = by_table.remove(&name).unwrap_or_default();
            Table { name, columns }
        })
        .collect())
}

/// `tables` ordered so that each comes after every table it references (`(child, parent)`
/// pairs; a table referencing itself is no constraint on the order). Ties in name order.
fn load_order(tables: BTreeSet<String>, references: &[(String, String)]) -> Result<Vec<String>, StoreError> {
    let mut pending = tables;
    let mut order = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready: Vec<String> = pending
            .iter()
            .filter(|t| !references.iter().any(|(c, p)| c == *t && p != *t && pending.contains(p)))
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(snapshot_error("tables reference each other in a cycle"));
        }
        for table in ready {
            pending.remove(&table);
            order.push(table);
        }
    }
    Ok(order)
}

/// The first table of the current schema (but the migrations' own) that holds a row.
async fn first_with_rows(conn: &mut PgConnection) -> Result<Option<String>, StoreError> {
    for table in tables(conn).await? {
        let statement = format!("SELECT EXISTS (SELECT 1 FROM {})", ident(&table.name));
        if sqlx::query_scalar::<_, bool>(AssertSqlSafe(statement)).fetch_one(&mut *conn).await? {
            return Ok(Some(table.name));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(c, p)| (c.to_string(), p.to_string())).collect()
    }

    #[test]
    fn parents_load_before_children() {
        let refs = pairs(&[("sessions", "users"), ("refresh", "sessions"), ("vaults", "users"), ("a", "a")]);
        let order = load_order(names(&["a", "refresh", "sessions", "users", "vaults"]), &refs).unwrap();
        assert_eq!(order, ["a", "users", "sessions", "vaults", "refresh"]);
    }

    #[test]
    fn a_cycle_is_refused() {
        let refs = pairs(&[("x", "y"), ("y", "x")]);
        assert!(matches!(load_order(names(&["x", "y"]), &refs), Err(StoreError::Snapshot(_))));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(ident("users"), "\"users\"");
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
    }
}
