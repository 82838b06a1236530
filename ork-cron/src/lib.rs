//! The cron and duration grammars of ork: parsing and checking, nothing
//! about time zones. ork-core computes occurrences from the parsed cron
//! fields, and the `#[ork::task(cron = "...", timeout = "...")]` attribute
//! runs the same parsers at compile time, so a string the scheduler or the
//! API would refuse is a compile error at the string.
//!
//! It is its own crate (rather than a module of ork-core) because a
//! proc-macro crate can't depend on ork-core, and a file shared with
//! `#[path]` would fall outside the published package of one of them. It
//! depends on jiff only (which ork-core builds anyway) and makes no semver
//! promises of its own: use it through `ork`. The cron grammar is
//! documented on `ork::schedule::cron`, the duration grammar on
//! [`parse_duration`].

// Why not croner (4.0, jiff backend) for the cron part: measured against
// this crate and ork-core's tests, it
// - fires a fixed time that a spring-forward gap skips at the end of the gap
//   ("0 30 2 * * *" in Paris fires at 03:00 on 2024-03-31), where ork's
//   schedules invent no tick (the DST tests decide);
// - refuses weekday ranges that wrap (`fri-mon`) and `a/n` steps (`5/10`),
//   which ork accepts;
// - brings derive_builder, darling and strum (11 crates besides croner,
//   three of them proc-macros) into ork-core, and into the macro's host
//   build for the compile-time check.
// Occurrences are computed in ork-core on jiff's civil types instead.

mod duration;

pub use duration::parse_duration;

/// The shortest interval of an `every` schedule (ms). The scheduler refuses
/// a shorter one; the attribute checks it at compile time.
pub const MIN_INTERVAL_MS: u64 = 100;

/// A parsed cron expression: the values each field allows, as bit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CronFields {
    /// Bit `s` for second `s` (0 to 59).
    pub seconds: u64,
    /// Bit `m` for minute `m` (0 to 59).
    pub minutes: u64,
    /// Bit `h` for hour `h` (0 to 23).
    pub hours: u32,
    /// Bit `d` for day `d` (1 to 31).
    pub days: u32,
    /// `L`: the last day of the month.
    pub last_day: bool,
    /// Bit `m` for month `m` (1 to 12).
    pub months: u16,
    /// Bit `d` for weekday `d` (0 Sunday to 6 Saturday).
    pub weekdays: u8,
    /// The day-of-month field was `*` or `?`.
    pub days_any: bool,
    /// The day-of-week field was `*` or `?`.
    pub weekdays_any: bool,
    /// The hour field was `*`.
    pub hours_any: bool,
    /// Allowed years, sorted; `None`: any.
    pub years: Option<Vec<i64>>,
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// One field: its values, and whether it was `*`/`?` or has `L`.
struct Field {
    values: Vec<u32>,
    any: bool,
    last: bool,
}

impl Field {
    fn bits(&self) -> u64 {
        self.values.iter().fold(0, |b, v| b | 1 << v)
    }
}

/// What a field accepts.
struct Spec {
    what: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// `?` and (for days of the month) `L` are allowed.
    day: bool,
    last: bool,
}

