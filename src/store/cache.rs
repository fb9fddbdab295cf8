//! In-process caches (moka): vault metadata by (user, vault id), sessions by id, usernames by
//! user id (never renamed, ids never reused), and small vault bodies by etag. Entries are dropped on every local write and on every change another
//! replica announces; lifetimes bound how long a missed announcement can matter.
//!
//! A load that an invalidation overtakes must not leave what it read behind: every change
//! bumps a generation number first, and a loaded value whose load saw the generation move is
//! handed to its caller but not kept (checked before moka stores it, and again right after, so
//! an invalidation landing in between removes it at once). While metadata caching is paused
//! (a replica that is not listening to the others' changes) nothing is kept at all.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use moka::future::Cache;
use uuid::Uuid;

use super::feed::Change;
use super::{Session, StoreError};
use crate::domain::Vault;

/// Largest body kept in the body cache.
pub const MAX_CACHED_BODY: usize = 256 * 1024;

use super::counts::Counts;

/// The caches of one process. Lives in the application state, never in a static.
pub struct Caches {
    vaults: Cache<(Uuid, String), Vault>,
    sessions: Cache<Uuid, Session>,
    usernames: Cache<Uuid, String>,
    quotas: Cache<Uuid, super::Quota>,
    bodies: Cache<String, Bytes>,
    /// Small vaults' JSON answers, rendered once per revision.
    pub rendered: super::rendered::RenderedVaults,
    /// Vault-metadata counts.
    pub vault_counts: Counts,
    /// Session counts.
    pub session_counts: Counts,
    /// Username counts.
    pub username_counts: Counts,
    /// Per-user quota counts.
    pub quota_counts: Counts,
    /// Body counts.
    pub body_counts: Counts,
    /// Whether vault metadata and sessions may be kept (bodies, immutable per etag, always may).
    metadata_on: AtomicBool,
    /// Bumped by every invalidation, before it drops anything.
    generation: AtomicU64,
}

/// A load that found nothing (not cached), failed, or was overtaken by an invalidation.
enum Miss<V> {
    Absent,
    Failed(StoreError),
    Overtaken(V),
}

/// When a loaded value may be kept.
struct Keep<'a> {
    /// False: keep nothing at all.
    on: bool,
    /// Keep it only while this stays where it was when the load began.
    generation: &'a AtomicU64,
}

impl Caches {
    /// Caches holding at most `budget` bytes of vault data: three quarters for small bodies, a
    /// quarter for their JSON answers.
    pub fn new(budget: u64) -> Self {
        let body_bytes = budget / 4 * 3;
        Self {
            rendered: super::rendered::RenderedVaults::new(budget / 4),
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
            usernames: Cache::builder().max_capacity(100_000).time_to_idle(Duration::from_secs(3600)).build(),
            quotas: Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(300)).build(),
            bodies: Cache::builder()
                .max_capacity(body_bytes)
                .weigher(|_, v: &Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
                .time_to_idle(Duration::from_secs(600))
                .build(),
            vault_counts: Counts::default(),
            session_counts: Counts::default(),
            username_counts: Counts::default(),
            quota_counts: Counts::default(),
            body_counts: Counts::default(),
            metadata_on: AtomicBool::new(true),
            generation: AtomicU64::new(0),
        }
    }

    /// Stops keeping vault metadata and sessions, and forgets those kept: changes made
    /// elsewhere may go unseen from now on.
    pub fn pause(&self) {
        self.metadata_on.store(false, Ordering::SeqCst);
        self.clear();
    }

    /// Forgets every metadata entry, then keeps them again: changes made elsewhere are seen
    /// from now on.
    pub fn resume(&self) {
        self.clear();
        self.metadata_on.store(true, Ordering::SeqCst);
    }

    /// Whether vault metadata and sessions are being kept.
    pub fn keeping(&self) -> bool {
        self.metadata_on.load(Ordering::SeqCst)
    }

