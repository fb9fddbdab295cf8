use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use uuid::Uuid;

use sqlx::migrate::Migrator;
use sqlx::{Executor, Sqlite, SqliteConnection};

use super::feed::{Change, ChangeFeed, ChangeStream};
use super::sql::{AtOnce, AtOnceOutcome, Engine, SqlStore, UserLock};
use super::{Backend, StoreError};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// [`MetadataStore`](super::MetadataStore) on an SQLite file: WAL journal, full fsync on
/// commit (an acknowledged write survives power loss), foreign keys on.
pub type SqliteStore = SqlStore<Sqlite>;

impl SqlStore<Sqlite> {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`, or
    /// `sqlite::memory:` with one connection for tests).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self { pool, listen_pool: None })
    }
}

impl Engine for Sqlite {
    const BACKEND: Backend = Backend::Sqlite;

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn on(conn: &mut SqliteConnection) -> impl Executor<'_, Database = Self> {
        conn
    }

    fn pooled(pool: &SqlitePool) -> impl Executor<'_, Database = Self> {
        pool
    }

    /// One process owns an SQLite file, and the claim is one statement: nothing to lock.
    async fn snapshot(pool: &SqlitePool, to: &Path) -> Result<(), StoreError> {
        let path =
            to.to_str().ok_or_else(|| StoreError::Snapshot("the snapshot's path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1").bind(path).execute(pool).await?;
        Ok(())
    }

    async fn load_snapshot(_pool: &SqlitePool, _from: &Path) -> Result<(), StoreError> {
        Err(StoreError::Snapshot("an SQLite snapshot is restored by putting the file in place".into()))
    }

    async fn try_sweep_lock(_conn: &mut SqliteConnection) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// SQLite has one writer at a time: writing the user's row first makes this transaction
    /// that writer from its first statement (as `BEGIN IMMEDIATE` would), so that what it reads
    /// next cannot be overtaken by another writer.
    async fn lock_user_row(
        conn: &mut SqliteConnection,
        user: Uuid,
        _lock: UserLock,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
            .bind(user)
            .execute(conn)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Nothing to lock: SQLite has one writer at a time, and an attempt writes first.
    async fn lock_throttle_key(_conn: &mut SqliteConnection, _key: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn announce_in(_conn: &mut SqliteConnection, _change: &Change) -> Result<(), StoreError> {
        Ok(())
    }

    /// In-process: a round trip costs nothing, so the transaction runs as it is.
    async fn commit_at_once(
        _pool: &SqlitePool,
        _write: AtOnce<'_>,
    ) -> Result<Option<AtOnceOutcome>, StoreError> {
        Ok(None)
    }
}

#[async_trait::async_trait]
impl ChangeFeed for SqliteStore {
    /// One process owns the file: there is nobody to tell.
    async fn publish(&self, _change: &Change) -> Result<(), StoreError> {
        Ok(())
    }

    fn has_peers(&self) -> bool {
        false
    }

    /// What the operator's commands (another process on the same file) changed: they leave a
    /// row in `notifications`, polled here every [`POLL_NOTIFICATIONS`].
    async fn subscribe(&self) -> Result<Option<ChangeStream>, StoreError> {
        let pool = self.pool.clone();
        let start: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM notifications").fetch_one(&pool).await?;
        let stream = futures::stream::unfold(
            (pool, start, Vec::<Change>::new()),
            |(pool, mut last, mut due)| async move {
                loop {
                    if let Some(change) = due.pop() {
                        return Some((change, (pool, last, due)));
                    }
                    tokio::time::sleep(POLL_NOTIFICATIONS).await;
                    let rows: Vec<(i64, String)> = match sqlx::query_as(
                        "SELECT id, payload FROM notifications WHERE id > $1 ORDER BY id DESC",
                    )
                    .bind(last)
                    .fetch_all(&pool)
                    .await
                    {
                        Ok(rows) => rows,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot poll the operator's notifications");
                            return None;
                        }
                    };
                    if let Some((newest, _)) = rows.first() {
                        last = *newest;
                    }
                    due = rows.iter().filter_map(|(_, payload)| Change::decode(payload)).collect();
                }
            },
        );
        Ok(Some(Box::pin(stream)))
    }
}

/// How often the serving process looks for what the operator's commands changed.
pub const POLL_NOTIFICATIONS: Duration = Duration::from_millis(500);
