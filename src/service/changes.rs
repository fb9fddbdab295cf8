//! Announcing changes: drop stale cache entries here and tell the other replicas; following
//! theirs. A replica keeps vault metadata and sessions in memory only while it listens to the
//! others (and is not ready until it does): it subscribes for ever, with backoff, and empties
//! its caches each time it (re-)subscribes.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::waiters::FeedWaiters;
use crate::store::{Caches, Change, ChangeFeed};

/// The process's caches and the feed that keeps replicas' caches honest, and who waits here
/// for a user's next change.
pub struct Changes {
    caches: Arc<Caches>,
    feed: Arc<dyn ChangeFeed>,
    waiters: FeedWaiters,
}

impl Changes {
    /// Changes over these caches and this feed. Where the feed has peers, nothing is cached
    /// until [`Changes::follow`] has subscribed.
    pub fn new(caches: Arc<Caches>, feed: Arc<dyn ChangeFeed>) -> Self {
        if feed.has_peers() {
            caches.pause();
        }
        Self { caches, feed, waiters: FeedWaiters::default() }
    }

    /// Who waits for changes on this replica.
    pub fn waiters(&self) -> &FeedWaiters {
        &self.waiters
    }

    /// Drops what `change` makes stale here and wakes who waits for it.
    async fn apply(&self, change: &Change) {
        self.caches.apply(change).await;
        if let Some(user) = change.user() {
            self.waiters.wake(user);
        }
    }

    /// Whether this replica sees every change the others make (always, without others).
    /// Until it does it caches nothing and is not ready.
    pub fn following(&self) -> bool {
        self.caches.keeping()
    }

    /// Waits until [`Changes::following`] holds, for at most `limit`; returns whether it does.
    pub async fn until_following(&self, limit: Duration) -> bool {
        let started = tokio::time::Instant::now();
        while !self.following() {
            if started.elapsed() >= limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// The caches.
    pub fn caches(&self) -> &Caches {
        &self.caches
    }

    /// Drops what `change` makes stale here, for a change whose commit told the other replicas
    /// itself (the store announces a vault's write or delete in its transaction).
    pub async fn committed(&self, change: Change) {
        self.apply(&change).await;
    }

    /// Drops what `change` makes stale here, then tells the other replicas. A failed
    /// announcement is logged: the others' entries expire by themselves.
    pub async fn announce(&self, change: Change) {
        self.apply(&change).await;
        if let Err(e) = self.feed.publish(&change).await {
            tracing::warn!(error = %e, "could not announce a change to other replicas");
        }
    }

    /// Applies what other replicas announce, until the process stops. Subscribes until it
    /// succeeds, waiting [`RETRY_FIRST`] and doubling up to [`RETRY_MAX`] between attempts;
    /// caches (emptied first) only while subscribed, and subscribes again whenever the
    /// subscription is lost.
    pub async fn follow(self: Arc<Self>) {
        let mut wait = RETRY_FIRST;
        loop {
            match self.feed.subscribe().await {
                Ok(None) => {
                    self.caches.resume();
                    return;
                }
                Ok(Some(mut stream)) => {
                    self.caches.resume();
                    tracing::info!("following other replicas' changes; caching");
                    wait = RETRY_FIRST;
                    while let Some(change) = stream.next().await {
                        self.apply(&change).await;
                    }
                    self.caches.pause();
                    tracing::warn!(
                        "lost other replicas' changes: not ready, caching nothing, subscribing again"
                    );
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    retry_in_ms = wait.as_millis() as u64,
                    "cannot follow other replicas' changes: not ready, caching nothing"
                ),
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_MAX);
        }
    }
}

/// First wait before subscribing again.
pub const RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between subscription attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use futures::channel::mpsc;
    use uuid::Uuid;

    use super::*;
    use crate::store::{ChangeStream, StoreError};

    /// A feed whose next subscriptions fail or hand out the given channels, in order.
    struct Scripted(Mutex<Vec<Option<mpsc::UnboundedReceiver<Change>>>>);

    #[async_trait]
    impl ChangeFeed for Scripted {
        async fn publish(&self, _change: &Change) -> Result<(), StoreError> {
            Ok(())
        }
        fn has_peers(&self) -> bool {
            true
        }
        async fn subscribe(&self) -> Result<Option<ChangeStream>, StoreError> {
            let next = self.0.lock().unwrap().pop();
            match next {
                Some(Some(rx)) => Ok(Some(Box::pin(rx))),
                _ => Err(StoreError::Conflict("cannot subscribe")),
            }
        }
    }

    async fn cached_etag(caches: &Caches, user: Uuid, etag: &str) -> String {
        let vault = crate::domain::Vault::sample(user, "v", etag);
        let load = async { Ok(Some(vault)) };
        caches.vault(user, "v", load).await.unwrap().unwrap().etag
    }

    #[tokio::test]
    async fn nothing_is_cached_until_subscribed_and_every_subscription_starts_empty() {
        let (first_tx, first_rx) = mpsc::unbounded();
        let (_second_tx, second_rx) = mpsc::unbounded();
        // Popped from the end: fail twice, first, fail three times (1.5 s), second.
        let script = vec![Some(second_rx), None, None, None, Some(first_rx), None, None];
        let caches = Arc::new(Caches::new(1 << 20));
        let changes = Arc::new(Changes::new(Arc::clone(&caches), Arc::new(Scripted(Mutex::new(script)))));
        let user = Uuid::new_v4();
        assert!(!changes.following());
        assert_eq!(cached_etag(&caches, user, "e1").await, "e1");
        assert_eq!(cached_etag(&caches, user, "e2").await, "e2", "nothing kept before subscribing");

        let follower = tokio::spawn(Arc::clone(&changes).follow());
        assert!(changes.until_following(Duration::from_secs(30)).await, "subscribed after two failures");
        assert_eq!(cached_etag(&caches, user, "e3").await, "e3");
        assert_eq!(cached_etag(&caches, user, "e4").await, "e3", "kept while subscribed");
        first_tx.unbounded_send(Change::Vault { user, vault_id: "v".into() }).unwrap();
        let started = std::time::Instant::now();
        while cached_etag(&caches, user, "e5").await != "e5" {
            assert!(started.elapsed() < Duration::from_secs(30), "the change was applied");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        drop(first_tx);
        let started = std::time::Instant::now();
        while changes.following() {
            assert!(started.elapsed() < Duration::from_secs(30), "the lost subscription was noticed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(changes.until_following(Duration::from_secs(30)).await, "subscribed again");
        assert_eq!(cached_etag(&caches, user, "e6").await, "e6", "emptied on re-subscribing");
        follower.abort();
    }
}
