//! Durations: `60.secs()`, and parsing `"30s"` (jiff's friendly format).

use std::time::Duration;

use crate::error::{Error, Result};

/// Short constructors for durations: `5.secs()`, `200.millis()`.
pub trait DurationExt {
    /// Milliseconds.
    fn millis(self) -> Duration;
    /// Seconds.
    fn secs(self) -> Duration;
    /// Minutes (saturating at `u64::MAX` seconds).
    fn mins(self) -> Duration;
    /// Hours (saturating at `u64::MAX` seconds).
    fn hours(self) -> Duration;
}

impl DurationExt for u64 {
    fn millis(self) -> Duration {
        Duration::from_millis(self)
    }
    fn secs(self) -> Duration {
        Duration::from_secs(self)
    }
    fn mins(self) -> Duration {
        Duration::from_secs(self.saturating_mul(60))
    }
    fn hours(self) -> Duration {
        Duration::from_secs(self.saturating_mul(3600))
    }
}

/// Parses a duration in jiff's friendly format: `"30s"`, `"5m"`,
/// `"1h30m"`, `"500ms"`, `"2d"`, `"1.5h"`, `"2 hours 30 minutes"`.
///
/// The same grammar as the durations of `#[ork::task(timeout = "...")]` and
/// of the `ork` command. A day is 24 hours and a week 7 days; months, years,
/// negative durations and a number without a unit are refused with
/// [`Error::Invalid`], whose message says why.
pub fn parse_duration(s: &str) -> Result<Duration> {
    ork_cron::parse_duration(s).map_err(Error::Invalid)
}

/// The instant `ms` milliseconds after the Unix epoch: how every time ork
/// stores (on the backend's clock) comes out as a [`SystemTime`](std::time::SystemTime).
pub fn from_unix_ms(ms: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_millis(ms)
}

/// Milliseconds since the Unix epoch (zero before it): how a
/// [`SystemTime`](std::time::SystemTime) given to ork is stored.
pub fn to_unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("30").is_err());
        assert_eq!(1u64.hours(), Duration::from_secs(3_600));
        assert_eq!(u64::MAX.mins(), Duration::from_secs(u64::MAX));
    }
}
