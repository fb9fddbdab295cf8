use thiserror::Error;

/// Why a metadata operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (for users: the username is taken).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// The database could not be reached in time: worth retrying later.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Migrations could not be read or applied.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The failure of a load that several callers waited for together.
    #[error("{message}")]
    Shared {
        /// Whether it was [`StoreError::Unavailable`].
        unavailable: bool,
        /// Its text.
        message: String,
    },
    /// A snapshot could not be written or loaded (see `pg_snapshot`): what went wrong, for the
    /// operator.
    #[error("{0}")]
    Snapshot(String),
    /// A snapshot file could not be read or written.
    #[error("snapshot file: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else the database reported.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err),
            sqlx::Error::Database(ref db) if is_transient(db.code().as_deref()) => {
                StoreError::Unavailable(err)
            }
            other => StoreError::Database(other),
        }
    }
}

/// Conditions of the database server rather than of the statement: Postgres SQLSTATE classes
/// 08 (connection), 28 (authorisation), 3D (no such database), 53 (resources), 55 (not in a
/// state to serve: a database not accepting connections, a lock not available), 57 (operator
/// intervention: shutdown, admin termination), 58 (system error); SQLite BUSY (5) and LOCKED (6).
fn is_transient(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    matches!(code, "5" | "6")
        || (code.len() == 5
            && ["08", "28", "3D", "53", "55", "57", "58"].iter().any(|class| code.starts_with(class)))
}
/// Maps a unique-constraint violation to [`StoreError::Conflict`]; everything else as usual.
pub(crate) trait OnUnique<T> {
    /// See the trait docs.
    fn on_unique(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> OnUnique<T> for Result<T, sqlx::Error> {
    fn on_unique(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|err| match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
            _ => StoreError::from(err),
        })
    }
}