    fn keep(&self) -> Keep<'_> {
        Keep { on: self.keeping(), generation: &self.generation }
    }

    /// The vault, from memory or from `load`; concurrent misses for one key load once.
    pub async fn vault<F>(&self, user: Uuid, vault_id: &str, load: F) -> Result<Option<Vault>, StoreError>
    where
        F: Future<Output = Result<Option<Vault>, StoreError>>,
    {
        cached(&self.vaults, &self.vault_counts, self.keep(), (user, vault_id.to_owned()), load).await
    }

    /// The session, from memory or from `load`.
    pub async fn session<F>(&self, id: Uuid, load: F) -> Result<Option<Session>, StoreError>
    where
        F: Future<Output = Result<Option<Session>, StoreError>>,
    {
        cached(&self.sessions, &self.session_counts, self.keep(), id, load).await
    }

    /// A user's name, from memory or from `load`. Names never change and ids are never
    /// reused, so nothing invalidates them; a deleted user's entry is never asked for again,
    /// since their sessions are gone, and ages out.
    pub async fn username<F>(&self, user: Uuid, load: F) -> Result<Option<String>, StoreError>
    where
        F: Future<Output = Result<Option<String>, StoreError>>,
    {
        let keep = Keep { on: true, generation: &self.generation };
        cached(&self.usernames, &self.username_counts, keep, user, load).await
    }

    /// A user's quota (the deployment's, or what an operator set for the account), from memory
    /// or from `load`: read before every write, changed only by `blindvault admin quota`, which
    /// announces the user's change to every replica.
    pub async fn quota<F>(&self, user: Uuid, load: F) -> Result<Option<super::Quota>, StoreError>
    where
        F: Future<Output = Result<Option<super::Quota>, StoreError>>,
    {
        cached(&self.quotas, &self.quota_counts, self.keep(), user, load).await
    }

    /// A small body by etag (etags are never reused, so bodies never go stale).
    pub async fn body<F>(&self, etag: &str, load: F) -> Result<Bytes, StoreError>
    where
        F: Future<Output = Result<Bytes, StoreError>>,
    {
        let load = async { load.await.map(Some) };
        let keep = Keep { on: true, generation: &self.generation };
        cached(&self.bodies, &self.body_counts, keep, etag.to_owned(), load)
            .await
            .map(Option::unwrap_or_default)
    }

    /// Drops what `change` makes stale.
    pub async fn apply(&self, change: &Change) {
        if matches!(change, Change::Feed(_)) {
            return;
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        match change {
            Change::Vault { user, vault_id } => self.vaults.invalidate(&(*user, vault_id.clone())).await,
            Change::User(user) => {
                let user = *user;
                let _ = self.vaults.invalidate_entries_if(move |(u, _), _| *u == user);
                let _ = self.sessions.invalidate_entries_if(move |_, s| s.user_id == user);
                self.quotas.invalidate(&user).await;
            }
            Change::Session(id) => self.sessions.invalidate(id).await,
            Change::Feed(_) => {}
        }
    }

    /// Drops every metadata entry (after announcements may have been missed).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.vaults.invalidate_all();
        self.sessions.invalidate_all();
        self.quotas.invalidate_all();
    }
}

