//! The change feed: a user's logged changes after a cursor, waiting for the next one when
//! there is none yet. Waiters are woken by this replica's own changes and by what the other
//! replicas announce; the database stays the only source of changes, so a wake-up that never
//! comes delays an answer (until the wait ends) and never loses a change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
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

/// Who is waiting for a user's next change, on this replica. Entries go when their last
/// waiter does.
#[derive(Default)]
pub struct FeedWaiters {
    users: Mutex<HashMap<Uuid, Weak<Notify>>>,
}

impl FeedWaiters {
    /// A handle that [`FeedWaiters::wake`] notifies for `user`, while it is held.
    pub fn watch(&self, user: Uuid) -> Arc<Notify> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(notify) = users.get(&user).and_then(Weak::upgrade) {
            return notify;
        }
        // Forget users nobody waits for any more, now and then, so the map stays as small as
        // the number of waiting users.
        if users.len() >= 64 && users.len().is_power_of_two() {
            users.retain(|_, w| w.strong_count() > 0);
        }
        let notify = Arc::new(Notify::new());
        users.insert(user, Arc::downgrade(&notify));
        notify
    }

    /// Wakes everyone waiting for `user`'s changes.
    pub fn wake(&self, user: Uuid) {
        let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(notify) = users.get(&user).and_then(Weak::upgrade) {
            notify.notify_waiters();
        }
    }

    /// Requests waiting, over all users.
    pub fn waiting(&self) -> usize {
        let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users.values().map(Weak::strong_count).sum()
    }

    /// Users someone is waiting for.
    pub fn watched(&self) -> usize {
        let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users.values().filter(|w| w.strong_count() > 0).count()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_are_woken_per_user_and_forgotten_when_gone() {
        let waiters = FeedWaiters::default();
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let watch = waiters.watch(alice);
        {
            let woken = watch.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            waiters.wake(bob);
            assert!(
                tokio::time::timeout(Duration::from_millis(50), woken.as_mut()).await.is_err(),
                "another user's change wakes nobody here"
            );
            waiters.wake(alice);
            tokio::time::timeout(Duration::from_secs(5), woken).await.expect("woken");
        }
        assert_eq!(waiters.watched(), 1);
        let second = waiters.watch(alice);
        assert_eq!((waiters.watched(), waiters.waiting()), (1, 2));
        drop(second);
        drop(watch);
        assert_eq!(waiters.watched(), 0);
        for _ in 0..200 {
            drop(waiters.watch(Uuid::new_v4()));
        }
        assert!(waiters.users.lock().unwrap().len() < 200, "dead entries are pruned");
    }
}
