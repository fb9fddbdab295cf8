//! Decoys for usernames that have no account. Prelogin and a wrong login must not tell them
//! apart from real accounts, whose shape (salt length, iterations) and hashing cost (the Argon2
//! parameters each was hashed with) vary with when they registered or last logged in. So a
//! decoy is not the current defaults: it is drawn from the accounts that exist, in proportion
//! to how many share each shape, by a keyed hash of the username. The same name gets the same
//! decoy on every replica and every request (while the population stays about the same: a
//! name moves to another shape only when the shares around its point move past it), its salt
//! is a keyed hash of the name, and checking a password against it runs Argon2 with the drawn
//! parameters, so it takes as long as it would for the accounts it imitates.

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

    /// `len` bytes keyed by the name: the first 32 are what decoy salts always were.
    fn salt(&self, username: &str, len: usize) -> Result<Vec<u8>, ServiceError> {
        let mut salt = self.mac(&[username.as_bytes()])?;
        salt.extend(self.mac(&[username.as_bytes(), b"\x01"])?);
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

/// The shape at `point` when the accounts are laid end to end (each shape as wide as its
/// number of accounts); `None` when there are none.
fn pick(shapes: &[AccountShape], point: u64) -> Option<&AccountShape> {
    let total: u64 = shapes.iter().map(|s| s.accounts.max(0) as u64).sum();
    if total == 0 {
        return None;
    }
    let mut at = point % total;
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

    #[test]
    fn decoys_follow_the_accounts_shares() {
        let shapes = [shape(16, 650_000, 3), shape(32, 600_000, 1)];
        let mut drawn = [0usize; 2];
        for point in 0..4000u64 {
            let picked = pick(&shapes, point.wrapping_mul(0x9e37_79b9_7f4a_7c15)).unwrap();
            drawn[usize::from(picked.salt_len == 32)] += 1;
        }
        assert_eq!(drawn, [3000, 1000], "three quarters look like the 16-byte accounts");
        assert_eq!(pick(&[], 7), None);
        assert_eq!(pick(&[shape(16, 1, 0)], 7), None);
    }
}
