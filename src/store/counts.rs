//! How often a cache answered, for the metrics.

use std::sync::atomic::AtomicU64;

/// Hit and miss counts of one cache.
#[derive(Debug, Default)]
pub struct Counts {
    /// Answered from memory.
    pub hits: AtomicU64,
    /// Loaded from the store.
    pub misses: AtomicU64,
}
