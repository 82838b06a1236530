//! Cron expressions with seconds, and their next occurrence in a time zone.
//!
//! Six fields, seconds first, and an optional seventh for years:
//!
//! ```text
//! sec  min  hour  day-of-month  month  day-of-week  [year]
//! 0-59 0-59 0-23  1-31 or L     1-12   0-7 (0 and 7: Sunday)  1970-2099
//! ```
//!
//! Each field is `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or
//! `a/n`, or a list of those separated by commas. Months and days of the
//! week take English names (`Jan`, `mon-fri`). `?` means `*` in the day
//! fields, and `L` in the day-of-month field is the month's last day. When
//! both day fields are restricted, a day matches either (as in Vixie cron).
//! `@yearly`, `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly`
//! are shorthands.
//!
//! # Daylight saving time
//!
//! An expression names wall-clock times of its zone. When the clock jumps
//! forward, the skipped times don't exist and don't fire (no tick is moved
//! to an invented time). When the clock goes back, a repeated time fires
//! once, at its first occurrence, unless the hour field is `*`: an
//! expression that fires every hour keeps firing through both passes of
//! the repeated hour, since each is a real hour.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// How far ahead a search for the next occurrence looks.
const HORIZON: SignedDuration = SignedDuration::from_hours(200 * 366 * 24);

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub(crate) struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u32,
    /// Bit `d` for day `d` (1 to 31).
    days: u32,
    /// `L`: the last day of the month.
    last_day: bool,
    /// Bit `m` for month `m` (1 to 12).
    months: u16,
    /// Bit `d` for weekday `d` (0 Sunday to 6 Saturday).
    weekdays: u8,
    days_any: bool,
    weekdays_any: bool,
    hours_any: bool,
    /// Allowed years, sorted; `None`: any.
    years: Option<Vec<i64>>,
}

impl Cron {
    /// Parses an expression (with the grammar shared with the attribute
    /// macro, in ork-cron); the error says what is wrong.
    pub(crate) fn parse(expr: &str) -> Result<Cron, String> {
        let f = ork_cron::CronFields::parse(expr)?;
        Ok(Cron {
            seconds: f.seconds,
            minutes: f.minutes,
            hours: f.hours,
            days: f.days,
            last_day: f.last_day,
            months: f.months,
            weekdays: f.weekdays,
            days_any: f.days_any,
            weekdays_any: f.weekdays_any,
            hours_any: f.hours_any,
            years: f.years,
        })
    }

    /// The first occurrence strictly after `after_ms` (Unix ms) in `tz`,
    /// in Unix ms, or `None` if there is none within two centuries.
    pub(crate) fn next_after(&self, tz: &TimeZone, after_ms: i64) -> Option<i64> {
        // The smallest allowed instant: the next whole second.
        let mut lo = Timestamp::from_second(after_ms.div_euclid(1000).checked_add(1)?).ok()?;
        let horizon = lo.saturating_add(HORIZON).ok()?;
        while lo < horizon {
            let offset = tz.to_offset(lo);
            // Until the next transition the offset is fixed: search wall
            // time over that stretch.
            let end = tz
                .following(lo)
                .next()
                .map_or(horizon, |t| t.timestamp())
                .min(horizon);
            match self.next_local(offset.to_datetime(lo), offset.to_datetime(end)) {
                Some(local) => {
                    let at = offset.to_timestamp(local).ok()?;
                    if !self.hours_any && second_pass(tz, local, offset) {
                        lo = at.checked_add(SignedDuration::from_secs(1)).ok()?;
                        continue;
                    }
                    return Some(at.as_millisecond());
                }
                None => lo = end,
            }
        }
        None
    }

    /// The first matching wall time at or after `from` and before `limit`.
    fn next_local(&self, from: DateTime, limit: DateTime) -> Option<DateTime> {
        let mut date = from.date();
        let mut time = from.time();
        while date.to_datetime(Time::midnight()) < limit {
            let year = i64::from(date.year());
            if let Some(years) = &self.years {
                if years.binary_search(&year).is_err() {
                    let next = years.iter().find(|&&y| y > year)?;
                    date = Date::new(i16::try_from(*next).ok()?, 1, 1).ok()?;
                    time = Time::midnight();
                    continue;
                }
            }
            if self.months & (1 << date.month()) == 0 {
                date = date.last_of_month().tomorrow().ok()?;
                time = Time::midnight();
                continue;
            }
            if self.day_matches(date) {
                if let Some(t) = self.time_at_or_after(time) {
                    let at = date.to_datetime(t);
                    return (at < limit).then_some(at);
                }
            }
            date = date.tomorrow().ok()?;
            time = Time::midnight();
        }
        None
    }

