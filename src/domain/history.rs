//! What the server keeps besides each vault's current revision: earlier revisions, the trash,
//! and the per-user change log.

use std::time::Duration;

use uuid::Uuid;

use super::{Timestamp, Vault};

/// How long earlier revisions are kept: a revision is dropped once more than
/// `keep_revisions` newer revisions of its vault exist **and** it was replaced longer than
/// `keep_for` ago. Either rule alone keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Earlier revisions kept whatever their age (0: none by count).
    pub keep_revisions: u32,
    /// Earlier revisions kept for this long after they were replaced, however many (zero:
    /// none by age).
    pub keep_for: Duration,
}

impl Retention {
    /// Keeps nothing: a replaced revision goes after the grace period, as before history.
    pub const NONE: Retention = Retention { keep_revisions: 0, keep_for: Duration::ZERO };

    /// The highest revision that leaves the count window when revision `current` is committed.
    pub fn window_floor(&self, current: i64) -> i64 {
        current - 1 - i64::from(self.keep_revisions)
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention { keep_revisions: 10, keep_for: Duration::ZERO }
    }
}

/// A deleted vault in the trash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrashEntry {
    /// The trash id: the vault's uid.
    pub id: Uuid,
    /// The vault as it was when deleted.
    pub vault: Vault,
    /// Bytes of its retained earlier revisions.
    pub history_bytes: i64,
    /// How many earlier revisions it keeps.
    pub history_count: i64,
    /// When it was deleted.
    pub deleted_at: Timestamp,
    /// When the sweeper purges it.
    pub expires_at: Timestamp,
}

/// What a change in the log did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A vault was created.
    Create,
    /// A vault got a new revision from a write.
    Replace,
    /// A vault got a new revision restored from an earlier one.
    Restore,
    /// A vault was deleted (moved to the trash, or purged at once where there is no trash).
    Delete,
    /// A vault came back from the trash.
    Untrash,
    /// A vault in the trash was purged (by request, expiry, or a delete without trash).
    Purge,
}

impl ChangeKind {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Replace => "replace",
            ChangeKind::Restore => "restore",
            ChangeKind::Delete => "delete",
            ChangeKind::Untrash => "untrash",
            ChangeKind::Purge => "purge",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Create, Self::Replace, Self::Restore, Self::Delete, Self::Untrash, Self::Purge]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// One entry of a user's change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedChange {
    /// Position in the user's log: 1, 2, 3, ... in commit order.
    pub seq: i64,
    /// What happened.
    pub kind: ChangeKind,
    /// The vault id it happened to.
    pub vault_id: String,
    /// The revision it made or removed, where there is one.
    pub revision: Option<i64>,
    /// That revision's etag (unquoted), where there is one.
    pub etag: Option<String>,
    /// The trash entry, for deletes into the trash, untrashes and purges.
    pub trash_id: Option<Uuid>,
    /// When.
    pub at: Timestamp,
}

/// A change about to be logged (the store numbers it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    /// What happened.
    pub kind: ChangeKind,
    /// The vault id.
    pub vault_id: String,
    /// The revision, if any.
    pub revision: Option<i64>,
    /// Its etag, if any.
    pub etag: Option<String>,
    /// The trash entry, if any.
    pub trash_id: Option<Uuid>,
}

impl NewChange {
    /// A change that made `vault`'s current revision.
    pub fn of(kind: ChangeKind, vault: &Vault) -> Self {
        NewChange {
            kind,
            vault_id: vault.vault_id.clone(),
            revision: Some(vault.revision),
            etag: Some(vault.etag.clone()),
            trash_id: None,
        }
    }
}

/// The changes after a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangesSince {
    /// Up to the limit of them, oldest first, and the user's newest position.
    Changes { changes: Vec<LoggedChange>, head: i64 },
    /// The cursor is older than what compaction kept: the client must list afresh.
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_kinds_round_trip() {
        for kind in [
            ChangeKind::Create,
            ChangeKind::Replace,
            ChangeKind::Restore,
            ChangeKind::Delete,
            ChangeKind::Untrash,
            ChangeKind::Purge,
        ] {
            assert_eq!(ChangeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ChangeKind::parse("other"), None);
    }

    #[test]
    fn the_count_window() {
        let keep = |n| Retention { keep_revisions: n, keep_for: Duration::ZERO };
        assert_eq!(keep(10).window_floor(12), 1, "revision 12 committed: revision 1 leaves the last 10");
        assert_eq!(keep(0).window_floor(5), 4, "no count window: the replaced revision leaves at once");
        assert!(keep(10).window_floor(5) < 1, "nothing leaves while fewer than 10 exist");
    }
}
