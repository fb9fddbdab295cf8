//! Client-side key derivation and the chunked AEAD that vaults are encrypted with.
//! The byte-exact specification, with test vectors, is `docs/CRYPTO.md`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// AES-GCM tag bytes per chunk.
pub const TAG: usize = 16;
/// The vault format these functions write (the server's `version` field).
pub const FORMAT_VERSION: u32 = 1;
/// Length of the stored `iv`: the 96-bit nonce base.
pub const IV_LEN: usize = 12;
/// Length of the random part of a vault's `salt`.
const VAULT_SALT_RANDOM: usize = 16;
/// Length of the key id that ends a vault's `salt`.
const KEY_ID_LEN: usize = 8;
/// Length of the KDF salt this client makes at registration.
pub const KDF_SALT_LEN: usize = 32;

/// Why decryption failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// A chunk failed authentication: wrong key, or tampered, reordered or truncated data.
    #[error(
        "the vault's data failed authentication: it was tampered with, truncated or reordered, or \
         it does not belong to this vault"
    )]
    Tampered,
    /// The vault is encrypted under another key than the one derived (see `passwd`).
    #[error("the vault is encrypted under another key (an unfinished `passwd`?)")]
    OtherKey,
    /// The stored salt or iv does not have this format's shape.
    #[error("the vault's salt or iv is not in format {FORMAT_VERSION}")]
    Format,
    /// More chunks than the counter can number.
    #[error("the vault is too large for one encryption")]
    TooLong,
}

/// The two secrets derived from a user's password: `auth_hash` goes to the server,
/// `K_enc` never leaves this process.
pub struct Keys {
    /// H_auth, sent at registration and login.
    pub auth_hash: [u8; 32],
    enc: Zeroizing<[u8; 32]>,
}

fn hkdf(ikm: &[u8], salt: Option<&[u8]>, info: &[u8], out: &mut [u8]) {
    // Lengths here are 8..32 bytes, far below HKDF-SHA256's 8160-byte limit.
    let _ = Hkdf::<Sha256>::new(salt, ikm).expand(info, out);
}

impl Keys {
    /// `master = PBKDF2-HMAC-SHA256(username ‖ 0x00 ‖ password, salt, iterations, 32)`;
    /// `auth_hash = HKDF(master, "blindvault/v1 auth")`, `K_enc = HKDF(master, "blindvault/v1 enc")`.
    pub fn derive(username: &str, password: &str, kdf_salt: &[u8], iterations: u32) -> Self {
        let mut input = Zeroizing::new(Vec::with_capacity(username.len() + 1 + password.len()));
        input.extend_from_slice(username.to_ascii_lowercase().as_bytes());
        input.push(0);
        input.extend_from_slice(password.as_bytes());
        let mut master = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(&input, kdf_salt, iterations, &mut *master);
        let mut auth_hash = [0u8; 32];
        let mut enc = Zeroizing::new([0u8; 32]);
        hkdf(&*master, None, b"blindvault/v1 auth", &mut auth_hash);
        hkdf(&*master, None, b"blindvault/v1 enc", &mut *enc);
        Self { auth_hash, enc }
    }

    /// Eight bytes naming `K_enc`, stored at the end of each vault's salt so that a client
    /// can tell which key a vault is under without trying to decrypt it.
    pub fn key_id(&self) -> [u8; KEY_ID_LEN] {
        let mut id = [0u8; KEY_ID_LEN];
        hkdf(&*self.enc, None, b"blindvault/v1 key id", &mut id);
        id
    }

    /// The KDF salt a password change under these keys moves to. Derived, not random, so that
    /// an interrupted `passwd` run again with the same passwords reaches the same new keys.
    pub fn next_kdf_salt(&self) -> [u8; KDF_SALT_LEN] {
        let mut salt = [0u8; KDF_SALT_LEN];
        hkdf(&*self.enc, None, b"blindvault/v1 next kdf salt", &mut salt);
        salt
    }

