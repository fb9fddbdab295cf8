//! What the client checks before it trusts the server: the key-derivation parameters (against
//! a floor and a pin), the transport (no plain HTTP off loopback), and each vault's revision
//! (never older than one seen, never other content under a seen revision).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::error::ClientError;
use super::sdk::KdfParams;

/// The only key derivation this client accepts.
pub const KDF: &str = "pbkdf2-sha256";
/// The fewest PBKDF2 iterations this client accepts, whatever the server says.
pub const MIN_ITERATIONS: u32 = 600_000;
/// The shortest KDF salt this client accepts.
pub const MIN_KDF_SALT: usize = 16;
/// How many earlier vault salts are remembered per vault.
const EARLIER_SALTS: usize = 32;

/// Refuses parameters below this client's floor, or (when any are pinned: the ones last seen
/// for the account, and those of an unfinished `passwd`) that differ from every pin other than
/// by more iterations. Called before anything is derived from them.
pub fn check_kdf(params: &KdfParams, pinned: &[KdfParams]) -> Result<(), ClientError> {
    let weak = |what: String| Err(ClientError::WeakKdf(what));
    if params.kdf != KDF {
        return weak(format!("kdf {:?} is not {KDF}", params.kdf));
    }
    if params.iterations < MIN_ITERATIONS {
        return weak(format!("{} iterations is below the minimum of {MIN_ITERATIONS}", params.iterations));
    }
    if params.salt.len() < MIN_KDF_SALT {
        return weak(format!("a {}-byte salt is shorter than {MIN_KDF_SALT} bytes", params.salt.len()));
    }
    let matching = pinned.iter().filter(|pin| pin.salt == params.salt && pin.kdf == params.kdf);
    let Some(pin) = matching.min_by_key(|pin| pin.iterations) else {
        return if pinned.is_empty() {
            Ok(())
        } else {
            weak(
                "the salt differs from the one this client saw for the account (if the password was \
                 changed on another machine, log in again with --trust-new-kdf)"
                    .into(),
            )
        };
    };
    if params.iterations < pin.iterations {
        return weak(format!(
            "{} iterations is below the {} this client saw for the account before",
            params.iterations, pin.iterations
        ));
    }
    Ok(())
}

/// Refuses `http://` to anything but loopback unless `allow_insecure` (the user opted in).
pub fn check_transport(base: &str, allow_insecure: bool) -> Result<(), ClientError> {
    let url = reqwest::Url::parse(base).map_err(|_| ClientError::Protocol(format!("not a URL: {base}")))?;
    if url.scheme() != "http" || allow_insecure {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback { Ok(()) } else { Err(ClientError::InsecureHttp(url.host_str().unwrap_or(base).to_owned())) }
}

/// The newest revision of a vault this client has seen, to refuse rollbacks and swaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultSeen {
    /// Revision number.
    pub revision: u64,
    /// Its quoted ETag.
    pub etag: String,
    /// Its vault salt (base64), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Salts of older revisions seen (base64, newest last, bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_salts: Vec<String>,
    /// For a revision as served: it carries a restore receipt that verified under this
    /// client's key (docs/CRYPTO.md section 7), so an older revision's salt is the owner's
    /// restore, not a replay. Never stored.
    #[serde(skip)]
    pub vouched: bool,
}

impl VaultSeen {
    /// A revision as served.
    pub fn new(revision: u64, etag: &str, salt: Option<String>) -> Self {
        Self { revision, etag: etag.to_owned(), salt, earlier_salts: Vec::new(), vouched: false }
    }

    /// Refuses `served` if it is older than this, or other content under this revision, or
    /// carries the salt of an older revision without a restore receipt that vouches for it.
    pub fn check(&self, vault_id: &str, served: &VaultSeen) -> Result<(), ClientError> {
        let refuse = |what: String| Err(ClientError::Rollback { vault_id: vault_id.to_owned(), what });
        if served.revision < self.revision {
            return refuse(format!(
                "the server served revision {}, older than revision {} this machine has seen",
                served.revision, self.revision
            ));
        }
        let same_salt = |a: &Option<String>, b: &Option<String>| a.is_none() || b.is_none() || a == b;
        if served.revision == self.revision
            && (served.etag != self.etag || !same_salt(&served.salt, &self.salt))
        {
            return refuse(format!(
                "revision {} was served with other content than this machine saw",
                served.revision
            ));
        }
        let old_salt = served.salt.as_ref().is_some_and(|s| self.earlier_salts.contains(s))
            || (served.revision > self.revision && served.salt.is_some() && served.salt == self.salt);
        if old_salt && !served.vouched {
            return refuse(format!("revision {} carries the content of an older revision", served.revision));
        }
        Ok(())
    }

