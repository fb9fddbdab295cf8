//! Deletes queued objects whose time has come: replaced or deleted revisions after their
//! grace period, and uploads that never committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ServiceError;
use super::vault_write::SWEEP_LEASE;
use crate::domain::Timestamp;
use crate::store::{BlobStore, VaultStore};

/// Entries leased per round.
const BATCH: i64 = 100;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Objects deleted (or found already gone).
    pub deleted: u64,
    /// Objects whose deletion failed; retried when their lease runs out.
    pub failed: u64,
}

/// The object sweeper. Safe to run on every replica: entries are leased in the database and
/// only one replica sweeps at a time.
pub struct Sweeper {
    store: Arc<dyn VaultStore>,
    blobs: BlobStore,
    runs: AtomicU64,
    deleted: AtomicU64,
}

/// Totals since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Sweeps run.
    pub runs: u64,
    /// Objects deleted.
    pub deleted: u64,
}

impl Sweeper {
    /// A sweeper over these stores.
    pub fn new(store: Arc<dyn VaultStore>, blobs: BlobStore) -> Self {
        Self { store, blobs, runs: AtomicU64::new(0), deleted: AtomicU64::new(0) }
    }

    /// Runs and deletions since start.
    pub fn stats(&self) -> SweepStats {
        SweepStats { runs: self.runs.load(Ordering::Relaxed), deleted: self.deleted.load(Ordering::Relaxed) }
    }

    /// Deletes every object due at `now`.
    pub async fn sweep(&self, now: Timestamp) -> Result<SweepReport, ServiceError> {
        let mut report = SweepReport::default();
        loop {
            let keys =
                self.store.claim_expired_objects(now, Timestamp::now().plus(SWEEP_LEASE), BATCH).await?;
            if keys.is_empty() {
                break;
            }
            for key in &keys {
                match self.blobs.delete(key).await {
                    Ok(()) => {
                        self.store.forget_object(key).await?;
                        report.deleted += 1;
                    }
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(error = %e, "sweeper could not delete an object; will retry");
                    }
                }
            }
            if report.failed > 0 || (keys.len() as i64) < BATCH {
                break;
            }
        }
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.deleted.fetch_add(report.deleted, Ordering::Relaxed);
        if report.deleted + report.failed > 0 {
            tracing::info!(deleted = report.deleted, failed = report.failed, "sweep finished");
        }
        Ok(report)
    }
}
