//! Whether this replica can serve: the database and the object store answer in time, and it
//! follows the other replicas' changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicI8, Ordering};
use std::time::Duration;

use super::Changes;
use crate::store::{BlobStore, MetadataStore};

/// The dependencies a readiness probe asks.
#[derive(Clone)]
pub struct Readiness {
    store: Arc<dyn MetadataStore>,
    blobs: BlobStore,
    changes: Arc<Changes>,
    /// The last check's answer: 1 ready, 0 not, -1 none yet.
    last: Arc<AtomicI8>,
}

/// What one readiness check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checks {
    /// The database answered: `Err` holds why not, for the log only.
    pub database: Result<(), String>,
    /// The object store answered: `Err` holds why not, for the log only.
    pub object_store: Result<(), String>,
    /// Other replicas' changes are followed (always with SQLite).
    pub change_feed: bool,
}

impl Checks {
    /// Whether everything passed.
    pub fn all_ok(&self) -> bool {
        self.database.is_ok() && self.object_store.is_ok() && self.change_feed
    }
}

impl Readiness {
    /// A probe over these dependencies.
    pub fn new(store: Arc<dyn MetadataStore>, blobs: BlobStore, changes: Arc<Changes>) -> Self {
        Self { store, blobs, changes, last: Arc::new(AtomicI8::new(-1)) }
    }

    /// What the last check found (for `/metrics`): `Some(true)` ready, `None` before any.
    pub fn last(&self) -> Option<bool> {
        match self.last.load(Ordering::Relaxed) {
            -1 => None,
            v => Some(v == 1),
        }
    }

    /// Asks the database and the object store at once, each given `timeout` to answer.
    pub async fn check(&self, timeout: Duration) -> Checks {
        let in_time = |answer: Result<Result<(), String>, tokio::time::error::Elapsed>| {
            answer.unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
        };
        let (database, object_store) = tokio::join!(
            tokio::time::timeout(timeout, async { self.store.ping().await.map_err(|e| e.to_string()) }),
            tokio::time::timeout(timeout, async { self.blobs.probe().await.map_err(|e| e.to_string()) }),
        );
        let checks = Checks {
            database: in_time(database),
            object_store: in_time(object_store),
            change_feed: self.changes.following(),
        };
        self.last.store(i8::from(checks.all_ok()), Ordering::Relaxed);
        checks
    }
}