    /// What to remember after `served` was accepted.
    pub fn advance(&self, served: &VaultSeen) -> VaultSeen {
        let mut next = served.clone();
        next.earlier_salts = self.earlier_salts.clone();
        if served.revision > self.revision
            && let Some(salt) = &self.salt
        {
            next.earlier_salts.push(salt.clone());
        }
        let excess = next.earlier_salts.len().saturating_sub(EARLIER_SALTS);
        next.earlier_salts.drain(..excess);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kdf: &str, iterations: u32, salt: &[u8]) -> KdfParams {
        KdfParams { kdf: kdf.into(), iterations, salt: salt.to_vec() }
    }

    #[test]
    fn weak_or_changed_kdf_parameters_are_refused() {
        let pin = params(KDF, 650_000, &[7; 32]);
        assert!(check_kdf(&pin, &[]).is_ok());
        let pins = [pin.clone(), params(KDF, 600_000, &[6; 32])];
        assert!(check_kdf(&params(KDF, 700_000, &[7; 32]), &pins).is_ok(), "more iterations are fine");
        assert!(check_kdf(&params(KDF, 600_000, &[6; 32]), &pins).is_ok(), "an unfinished passwd's pin");
        for bad in [
            params(KDF, 1, &[7; 32]),
            params("argon2id", 650_000, &[7; 32]),
            params(KDF, 650_000, &[7; 8]),
            params(KDF, 650_000, &[8; 32]),
            params(KDF, 600_000, &[7; 32]),
        ] {
            assert!(matches!(check_kdf(&bad, &pins), Err(ClientError::WeakKdf(_))), "{bad:?}");
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.0.1",
            "http://[::1]:80",
            "http://LocalHost",
            "https://x.org",
        ] {
            assert!(check_transport(ok, false).is_ok(), "{ok}");
        }
        for bad in ["http://example.org", "http://10.0.0.1:8080", "http://localhost.evil.org", "http://[::2]"]
        {
            assert!(matches!(check_transport(bad, false), Err(ClientError::InsecureHttp(_))), "{bad}");
            assert!(check_transport(bad, true).is_ok());
        }
    }

    #[test]
    fn rollbacks_and_swaps_are_refused() {
        let salt = |s: &str| Some(s.to_owned());
        let seen = VaultSeen::new(1, "\"a\"", salt("s1")).advance(&VaultSeen::new(2, "\"b\"", salt("s2")));
        assert_eq!(seen.earlier_salts, ["s1"]);
        assert!(seen.check("v", &VaultSeen::new(2, "\"b\"", salt("s2"))).is_ok());
        assert!(seen.check("v", &VaultSeen::new(3, "\"c\"", salt("s3"))).is_ok());
        for bad in [
            VaultSeen::new(1, "\"a\"", salt("s1")),
            VaultSeen::new(2, "\"x\"", salt("s2")),
            VaultSeen::new(2, "\"b\"", salt("s9")),
            VaultSeen::new(3, "\"c\"", salt("s1")),
            VaultSeen::new(3, "\"c\"", salt("s2")),
        ] {
            assert!(matches!(seen.check("v", &bad), Err(ClientError::Rollback { .. })), "{bad:?}");
        }
        // An older salt under a newer revision passes only when a receipt vouched for it; a
        // receipt never excuses going back in revisions or other content under a seen one.
        let restored = VaultSeen { vouched: true, ..VaultSeen::new(3, "\"c\"", salt("s1")) };
        assert!(seen.check("v", &restored).is_ok());
        for bad in [VaultSeen::new(1, "\"a\"", salt("s1")), VaultSeen::new(2, "\"x\"", salt("s2"))] {
            let bad = VaultSeen { vouched: true, ..bad };
            assert!(matches!(seen.check("v", &bad), Err(ClientError::Rollback { .. })), "{bad:?}");
        }
    }
}
