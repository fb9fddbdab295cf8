//! Persistence: account metadata in Postgres or SQLite, ciphertext in an object store.
//!
//! The service layer sees only the [`MetadataStore`] trait and [`BlobStore`]; which database
//! and which object store sit behind them is decided once, at start-up, from the settings.

mod blobs;
mod cache;
mod counts;
mod error;
mod feed;
mod history;
mod pg_commit;
mod pg_snapshot;
mod postgres;
mod quota;
mod records;
mod rendered;
mod security;
mod sql;
mod sqlite;
mod uploads;
mod vaults;

pub use blobs::{
    BlobLocation, BlobRead, BlobStore, BlobStoreError, Meter, PartStore, PartTarget, PutOutcome, S3Target,
    UPLOAD_PART_SIZE,
};
pub use cache::{Caches, MAX_CACHED_BODY};
pub use counts::Counts;
pub use error::StoreError;
pub use feed::{CHANNEL, Change, ChangeFeed, ChangeStream};
pub use history::{HistoryStore, TrashCursor, UntrashOutcome};
pub use postgres::{PgPoolSettings, PgStore};
pub use quota::{Quota, Usage};
pub use records::{
    AccountShape, FailureWindow, NewAuditEvent, NewCredentials, NewSession, NewUser, RefreshRotation,
    Session, User,
};
pub use security::{
    AdminStore, AuditEvent, Ceremony, FactorStore, TotpFactor, UserSummary, WebauthnCredential,
};
pub use sql::{Engine, SqlStore};
pub use sqlite::SqliteStore;
pub use uploads::{Progress, UploadStore};
pub use vaults::{
    Backlog, ChangeOutcome, CreateOutcome, NewRevision, SmallObjectStore, VaultStore, object_key, user_prefix,
};

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::Timestamp;

/// Which database engine a [`MetadataStore`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL: the production deployment, shared by every replica.
    Postgres,
    /// SQLite: the embedded single-process deployment.
    Sqlite,
}

/// Account and session metadata. Implemented for Postgres and SQLite with the same semantics;
/// the conformance tests run one story against both.
#[async_trait]
pub trait MetadataStore: FactorStore + AdminStore + Send + Sync + 'static {
    /// The engine behind this store.
    fn backend(&self) -> Backend;

    /// Applies every pending migration. Migrations the database has and this binary does not
    /// know (a newer binary's, after a rollback) are left alone: see [`MetadataStore::unknown_migrations`].
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Versions of the migrations that this binary ships and the database has not applied.
    async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError>;

    /// Versions the database has applied that this binary does not ship (a newer binary's).
    async fn unknown_migrations(&self) -> Result<Vec<i64>, StoreError>;

    /// The newest migration the database has applied (None: an empty database).
    async fn schema_version(&self) -> Result<Option<i64>, StoreError>;

    /// Writes a consistent snapshot of the whole database to the new file `to` while it keeps
    /// serving: SQLite copies itself (`VACUUM INTO`); Postgres writes its rows from one
    /// `REPEATABLE READ` transaction in the format `pg_snapshot` describes.
    async fn snapshot_into(&self, to: &std::path::Path) -> Result<(), StoreError>;

    /// Postgres: loads a snapshot [`MetadataStore::snapshot_into`] wrote into this database,
    /// which must hold no rows (its schema is brought to the snapshot's version first).
    /// SQLite: `Snapshot` (its snapshot is a database file: restored by putting it in place).
    async fn load_snapshot(&self, from: &std::path::Path) -> Result<(), StoreError>;

    /// Brings the schema to `version` exactly: applies the migrations up to it, or reverts
    /// (with their down scripts, newest first) those after it. `Conflict` when a migration
    /// after it is unknown to this binary (step down with the newer binary first) or when
    /// `version` is not one this binary ships.
    async fn migrate_to(&self, version: i64) -> Result<(), StoreError>;

    /// Connections in the pool and how many of them are idle.
    fn pool_stats(&self) -> (u32, u32);

    /// The most connections the pool opens.
    fn pool_max(&self) -> u32;

    /// A cheap round trip, for readiness probes.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The 32-byte secret named `name`, created at random on first use and shared by every
    /// replica from then on.
    async fn server_secret(&self, name: &str) -> Result<Vec<u8>, StoreError>;

    /// Creates a user; [`StoreError::Conflict`] when the username is taken.
    async fn create_user(&self, user: &NewUser) -> Result<User, StoreError>;

    /// The user with this (already normalised) username.
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;

    /// The user with this id.
    async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError>;

    /// Replaces the stored Argon2 PHC string (a re-hash with current parameters).
    /// Applies only while the user's security stamp is still `stamp`.
    async fn rehash_auth(&self, id: Uuid, stamp: i64, phc: &str) -> Result<(), StoreError>;

    /// Replaces the user's credentials and KDF parameters, bumps the security stamp, and
    /// revokes every session of the user except `keep_session`, atomically. Returns false
    /// when the user's security stamp is no longer `creds.expected_stamp`.
    async fn change_credentials(&self, creds: &NewCredentials) -> Result<bool, StoreError>;

    /// Creates a session together with its first refresh token hash and its login's audit
    /// event, in one transaction.
    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError>;

    /// The session with this id, revoked or not.
    async fn session(&self, id: Uuid) -> Result<Option<Session>, StoreError>;

    /// Rotates a refresh token: marks `old_hash` used and stores `new_hash` for the same
    /// session, extending the session to `expires_at`. Presenting an already-used token
    /// revokes its session.
    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<RefreshRotation, StoreError>;

    /// Revokes one session (idempotent).
    async fn revoke_session(&self, id: Uuid, now: Timestamp) -> Result<(), StoreError>;

    /// The shapes of all accounts and how many share each, in a stable order (every replica
    /// sees the same list for the same accounts).
    async fn account_shapes(&self) -> Result<Vec<AccountShape>, StoreError>;

    /// Reserves password attempt `attempt` under each of `limits`' keys, in one decision per
    /// key against every concurrent attempt (on every replica): recorded as a failure at `now`
    /// unless that would give a key more than its limit of failures since `since`. Then
    /// nothing is recorded and the answer is that key's window (to say when it reopens).
    async fn reserve_attempt(
        &self,
        attempt: Uuid,
        limits: &[(&str, i64)],
        since: Timestamp,
        now: Timestamp,
    ) -> Result<Option<FailureWindow>, StoreError>;

    /// Takes back attempt `attempt` under each of `keys` (it did not fail); other attempts,
    /// even of the same millisecond, still count.
    async fn release_attempt(&self, attempt: Uuid, keys: &[&str]) -> Result<(), StoreError>;

    /// After a successful login, in one statement: forgets every failure recorded under
    /// `account` and takes back attempt `attempt` under `address`.
    async fn login_succeeded(&self, account: &str, attempt: Uuid, address: &str) -> Result<(), StoreError>;

    /// Deletes failures older than `before` and sessions that expired before `before`.
    /// Returns how many rows went.
    async fn prune(&self, before: Timestamp) -> Result<u64, StoreError>;
}