    /// Fresh `salt` (random ‖ key id) and `iv` for one vault revision.
    pub fn fresh_vault_params(&self) -> (Vec<u8>, [u8; IV_LEN]) {
        let mut salt = rand::random::<[u8; VAULT_SALT_RANDOM]>().to_vec();
        salt.extend_from_slice(&self.key_id());
        (salt, rand::random())
    }

    /// Whether a vault with this stored salt is under these keys.
    pub fn owns(&self, vault_salt: &[u8]) -> bool {
        vault_salt.len() == VAULT_SALT_RANDOM + KEY_ID_LEN && vault_salt[VAULT_SALT_RANDOM..] == self.key_id()
    }

    /// The restore receipt (docs/CRYPTO.md section 7): that the owner made `revision` of
    /// `vault_id` from the revision whose salt is `vault_salt`.
    pub fn restore_receipt(&self, vault_id: &str, revision: u64, vault_salt: &[u8]) -> [u8; 32] {
        self.receipt_mac(b"restore", &[vault_id.as_bytes()], &[&revision.to_be_bytes(), vault_salt])
            .finalize()
            .into_bytes()
            .into()
    }

    /// The rename receipt: that the owner brought the vault written as `written_as` back as
    /// `vault_id`.
    pub fn rename_receipt(&self, written_as: &str, vault_id: &str) -> [u8; 32] {
        self.receipt_mac(b"rename", &[written_as.as_bytes(), vault_id.as_bytes()], &[])
            .finalize()
            .into_bytes()
            .into()
    }

    /// Whether `receipt` is the restore receipt for these (compared in constant time).
    pub fn vouches_restore(&self, vault_id: &str, revision: u64, vault_salt: &[u8], receipt: &[u8]) -> bool {
        let mac =
            self.receipt_mac(b"restore", &[vault_id.as_bytes()], &[&revision.to_be_bytes(), vault_salt]);
        mac.verify_slice(receipt).is_ok()
    }

    /// Whether `receipt` is the rename receipt for these (compared in constant time).
    pub fn vouches_rename(&self, written_as: &str, vault_id: &str, receipt: &[u8]) -> bool {
        let mac = self.receipt_mac(b"rename", &[written_as.as_bytes(), vault_id.as_bytes()], &[]);
        mac.verify_slice(receipt).is_ok()
    }

    /// HMAC-SHA256 under `K_receipt` of `"blindvault/v1 " ‖ label`, then each of `strings`
    /// length-prefixed, then `raw` as it is.
    fn receipt_mac(&self, label: &[u8], strings: &[&[u8]], raw: &[&[u8]]) -> Hmac<Sha256> {
        let mut key = Zeroizing::new([0u8; 32]);
        hkdf(&*self.enc, None, b"blindvault/v1 receipt", &mut *key);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&*key).expect("HMAC takes any key length");
        mac.update(b"blindvault/v1 ");
        mac.update(label);
        for s in strings {
            mac.update(&(s.len() as u32).to_be_bytes());
            mac.update(s);
        }
        for r in raw {
            mac.update(r);
        }
        mac
    }

    /// The cipher of one vault revision.
    pub fn vault_cipher(
        &self,
        vault_salt: &[u8],
        iv: &[u8],
        vault_id: &str,
        version: u32,
    ) -> Result<VaultCipher, CryptoError> {
        if vault_salt.len() != VAULT_SALT_RANDOM + KEY_ID_LEN || version != FORMAT_VERSION {
            return Err(CryptoError::Format);
        }
        if !self.owns(vault_salt) {
            return Err(CryptoError::OtherKey);
        }
        let iv: [u8; IV_LEN] = iv.try_into().map_err(|_| CryptoError::Format)?;
        let mut key = Zeroizing::new([0u8; 32]);
        hkdf(&*self.enc, Some(&vault_salt[..VAULT_SALT_RANDOM]), b"blindvault/v1 vault key", &mut *key);
        let mut aad = b"blindvault/v1".to_vec();
        aad.extend_from_slice(&version.to_be_bytes());
        aad.extend_from_slice(vault_id.as_bytes());
        let aead = Aes256Gcm::new_from_slice(&*key).map_err(|_| CryptoError::Format)?;
        Ok(VaultCipher { aead, iv, aad })
    }
}

