//! Retry decisions: the one place that says whether a failed attempt is
//! tried again, and when.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The delay between attempts of a failing task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed {
        /// Milliseconds between attempts.
        delay_ms: u64,
    },
    /// `base * 2^(retry-1)`, capped, optionally with jitter.
    Exponential {
        /// The first retry's delay, in milliseconds.
        base_ms: u64,
        /// The largest delay, in milliseconds.
        max_ms: u64,
        /// Spread delays over `[d/2, d]` so that failing jobs don't retry in lockstep.
        jitter: bool,
    },
}

impl Default for Backoff {
    /// Exponential from 1 s, capped at 1 h, with jitter.
    fn default() -> Self {
        Backoff::Exponential {
            base_ms: 1_000,
            max_ms: 3_600_000,
            jitter: true,
        }
    }
}

impl Backoff {
    /// A fixed delay.
    pub fn fixed(delay: Duration) -> Self {
        Backoff::Fixed {
            delay_ms: delay.as_millis() as u64,
        }
    }

    /// Exponential from `base`, capped at `max`, with jitter.
    pub fn exponential(base: Duration, max: Duration) -> Self {
        Backoff::Exponential {
            base_ms: base.as_millis() as u64,
            max_ms: max.as_millis() as u64,
            jitter: true,
        }
    }

    /// The same backoff without jitter.
    pub fn without_jitter(self) -> Self {
        match self {
            Backoff::Exponential {
                base_ms, max_ms, ..
            } => Backoff::Exponential {
                base_ms,
                max_ms,
                jitter: false,
            },
            fixed => fixed,
        }
    }

    /// The delay before retry number `retry` (1 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        match *self {
            Backoff::Fixed { delay_ms } => Duration::from_millis(delay_ms),
            Backoff::Exponential {
                base_ms,
                max_ms,
                jitter,
            } => {
                let shift = retry.saturating_sub(1).min(40);
                let full = base_ms.saturating_mul(1u64 << shift).min(max_ms);
                let ms = if jitter && full > 1 {
                    full / 2 + fastrand::u64(0..=full / 2)
                } else {
                    full
                };
                Duration::from_millis(ms)
            }
        }
    }
}

/// What to do after an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after this delay.
    RetryAfter(Duration),
    /// Retries are spent: to the dead letters.
    GiveUp,
}

/// Decides what follows the failure of attempt number `attempt` (1-based)
/// of a job allowed `retries` retries.
pub fn decide(attempt: u32, retries: u32, backoff: &Backoff) -> RetryDecision {
    if attempt > retries {
        RetryDecision::GiveUp
    } else {
        RetryDecision::RetryAfter(backoff.delay(attempt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_and_caps() {
        let b = Backoff::exponential(Duration::from_millis(100), Duration::from_millis(500))
            .without_jitter();
        let delays: Vec<_> = (1..=5).map(|r| b.delay(r).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
    }

    #[test]
    fn jitter_stays_in_range() {
        let b = Backoff::exponential(Duration::from_millis(1000), Duration::from_secs(60));
        for _ in 0..100 {
            let d = b.delay(2).as_millis();
            assert!((1000..=2000).contains(&d), "{d}");
        }
    }

    #[test]
    fn decide_counts_retries() {
        let b = Backoff::fixed(Duration::from_secs(1));
        assert_eq!(
            decide(1, 2, &b),
            RetryDecision::RetryAfter(Duration::from_secs(1))
        );
        assert_eq!(
            decide(2, 2, &b),
            RetryDecision::RetryAfter(Duration::from_secs(1))
        );
        assert_eq!(decide(3, 2, &b), RetryDecision::GiveUp);
        assert_eq!(decide(1, 0, &b), RetryDecision::GiveUp);
    }
}
