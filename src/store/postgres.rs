use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use uuid::Uuid;

use sqlx::migrate::Migrator;
use sqlx::{Executor, PgConnection, Postgres};

use super::feed::{CHANNEL, Change, ChangeFeed, ChangeStream};
use super::sql::{AtOnce, AtOnceOutcome, Engine, SqlStore, UserLock, migrate_to};
use super::{Backend, StoreError};

/// Advisory-lock key of the object sweeper ("bvsweep" in ASCII).
const SWEEP_LOCK_KEY: i64 = 0x0062_7673_7765_6570;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Pool settings for Postgres.
#[derive(Debug, Clone)]
pub struct PgPoolSettings {
    /// Most connections this replica opens.
    pub max_connections: u32,
    /// A connection is closed and replaced after this long.
    pub max_lifetime: Duration,
    /// How long a request waits for a free connection before failing with 503.
    pub acquire_timeout: Duration,
}

/// [`MetadataStore`](super::MetadataStore) on PostgreSQL.
///
/// sqlx 0.9.0 returns a connection to the pool inside a transaction nobody tracks when the
/// future of `pool.begin()` is dropped while its `BEGIN` is in flight (upstream issues
/// #4385/#4393, fixed by PR #4394, in no release yet). The transaction status that would
/// reveal such a connection is private to sqlx (`PgConnection::in_transaction` is
/// `pub(crate)`; `Connection::is_in_transaction` reads the very depth counter the bug leaves
/// at zero), so a pool hook could only find out with an extra round trip on every release.
/// Instead nothing cancels store work here: every request runs on a task of its own that
/// completes when the client goes away (`api::middleware::request_context`), and the
/// background tasks are stopped only with the process, whose connections the server then
/// rolls back.
pub type PgStore = SqlStore<Postgres>;

impl SqlStore<Postgres> {
    /// Connects lazily: the pool opens connections on first use, so a database that is down
    /// at start-up shows as "not ready" instead of a crash loop.
    pub fn connect(url: &str, settings: &PgPoolSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("blindvault");
        let listen_options = options.clone().application_name("blindvault-listener");
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .max_lifetime(settings.max_lifetime)
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options);
        // One connection outside the request pool, for `LISTEN` (named `blindvault-listener`).
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(listen_options);
        Ok(Self { pool, listen_pool: Some(listen_pool) })
    }
}

impl Engine for Postgres {
    const BACKEND: Backend = Backend::Postgres;

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn on(conn: &mut PgConnection) -> impl Executor<'_, Database = Self> {
        conn
    }

    fn pooled(pool: &PgPool) -> impl Executor<'_, Database = Self> {
        pool
    }

    async fn try_sweep_lock(conn: &mut PgConnection) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(SWEEP_LOCK_KEY)
            .fetch_one(conn)
            .await?)
    }

    async fn lock_user_row(conn: &mut PgConnection, user: Uuid, lock: UserLock) -> Result<bool, StoreError> {
        let sql = match lock {
            UserLock::Share => "SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE",
            UserLock::Serialize => "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE",
            UserLock::Delete => "SELECT 1 FROM users WHERE id = $1 FOR UPDATE",
        };
        let found: Option<i32> = sqlx::query_scalar(sql).bind(user).fetch_optional(conn).await?;
        Ok(found.is_some())
    }

    async fn snapshot(pool: &PgPool, to: &Path) -> Result<(), StoreError> {
        super::pg_snapshot::export(pool, to).await
    }

    async fn load_snapshot(pool: &PgPool, from: &Path) -> Result<(), StoreError> {
        super::pg_snapshot::import(pool, from, |version| migrate_to::<Postgres>(pool, version)).await
    }

    async fn announce_in(conn: &mut PgConnection, change: &Change) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(change.encode()).execute(conn).await?;
        Ok(())
    }

    async fn commit_at_once(pool: &PgPool, write: AtOnce<'_>) -> Result<Option<AtOnceOutcome>, StoreError> {
        super::pg_commit::commit(pool, write).await.map(Some)
    }

    /// A transaction-scoped advisory lock on the key's hash.
    async fn lock_throttle_key(conn: &mut PgConnection, key: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(key.to_owned())
            .execute(conn)
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ChangeFeed for PgStore {
    async fn publish(&self, change: &Change) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(change.encode())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn has_peers(&self) -> bool {
        true
    }

    async fn subscribe(&self) -> Result<Option<ChangeStream>, StoreError> {
        let Some(listen_pool) = &self.listen_pool else { return Ok(None) };
        let mut listener = sqlx::postgres::PgListener::connect_with(listen_pool).await?;
        // A lost connection ends the stream; the caller subscribes again from scratch.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        let stream = futures::stream::unfold(listener, |mut listener| async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(note)) => match Change::decode(note.payload()) {
                        Some(change) => return Some((change, listener)),
                        None => continue,
                    },
                    Ok(None) => {
                        tracing::warn!("cache invalidation listener lost its connection");
                        return None;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cache invalidation listener failed");
                        return None;
                    }
                }
            }
        });
        Ok(Some(Box::pin(stream)))
    }
}
