//! The metadata store in SQL, written once for Postgres and SQLite.
//!
//! Both engines accept `$n` parameters, `RETURNING` and `ON CONFLICT`, and [`Timestamp`] maps
//! to each engine's own type, so one body of plain generic code serves both:
//! [`SqlStore<DB>`](SqlStore) implements the store traits for every `DB: Engine`. What differs
//! between the engines (row locks, advisory locks, how a pool hands out executors) is the
//! [`Engine`] trait, implemented in `postgres.rs` and `sqlite.rs`.
//!
//! sqlx states what a generic query needs as bounds on the concrete types it binds and reads
//! (`Uuid: Encode<DB>` and so on), and Rust does not carry such bounds from a trait to its
//! users. So [`Engine`] says it through supertraits, which it does carry: [`Binds<T>`] for
//! every type a query binds (with [`Arg::arg`] in place of `bind`) and [`Columns`] on its row
//! type for every type a query reads. A generic function then needs `DB: Engine` and nothing
//! else.

mod accounts;
mod admin;
mod changes;
mod history;
mod migrations;
mod retention;
mod rows;
mod security;
mod shared;
mod small_objects;
mod timestamp;
mod trash;
mod uploads;
mod vaults;

use std::future::Future;
use std::path::Path;

use sqlx::migrate::Migrate;
use sqlx::query::Query;
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};
use uuid::Uuid;

pub(crate) use migrations::migrate_to;
pub(crate) use rows::{Columns, vault as rows_vault};
pub(crate) use vaults::bind_revision;

use super::{Backend, StoreError};
use crate::domain::{Timestamp, Vault};
use crate::store::vaults::NewRevision;

/// The metadata store on database engine `DB`: a pool, and on Postgres a second pool of one
/// connection for `LISTEN`.
#[derive(Debug, Clone)]
pub struct SqlStore<DB: Database> {
    pub(super) pool: Pool<DB>,
    /// Postgres only: one connection outside the request pool, for `LISTEN`.
    pub(super) listen_pool: Option<Pool<DB>>,
}

impl<DB: Database> SqlStore<DB> {
    /// The underlying pool (for tests and maintenance tasks).
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

/// How a transaction locks its user's row (on Postgres; SQLite's single writer needs none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserLock {
    /// A commit or new upload without a quota: only account deletion must wait for it (and it
    /// for account deletion), as its foreign key does anyway (`FOR KEY SHARE`).
    Share,
    /// A commit or new upload under a quota: one at a time per user (`FOR NO KEY UPDATE`).
    Serialize,
    /// Account deletion: waits for all of the above and keeps them out (`FOR UPDATE`).
    Delete,
}

/// A database engine the store runs on: what sqlx needs to run the shared SQL on it, and the
/// few things the engines do differently.
pub trait Engine:
    Database<Arguments: IntoArguments<Self>, Connection: Migrate, Row: Columns, QueryResult: Affected>
    + Binds<Uuid>
    + Binds<Option<Uuid>>
    + Binds<i64>
    + Binds<String>
    + Binds<Option<String>>
    + Binds<Option<i64>>
    + Binds<Option<Vec<u8>>>
    + for<'a> Binds<&'a str>
    + Binds<Vec<u8>>
    + for<'a> Binds<&'a [u8]>
    + Binds<Timestamp>
    + Binds<Option<Timestamp>>
{
    /// Which engine this is.
    const BACKEND: Backend;

    /// The migrations for this engine.
    fn migrator() -> &'static sqlx::migrate::Migrator;

    /// A connection (a transaction's, say) as an executor.
    fn on(conn: &mut Self::Connection) -> impl Executor<'_, Database = Self>;

    /// A pool as an executor (each statement on a connection of its own).
    fn pooled(pool: &Pool<Self>) -> impl Executor<'_, Database = Self>;

    /// Session-independent, transaction-scoped lock: only one replica sweeps at a time. False
    /// when another holds it.
    fn try_sweep_lock(conn: &mut Self::Connection) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Locks `user`'s row for the rest of the transaction in `lock`'s mode; false when there
    /// is no such user.
    fn lock_user_row(
        conn: &mut Self::Connection,
        user: Uuid,
        lock: UserLock,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Makes attempts on one throttle key decide one after another, each counting what the one
    /// before recorded, until the transaction ends.
    fn lock_throttle_key(
        conn: &mut Self::Connection,
        key: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Tells the other replicas about `change` when the transaction commits (Postgres: NOTIFY,
    /// which is transactional; SQLite: one process, nobody to tell).
    fn announce_in(
        conn: &mut Self::Connection,
        change: &crate::store::Change,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Commits `write` in one round trip where the engine can (PostgreSQL: the functions of
    /// migration 20261207000001); `None` where the caller must run its transaction instead.
    fn commit_at_once(
        pool: &Pool<Self>,
        write: AtOnce<'_>,
    ) -> impl Future<Output = Result<Option<AtOnceOutcome>, StoreError>> + Send;

    /// Writes a consistent snapshot of the whole database to the new file `to`.
    fn snapshot(pool: &Pool<Self>, to: &Path) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Loads a snapshot that [`Engine::snapshot`] wrote into this database, which holds no rows.
    fn load_snapshot(pool: &Pool<Self>, from: &Path) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A write [`Engine::commit_at_once`] commits: the same rules as the transactions of
/// `commit_create` and `commit_replace`, for a user without a quota.
#[derive(Clone, Copy)]
pub enum AtOnce<'a> {
    /// A new vault.
    Create(&'a NewRevision),
    /// A new revision of a vault at `expect` (`None`: at any revision).
    Replace(&'a NewRevision, Option<&'a str>),
}

/// How [`Engine::commit_at_once`] ended.
pub enum AtOnceOutcome {
    /// Committed: the vault as it now is.
    Done(Box<Vault>),
    /// The user no longer exists.
    UserGone,
    /// The upload is overdue or being swept.
    UploadLost,
    /// The vault is not as the write expects (exists for a create; absent or at another
    /// revision for a replace). Nothing was written.
    Refused,
}

/// The number of rows a statement changed (each engine's query result has it, under no
/// common trait).
pub trait Affected {
    /// Rows inserted, updated or deleted.
    fn rows_affected(&self) -> u64;
}

impl Affected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl Affected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// Engine `Self` can bind a `T` as a query parameter.
pub trait Binds<T>: Database {
    /// `query.bind(value)`.
    fn bind_to<'q>(query: Query<'q, Self, Self::Arguments>, value: T) -> Query<'q, Self, Self::Arguments>;
}

impl<DB: Database, T> Binds<T> for DB
where
    T: for<'t> Encode<'t, DB> + Type<DB>,
{
    fn bind_to<'q>(query: Query<'q, Self, Self::Arguments>, value: T) -> Query<'q, Self, Self::Arguments> {
        query.bind(value)
    }
}

/// `bind` for generic code: takes any `T` that the engine [`Binds`].
pub trait Arg<DB>: Sized {
    /// Binds the next parameter.
    fn arg<T>(self, value: T) -> Self
    where
        DB: Binds<T>;
}

impl<DB: Database> Arg<DB> for Query<'_, DB, DB::Arguments> {
    fn arg<T>(self, value: T) -> Self
    where
        DB: Binds<T>,
    {
        DB::bind_to(self, value)
    }
}

/// A statement, to bind with [`Arg::arg`] and run on engine `DB`.
pub(crate) fn sql<DB: Engine>(statement: &'static str) -> Query<'static, DB, DB::Arguments> {
    sqlx::query(statement)
}
