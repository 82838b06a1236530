//! Rates for rate limits: a token bucket's refill rate and burst.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A rate limit: `count` runs per `period`, with bursts of up to `burst`
/// runs at once after a quiet spell (a token bucket of `burst` tokens that
/// refills one token every `period / count`). Enforced by the GCRA
/// (generic cell rate algorithm): in any span of time `d`, at most
/// `burst + count * d / period` jobs start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rate {
    /// Runs per period.
    pub count: u32,
    /// The period, in milliseconds.
    pub period_ms: u64,
    /// The most runs at once after a quiet spell (at least 1).
    pub burst: u32,
}

impl Rate {
    /// `count` runs per `period`, burst 1.
    ///
    /// # Panics
    /// If `count` is 0 or `period` is under a millisecond (see
    /// [`try_new`](Self::try_new) for an error instead).
    pub fn new(count: u32, period: Duration) -> Rate {
        Rate::try_new(count, period).expect("a valid rate")
    }

    /// `count` runs per `period`, burst 1.
    ///
    /// # Errors
    /// [`Error::Invalid`] if `count` is 0 or `period` is under a millisecond.
    pub fn try_new(count: u32, period: Duration) -> Result<Rate> {
        let period_ms = period.as_millis() as u64;
        if count == 0 || period_ms == 0 {
            return Err(Error::Invalid(format!(
                "a rate needs a count of 1 or more per a period of 1 ms or more (got {count} per {period:?})"
            )));
        }
        Ok(Rate {
            count,
            period_ms,
            burst: 1,
        })
    }

    /// `n` runs per second.
    pub fn per_second(n: u32) -> Rate {
        Rate::new(n.max(1), Duration::from_secs(1))
    }

    /// `n` runs per minute.
    pub fn per_minute(n: u32) -> Rate {
        Rate::new(n.max(1), Duration::from_secs(60))
    }

    /// `n` runs per hour.
    pub fn per_hour(n: u32) -> Rate {
        Rate::new(n.max(1), Duration::from_secs(3600))
    }

    /// Sets the burst: how many may start at once after a quiet spell (at
    /// least 1).
    pub fn burst(mut self, burst: u32) -> Rate {
        self.burst = burst.max(1);
        self
    }

    /// Parses `"100/s"`, `"10/m"`, `"5/h"`, or a count per a duration:
    /// `"5/10s"`, `"1/250ms"`.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying what is wrong.
    pub fn parse(text: &str) -> Result<Rate> {
        let bad =
            |why: &str| Error::Invalid(format!("rate {text:?}: {why} (like \"100/s\", \"5/10s\")"));
        let (count, period) = text.split_once('/').ok_or_else(|| bad("no `/`"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| bad("the count is not a whole number"))?;
        let period = match period.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            other => crate::time::parse_duration(other).map_err(|_| bad("unknown period"))?,
        };
        Rate::try_new(count, period).map_err(|_| bad("the count and the period must be positive"))
    }

    /// The time between two tokens, in milliseconds.
    pub fn interval_ms(&self) -> f64 {
        self.period_ms as f64 / f64::from(self.count)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.period_ms {
            1_000 => write!(f, "{}/s", self.count)?,
            60_000 => write!(f, "{}/m", self.count)?,
            3_600_000 => write!(f, "{}/h", self.count)?,
            ms => write!(f, "{}/{ms}ms", self.count)?,
        }
        if self.burst > 1 {
            write!(f, " burst {}", self.burst)?;
        }
        Ok(())
    }
}

/// A token bucket's state under the GCRA: the theoretical arrival time of
/// the next token (ms, on the engine's clock). Returns, for a job arriving
/// `now`, `Ok(new_tat)` when it may start, or `Err((due, new_tat))`: it
/// may start at `due`, and the token is reserved for it (`new_tat` is the
/// state either way).
pub fn gcra(rate: &Rate, tat: Option<f64>, now: f64) -> std::result::Result<f64, (f64, f64)> {
    let t = rate.interval_ms();
    let tau = f64::from(rate.burst.saturating_sub(1)) * t;
    let tat = tat.map_or(now, |x| x.max(now));
    let allow_at = tat - tau;
    if allow_at <= now {
        Ok(tat + t)
    } else {
        Err((allow_at, tat + t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_print() {
        assert_eq!(Rate::parse("100/s").unwrap(), Rate::per_second(100));
        assert_eq!(Rate::parse("10/m").unwrap(), Rate::per_minute(10));
        assert_eq!(
            Rate::parse("5/10s").unwrap(),
            Rate::new(5, Duration::from_secs(10))
        );
        assert!(Rate::parse("0/s").is_err());
        assert!(Rate::parse("fast").is_err());
        assert!(Rate::parse("5/soon").is_err());
        assert_eq!(Rate::per_second(25).burst(50).to_string(), "25/s burst 50");
    }

    #[test]
    fn gcra_allows_a_burst_then_the_rate() {
        let r = Rate::per_second(100).burst(3);
        let mut tat = None;
        for _ in 0..3 {
            tat = Some(gcra(&r, tat, 0.0).expect("within the burst"));
        }
        let (due, next) = gcra(&r, tat, 0.0).expect_err("past the burst");
        assert_eq!(due, 10.0);
        assert_eq!(gcra(&r, Some(next), 10.0).map_err(|e| e.0), Err(20.0));
    }
}
