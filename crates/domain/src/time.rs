//! Points in time and spans, as plain numbers.
//!
//! The domain never reads a clock: callers pass `now` in. Milliseconds since
//! the Unix epoch are precise enough for expiries and audit records, and
//! keep the values `Copy` and trivially storable.

use std::fmt;

/// A point in time: milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// A span of time in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(i64);

impl Timestamp {
    /// The timestamp `millis` milliseconds after the Unix epoch.
    pub const fn from_unix_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch, rounded down.
    pub const fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This point moved forward by `span`, saturating at the end of time.
    pub const fn plus(self, span: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(span.0))
    }

    /// Whether `span` or more has passed between `self` and `now`.
    pub const fn is_older_than(self, span: Duration, now: Timestamp) -> bool {
        now.0.saturating_sub(self.0) >= span.0
    }
}

impl Duration {
    /// A span of `seconds` seconds.
    pub const fn from_seconds(seconds: i64) -> Duration {
        Duration(seconds.saturating_mul(1000))
    }

    /// A span of `millis` milliseconds.
    pub const fn from_millis(millis: i64) -> Duration {
        Duration(millis)
    }

    /// The span in milliseconds.
    pub const fn millis(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}
