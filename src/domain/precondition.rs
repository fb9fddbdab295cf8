//! Which revision of a vault a write must find: the one vocabulary for `If-Match`,
//! `If-None-Match: *`, a `POST` create, a `DELETE`, and an upload's condition at its commit.

/// What a write requires of the vault it changes, checked in the same transaction as the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// The vault must not exist (`If-None-Match: *`).
    Absent,
    /// The vault must not exist, or already hold exactly what this write stores (a `POST`
    /// create, so that repeating one is safe); other content there is a conflict.
    AbsentOrSame,
    /// The vault must exist, at any revision (`If-Match: *`; a `DELETE` without `If-Match`).
    Exists,
    /// The vault must be at this revision (`If-Match: "<etag>"`; the etag unquoted).
    Etag(String),
}

impl Precondition {
    /// Whether the write creates the vault (rather than changing one that exists).
    pub fn creates(&self) -> bool {
        matches!(self, Precondition::Absent | Precondition::AbsentOrSame)
    }

    /// Whether a vault whose current etag is `current` (`None`: absent) satisfies it. For
    /// [`AbsentOrSame`](Precondition::AbsentOrSame) an existing vault must still be compared
    /// by content.
    pub fn admits(&self, current: Option<&str>) -> bool {
        match (self, current) {
            (Precondition::Absent | Precondition::AbsentOrSame, current) => current.is_none(),
            (Precondition::Exists, current) => current.is_some(),
            (Precondition::Etag(expected), Some(current)) => expected == current,
            (Precondition::Etag(_), None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Precondition::*;

    #[test]
    fn what_each_admits() {
        let etag = || Etag("e1".into());
        assert!(Absent.admits(None) && !Absent.admits(Some("e1")));
        assert!(AbsentOrSame.admits(None) && !AbsentOrSame.admits(Some("e1")));
        assert!(Exists.admits(Some("e1")) && !Exists.admits(None));
        assert!(etag().admits(Some("e1")) && !etag().admits(Some("e2")) && !etag().admits(None));
        assert!(Absent.creates() && AbsentOrSame.creates() && !Exists.creates() && !etag().creates());
    }
}
