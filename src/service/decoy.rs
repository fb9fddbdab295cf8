//! Decoys for usernames that have no account. Prelogin and a wrong login must not tell them
//! apart from real accounts, whose shape (salt length, iterations) and hashing cost (the Argon2
//! parameters each was hashed with, kept in its PHC string) vary with when they registered or
//! last logged in. So a decoy is not the current defaults: it is drawn from the accounts that
//! exist, in proportion to how many share each shape, by a keyed hash of the username; its
//! salt is a keyed hash of the name, and checking a password against it runs Argon2 with the
//! drawn parameters, so it takes as long as it would for the accounts it imitates.
//!
//! What an attacker compares is one name over time and across replicas, since a real
//! account's shape changes only when its owner changes the password. So the draw is stable:
//! the keyed hash places the name at a fixed point of [0, 1), and the shapes, in a fixed order,
//! cover [0, 1) in proportion to their shares. When accounts come and go the boundaries move
//! a little, and only the names between a boundary's old and new place change shape (a new
//! account moves about 1/n of all names, as a password change or a new registration would).
//! A name that does change shape gets a salt unrelated to its old one, as a real password
//! change gives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::ServiceError;
use super::hasher::PasswordHasher;
use crate::store::{AccountShape, MetadataStore};

/// How long one reading of the accounts' shapes is used.
const SHAPES_TTL: Duration = Duration::from_secs(300);

/// What a username without an account shows and costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decoy {
    /// The KDF salt prelogin shows.
    pub salt: Vec<u8>,
    /// The iterations prelogin shows.
    pub iterations: i64,
    /// A PHC string no hash matches, at the drawn cost.
    pub phc: String,
}

/// Makes decoys; see the module documentation.
pub(super) struct Decoys {
    key: Vec<u8>,
    store: Arc<dyn MetadataStore>,
    hasher: Arc<PasswordHasher>,
    /// Iterations shown while there is no account to imitate.
    default_iterations: i64,
    shapes: tokio::sync::Mutex<Option<(Instant, Arc<Vec<AccountShape>>)>>,
}

impl Decoys {
    /// Decoys keyed by `key` (a server secret every replica shares).
    pub fn new(
        key: Vec<u8>,
        store: Arc<dyn MetadataStore>,
        hasher: Arc<PasswordHasher>,
        default_iterations: i64,
    ) -> Self {
        Self { key, store, hasher, default_iterations, shapes: tokio::sync::Mutex::new(None) }
    }

    /// The decoy of `username` (normalized).
    pub async fn of(&self, username: &str) -> Result<Decoy, ServiceError> {
        let shapes = self.shapes().await?;
        let mac = self.mac(&[b"shape\0", username.as_bytes()])?;
        let point = u64::from_be_bytes(mac[..8].try_into().unwrap_or_default());
        let (salt_len, iterations, phc) = match pick(&shapes, point) {
            Some(shape) => (shape.salt_len, shape.iterations, self.hasher.decoy_with(&shape.hash_params)),
            None => (32, self.default_iterations, None),
        };
        Ok(Decoy {
            salt: self.salt(username, salt_len.clamp(16, 64) as usize)?,
            iterations,
            phc: phc.unwrap_or_else(|| self.hasher.decoy().to_owned()),
        })
    }

    /// `len` bytes keyed by the name and the length. 32 bytes are what decoy salts were
    /// before decoys took other shapes.
    fn salt(&self, username: &str, len: usize) -> Result<Vec<u8>, ServiceError> {
        if len == 32 {
            return self.mac(&[username.as_bytes()]);
        }
        let len_byte = [u8::try_from(len).unwrap_or(u8::MAX)];
        let mut salt = self.mac(&[b"salt\0", &len_byte, username.as_bytes(), b"\0"])?;
        salt.extend(self.mac(&[b"salt\0", &len_byte, username.as_bytes(), b"\x01"])?);
        salt.truncate(len);
        Ok(salt)
    }

