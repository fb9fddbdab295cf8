//! Who waits, on this replica, for a user's next change: the change feed's long polls and
//! streams register here and are woken by every change announced for the user.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;
use uuid::Uuid;

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
