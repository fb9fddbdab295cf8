//! Cache invalidation between replicas. Postgres carries changes with `LISTEN/NOTIFY`; an
//! SQLite deployment is one process, so its feed carries nothing.

use async_trait::async_trait;
use futures::stream::BoxStream;
use uuid::Uuid;

use super::StoreError;

/// The notification channel.
pub const CHANNEL: &str = "blindvault_invalidate";

/// Something cached elsewhere that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// One vault's metadata.
    Vault {
        /// Owner.
        user: Uuid,
        /// Vault id.
        vault_id: String,
    },
    /// Everything of a user (account deleted, credentials changed).
    User(Uuid),
    /// One session (revoked).
    Session(Uuid),
    /// The user's change log moved on (nothing cached changed: wakes the user's feed waiters).
    Feed(Uuid),
}

impl Change {
    /// A change to one of `user`'s vaults.
    pub fn vault(user: Uuid, vault_id: &str) -> Self {
        Change::Vault { user, vault_id: vault_id.to_owned() }
    }

    /// The user whose change log this moves on, if any.
    pub fn user(&self) -> Option<Uuid> {
        match self {
            Change::Vault { user, .. } | Change::User(user) | Change::Feed(user) => Some(*user),
            Change::Session(_) => None,
        }
    }

    /// The wire form: `v:<user>:<vault_id>`, `u:<user>`, `s:<session>` or `f:<user>`.
    pub fn encode(&self) -> String {
        match self {
            Change::Feed(user) => format!("f:{}", user.simple()),
            Change::Vault { user, vault_id } => format!("v:{}:{vault_id}", user.simple()),
            Change::User(user) => format!("u:{}", user.simple()),
            Change::Session(id) => format!("s:{}", id.simple()),
        }
    }

    /// Parses the wire form.
    pub fn decode(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_once(':')?;
        match kind {
            "v" => {
                let (user, vault_id) = rest.split_once(':')?;
                Some(Change::Vault { user: Uuid::parse_str(user).ok()?, vault_id: vault_id.to_owned() })
            }
            "u" => Some(Change::User(Uuid::parse_str(rest).ok()?)),
            "s" => Some(Change::Session(Uuid::parse_str(rest).ok()?)),
            "f" => Some(Change::Feed(Uuid::parse_str(rest).ok()?)),
            _ => None,
        }
    }
}

/// Changes as other replicas publish them, for as long as the subscription holds. The stream
/// ends when it is lost (some changes may then have been missed): the receiver must stop
/// caching and subscribe again.
pub type ChangeStream = BoxStream<'static, Change>;

/// Publishes changes to, and receives them from, the other replicas.
#[async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    /// Tells the other replicas.
    async fn publish(&self, change: &Change) -> Result<(), StoreError>;

    /// Whether other processes share the database (and so must be listened to).
    fn has_peers(&self) -> bool;

    /// The changes other replicas publish from now on, or `None` where there are none.
    async fn subscribe(&self) -> Result<Option<ChangeStream>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip() {
        let user = Uuid::new_v4();
        for change in [
            Change::Vault { user, vault_id: "a:b.c".into() },
            Change::User(user),
            Change::Session(Uuid::new_v4()),
            Change::Feed(user),
        ] {
            assert_eq!(Change::decode(&change.encode()), Some(change));
        }
        assert_eq!(Change::decode("x:1"), None);
        assert_eq!(Change::decode("u:not-a-uuid"), None);
    }
}
