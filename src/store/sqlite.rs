use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use uuid::Uuid;

use super::error::OnUnique;
use super::feed::{Change, ChangeFeed, ChangeStream};
use super::vaults::{ChangeOutcome, CreateOutcome, Expect, NewRevision, Quota, Usage, Vault};
use super::{
    Backend, FailureWindow, NewCredentials, NewSession, NewUser, RefreshRotation, Session, StoreError,
    Timestamp, User,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// [`MetadataStore`](super::MetadataStore) on an SQLite file: WAL journal, full fsync on
/// commit (an acknowledged write survives power loss), foreign keys on.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`).
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
        Ok(Self { pool })
    }

    /// One process owns an SQLite file, and the claim is one statement: nothing to lock.
    async fn try_sweep_lock(_tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// SQLite has one writer at a time: writing the user's row first makes this transaction
    /// that writer from its first statement (as `BEGIN IMMEDIATE` would), so that what it reads
    /// next cannot be overtaken by another writer. False when there is no such user.
    async fn lock_user_row(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        user: Uuid,
        _lock: super::sql_vaults::UserLock,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
            .bind(user)
            .execute(&mut **tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Nothing to lock: SQLite has one writer at a time, and an attempt writes first.
    async fn lock_throttle_key(
        _tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        _key: &str,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// The underlying pool (for tests and maintenance tasks).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

super::sql::impl_metadata_store!(SqliteStore, sqlx::Sqlite, Backend::Sqlite, MIGRATOR);
super::sql_vaults::impl_vault_store!(SqliteStore, sqlx::Sqlite);
super::sql_uploads::impl_upload_store!(SqliteStore, sqlx::Sqlite);

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
