//! Which ticks to fire: the missed-tick policy.

use std::collections::VecDeque;

use super::{Missed, Schedule};

/// The most ticks fired for one schedule in one round.
const MAX_PER_ROUND: usize = 1000;

/// The ticks of `schedule` to fire for `(through, now]`, oldest first.
///
/// Ticks older than the grace period are missed: the policy picks none, the
/// newest, or the newest few of them. Newer ticks are all fired.
pub(super) fn due(schedule: &Schedule, through: u64, now: u64) -> Vec<u64> {
    if now <= through {
        return Vec::new();
    }
    let grace = schedule.grace.as_millis() as u64;
    let late_end = now.saturating_sub(grace).max(through);
    let keep = match schedule.missed {
        Missed::Skip => 0,
        Missed::FireOnce => 1,
        Missed::CatchUp(n) => (n as usize).min(MAX_PER_ROUND),
    };
    let mut out = newest(schedule, through, late_end, keep);
    out.extend(newest(schedule, late_end, now, MAX_PER_ROUND));
    out
}

/// The newest `keep` ticks in `(lo, hi]`, oldest first. Looks back in
/// growing windows, so a long downtime costs about as much as a short one.
fn newest(schedule: &Schedule, lo: u64, hi: u64, keep: usize) -> Vec<u64> {
    if keep == 0 || hi <= lo {
        return Vec::new();
    }
    let mut window = 60_000u64;
    loop {
        let start = hi.saturating_sub(window).max(lo);
        let mut found = VecDeque::with_capacity(keep.min(64));
        let mut t = start;
        while let Some(next) = schedule.next_after_ms(t) {
            if next > hi {
                break;
            }
            found.push_back(next);
            if found.len() > keep {
                found.pop_front();
            }
            t = next;
        }
        if found.len() >= keep || start == lo {
            return found.into();
        }
        window = window.saturating_mul(16);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn every_10s(missed: Missed) -> Schedule {
        Schedule::every(Duration::from_secs(10))
            .missed(missed)
            .grace(Duration::from_secs(5))
    }

    #[test]
    fn on_time_ticks_all_fire() {
        let s = every_10s(Missed::Skip);
        assert_eq!(due(&s, 100_000, 100_500), Vec::<u64>::new());
        assert_eq!(due(&s, 100_000, 110_000), vec![110_000]);
        assert_eq!(due(&s, 109_999, 114_999), vec![110_000]);
        assert_eq!(due(&s, 110_000, 110_000), Vec::<u64>::new());
    }

    #[test]
    fn missed_ticks_follow_the_policy() {
        // Down from 100 s to 163 s: ticks 110..=150 are missed, 160 is on time.
        let (through, now) = (100_000, 163_000);
        assert_eq!(due(&every_10s(Missed::Skip), through, now), vec![160_000]);
        assert_eq!(
            due(&every_10s(Missed::FireOnce), through, now),
            vec![150_000, 160_000]
        );
        assert_eq!(
            due(&every_10s(Missed::CatchUp(3)), through, now),
            vec![130_000, 140_000, 150_000, 160_000]
        );
        assert_eq!(
            due(&every_10s(Missed::CatchUp(100)), through, now),
            vec![110_000, 120_000, 130_000, 140_000, 150_000, 160_000]
        );
    }

    #[test]
    fn a_long_downtime_is_cheap() {
        let s = Schedule::cron("* * * * * *")
            .unwrap()
            .missed(Missed::CatchUp(2));
        let year_ms = 365 * 86_400_000;
        let got = due(&s, 0, year_ms);
        // 2 missed, and the 5 s of grace on time.
        assert_eq!(got.len(), 7);
        assert_eq!(got[0], year_ms - 6_000);
        assert_eq!(*got.last().unwrap(), year_ms);
        let yearly = Schedule::cron("0 0 0 1 1 *").unwrap();
        // Ticks on 1971-01-01 and 1972-01-01; the newer one fires.
        assert_eq!(due(&yearly, 0, 3 * year_ms), vec![730 * 86_400_000]);
    }
}
