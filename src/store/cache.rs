//! In-process caches (moka): vault metadata by (user, vault id), sessions by id, and small
//! vault bodies by etag. Entries are dropped on every local write and on every change another
//! replica announces; lifetimes bound how long a missed announcement can matter.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use moka::future::Cache;
use uuid::Uuid;

use super::feed::Change;
use super::{Session, StoreError, Vault};

/// Largest body kept in the body cache.
pub const MAX_CACHED_BODY: usize = 256 * 1024;

/// Hit and miss counts of one cache.
#[derive(Debug, Default)]
pub struct Counts {
    /// Answered from memory.
    pub hits: AtomicU64,
    /// Loaded from the store.
    pub misses: AtomicU64,
}

/// The caches of one process. Lives in the application state, never in a static.
pub struct Caches {
    vaults: Cache<(Uuid, String), Vault>,
    sessions: Cache<Uuid, Session>,
    bodies: Cache<String, Bytes>,
    /// Vault-metadata counts.
    pub vault_counts: Counts,
    /// Session counts.
    pub session_counts: Counts,
    /// Body counts.
    pub body_counts: Counts,
}

/// A load that found nothing (not cached) or failed.
enum Miss {
    Absent,
    Failed(StoreError),
}

impl Caches {
    /// Caches holding at most `body_bytes` of vault bodies.
    pub fn new(body_bytes: u64) -> Self {
        Self {
            vaults: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(300))
                .support_invalidation_closures()
                .build(),
            sessions: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .support_invalidation_closures()
                .build(),
            bodies: Cache::builder()
                .max_capacity(body_bytes)
                .weigher(|_, v: &Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
                .time_to_idle(Duration::from_secs(600))
                .build(),
            vault_counts: Counts::default(),
            session_counts: Counts::default(),
            body_counts: Counts::default(),
        }
    }

    /// The vault, from memory or from `load`; concurrent misses for one key load once.
    pub async fn vault<F>(&self, user: Uuid, vault_id: &str, load: F) -> Result<Option<Vault>, StoreError>
    where
        F: Future<Output = Result<Option<Vault>, StoreError>>,
    {
        cached(&self.vaults, &self.vault_counts, (user, vault_id.to_owned()), load).await
    }

    /// The session, from memory or from `load`.
    pub async fn session<F>(&self, id: Uuid, load: F) -> Result<Option<Session>, StoreError>
    where
        F: Future<Output = Result<Option<Session>, StoreError>>,
    {
        cached(&self.sessions, &self.session_counts, id, load).await
    }

    /// A small body by etag (etags are never reused, so bodies never go stale).
    pub async fn body<F>(&self, etag: &str, load: F) -> Result<Bytes, StoreError>
    where
        F: Future<Output = Result<Bytes, StoreError>>,
    {
        let load = async { load.await.map(Some) };
        cached(&self.bodies, &self.body_counts, etag.to_owned(), load).await.map(Option::unwrap_or_default)
    }

    /// Drops what `change` makes stale.
    pub async fn apply(&self, change: &Change) {
        match change {
            Change::Vault { user, vault_id } => self.vaults.invalidate(&(*user, vault_id.clone())).await,
            Change::User(user) => {
                let user = *user;
                let _ = self.vaults.invalidate_entries_if(move |(u, _), _| *u == user);
                let _ = self.sessions.invalidate_entries_if(move |_, s| s.user_id == user);
            }
            Change::Session(id) => self.sessions.invalidate(id).await,
        }
    }

    /// Drops every metadata entry (after announcements may have been missed).
    pub fn clear(&self) {
        self.vaults.invalidate_all();
        self.sessions.invalidate_all();
    }
}

async fn cached<K, V, F>(
    cache: &Cache<K, V>,
    counts: &Counts,
    key: K,
    load: F,
) -> Result<Option<V>, StoreError>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: Future<Output = Result<Option<V>, StoreError>>,
{
    let loaded = std::sync::atomic::AtomicBool::new(false);
    let result = cache
        .try_get_with(key, async {
            loaded.store(true, Ordering::Relaxed);
            match load.await {
                Ok(Some(v)) => Ok(v),
                Ok(None) => Err(Miss::Absent),
                Err(e) => Err(Miss::Failed(e)),
            }
        })
        .await;
    let counter = if loaded.load(Ordering::Relaxed) { &counts.misses } else { &counts.hits };
    counter.fetch_add(1, Ordering::Relaxed);
    match result {
        Ok(v) => Ok(Some(v)),
        Err(miss) => match Arc::try_unwrap(miss) {
            Ok(Miss::Absent) => Ok(None),
            Ok(Miss::Failed(e)) => Err(e),
            Err(shared) => match &*shared {
                Miss::Absent => Ok(None),
                Miss::Failed(e) => Err(StoreError::Shared {
                    unavailable: matches!(
                        e,
                        StoreError::Unavailable(_) | StoreError::Shared { unavailable: true, .. }
                    ),
                    message: e.to_string(),
                }),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Timestamp;

    fn vault(user: Uuid, id: &str, etag: &str) -> Vault {
        let now = Timestamp::now();
        Vault {
            user_id: user,
            vault_id: id.into(),
            etag: etag.into(),
            revision: 1,
            version: 1,
            size: 0,
            sha256: vec![],
            iv: vec![],
            salt: vec![],
            created_at: now,
            updated_at: now,
        }
    }

    #[tokio::test]
    async fn hits_misses_and_invalidation() {
        let caches = Caches::new(1 << 20);
        let user = Uuid::new_v4();
        let v1 = caches.vault(user, "a", async { Ok(Some(vault(user, "a", "e1"))) }).await.unwrap();
        let again = caches.vault(user, "a", async { Ok(Some(vault(user, "a", "e2"))) }).await.unwrap();
        assert_eq!(v1, again, "the second read is served from memory");
        assert_eq!(caches.vault_counts.hits.load(Ordering::Relaxed), 1);
        assert_eq!(caches.vault_counts.misses.load(Ordering::Relaxed), 1);

        caches.apply(&Change::Vault { user, vault_id: "a".into() }).await;
        let fresh = caches.vault(user, "a", async { Ok(Some(vault(user, "a", "e2"))) }).await.unwrap();
        assert_eq!(fresh.unwrap().etag, "e2");

        caches.apply(&Change::User(user)).await;
        let gone = caches.vault(user, "a", async { Ok(None) }).await.unwrap();
        assert!(gone.is_none(), "absent is not cached");
        let missing = caches.vault(user, "b", async { Err(StoreError::Conflict("x")) }).await;
        assert!(missing.is_err(), "errors are not cached");
    }
}
