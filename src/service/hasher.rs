//! Argon2id hashing of auth hashes, off the async runtime and with bounded memory.
//!
//! Each hash needs `m_kib` KiB of working memory. Allocating and freeing 19 MiB per login makes
//! the allocator hold on to ever more of it under a login storm, so the blocks are pooled:
//! at most one buffer per concurrent slot, reused from hash to hash.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::ServiceError;

const OUTPUT_LEN: usize = 32;
const SALT_LEN: usize = 16;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
}

/// The outcome of checking a secret against a stored PHC string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Whether the secret matched.
    pub matches: bool,
    /// Whether the stored hash used other parameters than the configured ones.
    pub needs_rehash: bool,
}

/// Runs Argon2id with at most `slots` hashes at once and `queue` more waiting; past that,
/// callers get [`ServiceError::Saturated`].
pub struct PasswordHasher {
    cost: HashCost,
    slots: Arc<Semaphore>,
    slot_count: usize,
    waiting: AtomicUsize,
    queue: usize,
    buffers: Mutex<Vec<Vec<Block>>>,
    decoy: String,
    on_wait: Option<Box<dyn Fn(std::time::Duration) + Send + Sync>>,
}

impl PasswordHasher {
    /// A hasher with the given cost, concurrency and queue bound.
    pub fn new(cost: HashCost, slots: usize, queue: usize) -> Result<Self, argon2::Error> {
        params(cost)?;
        let decoy = phc(cost, &rand::random::<[u8; SALT_LEN]>(), &rand::random::<[u8; OUTPUT_LEN]>());
        Ok(Self {
            cost,
            slots: Arc::new(Semaphore::new(slots.max(1))),
            slot_count: slots.max(1),
            waiting: AtomicUsize::new(0),
            queue,
            buffers: Mutex::new(Vec::new()),
            decoy,
            on_wait: None,
        })
    }

    /// Calls `observe` with how long each hash waited for a slot (for metrics).
    pub fn on_wait(mut self, observe: impl Fn(std::time::Duration) + Send + Sync + 'static) -> Self {
        self.on_wait = Some(Box::new(observe));
        self
    }

    /// A PHC string with the configured cost that no secret matches; verifying against it
    /// costs the same as verifying against a real one.
    pub fn decoy(&self) -> &str {
        &self.decoy
    }

    /// Like [`Self::decoy`], with the cost named by `hash_params` (a PHC string up to its
    /// salt, as [`AccountShape`](crate::store::AccountShape) has it): verifying against it
    /// costs what verifying an account hashed with those parameters costs. `None` when the
    /// parameters are not a valid Argon2id cost.
    pub fn decoy_with(&self, hash_params: &str) -> Option<String> {
        let cost = Parsed::from_phc(&format!("{hash_params}AAAAAAAAAAAAAAAAAAAAAA$AAAA"))?.cost;
        params(cost).ok()?;
        Some(phc(cost, &rand::random::<[u8; SALT_LEN]>(), &rand::random::<[u8; OUTPUT_LEN]>()))
    }

    /// Hashes `secret` with a fresh salt; returns the PHC string.
    pub async fn hash(self: &Arc<Self>, secret: Vec<u8>) -> Result<String, ServiceError> {
        let cost = self.cost;
        self.run(move |hasher| {
            let salt: [u8; SALT_LEN] = rand::random();
            let out = hasher.compute(cost, &secret, &salt)?;
            Ok(phc(cost, &salt, &out))
        })
        .await
    }

    /// Checks `secret` against a stored PHC string in constant time.
    pub async fn verify(self: &Arc<Self>, secret: Vec<u8>, stored: String) -> Result<Verified, ServiceError> {
        let configured = self.cost;
        self.run(move |hasher| {
            let Some(parsed) = Parsed::from_phc(&stored) else {
                return Err(ServiceError::internal("stored password hash is not an Argon2id PHC string"));
            };
            let out = hasher.compute(parsed.cost, &secret, &parsed.salt)?;
            Ok(Verified {
                matches: bool::from(out.ct_eq(&parsed.hash[..])) && parsed.hash.len() == OUTPUT_LEN,
                needs_rehash: parsed.cost != configured,
            })
        })
        .await
    }

