//! Announcing changes: drop stale cache entries here and tell the other replicas.

use std::sync::Arc;

use futures::StreamExt;

use crate::store::{Caches, Change, ChangeFeed};

/// The process's caches and the feed that keeps replicas' caches honest.
pub struct Changes {
    caches: Arc<Caches>,
    feed: Arc<dyn ChangeFeed>,
}

impl Changes {
    /// Changes over these caches and this feed.
    pub fn new(caches: Arc<Caches>, feed: Arc<dyn ChangeFeed>) -> Self {
        Self { caches, feed }
    }

    /// The caches.
    pub fn caches(&self) -> &Caches {
        &self.caches
    }

    /// The caches, shared (for metrics).
    pub fn caches_arc(&self) -> &Arc<Caches> {
        &self.caches
    }

    /// Drops what `change` makes stale here, then tells the other replicas. A failed
    /// announcement is logged: the others' entries expire by themselves.
    pub async fn announce(&self, change: Change) {
        self.caches.apply(&change).await;
        if let Err(e) = self.feed.publish(&change).await {
            tracing::warn!(error = %e, "could not announce a change to other replicas");
        }
    }

    /// Applies what other replicas announce, until the process stops. After a gap in the
    /// feed every cached entry is dropped.
    pub async fn follow(self: Arc<Self>) {
        let mut stream = match self.feed.subscribe().await {
            Ok(Some(stream)) => stream,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot follow other replicas' changes; caching only briefly");
                return;
            }
        };
        while let Some(item) = stream.next().await {
            match item {
                Some(change) => self.caches.apply(&change).await,
                None => self.caches.clear(),
            }
        }
    }
}
