//! The server's secrets key: seals the few secrets the server itself must be able to read (TOTP
//! secrets), so that a copy of the database alone does not reveal them.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use super::ServiceError;

/// Bytes of the nonce that prefixes every sealed value.
const NONCE_LEN: usize = 12;

/// AES-256-GCM under the configured key; each value sealed with a fresh random nonce and bound
/// to what it belongs to (the associated data), so a sealed value moved to another row fails.
#[derive(Clone)]
pub struct SecretsKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(..)")
    }
}

impl SecretsKey {
    /// The key of these 32 bytes.
    pub fn new(key: &[u8; 32]) -> Self {
        Self { cipher: Aes256Gcm::new(key.into()) }
    }

    /// `nonce || ciphertext || tag` of `secret`, bound to `context`.
    pub fn seal(&self, secret: &[u8], context: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: secret, aad: context })
            .expect("AES-GCM seals any input this small");
        [nonce.as_slice(), &sealed].concat()
    }

    /// The secret sealed in `sealed` for `context`; an internal error when it was sealed under
    /// another key or for another context (the operator changed the key, or rows were moved).
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, ServiceError> {
        let (nonce, body) = sealed
            .split_at_checked(NONCE_LEN)
            .ok_or_else(|| ServiceError::internal("a sealed secret is too short"))?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce length");
        self.cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: body, aad: context })
            .map_err(|_| ServiceError::internal("a sealed secret does not open under BLINDVAULT_SECRETS_KEY"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let key = SecretsKey::new(&[1; 32]);
        let sealed = key.seal(b"totp secret", b"user-a");
        assert!(!sealed.windows(11).any(|w| w == b"totp secret"), "never in clear");
        assert_eq!(key.open(&sealed, b"user-a").unwrap(), b"totp secret");
        assert!(key.open(&sealed, b"user-b").is_err(), "moved to another row");
        assert!(SecretsKey::new(&[2; 32]).open(&sealed, b"user-a").is_err(), "another key");
        assert!(key.open(&sealed[..5], b"user-a").is_err(), "truncated");
        assert_ne!(key.seal(b"x", b"c"), key.seal(b"x", b"c"), "fresh nonce each time");
    }
}
