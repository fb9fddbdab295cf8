//! How often a cache answered, for the metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Hit and miss counts of one cache.
#[derive(Debug, Default)]
pub struct Counts {
    /// Answered from memory.
    pub hits: AtomicU64,
    /// Loaded from the store.
    pub misses: AtomicU64,
}

impl Counts {
    /// Counts one read: a hit, or a miss.
    pub fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
