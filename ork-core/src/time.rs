//! Durations: `60.secs()`, and parsing `"30s"`.

use std::time::Duration;

use crate::error::{Error, Result};

/// Short constructors for durations: `5.secs()`, `200.millis()`.
pub trait DurationExt {
    /// Milliseconds.
    fn millis(self) -> Duration;
    /// Seconds.
    fn secs(self) -> Duration;
    /// Minutes.
    fn mins(self) -> Duration;
    /// Hours.
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
        Duration::from_secs(self * 60)
    }
    fn hours(self) -> Duration {
        Duration::from_secs(self * 3600)
    }
}

/// Parses `"250ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`, or a sum like `"1m30s"`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || {
        Error::Invalid(format!(
            "`{s}` is not a duration (try \"30s\", \"5m\", \"250ms\")"
        ))
    };
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86400),
            _ => return Err(bad()),
        };
    }
    Ok(total)
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
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
    }
}
