//! Times, durations, rates, bytes and colours, as people read them.

use std::io::IsTerminal;

use jiff::Timestamp;

/// How long ago (or in how long) `at_ms` is from `now_ms`: `3s ago`, `in 5m`.
pub(crate) fn ago(now_ms: u64, at_ms: u64) -> String {
    if at_ms > now_ms {
        format!("in {}", span(at_ms - now_ms))
    } else {
        format!("{} ago", span(now_ms - at_ms))
    }
}

/// A coarse span: `450ms`, `12s`, `5m`, `3h`, `2d`.
pub(crate) fn span(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{}s", ms / 1000),
        60_000..=3_599_999 => format!("{}m", ms / 60_000),
        3_600_000..=86_399_999 => format!("{}h", ms / 3_600_000),
        _ => format!("{}d", ms / 86_400_000),
    }
}

/// A precise duration: `120ms`, `3.25s`, `4m05s`, `2h03m`.
pub(crate) fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{:.2}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// A Unix time in ms as UTC: `2024-05-01 12:00:03.250Z` (beyond the
/// calendar's range, the raw number).
pub(crate) fn utc(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .map_or_else(
            || format!("{ms}ms"),
            |at| at.strftime("%Y-%m-%d %H:%M:%S%.3fZ").to_string(),
        )
}

/// A rate: `12.5/s`, or `30/min` below one per second, `-` when zero.
pub(crate) fn rate(per_sec: f64) -> String {
    if per_sec <= 0.0 {
        "-".to_owned()
    } else if per_sec >= 1.0 {
        format!("{per_sec:.1}/s")
    } else {
        format!("{:.1}/min", per_sec * 60.0)
    }
}

/// A hex dump: offset, 16 bytes, and their printable ASCII; at most
/// `max` bytes, with a line saying how many were left out.
pub(crate) fn hex_dump(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    for (line, chunk) in bytes[..bytes.len().min(max)].chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        out.push_str(&format!(
            "{:08x}  {:<47}  |{ascii}|\n",
            line * 16,
            hex.join(" ")
        ));
    }
    if bytes.len() > max {
        out.push_str(&format!("... {} more bytes\n", bytes.len() - max));
    }
    out
}

/// Truncates to `max` characters with an ellipsis; newlines become spaces.
pub(crate) fn clip(s: &str, max: usize) -> String {
    let flat = s.replace(['\n', '\r'], " ");
    if flat.chars().count() <= max {
        flat
    } else {
        let mut out: String = flat.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// ANSI colours, on when the stream is a terminal and `NO_COLOR` is unset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paint {
    on: bool,
}

impl Paint {
    /// For standard output.
    pub(crate) fn stdout() -> Paint {
        Paint::when(std::io::stdout().is_terminal())
    }

    /// For standard error.
    pub(crate) fn stderr() -> Paint {
        Paint::when(std::io::stderr().is_terminal())
    }

    /// No colours.
    #[cfg(test)]
    pub(crate) fn plain() -> Paint {
        Paint { on: false }
    }

    fn when(tty: bool) -> Paint {
        let off = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
            || std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Paint { on: tty && !off }
    }

    /// Whether colours are on.
    pub(crate) fn is_on(self) -> bool {
        self.on
    }

    /// Wraps `text` in an SGR code.
    pub(crate) fn sgr(self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Bold.
    pub(crate) fn bold(self, text: &str) -> String {
        self.sgr("1", text)
    }

    /// Dim.
    pub(crate) fn dim(self, text: &str) -> String {
        self.sgr("2", text)
    }

    /// A state name in its colour.
    pub(crate) fn state(self, state: &str) -> String {
        self.sgr(state_color(state), state)
    }
}

/// The SGR colour of a job or workflow state.
pub(crate) fn state_color(state: &str) -> &'static str {
    match state {
        "succeeded" => "32",
        "dead" | "failed" => "31",
        "running" => "36",
        "queued" => "34",
        "scheduled" => "35",
        "cancelled" | "cancelling" => "33",
        _ => "2",
    }
}

/// The one-character mark of a job state, for trees and bars.
pub(crate) fn state_mark(state: &str) -> &'static str {
    match state {
        "succeeded" => "✔",
        "dead" => "✖",
        "running" => "▶",
        "queued" => "●",
        "scheduled" => "◷",
        "cancelled" => "⊘",
        "waiting" => "○",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_well() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000Z");
        assert_eq!(utc(1_714_564_803_250), "2024-05-01 12:00:03.250Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00.000Z");
        assert_eq!(utc(u64::MAX), "18446744073709551615ms");
        assert_eq!(ago(10_000, 7_000), "3s ago");
        assert_eq!(ago(0, 120_000), "in 2m");
        assert_eq!(duration(3_250), "3.25s");
        assert_eq!(duration(245_000), "4m05s");
        assert_eq!(rate(0.5), "30.0/min");
        assert_eq!(rate(0.0), "-");
    }

    #[test]
    fn bytes_are_dumped_and_clipped() {
        let dump = hex_dump(b"\x01\x02hello", 256);
        assert!(dump.starts_with("00000000  01 02 68 65 6c 6c 6f"));
        assert!(dump.contains("|..hello|"));
        assert!(hex_dump(&[0u8; 40], 16).contains("24 more bytes"));
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
