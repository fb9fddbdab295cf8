//! What a user holds against the quota, and the quota itself.

/// A user's storage use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Ciphertext bytes over all vaults.
    pub bytes: i64,
    /// Number of vaults.
    pub vaults: i64,
    /// Bytes that open resumable uploads may still add (their length, less the size of the
    /// vault a replace frees).
    pub reserved_bytes: i64,
    /// Vaults that open resumable uploads may still create.
    pub reserved_vaults: i64,
    /// Bytes of the retained earlier revisions of live vaults.
    pub history_bytes: i64,
    /// How many earlier revisions live vaults retain.
    pub history_revisions: i64,
    /// Bytes of vaults in the trash, their earlier revisions included.
    pub trash_bytes: i64,
    /// Vaults in the trash.
    pub trash_vaults: i64,
}

impl Usage {
    /// Bytes held against the byte quota: live vaults, their history, the trash, and what
    /// open uploads reserve.
    pub fn held_bytes(&self) -> i64 {
        self.bytes + self.history_bytes + self.trash_bytes + self.reserved_bytes
    }

    /// Which limit of `quota` this use exceeds, if any. Vaults in the trash count against the
    /// byte quota, not the vault quota (their ids are free).
    pub fn exceeds(&self, quota: &Quota) -> Option<&'static str> {
        let over = |limit: Option<u64>, used: i64| limit.is_some_and(|max| used.max(0) as u64 > max);
        if over(quota.vaults, self.vaults + self.reserved_vaults) {
            Some("vaults")
        } else if over(quota.bytes, self.held_bytes()) {
            Some("bytes")
        } else {
            None
        }
    }
}

/// Per-user limits that a commit or a new upload must leave intact, checked inside its
/// transaction (with the user's row locked) so that concurrent writes cannot all squeeze in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// Bytes over all vaults and open uploads.
    pub bytes: Option<u64>,
    /// Vaults, counting those open uploads would create.
    pub vaults: Option<u64>,
}

impl Quota {
    /// Whether any limit is set (with none, nothing is locked or counted).
    pub fn is_limited(&self) -> bool {
        self.bytes.is_some() || self.vaults.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_count_against_the_quota() {
        let quota = Quota { bytes: Some(100_000), vaults: Some(2) };
        let usage = |bytes, vaults, reserved_bytes, reserved_vaults| Usage {
            bytes,
            vaults,
            reserved_bytes,
            reserved_vaults,
            ..Usage::default()
        };
        assert_eq!(usage(100_000, 2, 0, 0).exceeds(&quota), None, "exactly at the limits");
        assert_eq!(
            usage(10_000, 1, 90_001, 0).exceeds(&quota),
            Some("bytes"),
            "an open upload's length counts"
        );
        assert_eq!(
            usage(10_000, 1, 0, 2).exceeds(&quota),
            Some("vaults"),
            "so do the vaults uploads would create"
        );
        assert_eq!(usage(u32::MAX.into(), 0, 0, 0).exceeds(&Quota { bytes: None, vaults: Some(1) }), None);
        let kept = Usage {
            bytes: 40_000,
            vaults: 2,
            history_bytes: 30_000,
            trash_bytes: 30_001,
            trash_vaults: 5,
            ..Usage::default()
        };
        assert_eq!(kept.exceeds(&quota), Some("bytes"), "history and trash count against the bytes");
        let kept = Usage { trash_bytes: 30_000, ..kept };
        assert_eq!(kept.exceeds(&quota), None, "vaults in the trash do not count as vaults");
        assert!(!Quota::default().is_limited());
    }
}
