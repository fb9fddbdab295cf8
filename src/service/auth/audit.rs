//! The audit trail: what happened to an account, appended per account and emitted as a
//! structured log event (target `blindvault::audit`) for the operator's log pipeline. Events
//! carry times, sessions, truncated addresses and plain facts: never a token, hash or code.

use std::net::IpAddr;
use std::sync::Arc;

use uuid::Uuid;

use crate::domain::Timestamp;
use crate::store::{MetadataStore, NewAuditEvent};

/// Who did it and from where, as the audit trail keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// The session the request came in (or opened), if any.
    pub session: Option<Uuid>,
    /// The client's address, truncated by [`truncate_address`]; empty for the operator.
    pub address: String,
}

impl Actor {
    /// A request from `ip` in `session`.
    pub fn new(session: Option<Uuid>, ip: IpAddr) -> Self {
        Self { session, address: truncate_address(ip) }
    }

    /// The operator, through `blindvault admin`.
    pub fn operator() -> Self {
        Self { session: None, address: String::new() }
    }
}

/// The network an address belongs to, not the address: IPv4 to its /24, IPv6 to its /48
/// (IPv4-mapped IPv6 as IPv4). Enough for a person to recognise "that was me at home", not
/// enough to pin down a device.
pub fn truncate_address(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            format!("{net}/48")
        }
    }
}

/// Appends audit events. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn MetadataStore>,
}

impl Audit {
    /// Events go to `store`.
    pub fn new(store: Arc<dyn MetadataStore>) -> Self {
        Self { store }
    }

    /// Records `kind` for `user` without waiting for the database: for a failed login, whose
    /// answer must take no longer for an account that exists than for a name that does not
    /// (waiting for this write made the difference: a transaction commit).
    pub fn record_later(&self, user: Uuid, kind: &'static str, actor: &Actor) {
        let (audit, actor) = (self.clone(), actor.clone());
        tokio::spawn(async move { audit.record(user, kind, &actor, serde_json::json!({})).await });
    }

    /// Records `kind` for `user`. An event that cannot be stored is logged as an error and
    /// the operation it describes stands (it has happened): the log event is still emitted.
    pub async fn record(&self, user: Uuid, kind: &'static str, actor: &Actor, detail: serde_json::Value) {
        let event = Self::event(user, kind, actor, detail);
        Self::emit(&event);
        if let Err(err) = self.store.append_audit(&event).await {
            tracing::error!(user_id = %user, event = kind, error = %err, "audit event not stored");
        }
    }

    /// The event `kind` for `user`, for a store call that keeps it in the same transaction
    /// as the change it describes; [`Self::emit`] logs it once that has committed.
    pub fn event(user: Uuid, kind: &'static str, actor: &Actor, detail: serde_json::Value) -> NewAuditEvent {
        NewAuditEvent {
            user_id: user,
            at: Timestamp::now(),
            kind,
            session_id: actor.session,
            address: actor.address.clone(),
            detail: if detail.is_object() { detail.to_string() } else { "{}".to_owned() },
        }
    }

    /// Emits `event` as a structured log event (target `blindvault::audit`).
    pub fn emit(event: &NewAuditEvent) {
        tracing::info!(
            target: "blindvault::audit",
            user_id = %event.user_id,
            event = event.kind,
            session_id = event.session_id.map(|s| s.to_string()),
            address = event.address.as_str(),
            detail = event.detail.as_str(),
            "audit event"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_truncated_to_their_network() {
        let cases = [
            ("203.0.113.77", "203.0.113.0/24"),
            ("::ffff:198.51.100.9", "198.51.100.0/24"),
            ("2001:db8:abcd:12:34:56:78:9a", "2001:db8:abcd::/48"),
            ("::1", "::/48"),
        ];
        for (ip, net) in cases {
            assert_eq!(truncate_address(ip.parse().unwrap()), net, "{ip}");
        }
    }
}
