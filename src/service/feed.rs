//! The change feed: a user's logged changes after a cursor, waiting for the next one when
//! there is none yet. Waiters are woken by this replica's own changes and by what the other
//! replicas announce; the database stays the only source of changes, so a wake-up that never
//! comes delays an answer (until the wait ends) and never loses a change.

use std::time::Duration;

use uuid::Uuid;

use super::{ServiceError, VaultService};
use crate::domain::{ChangesSince, LoggedChange};

/// The longest a request may wait for changes.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// Changes after a cursor.
#[derive(Debug, Clone)]
pub struct FeedPage {
    /// Oldest first.
    pub changes: Vec<LoggedChange>,
    /// The cursor to ask with next: the position of the last change given, or the one asked
    /// with when there is none.
    pub cursor: i64,
    /// Whether more changes are already logged after `cursor`.
    pub more: bool,
}

impl VaultService {
    /// The user's newest position in the change log: where a client that has just listed its
    /// vaults starts following.
    pub async fn change_head(&self, user: Uuid) -> Result<i64, ServiceError> {
        Ok(self.store.change_head(user).await?)
    }

    /// Up to `limit` changes after `since`; when there is none, waits up to `wait` for one.
    pub async fn changes(
        &self,
        user: Uuid,
        since: i64,
        limit: u32,
        wait: Duration,
    ) -> Result<FeedPage, ServiceError> {
        if !(1..=1000).contains(&limit) {
            return Err(ServiceError::invalid("limit", "must be between 1 and 1000"));
        }
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        let watch = self.changes.waiters().watch(user);
        loop {
            // Listen before looking, so a change committed in between still wakes us.
            let woken = watch.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let (changes, head) = match self.store.changes_since(user, since, i64::from(limit)).await? {
                ChangesSince::Expired => return Err(ServiceError::CursorExpired),
                ChangesSince::Changes { changes, head } => (changes, head),
            };
            if !changes.is_empty() || tokio::time::Instant::now() >= deadline {
                let cursor = changes.last().map_or(since, |c| c.seq);
                return Ok(FeedPage { changes, cursor, more: cursor < head });
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return Ok(FeedPage { changes, cursor: since, more: false });
            }
        }
    }
}