    /// Hashes that may compute or wait at once; one more is refused with 503.
    pub fn capacity(&self) -> usize {
        self.slot_count + self.queue
    }

    /// Hashes currently computing or waiting.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    async fn run<T, F>(self: &Arc<Self>, job: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&PasswordHasher) -> Result<T, ServiceError> + Send + 'static,
    {
        let _queued =
            QueueSlot::enter(&self.waiting, self.queue + self.slot_count).ok_or(ServiceError::Saturated)?;
        let queued_at = std::time::Instant::now();
        let permit = Arc::clone(&self.slots).acquire_owned().await.map_err(|_| ServiceError::Saturated)?;
        if let Some(observe) = &self.on_wait {
            observe(queued_at.elapsed());
        }
        let this = Arc::clone(self);
        let span = tracing::Span::current();
        let handle = tokio::task::spawn_blocking(move || {
            let _enter = span.enter();
            let _permit = permit;
            job(&this)
        });
        handle.await.map_err(|e| ServiceError::internal(format!("argon2 task failed: {e}")))?
    }

    fn compute(&self, cost: HashCost, secret: &[u8], salt: &[u8]) -> Result<[u8; OUTPUT_LEN], ServiceError> {
        let params = params(cost).map_err(|e| ServiceError::internal(format!("argon2 parameters: {e}")))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let blocks = params.block_count();
        let mut buffer = self.take_buffer(blocks);
        let mut out = [0u8; OUTPUT_LEN];
        let result = argon.hash_password_into_with_memory(secret, salt, &mut out, &mut buffer[..]);
        self.return_buffer(buffer);
        result.map_err(|e| ServiceError::internal(format!("argon2: {e}")))?;
        Ok(out)
    }

    fn take_buffer(&self, blocks: usize) -> Vec<Block> {
        let pooled = self.buffers.lock().ok().and_then(|mut pool| pool.pop());
        match pooled {
            Some(buffer) if buffer.len() >= blocks => buffer,
            _ => vec![Block::new(); blocks],
        }
    }

    fn return_buffer(&self, buffer: Vec<Block>) {
        // Only buffers of the configured size are kept: one per slot at most.
        if buffer.len() != params(self.cost).map_or(0, |p| p.block_count()) {
            return;
        }
        if let Ok(mut pool) = self.buffers.lock() {
            pool.push(buffer);
        }
    }
}

/// Counts one waiting-or-running hash for as long as it lives.
struct QueueSlot<'a>(&'a AtomicUsize);

impl<'a> QueueSlot<'a> {
    fn enter(counter: &'a AtomicUsize, bound: usize) -> Option<Self> {
        let before = counter.fetch_add(1, Ordering::AcqRel);
        if before >= bound {
            counter.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self(counter))
    }
}

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn params(cost: HashCost) -> Result<Params, argon2::Error> {
    Params::new(cost.m_kib, cost.t, cost.p, Some(OUTPUT_LEN))
}

fn phc(cost: HashCost, salt: &[u8], hash: &[u8]) -> String {
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        cost.m_kib,
        cost.t,
        cost.p,
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(hash)
    )
}

