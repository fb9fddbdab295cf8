use std::fmt;

use super::ServiceError;

/// A validated vault id: `[A-Za-z0-9._-]{1,128}`, not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VaultId(String);

impl VaultId {
    /// Checks `raw` against the vault-id rules.
    pub fn parse(raw: &str) -> Result<Self, ServiceError> {
        let ok = (1..=128).contains(&raw.len())
            && raw != "."
            && raw != ".."
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ServiceError::invalid(
                "vault_id",
                "must be 1 to 128 characters of A-Z a-z 0-9 . _ - (not . or ..)",
            ))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VaultId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_ids() {
        for ok in ["main", "a", "Notes_2026.v1-final", &"x".repeat(128), "..."] {
            assert!(VaultId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(129), "%2e%2e"] {
            assert!(VaultId::parse(bad).is_err(), "{bad}");
        }
    }
}