impl CronFields {
    /// Parses an expression; the error says what is wrong.
    pub fn parse(expr: &str) -> Result<CronFields, String> {
        let expanded = match expr.trim().to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 0 1 1 *".to_owned(),
            "@monthly" => "0 0 0 1 * *".to_owned(),
            "@weekly" => "0 0 0 * * 0".to_owned(),
            "@daily" | "@midnight" => "0 0 0 * * *".to_owned(),
            "@hourly" => "0 0 * * * *".to_owned(),
            s if s.starts_with('@') => return Err(format!("unknown shorthand `{s}`")),
            _ => expr.trim().to_owned(),
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() == 5 {
            return Err(
                "five fields: ork's cron expressions start with seconds (\"sec min hour day month weekday\"), e.g. \"0 */15 * * * *\""
                    .to_owned(),
            );
        }
        if !(6..=7).contains(&fields.len()) {
            return Err(format!(
                "{} field(s): a cron expression has six, seconds first (\"sec min hour day month weekday\"), and optionally a year",
                fields.len()
            ));
        }
        let spec = |what, min, max| Spec {
            what,
            min,
            max,
            names: &[],
            day: false,
            last: false,
        };
        let sec = field(fields[0], &spec("second", 0, 59))?;
        let min = field(fields[1], &spec("minute", 0, 59))?;
        let hour = field(fields[2], &spec("hour", 0, 23))?;
        let day = field(
            fields[3],
            &Spec {
                day: true,
                last: true,
                ..spec("day of month", 1, 31)
            },
        )?;
        let month = field(
            fields[4],
            &Spec {
                names: MONTHS,
                ..spec("month", 1, 12)
            },
        )?;
        let weekday = field(
            fields[5],
            &Spec {
                names: WEEKDAYS,
                day: true,
                ..spec("day of week", 0, 7)
            },
        )?;
        // 7 is Sunday too.
        let weekdays = weekday.values.iter().fold(0u8, |b, v| b | 1 << (v % 7));
        let years = match fields.get(6) {
            None => None,
            Some(text) => {
                let f = field(text, &spec("year", 1970, 2099))?;
                (!f.any).then(|| f.values.iter().map(|&y| i64::from(y)).collect())
            }
        };
        Ok(CronFields {
            seconds: sec.bits(),
            minutes: min.bits(),
            hours: hour.bits() as u32,
            days: day.bits() as u32,
            last_day: day.last,
            months: month.bits() as u16,
            weekdays,
            days_any: day.any,
            weekdays_any: weekday.any,
            hours_any: hour.any,
            years,
        })
    }
}

/// Parses one field.
fn field(text: &str, spec: &Spec) -> Result<Field, String> {
    let (min, max) = (spec.min, spec.max);
    let mut out = Field {
        values: Vec::new(),
        any: text == "*" || (text == "?" && spec.day),
        last: false,
    };
    let bad = |why: &str| format!("bad {} field `{text}`: {why}", spec.what);
    for part in text.split(',') {
        if spec.last && part.eq_ignore_ascii_case("l") {
            out.last = true;
            continue;
        }
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| bad("the step is not a number"))?;
                if step == 0 {
                    return Err(bad("the step must be at least 1"));
                }
                (r, Some(step))
            }
            None => (part, None),
        };
        let value = |t: &str| value(t, min, max, spec.names).map_err(|e| bad(&e));
        let (lo, hi) = if range == "*" || (range == "?" && spec.day) {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if step.is_some() { max } else { v })
        };
        let step = step.unwrap_or(1) as usize;
        if lo <= hi {
            out.values.extend((lo..=hi).step_by(step));
        } else if spec.names.len() == 7 {
            // A weekday range may wrap around Sunday: `fri-mon`.
            out.values.extend((lo..=6).chain(0..=hi).step_by(step));
        } else {
            return Err(bad("a range goes from low to high"));
        }
    }
    if out.values.is_empty() && !out.last {
        return Err(bad("matches nothing"));
    }
    out.values.sort_unstable();
    out.values.dedup();
    Ok(out)
}

/// A number or (case-insensitive) name within `min..=max`.
fn value(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        // Month names count from 1, weekday names from 0.
        return Ok(i as u32 + if names.len() == 12 { 1 } else { 0 });
    }
    let v: u32 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number or a name"))?;
    if v < min || v > max {
        return Err(format!("{v} is out of range {min}-{max}"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let err = CronFields::parse("0 99 * * * *").unwrap_err();
        assert_eq!(err, "bad minute field `99`: 99 is out of range 0-59");
        assert!(CronFields::parse("0 */15 * * * *").is_ok());
        assert!(CronFields::parse("@daily").is_ok());
        assert!(CronFields::parse("*/5 * * * *")
            .unwrap_err()
            .starts_with("five fields"));
    }
}