/// AES-256-GCM over fixed chunks (the STREAM construction): chunk `i` is sealed under the
/// nonce `iv ⊕ (0⁷ ‖ BE32(i) ‖ last)`, with the vault id and format version as associated
/// data, so that truncation, reordering and splicing between vaults are all detected.
pub struct VaultCipher {
    aead: Aes256Gcm,
    iv: [u8; IV_LEN],
    aad: Vec<u8>,
}

impl VaultCipher {
    fn nonce(&self, counter: u32, last: bool) -> Nonce<aes_gcm::aead::consts::U12> {
        let mut nonce = self.iv;
        for (n, c) in nonce[7..11].iter_mut().zip(counter.to_be_bytes()) {
            *n ^= c;
        }
        nonce[11] ^= u8::from(last);
        Nonce::from(nonce)
    }

    /// Seals chunk number `counter` (at most [`CHUNK`] bytes; only the last may be shorter).
    pub fn seal(&self, counter: u64, last: bool, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let counter = u32::try_from(counter).map_err(|_| CryptoError::TooLong)?;
        self.aead
            .encrypt(&self.nonce(counter, last), Payload { msg: plaintext, aad: &self.aad })
            .map_err(|_| CryptoError::TooLong)
    }

    /// Opens chunk number `counter`.
    pub fn open(&self, counter: u64, last: bool, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let counter = u32::try_from(counter).map_err(|_| CryptoError::Tampered)?;
        self.aead
            .decrypt(&self.nonce(counter, last), Payload { msg: ciphertext, aad: &self.aad })
            .map_err(|_| CryptoError::Tampered)
    }

    /// Encrypts a whole message held in memory.
    pub fn seal_all(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let chunks: Vec<&[u8]> =
            if plaintext.is_empty() { vec![&[]] } else { plaintext.chunks(CHUNK).collect() };
        let mut out = Vec::with_capacity(plaintext.len() + chunks.len() * TAG);
        for (i, chunk) in chunks.iter().enumerate() {
            out.extend(self.seal(i as u64, i + 1 == chunks.len(), chunk)?);
        }
        Ok(out)
    }

    /// Decrypts a whole message held in memory.
    pub fn open_all(&self, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if ciphertext.is_empty() {
            return Err(CryptoError::Tampered);
        }
        let chunks: Vec<&[u8]> = ciphertext.chunks(CHUNK + TAG).collect();
        let mut out = Vec::with_capacity(ciphertext.len());
        for (i, chunk) in chunks.iter().enumerate() {
            out.extend(self.open(i as u64, i + 1 == chunks.len(), chunk)?);
        }
        Ok(out)
    }
}

