use std::time::Duration;

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A UTC instant with millisecond precision, RFC 3339 in JSON (and `TIMESTAMPTZ` in
/// Postgres, INTEGER milliseconds since the epoch in SQLite: see the store). Truncating to milliseconds keeps what is
/// written and what is read back equal on both engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The instant as a `time` value (always whole milliseconds).
    pub fn datetime(self) -> OffsetDateTime {
        self.0
    }

    /// The instant `t`, truncated to milliseconds.
    pub fn from_datetime(t: OffsetDateTime) -> Self {
        Self::from_unix_millis(unix_millis(t))
    }

    /// The current time.
    pub fn now() -> Self {
        Self::from_unix_millis(unix_millis(OffsetDateTime::now_utc()))
    }

    /// The instant `ms` milliseconds after the Unix epoch (clamped to the representable range).
    pub fn from_unix_millis(ms: i64) -> Self {
        let nanos = i128::from(ms) * 1_000_000;
        Self(OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH))
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(self) -> i64 {
        unix_millis(self.0)
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0.unix_timestamp()
    }

    /// This instant plus `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(time::Duration::try_from(d).unwrap_or(time::Duration::MAX)))
    }

    /// This instant minus `d` (saturating).
    pub fn minus(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(time::Duration::try_from(d).unwrap_or(time::Duration::MAX)))
    }

    /// How long from `self` until `later`; zero when `later` is not after `self`.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::try_from(later.0 - self.0).unwrap_or(Duration::ZERO)
    }

    /// RFC 3339 text, e.g. `2026-11-27T22:51:05.123Z`.
    pub fn http_date(self) -> String {
        const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        time::OffsetDateTime::from_unix_timestamp(self.unix_seconds())
            .ok()
            .and_then(|t| t.format(FORMAT).ok())
            .unwrap_or_default()
    }

    /// RFC 3339, UTC, with milliseconds.
    pub fn rfc3339(self) -> String {
        self.0.format(&Rfc3339).unwrap_or_default()
    }
}

fn unix_millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millisecond_round_trip_and_rfc3339() {
        let t = Timestamp::from_unix_millis(1_795_000_000_123);
        assert_eq!(t.unix_millis(), 1_795_000_000_123);
        assert_eq!(t.rfc3339(), "2026-11-18T11:06:40.123Z");
        assert_eq!(t.plus(Duration::from_secs(2)).unix_millis(), 1_795_000_002_123);
        assert_eq!(t.until(t.minus(Duration::from_secs(1))), Duration::ZERO);
        assert_eq!(t.minus(Duration::from_secs(1)).until(t), Duration::from_secs(1));
    }
}