async fn cached<K, V, F>(
    cache: &Cache<K, V>,
    counts: &Counts,
    keep: Keep<'_>,
    key: K,
    load: F,
) -> Result<Option<V>, StoreError>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: Future<Output = Result<Option<V>, StoreError>>,
{
    if !keep.on {
        counts.count(false);
        return load.await;
    }
    let started = keep.generation.load(Ordering::SeqCst);
    let overtaken = || keep.generation.load(Ordering::SeqCst) != started;
    let loaded = AtomicBool::new(false);
    let result = cache
        .try_get_with(key.clone(), async {
            loaded.store(true, Ordering::Relaxed);
            match load.await {
                Ok(Some(v)) if overtaken() => Err(Miss::Overtaken(v)),
                Ok(Some(v)) => Ok(v),
                Ok(None) => Err(Miss::Absent),
                Err(e) => Err(Miss::Failed(e)),
            }
        })
        .await;
    let loaded = loaded.load(Ordering::Relaxed);
    if loaded && result.is_ok() && overtaken() {
        // An invalidation landed between the check above and moka storing the value.
        cache.invalidate(&key).await;
    }
    counts.count(!loaded);
    match result {
        Ok(v) => Ok(Some(v)),
        Err(miss) => match Arc::try_unwrap(miss) {
            Ok(Miss::Absent) => Ok(None),
            Ok(Miss::Overtaken(v)) => Ok(Some(v)),
            Ok(Miss::Failed(e)) => Err(e),
            Err(shared) => match &*shared {
                Miss::Absent => Ok(None),
                Miss::Overtaken(v) => Ok(Some(v.clone())),
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
impl Vault {
    /// A vault of `user` with this id and etag, for tests.
    pub(crate) fn sample(user: Uuid, id: &str, etag: &str) -> Self {
        let now = crate::domain::Timestamp::now();
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
            uid: Uuid::new_v4(),
            receipt: None,
            written_as: None,
            rename_receipt: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;

    fn vault(user: Uuid, id: &str, etag: &str) -> Vault {
        Vault::sample(user, id, etag)
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

    #[tokio::test]
    async fn a_load_overtaken_by_an_invalidation_is_not_kept() {
        let caches = Caches::new(1 << 20);
        let user = Uuid::new_v4();
        // The load reads revision e1, then the change to e2 is announced before it returns.
        let stale = caches
            .vault(user, "a", async {
                caches.apply(&Change::Vault { user, vault_id: "a".into() }).await;
                Ok(Some(vault(user, "a", "e1")))
            })
            .await
            .unwrap();
        assert_eq!(stale.unwrap().etag, "e1", "the caller gets what it loaded");
        let next = caches.vault(user, "a", async { Ok(Some(vault(user, "a", "e2"))) }).await.unwrap();
        assert_eq!(next.unwrap().etag, "e2", "the overtaken value was not kept");

        let session = Uuid::new_v4();
        let load = |revoked: bool| async move {
            let now = Timestamp::now();
            Ok(Some(Session {
                id: session,
                user_id: user,
                scope: "vault:read".into(),
                created_at: now,
                last_used_at: now,
                expires_at: now,
                revoked_at: revoked.then_some(now),
                device_name: String::new(),
                address: String::new(),
            }))
        };
        let first = caches
            .session(session, async {
                caches.apply(&Change::Session(session)).await;
                load(false).await
            })
            .await
            .unwrap();
        assert!(first.unwrap().revoked_at.is_none());
        let second = caches.session(session, load(true)).await.unwrap();
        assert!(second.unwrap().revoked_at.is_some(), "a revocation is seen at once");
    }

    #[tokio::test]
    async fn nothing_is_kept_while_paused() {
        let caches = Caches::new(1 << 20);
        let user = Uuid::new_v4();
        caches.vault(user, "a", async { Ok(Some(vault(user, "a", "e1"))) }).await.unwrap();
        caches.pause();
        assert!(!caches.keeping());
        for etag in ["e2", "e3"] {
            let read = caches.vault(user, "a", async { Ok(Some(vault(user, "a", etag))) }).await.unwrap();
            assert_eq!(read.unwrap().etag, etag, "paused: every read loads, nothing is kept");
        }
        caches.resume();
        let read = caches.vault(user, "a", async { Ok(Some(vault(user, "a", "e4"))) }).await.unwrap();
        assert_eq!(read.unwrap().etag, "e4", "what was kept before the pause is gone");
        let again = caches.vault(user, "a", async { Ok(Some(vault(user, "a", "e5"))) }).await.unwrap();
        assert_eq!(again.unwrap().etag, "e4", "resumed: kept again");
    }
}
