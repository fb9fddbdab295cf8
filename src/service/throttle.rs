//! Failed-login throttling per account and per client address, shared by every replica
//! through the metadata store.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::ServiceError;
use crate::domain::Timestamp;
use crate::store::MetadataStore;

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
    id: Uuid,
    account: String,
    address: String,
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
        let attempt =
            Attempt { id: Uuid::new_v4(), account: account_key(username), address: address_key(client) };
        let limits = [
            (attempt.account.as_str(), i64::from(self.policy.per_account)),
            (attempt.address.as_str(), i64::from(self.policy.per_address)),
        ];
        if let Some(window) =
            self.store.reserve_attempt(attempt.id, &limits, now.minus(self.policy.window), now).await?
        {
            let reopens = window.oldest.unwrap_or(now).plus(self.policy.window);
            let retry_after = now.until(reopens).max(Duration::from_secs(1));
            return Err(ServiceError::RateLimited { retry_after });
        }
        Ok(attempt)
    }

    /// The attempt succeeded: the account's failures are forgotten and the address's count
    /// loses this attempt.
    pub async fn succeeded(&self, attempt: Attempt) -> Result<(), ServiceError> {
        Ok(self.store.login_succeeded(&attempt.account, attempt.id, &attempt.address).await?)
    }

    /// The attempt could not be checked (the server failed): it does not count.
    pub async fn not_checked(&self, attempt: Attempt) {
        let keys = [attempt.account.as_str(), attempt.address.as_str()];
        if let Err(e) = self.store.release_attempt(attempt.id, &keys).await {
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
    use crate::service::test_support::sqlite;

    /// A throttle over a fresh in-memory SQLite store.
    async fn throttle(per_account: u32, per_address: u32) -> LoginThrottle {
        let window = Duration::from_secs(60);
        LoginThrottle::new(sqlite().await, ThrottlePolicy { per_account, per_address, window })
    }

    /// A fixed instant, and `secs` after it.
    fn t(secs: f64) -> Timestamp {
        Timestamp::from_unix_millis(1_700_000_000_000 + (secs * 1000.0) as i64)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn refused(result: Result<Attempt, ServiceError>) -> Duration {
        match result {
            Err(ServiceError::RateLimited { retry_after }) => retry_after,
            other => panic!("expected 429, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn attempts_count_before_they_are_checked_and_only_their_own_is_taken_back() {
        let throttle = throttle(3, 100).await;
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        // Everything happens in one millisecond, as concurrent attempts do.
        let now = Timestamp::now();
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(throttle.reserve("alice", ip, now).await.unwrap());
        }
        let retry = refused(throttle.reserve("alice", ip, now).await);
        assert!((1..=60).contains(&retry.as_secs()), "{retry:?}");
        // An attempt that could not be checked gives back itself, not its neighbours.
        throttle.not_checked(held.pop().unwrap()).await;
        held.push(throttle.reserve("alice", ip, now).await.unwrap());
        refused(throttle.reserve("alice", ip, now).await);
        // The window slides past them.
        let later = now.plus(Duration::from_secs(61));
        let fresh = throttle.reserve("alice", ip, later).await.unwrap();
        // A success forgets the account's failures: three more before the next 429.
        throttle.succeeded(fresh).await.unwrap();
        for _ in 0..3 {
            held.push(throttle.reserve("alice", ip, now).await.unwrap());
        }
        refused(throttle.reserve("alice", ip, now).await);
    }

    #[tokio::test]
    async fn an_address_is_limited_across_accounts() {
        let throttle = throttle(100, 2).await;
        let (ip, other): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let now = Timestamp::now();
        let _alice = throttle.reserve("alice", ip, now).await.unwrap();
        let bob = throttle.reserve("bob", ip, now).await.unwrap();
        refused(throttle.reserve("carol", ip, now).await);
        let _carol = throttle.reserve("carol", other, now).await.unwrap();
        // Bob's success takes back his attempt only: one more from the address, then 429.
        throttle.succeeded(bob).await.unwrap();
        let _dave = throttle.reserve("dave", ip, now).await.unwrap();
        refused(throttle.reserve("erin", ip, now).await);
    }

    #[tokio::test]
    async fn the_window_reopens_exactly_when_its_oldest_failure_is_a_window_old() {
        let throttle = throttle(2, 100).await;
        let _ = throttle.reserve("alice", ip("192.0.2.1"), t(0.0)).await.unwrap();
        let _ = throttle.reserve("alice", ip("192.0.2.1"), t(10.0)).await.unwrap();
        // Retry when the oldest failure (at 0 s) leaves the 60 s window.
        assert_eq!(
            refused(throttle.reserve("alice", ip("192.0.2.1"), t(30.0)).await),
            Duration::from_secs(30)
        );
        let nearly = throttle.reserve("alice", ip("192.0.2.1"), t(59.999)).await;
        assert_eq!(refused(nearly), Duration::from_secs(1), "never less than a second");
        // At exactly 60 s the failure at 0 s no longer counts.
        let _ = throttle.reserve("alice", ip("192.0.2.1"), t(60.0)).await.unwrap();
        // Now the failures at 10 s and 60 s fill it: the next slot opens at 70 s.
        assert_eq!(
            refused(throttle.reserve("alice", ip("192.0.2.1"), t(60.0)).await),
            Duration::from_secs(10)
        );
        let _ = throttle.reserve("alice", ip("192.0.2.1"), t(70.0)).await.unwrap();
    }

    #[tokio::test]
    async fn a_refused_attempt_counts_nothing() {
        let throttle = throttle(1, 100).await;
        let _ = throttle.reserve("alice", ip("192.0.2.1"), t(0.0)).await.unwrap();
        for second in 1u32..60 {
            let retry = refused(throttle.reserve("alice", ip("192.0.2.1"), t(f64::from(second))).await);
            assert_eq!(retry, Duration::from_secs(60 - u64::from(second)), "at {second} s");
        }
        // Had any refusal counted, the window would still be full.
        let _ = throttle.reserve("alice", ip("192.0.2.1"), t(60.0)).await.unwrap();
    }

    #[tokio::test]
    async fn an_account_is_limited_across_addresses_and_its_refusals_spare_the_address() {
        let throttle = throttle(2, 3).await;
        let _ = throttle.reserve("alice", ip("192.0.2.1"), t(0.0)).await.unwrap();
        let _ = throttle.reserve("alice", ip("198.51.100.7"), t(0.0)).await.unwrap();
        for client in ["192.0.2.1", "203.0.113.9", "2001:db8::1"] {
            refused(throttle.reserve("alice", ip(client), t(1.0)).await);
        }
        // 192.0.2.1 has one failure of its three: the refusals above did not count against it.
        let _ = throttle.reserve("bob", ip("192.0.2.1"), t(1.0)).await.unwrap();
        let _ = throttle.reserve("carol", ip("192.0.2.1"), t(1.0)).await.unwrap();
        refused(throttle.reserve("dave", ip("192.0.2.1"), t(1.0)).await);
        let _ = throttle.reserve("dave", ip("192.0.2.2"), t(1.0)).await.unwrap();
    }

    #[tokio::test]
    async fn retry_after_follows_the_limit_that_was_hit() {
        let throttle = throttle(1, 2).await;
        let _ = throttle.reserve("alice", ip("192.0.2.1"), t(0.0)).await.unwrap();
        let _ = throttle.reserve("bob", ip("192.0.2.1"), t(20.0)).await.unwrap();
        // Bob's account is full since 20 s; the address since 0 s.
        assert_eq!(refused(throttle.reserve("bob", ip("192.0.2.2"), t(30.0)).await), Duration::from_secs(50));
        assert_eq!(
            refused(throttle.reserve("carol", ip("192.0.2.1"), t(30.0)).await),
            Duration::from_secs(30)
        );
        let _ = throttle.reserve("carol", ip("192.0.2.1"), t(60.0)).await.unwrap();
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key("::ffff:10.0.0.1".parse().unwrap()), "address:10.0.0.1");
    }
}