    fn day_matches(&self, date: Date) -> bool {
        let d = date.day();
        let by_day = self.days & (1 << d) != 0 || (self.last_day && d == date.days_in_month());
        let by_weekday = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        match (self.days_any, self.weekdays_any) {
            (true, true) => true,
            (true, false) => by_weekday,
            (false, true) => by_day,
            (false, false) => by_day || by_weekday,
        }
    }

    /// The first matching time of the day at or after `from` (whole seconds).
    fn time_at_or_after(&self, from: Time) -> Option<Time> {
        let (h0, m0, s0) = (
            from.hour() as u32,
            from.minute() as u32,
            from.second() as u32,
        );
        let mut h = next_bit(u64::from(self.hours), h0)?;
        loop {
            let m_from = if h == h0 { m0 } else { 0 };
            let mut m = next_bit(self.minutes, m_from);
            while let Some(mm) = m {
                let s_from = if h == h0 && mm == m0 { s0 } else { 0 };
                if let Some(s) = next_bit(self.seconds, s_from) {
                    return Time::new(h as i8, mm as i8, s as i8, 0).ok();
                }
                m = next_bit(self.minutes, mm + 1);
            }
            h = next_bit(u64::from(self.hours), h + 1)?;
        }
    }
}

/// Whether wall time `local` at `offset` is the second occurrence of a time
/// the clock went through twice.
fn second_pass(tz: &TimeZone, local: DateTime, offset: Offset) -> bool {
    match tz.to_ambiguous_timestamp(local).offset() {
        AmbiguousOffset::Fold { before, after } => before != after && after == offset,
        _ => false,
    }
}

