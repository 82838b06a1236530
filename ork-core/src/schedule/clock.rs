//! The local clock a scheduler sleeps by.
//!
//! Ticks are decided on the backend's clock ([`JobStore::now_ms`]), never on
//! this one. A scheduler only uses the local clock to measure how long to
//! sleep between two reads of the backend's: it notes the difference
//! between both clocks at each read, so a local clock that is off by any
//! constant amount changes nothing. Tests inject an [`OffsetClock`] to
//! check that.
//!
//! [`JobStore::now_ms`]: crate::backend::JobStore::now_ms

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A wall clock in Unix milliseconds.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Now, in Unix milliseconds, as this clock reads it.
    fn now_ms(&self) -> u64;
}

/// The machine's clock: the system time when created, advanced by tokio's
/// monotonic clock (so it follows tokio's paused clock in tests).
#[derive(Debug, Clone)]
pub struct SystemClock {
    base_ms: u64,
    start: tokio::time::Instant,
}

impl SystemClock {
    /// A clock reading the system time now (call within a tokio runtime
    /// when tokio's clock is paused, so that it follows it).
    pub fn new() -> Self {
        SystemClock {
            base_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            start: tokio::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        self.base_ms + self.start.elapsed().as_millis() as u64
    }
}

/// The machine's clock set off by a fixed amount: a machine whose clock is
/// wrong, for tests.
#[derive(Debug, Clone)]
pub struct OffsetClock {
    inner: SystemClock,
    offset_ms: i64,
}

impl OffsetClock {
    /// The system clock, `offset_ms` ahead (or behind, if negative).
    pub fn new(offset_ms: i64) -> Self {
        OffsetClock {
            inner: SystemClock::new(),
            offset_ms,
        }
    }
}

impl Clock for OffsetClock {
    fn now_ms(&self) -> u64 {
        self.inner.now_ms().saturating_add_signed(self.offset_ms)
    }
}
