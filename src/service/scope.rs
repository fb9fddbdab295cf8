use std::fmt;

use super::ServiceError;

/// A permission carried by an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// GET/HEAD/list vaults.
    VaultRead,
    /// Create, replace and delete vaults.
    VaultWrite,
    /// Change credentials, delete the account.
    Account,
}

impl Scope {
    const ALL: [Scope; 3] = [Scope::VaultRead, Scope::VaultWrite, Scope::Account];

    /// The scope's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::VaultRead => "vault:read",
            Scope::VaultWrite => "vault:write",
            Scope::Account => "account",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of scopes, written space-separated in canonical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// Every scope: the default for a login.
    pub fn all() -> Self {
        Self(Scope::ALL.iter().fold(0, |acc, s| acc | s.bit()))
    }

    /// Parses a space-separated list; unknown names and an empty list are refused.
    pub fn parse(field: &'static str, text: &str) -> Result<Self, ServiceError> {
        let mut bits = 0;
        for name in text.split(' ').filter(|s| !s.is_empty()) {
            let scope = Scope::ALL.into_iter().find(|s| s.as_str() == name).ok_or_else(|| {
                ServiceError::invalid(
                    field,
                    "scopes are a space-separated subset of `vault:read vault:write account`",
                )
            })?;
            bits |= scope.bit();
        }
        if bits == 0 {
            return Err(ServiceError::invalid(field, "at least one scope is required"));
        }
        Ok(Self(bits))
    }

    /// Whether `scope` is in the set.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// `Ok` when `scope` is in the set, else `insufficient_scope`.
    pub fn require(self, scope: Scope) -> Result<(), ServiceError> {
        if self.contains(scope) { Ok(()) } else { Err(ServiceError::InsufficientScope(scope.as_str())) }
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> =
            Scope::ALL.into_iter().filter(|s| self.contains(*s)).map(Scope::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_in_canonical_order() {
        let s = Scopes::parse("scope", "account  vault:read").unwrap();
        assert_eq!(s.to_string(), "vault:read account");
        assert!(s.contains(Scope::Account) && !s.contains(Scope::VaultWrite));
        assert_eq!(Scopes::all().to_string(), "vault:read vault:write account");
        assert!(Scopes::parse("scope", "vault:admin").is_err());
        assert!(Scopes::parse("scope", " ").is_err());
        assert!(matches!(s.require(Scope::VaultWrite), Err(ServiceError::InsufficientScope("vault:write"))));
    }
}