/// Ciphertext size of a plaintext of `len` bytes.
pub fn sealed_len(len: u64) -> u64 {
    let chunks = len.div_ceil(CHUNK as u64).max(1);
    len + chunks * TAG as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn vector_keys() -> Keys {
        let kdf_salt: Vec<u8> = (0u8..32).collect();
        Keys::derive("alice", "correct horse battery staple", &kdf_salt, 600_000)
    }

    fn vector_cipher(keys: &Keys, vault_id: &str) -> VaultCipher {
        let mut salt: Vec<u8> = (0x10u8..0x20).collect();
        salt.extend_from_slice(&keys.key_id());
        let iv: Vec<u8> = (0x20u8..0x2c).collect();
        keys.vault_cipher(&salt, &iv, vault_id, 1).unwrap()
    }

    /// The vectors of docs/CRYPTO.md (also checked by docs/crypto_vectors.py).
    #[test]
    fn test_vectors() {
        let keys = vector_keys();
        assert_eq!(hex(&keys.auth_hash), "b127b907058e1d28db7fdd4e59f6253a813591ada73eb1f6b629cdf1498e308c");
        assert_eq!(hex(&*keys.enc), "609e2e810b20413457047458cc2f62c19e028b353af850a04884cae58f97c8eb");
        assert_eq!(hex(&keys.key_id()), "3264bdf14eaed440");
        assert_eq!(
            hex(&keys.next_kdf_salt()),
            "2ccd7488400871fe44df18d27d4e9028a7e183bc7578b3e52ca301300831d61c"
        );
        let c = vector_cipher(&keys, "main");
        assert_eq!(
            hex(&c.seal_all(b"blindvault test vector").unwrap()),
            "7b8715c1194fce87c630775b0b840a7c3bcff50aba6810b29a8db8d798afeacb02c570d6f8e1"
        );
        assert_eq!(hex(&c.seal_all(b"").unwrap()), "22e60ed785afcd6cf81cadef9fa87643");
        let long: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
        let ct = c.seal_all(&long).unwrap();
        assert_eq!(ct.len(), 150_048);
        assert_eq!(ct.len() as u64, sealed_len(150_000));
        assert_eq!(
            hex(&sha2::Sha256::digest(&ct)),
            "b8008664518269a3dd75808050c7b3f47bed5b088c4bba3c2d3e3c7c1563ba87"
        );
        assert_eq!(c.open_all(&ct).unwrap(), long);
        let mut salt: Vec<u8> = (0x10u8..0x20).collect();
        salt.extend_from_slice(&keys.key_id());
        let restore = keys.restore_receipt("main", 3, &salt);
        assert_eq!(hex(&restore), "a986dece16c0016a8e291a7eb6eec554a4dcb8f2532bd9a12f27396e9f3d604b");
        let rename = keys.rename_receipt("main", "main-old");
        assert_eq!(hex(&rename), "e847cd04573cc35b22bf3999e426459b77ba1305362ce65fa628e7ede06365d2");
        assert!(keys.vouches_restore("main", 3, &salt, &restore));
        assert!(!keys.vouches_restore("main", 4, &salt, &restore), "another revision");
        assert!(!keys.vouches_restore("other", 3, &salt, &restore), "another vault");
        assert!(!keys.vouches_restore("main", 3, &salt[1..], &restore), "another salt");
        assert!(keys.vouches_rename("main", "main-old", &rename));
        assert!(!keys.vouches_rename("main", "main-new", &rename));
        let other = Keys::derive("alice", "another password", &[0u8; 32], 1000);
        assert!(!other.vouches_restore("main", 3, &salt, &restore), "only the owner's key makes one");
    }

    #[test]
    fn truncation_reordering_and_splicing_are_detected() {
        let keys = vector_keys();
        let c = vector_cipher(&keys, "main");
        let long: Vec<u8> = (0..150_000u32).map(|i| (i % 7) as u8).collect();
        let ct = c.seal_all(&long).unwrap();
        let step = CHUNK + TAG;
        // Truncated at a chunk boundary: the new last chunk was not sealed as last.
        assert_eq!(c.open_all(&ct[..2 * step]), Err(CryptoError::Tampered));
        // Two chunks swapped.
        let mut swapped = ct[step..2 * step].to_vec();
        swapped.extend_from_slice(&ct[..step]);
        swapped.extend_from_slice(&ct[2 * step..]);
        assert_eq!(c.open_all(&swapped), Err(CryptoError::Tampered));
        // The same bytes presented as another vault (id bound as associated data).
        assert_eq!(vector_cipher(&keys, "other").open_all(&ct), Err(CryptoError::Tampered));
        // A flipped bit.
        let mut flipped = ct.clone();
        flipped[100] ^= 1;
        assert_eq!(c.open_all(&flipped), Err(CryptoError::Tampered));
        // Another key: recognised by its id before any decryption.
        let other = Keys::derive("alice", "another password", &[0u8; 32], 1000);
        let (salt, iv) = keys.fresh_vault_params();
        assert!(matches!(other.vault_cipher(&salt, &iv, "main", 1), Err(CryptoError::OtherKey)));
    }
}
