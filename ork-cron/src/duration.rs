//! The duration grammar of ork: jiff's friendly format.
//!
//! `"30s"`, `"5m"`, `"1h30m"`, `"500ms"`, `"2d"`, `"1.5h"`, `"2 hours 30
//! minutes"`: one grammar for the `#[ork::task]` attribute, the API
//! (`ork::time::parse_duration`) and the `ork` command. A day is 24 hours
//! and a week 7 days (a timeout is elapsed time, not a calendar date);
//! months and years are refused, as are negative durations.

use std::time::Duration;

use jiff::fmt::friendly::SpanParser;
use jiff::SpanRelativeTo;

static PARSER: SpanParser = SpanParser::new();

/// What the error message suggests.
const EXAMPLES: &str = "write \"30s\", \"5m\", \"1h30m\", \"500ms\" or \"2d\"";

/// Parses a duration in jiff's friendly format; the error says what is
/// wrong and how to write one.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let bad =
        |why: &dyn std::fmt::Display| format!("`{text}` is not a duration: {why}; {EXAMPLES}");
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(&"the number has no unit"));
    }
    let span = PARSER.parse_span(trimmed).map_err(|e| {
        // jiff's message starts by naming its format; say what it found.
        let full = e.to_string();
        let why = full.split_once("format: ").map_or(&*full, |(_, why)| why);
        bad(&why)
    })?;
    if span.is_negative() {
        return Err(bad(&"it is negative"));
    }
    if span.get_years() != 0 || span.get_months() != 0 {
        return Err(bad(&"months and years have no fixed length"));
    }
    let signed = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|e| bad(&e))?;
    Duration::try_from(signed).map_err(|e| bad(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_spellings() {
        let ok = |text: &str| parse_duration(text).unwrap();
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("1h30m"), Duration::from_secs(5_400));
        assert_eq!(ok(" 2h "), Duration::from_secs(7_200));
        assert_eq!(ok("2d"), Duration::from_secs(172_800));
        assert_eq!(ok("1w"), Duration::from_secs(604_800));
        assert_eq!(ok("1.5h"), Duration::from_secs(5_400));
        assert_eq!(ok("2 hours 30 minutes"), Duration::from_secs(9_000));
        assert_eq!(ok("0s"), Duration::ZERO);
    }

    #[test]
    fn errors_say_why() {
        for (text, needle) in [
            ("", "not a duration"),
            ("90", "no unit"),
            ("5 parsecs", "not a duration"),
            ("3 months", "no fixed length"),
            ("s", "no integer was found"),
            ("-5s", "negative"),
            ("5s ago", "negative"),
            ("99999999999999999999s", "not a duration"),
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.ends_with(EXAMPLES), "{text}: {err}");
        }
    }
}