fn next_bit(bits: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let masked = bits & (u64::MAX << from);
    (masked != 0).then(|| masked.trailing_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn show(ms: i64, tz: &TimeZone) -> String {
        Timestamp::from_millisecond(ms)
            .unwrap()
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    fn next_n(expr: &str, tz: &TimeZone, from: &str, n: usize) -> Vec<String> {
        let c = Cron::parse(expr).unwrap();
        let mut t = ms(from);
        (0..n)
            .map(|_| {
                t = c.next_after(tz, t).unwrap();
                show(t, tz)
            })
            .collect()
    }

    #[test]
    fn seconds_minutes_and_steps() {
        assert_eq!(
            next_n("*/20 * * * * *", &utc(), "2024-01-01T00:00:00Z", 4),
            [
                "2024-01-01T00:00:20+00:00",
                "2024-01-01T00:00:40+00:00",
                "2024-01-01T00:01:00+00:00",
                "2024-01-01T00:01:20+00:00"
            ]
        );
        assert_eq!(
            next_n("30 5-10/5 1,13 * * *", &utc(), "2024-01-01T12:00:00Z", 3),
            [
                "2024-01-01T13:05:30+00:00",
                "2024-01-01T13:10:30+00:00",
                "2024-01-02T01:05:30+00:00"
            ]
        );
        // Strictly after: a time that matches is not its own successor.
        assert_eq!(
            next_n("0 0 * * * *", &utc(), "2024-01-01T05:00:00Z", 1),
            ["2024-01-01T06:00:00+00:00"]
        );
        // Milliseconds past a match.
        let c = Cron::parse("* * * * * *").unwrap();
        assert_eq!(c.next_after(&utc(), 1_500), Some(2_000));
    }

    #[test]
    fn days_months_weekdays_and_names() {
        // 2024-03-01 is a Friday.
        assert_eq!(
            next_n("0 0 8 * * Mon-Fri", &utc(), "2024-03-01T09:00:00Z", 2),
            ["2024-03-04T08:00:00+00:00", "2024-03-05T08:00:00+00:00"]
        );
        assert_eq!(
            next_n("0 0 0 * * fri-mon", &utc(), "2024-03-01T09:00:00Z", 4),
            [
                "2024-03-02T00:00:00+00:00",
                "2024-03-03T00:00:00+00:00",
                "2024-03-04T00:00:00+00:00",
                "2024-03-08T00:00:00+00:00"
            ]
        );
        assert_eq!(
            next_n("0 0 0 * * 7", &utc(), "2024-03-01T00:00:00Z", 1),
            ["2024-03-03T00:00:00+00:00"]
        );
        assert_eq!(
            next_n("0 0 12 L * ?", &utc(), "2024-01-31T13:00:00Z", 3),
            [
                "2024-02-29T12:00:00+00:00",
                "2024-03-31T12:00:00+00:00",
                "2024-04-30T12:00:00+00:00"
            ]
        );
        assert_eq!(
            next_n("0 0 0 29 Feb *", &utc(), "2024-03-01T00:00:00Z", 1),
            ["2028-02-29T00:00:00+00:00"]
        );
        // Both day fields restricted: either matches.
        assert_eq!(
            next_n("0 0 0 13 * Fri", &utc(), "2024-09-01T00:00:00Z", 3),
            [
                "2024-09-06T00:00:00+00:00",
                "2024-09-13T00:00:00+00:00",
                "2024-09-20T00:00:00+00:00"
            ]
        );
        assert_eq!(
            next_n("0 0 0 1 1 * 2030,2032", &utc(), "2024-01-01T00:00:00Z", 2),
            ["2030-01-01T00:00:00+00:00", "2032-01-01T00:00:00+00:00"]
        );
        assert!(Cron::parse("0 0 0 1 1 * 2030")
            .unwrap()
            .next_after(&utc(), ms("2031-01-01T00:00:00Z"))
            .is_none());
        assert!(Cron::parse("0 0 0 31 2 *")
            .unwrap()
            .next_after(&utc(), 0)
            .is_none());
        assert_eq!(
            next_n("@hourly", &utc(), "2024-01-01T00:30:00Z", 1),
            ["2024-01-01T01:00:00+00:00"]
        );
    }

    #[test]
    fn bad_expressions_say_why() {
        for (expr, needle) in [
            ("*/15 * * * *", "seconds"),
            ("0 0 0 * *", "five"),
            ("60 * * * * *", "out of range"),
            ("0 0 25 * * *", "out of range"),
            ("0 0 0 * Foo *", "not a number"),
            ("0 */0 * * * *", "at least 1"),
            ("0 10-5 * * * *", "low to high"),
            ("@every", "shorthand"),
            ("0 0 0 L * L", "not a number"),
        ] {
            let err = Cron::parse(expr).unwrap_err();
            assert!(err.contains(needle), "{expr}: {err}");
        }
    }

    #[test]
    fn spring_forward_invents_no_tick() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        // 2024-03-31: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        assert_eq!(
            next_n("0 30 2 * * *", &paris, "2024-03-29T12:00:00Z", 3),
            [
                "2024-03-30T02:30:00+01:00",
                "2024-04-01T02:30:00+02:00",
                "2024-04-02T02:30:00+02:00"
            ]
        );
        let ny = TimeZone::get("America/New_York").unwrap();
        assert_eq!(
            next_n("0 30 2 * * *", &ny, "2024-03-09T12:00:00Z", 2),
            ["2024-03-11T02:30:00-04:00", "2024-03-12T02:30:00-04:00"]
        );
        // Sub-hourly: the wall clock goes on after the gap.
        assert_eq!(
            next_n("0 */30 * * * *", &paris, "2024-03-31T00:00:00Z", 3),
            [
                "2024-03-31T01:30:00+01:00",
                "2024-03-31T03:00:00+02:00",
                "2024-03-31T03:30:00+02:00"
            ]
        );
    }

    #[test]
    fn fall_back_fires_a_repeated_time_once() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        // 2024-10-27: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
        assert_eq!(
            next_n("0 30 2 * * *", &paris, "2024-10-26T12:00:00Z", 3),
            [
                "2024-10-27T02:30:00+02:00",
                "2024-10-28T02:30:00+01:00",
                "2024-10-29T02:30:00+01:00"
            ]
        );
        // Asked from inside the second pass, the repeated time is not due again.
        assert_eq!(
            next_n("0 30 2 * * *", &paris, "2024-10-27T01:10:00Z", 1),
            ["2024-10-28T02:30:00+01:00"]
        );
        let ny = TimeZone::get("America/New_York").unwrap();
        assert_eq!(
            next_n("0 30 1 * * *", &ny, "2024-11-02T12:00:00Z", 2),
            ["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"]
        );
        // Every hour, or more often: both passes are real time and fire.
        assert_eq!(
            next_n("0 0,30 * * * *", &paris, "2024-10-27T00:00:00Z", 4),
            [
                "2024-10-27T02:30:00+02:00",
                "2024-10-27T02:00:00+01:00",
                "2024-10-27T02:30:00+01:00",
                "2024-10-27T03:00:00+01:00"
            ]
        );
    }
}
