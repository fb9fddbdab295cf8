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

/// Counts failed logins and refuses further attempts past the limits.
pub struct LoginThrottle {
    store: Arc<dyn MetadataStore>,
    policy: ThrottlePolicy,
}

impl LoginThrottle {
    /// A throttle over `store`.
    pub fn new(store: Arc<dyn MetadataStore>, policy: ThrottlePolicy) -> Self {
        Self { store, policy }
    }

    /// `RateLimited` when the account or the address has used up its failures.
    pub async fn check(&self, username: &str, client: IpAddr, now: Timestamp) -> Result<(), ServiceError> {
        let since = now.minus(self.policy.window);
        let limits = [
            (account_key(username), self.policy.per_account),
            (address_key(client), self.policy.per_address),
        ];
        for (key, limit) in limits {
            let window = self.store.login_failures(&key, since).await?;
            if window.count >= i64::from(limit) {
                let reopens = window.oldest.unwrap_or(now).plus(self.policy.window);
                let retry_after = now.until(reopens).max(Duration::from_secs(1));
                return Err(ServiceError::RateLimited { retry_after });
            }
        }
        Ok(())
    }

    /// Counts one failure against the account and the address.
    pub async fn record_failure(
        &self,
        username: &str,
        client: IpAddr,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        let keys = [account_key(username), address_key(client)];
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.store.record_login_failure(&keys, now).await?;
        Ok(())
    }

    /// A successful login clears the account's failures (not the address's).
    pub async fn record_success(&self, username: &str) -> Result<(), ServiceError> {
        self.store.clear_login_failures(&account_key(username)).await?;
        Ok(())
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
