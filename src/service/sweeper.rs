//! Deletes queued objects whose time has come: replaced or deleted revisions after their
//! grace period, and uploads that never committed. Before that, it drops earlier revisions
//! the retention rules no longer keep, purges expired trash (queuing their objects), and
//! compacts the change log.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Changes;
use super::ServiceError;
use super::vault_write::SWEEP_LEASE;
use crate::domain::Timestamp;
use crate::store::{Backlog, BlobStore, Change, VaultStore};

/// Entries leased per round.
const BATCH: i64 = 100;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Objects deleted (or found already gone).
    pub deleted: u64,
    /// Objects whose deletion failed; retried when their lease runs out.
    pub failed: u64,
    /// Earlier revisions dropped (their objects go after the grace period).
    pub revisions_dropped: u64,
    /// Trash entries purged.
    pub trash_purged: u64,
    /// Logged changes compacted away.
    pub changes_compacted: u64,
}

/// How long the sweeper lets things be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepPolicy {
    /// Earlier revisions outside their count window go this long after they were replaced.
    pub keep_for: Duration,
    /// A dropped revision's object stays this long for readers still streaming it.
    pub delete_grace: Duration,
    /// Logged changes go this long after they were made.
    pub changes_for: Duration,
}

/// The object sweeper. Safe to run on every replica: entries are leased in the database and
/// only one replica sweeps at a time.
pub struct Sweeper {
    store: Arc<dyn VaultStore>,
    blobs: BlobStore,
    policy: SweepPolicy,
    changes: Option<Arc<Changes>>,
    runs: AtomicU64,
    deleted: AtomicU64,
    backlog: std::sync::Mutex<(Backlog, Option<Timestamp>)>,
}

/// Totals since start, and what the last sweep left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Sweeps run.
    pub runs: u64,
    /// Objects deleted.
    pub deleted: u64,
    /// What waited for the sweeper after the last run that finished.
    pub backlog: Backlog,
    /// When a sweep last finished deleting everything it took.
    pub last_success: Option<Timestamp>,
}

impl Sweeper {
    /// A sweeper over these stores.
    pub fn new(store: Arc<dyn VaultStore>, blobs: BlobStore, policy: SweepPolicy) -> Self {
        Self {
            store,
            blobs,
            policy,
            changes: None,
            runs: AtomicU64::new(0),
            deleted: AtomicU64::new(0),
            backlog: std::sync::Mutex::new((Backlog::default(), None)),
        }
    }

    /// Announces the changes it makes (trash expiry) through `changes`, so that feed waiters
    /// learn of them at once.
    pub fn announcing(mut self, changes: Arc<Changes>) -> Self {
        self.changes = Some(changes);
        self
    }

    /// Runs and deletions since start.
    pub fn stats(&self) -> SweepStats {
        let (backlog, last_success) = *self.backlog.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        SweepStats {
            runs: self.runs.load(Ordering::Relaxed),
            deleted: self.deleted.load(Ordering::Relaxed),
            backlog,
            last_success,
        }
    }

    /// Purges the trash entries expired by `now`, and wakes their owners' feed waiters here
    /// and on the other replicas.
    async fn purge_expired_trash(&self, now: Timestamp) -> Result<u64, ServiceError> {
        let mut purged = 0;
        loop {
            let users = self.store.purge_expired_trash(now, BATCH).await?;
            purged += users.len() as u64;
            let owners: std::collections::HashSet<_> = users.iter().copied().collect();
            if let Some(changes) = &self.changes {
                for user in owners {
                    changes.announce(Change::Feed(user)).await;
                }
            }
            if (users.len() as i64) < BATCH {
                return Ok(purged);
            }
        }
    }

    /// Applies the retention rules as of `now`, then deletes every object due at `now`.
    pub async fn sweep(&self, now: Timestamp) -> Result<SweepReport, ServiceError> {
        let mut report = SweepReport::default();
        let replaced_before = now.minus(self.policy.keep_for);
        let delete_after = now.plus(self.policy.delete_grace);
        report.revisions_dropped =
            drain(|| self.store.drop_expired_revisions(replaced_before, delete_after, BATCH)).await?;
        report.trash_purged = self.purge_expired_trash(now).await?;
        let before = now.minus(self.policy.changes_for);
        report.changes_compacted = drain(|| self.store.compact_changes(before, 10 * BATCH)).await?;
        loop {
            let keys =
                self.store.claim_expired_objects(now, Timestamp::now().plus(SWEEP_LEASE), BATCH).await?;
            if keys.is_empty() {
                break;
            }
            for key in &keys {
                // A body kept in the database needs no object-store request.
                if self.store.drop_small_object(key).await? {
                    self.store.forget_object(key).await?;
                    report.deleted += 1;
                    continue;
                }
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
        let backlog = self.store.backlog(Timestamp::now()).await?;
        let success = (report.failed == 0).then(Timestamp::now);
        let mut kept = self.backlog.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *kept = (backlog, success.or(kept.1));
        drop(kept);
        if report != SweepReport::default() {
            tracing::info!(
                deleted = report.deleted,
                failed = report.failed,
                revisions_dropped = report.revisions_dropped,
                trash_purged = report.trash_purged,
                changes_compacted = report.changes_compacted,
                "sweep finished"
            );
        }
        Ok(report)
    }
}

/// Runs `step` until it does less than a full batch (or nothing, on a replica that does not
/// hold the sweep lock); returns the total.
async fn drain<F, Fut>(mut step: F) -> Result<u64, ServiceError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, crate::store::StoreError>>,
{
    let mut total = 0;
    loop {
        let done = step().await?;
        total += done;
        if done < BATCH as u64 {
            return Ok(total);
        }
    }
}