/// The parts of an `$argon2id$v=19$m=..,t=..,p=..$salt$hash` string.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    cost: HashCost,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Parsed {
    fn from_phc(s: &str) -> Option<Self> {
        let mut parts = s.split('$');
        let (Some(""), Some("argon2id"), Some("v=19"), Some(params), Some(salt), Some(hash), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let mut cost = HashCost { m_kib: 0, t: 0, p: 0 };
        for kv in params.split(',') {
            let (k, v) = kv.split_once('=')?;
            let v: u32 = v.parse().ok()?;
            match k {
                "m" => cost.m_kib = v,
                "t" => cost.t = v,
                "p" => cost.p = v,
                _ => return None,
            }
        }
        Some(Self {
            cost,
            salt: STANDARD_NO_PAD.decode(salt).ok()?,
            hash: STANDARD_NO_PAD.decode(hash).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashCost = HashCost { m_kib: 64, t: 1, p: 1 };

    #[tokio::test]
    async fn hash_then_verify_and_detect_old_parameters() {
        let hasher = Arc::new(PasswordHasher::new(CHEAP, 2, 4).unwrap());
        let stored = hasher.hash(b"secret".to_vec()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        let ok = hasher.verify(b"secret".to_vec(), stored.clone()).await.unwrap();
        assert_eq!(ok, Verified { matches: true, needs_rehash: false });
        let bad = hasher.verify(b"secreT".to_vec(), stored.clone()).await.unwrap();
        assert!(!bad.matches);

        let stronger = Arc::new(PasswordHasher::new(HashCost { m_kib: 128, ..CHEAP }, 1, 1).unwrap());
        let old = stronger.verify(b"secret".to_vec(), stored).await.unwrap();
        assert_eq!(old, Verified { matches: true, needs_rehash: true });
    }

    #[tokio::test]
    async fn matches_the_reference_implementation() {
        // Same inputs through the argon2 crate's own allocation path.
        let salt = [7u8; 16];
        let hasher = PasswordHasher::new(CHEAP, 1, 1).unwrap();
        let ours = hasher.compute(CHEAP, b"pw", &salt).unwrap();
        let mut theirs = [0u8; 32];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params(CHEAP).unwrap())
            .hash_password_into(b"pw", &salt, &mut theirs)
            .unwrap();
        assert_eq!(ours, theirs);
        // The pooled buffer is reused, not reallocated.
        assert_eq!(hasher.buffers.lock().unwrap().len(), 1);
        hasher.compute(CHEAP, b"pw", &salt).unwrap();
        assert_eq!(hasher.buffers.lock().unwrap().len(), 1);
    }

    #[test]
    fn decoys_cost_what_the_named_parameters_cost() {
        let hasher = PasswordHasher::new(HashCost { m_kib: 256, t: 1, p: 1 }, 1, 1).unwrap();
        let stored = phc(HashCost { m_kib: 512, t: 3, p: 1 }, &[1u8; SALT_LEN], &[2u8; OUTPUT_LEN]);
        // What the store reads as an account's parameters: the PHC string less 66 characters.
        let params = &stored[..stored.len() - 66];
        assert_eq!(params, "$argon2id$v=19$m=512,t=3,p=1$");
        let decoy = hasher.decoy_with(params).unwrap();
        assert_eq!(Parsed::from_phc(&decoy).unwrap().cost, HashCost { m_kib: 512, t: 3, p: 1 });
        assert_eq!(hasher.decoy_with("$argon2id$v=19$m=1,t=1,p=1$"), None, "not a valid cost");
        assert_eq!(hasher.decoy_with("garbage"), None);
    }

    #[test]
    fn phc_round_trip_and_rejects_other_algorithms() {
        let s = phc(CHEAP, &[1, 2, 3], &[4, 5, 6]);
        let parsed = Parsed::from_phc(&s).unwrap();
        assert_eq!(parsed, Parsed { cost: CHEAP, salt: vec![1, 2, 3], hash: vec![4, 5, 6] });
        assert!(Parsed::from_phc(&s.replace("argon2id", "argon2i")).is_none());
        assert!(Parsed::from_phc("$argon2id$v=19$m=1,t=1,x=2$AA$AA").is_none());
    }

    #[tokio::test]
    async fn a_full_queue_is_refused() {
        let hasher = Arc::new(PasswordHasher::new(CHEAP, 1, 0).unwrap());
        let counter = &hasher.waiting;
        let held = QueueSlot::enter(counter, 1).unwrap();
        assert!(matches!(hasher.hash(b"x".to_vec()).await, Err(ServiceError::Saturated)));
        drop(held);
        assert!(hasher.hash(b"x".to_vec()).await.is_ok());
    }
}
