use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use uuid::Uuid;

use sqlx::migrate::Migrator;
use sqlx::{Executor, Sqlite, SqliteConnection};

use super::feed::{Change, ChangeFeed, ChangeStream};
use super::sql::{Engine, SqlStore, UserLock};
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

    async fn subscribe(&self) -> Result<Option<ChangeStream>, StoreError> {
        Ok(None)
    }
}
