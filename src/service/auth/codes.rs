//! The small rules of account security: recovery codes and their stored form, names given to
//! sessions and authenticators, and how long a challenge lives. A leaf of the auth module.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::service::ServiceError;

/// How long a login challenge (or a WebAuthn registration) is accepted.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// Recovery codes issued at a time.
pub const RECOVERY_CODES: usize = 10;
/// Crockford's base32 alphabet, lowercase: no i, l, o or u to misread.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Longest name of a session's device or an authenticator.
const MAX_NAME: usize = 64;

/// Fresh recovery codes (`xxxxx-xxxxx`, 50 random bits each) and their stored hashes.
pub(super) fn recovery_codes(user: uuid::Uuid) -> (Vec<String>, Vec<Vec<u8>>) {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let raw: [u8; 10] = rand::random();
            let chars: String =
                raw.iter().map(|b| char::from(RECOVERY_ALPHABET[usize::from(b & 31)])).collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect();
    let hashes = codes.iter().map(|c| recovery_code_hash(user, c)).collect();
    (codes, hashes)
}

/// The stored form of a recovery code: SHA-256 of the user's id and the code as typed, less
/// separators and case (50 random bits, behind the login throttles).
pub(super) fn recovery_code_hash(user: uuid::Uuid, code: &str) -> Vec<u8> {
    let normal: String =
        code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    let mut hash = Sha256::new();
    hash.update(user.as_bytes());
    hash.update(normal.as_bytes());
    hash.finalize().to_vec()
}

/// A checked name of a device or an authenticator: trimmed, at most 64 characters, none of
/// them control characters.
pub(super) fn check_name(field: &'static str, name: &str) -> Result<String, ServiceError> {
    let name = name.trim();
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            field,
            format!("at most {MAX_NAME} characters, none of them control characters"),
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_distinct_and_hash_forgivingly() {
        let user = uuid::Uuid::new_v4();
        let (codes, hashes) = recovery_codes(user);
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert!(code.chars().all(|c| c == '-' || RECOVERY_ALPHABET.contains(&(c as u8))), "{code}");
        }
        let typed = format!(" {} ", codes[0].to_uppercase().replace('-', " "));
        assert_eq!(recovery_code_hash(user, &typed), hashes[0], "case and separators do not matter");
        assert_ne!(recovery_code_hash(uuid::Uuid::new_v4(), &codes[0]), hashes[0], "bound to the user");
    }
}
