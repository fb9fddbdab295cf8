//! Failed-login throttling per account and per client address, shared by every replica
//! through the metadata store.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::ServiceError;
use crate::store::{MetadataStore, Timestamp};

/// Limits on failed logins inside a sliding window.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures per account before 429.
    pub per_account: u32,
    /// Failures per client address before 429.
    pub per_address: u32,
    /// The sliding window.
    pub window: Duration,
}

/// Counts failed password attempts (logins and re-entries) and refuses further attempts past
/// the limits. An attempt is counted as a failure before its hash is checked, in one decision
/// in the database, so concurrent attempts cannot all slip under the limit; only an attempt
/// that succeeds (or never got to be checked) is taken back.
pub struct LoginThrottle {
    store: Arc<dyn MetadataStore>,
    policy: ThrottlePolicy,
}

/// One attempt reserved by [`LoginThrottle::reserve`].
#[derive(Debug)]
#[must_use = "an attempt is a failure until it is taken back"]
pub struct Attempt {
    account: String,
    address: String,
    at: Timestamp,
}

impl LoginThrottle {
    /// A throttle over `store`.
    pub fn new(store: Arc<dyn MetadataStore>, policy: ThrottlePolicy) -> Self {
        Self { store, policy }
    }

    /// Counts an attempt on `username` from `client` as a failure now, or answers
    /// `RateLimited` (counting nothing) when the account or the address has used up its
    /// failures.
    pub async fn reserve(
        &self,
        username: &str,
        client: IpAddr,
        now: Timestamp,
    ) -> Result<Attempt, ServiceError> {
        let attempt = Attempt { account: account_key(username), address: address_key(client), at: now };
        let limits = [
            (attempt.account.as_str(), i64::from(self.policy.per_account)),
            (attempt.address.as_str(), i64::from(self.policy.per_address)),
        ];
        if let Some(window) = self.store.reserve_attempt(&limits, now.minus(self.policy.window), now).await? {
            let reopens = window.oldest.unwrap_or(now).plus(self.policy.window);
            let retry_after = now.until(reopens).max(Duration::from_secs(1));
            return Err(ServiceError::RateLimited { retry_after });
        }
        Ok(attempt)
    }

    /// The attempt succeeded: the account's failures are forgotten and the address's count
    /// loses this attempt.
    pub async fn succeeded(&self, attempt: Attempt) -> Result<(), ServiceError> {
        self.store.clear_login_failures(&attempt.account).await?;
        self.store.release_attempt(&[&attempt.address], attempt.at).await?;
        Ok(())
    }

    /// The attempt could not be checked (the server failed): it does not count.
    pub async fn not_checked(&self, attempt: Attempt) {
        let keys = [attempt.account.as_str(), attempt.address.as_str()];
        if let Err(e) = self.store.release_attempt(&keys, attempt.at).await {
            tracing::warn!(error = %e, "an unchecked attempt still counts until its window passes");
        }
    }
}

fn account_key(username: &str) -> String {
    format!("account:{username}")
}

/// IPv4 addresses count one by one; IPv6 clients by their /64, which one client usually holds whole.
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("address:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("address:{v4}"),
            None => {
                let s = v6.segments();
                format!("address:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key("::ffff:10.0.0.1".parse().unwrap()), "address:10.0.0.1");
    }
}
