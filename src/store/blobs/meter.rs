//! The byte meter every body passes through on its way to storage.

use bytes::Bytes;

use super::{BlobStoreError, PutOutcome};
use crate::domain::BoxError;

/// Counts and hashes bytes as they pass, refusing more than the limit. The digest is BLAKE3:
/// it only tells an identical retry of a create from a different body, so the fastest
/// collision-resistant hash will do (about a quarter of SHA-256's cost per byte here).
pub struct Meter {
    limit: u64,
    size: u64,
    hasher: blake3::Hasher,
}

impl Meter {
    /// A meter refusing more than `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self { limit, size: 0, hasher: blake3::Hasher::new() }
    }

    /// Counts and hashes `chunk`, or refuses it (a body error, or past the limit).
    pub fn take<E: Into<BoxError>>(&mut self, chunk: Result<Bytes, E>) -> Result<Bytes, BlobStoreError> {
        let chunk = chunk.map_err(|e| BlobStoreError::Body(e.into()))?;
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(BlobStoreError::TooLarge { limit: self.limit });
        }
        self.hasher.update(&chunk);
        Ok(chunk)
    }

    /// What passed: its size and digest.
    pub fn finish(self) -> PutOutcome {
        PutOutcome { size: self.size, digest: self.hasher.finalize().into() }
    }
}