    fn mac(&self, parts: &[&[u8]]) -> Result<Vec<u8>, ServiceError> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .map_err(|_| ServiceError::internal("decoy key rejected by HMAC"))?;
        for part in parts {
            mac.update(part);
        }
        Ok(mac.finalize().into_bytes().to_vec())
    }

    async fn shapes(&self) -> Result<Arc<Vec<AccountShape>>, ServiceError> {
        let mut cached = self.shapes.lock().await;
        if let Some((at, shapes)) = cached.as_ref()
            && at.elapsed() < SHAPES_TTL
        {
            return Ok(Arc::clone(shapes));
        }
        let shapes = Arc::new(self.store.account_shapes().await?);
        *cached = Some((Instant::now(), Arc::clone(&shapes)));
        Ok(shapes)
    }
}

/// The shape at `point` (read as the fraction `point / 2^64`) when the shapes, in their
/// order, cover [0, 1) each in proportion to its number of accounts; `None` when there are
/// none.
fn pick(shapes: &[AccountShape], point: u64) -> Option<&AccountShape> {
    let total: u64 = shapes.iter().map(|s| s.accounts.max(0) as u64).sum();
    if total == 0 {
        return None;
    }
    let mut at = ((u128::from(point) * u128::from(total)) >> 64) as u64;
    shapes.iter().find(|shape| {
        let width = shape.accounts.max(0) as u64;
        let here = at < width;
        at = at.saturating_sub(width);
        here
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(salt_len: i64, iterations: i64, accounts: i64) -> AccountShape {
        AccountShape { salt_len, iterations, hash_params: "$argon2id$v=19$m=256,t=1,p=1$".into(), accounts }
    }

    /// Where `n` well-spread names fall.
    fn points(n: u64) -> impl Iterator<Item = u64> {
        (0..n).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    #[test]
    fn decoys_follow_the_accounts_shares() {
        let shapes = [shape(16, 650_000, 3), shape(32, 600_000, 1)];
        let mut drawn = [0usize; 2];
        for point in points(4000) {
            drawn[usize::from(pick(&shapes, point).unwrap().salt_len == 32)] += 1;
        }
        assert!(
            (2960..=3040).contains(&drawn[0]),
            "three quarters look like the 16-byte accounts: {drawn:?}"
        );
        assert_eq!(pick(&[], 7), None);
        assert_eq!(pick(&[shape(16, 1, 0)], 7), None);
        assert_eq!(pick(&shapes, u64::MAX).unwrap().salt_len, 32, "the top of the range is the last shape");
    }

    #[test]
    fn a_new_account_moves_few_decoys() {
        let before = [shape(16, 650_000, 3), shape(32, 700_000, 12)];
        let after = [shape(16, 650_000, 3), shape(32, 700_000, 13)];
        let salt_len = |shapes: &[AccountShape], p| pick(shapes, p).map(|s| s.salt_len);
        let moved = points(4000).filter(|&p| salt_len(&before, p) != salt_len(&after, p)).count();
        // The boundary moves from 3/15 to 3/16: 1.25% of the names cross it. Drawing by
        // `point % total` instead moved about a third of them with every registration.
        assert!(moved <= 60, "{moved} of 4000 decoys changed shape");
    }

    #[tokio::test]
    async fn a_decoy_salt_of_another_length_is_unrelated() {
        let store = crate::store::SqliteStore::connect("sqlite::memory:", 1).await.unwrap();
        let cost = super::super::HashCost { m_kib: 64, t: 1, p: 1 };
        let hasher = Arc::new(PasswordHasher::new(cost, 1, 1).unwrap());
        let decoys = Decoys::new(vec![7u8; 32], Arc::new(store), hasher, 600_000);
        let (short, long) = (decoys.salt("bob", 16).unwrap(), decoys.salt("bob", 32).unwrap());
        assert_eq!((short.len(), long.len(), decoys.salt("bob", 64).unwrap().len()), (16, 32, 64));
        assert_ne!(short[..], long[..16], "not a prefix: a real password change gives a new salt too");
        assert_eq!(short, decoys.salt("bob", 16).unwrap(), "stable");
        assert_ne!(short, decoys.salt("bobby", 16).unwrap());
    }
}
