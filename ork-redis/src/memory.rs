//! Redis memory against `maxmemory`: the reading behind
//! [`Queries::memory`](ork_core::backend::Queries::memory), and the warning logged
//! when it passes 80%.
//!
//! The warning comes from the backend itself, so every process that uses
//! it notices (a worker pool, or a producer that only enqueues): the
//! backend reads memory once when it is built, then at most every
//! [`WATCH_EVERY`] an enqueue, a claim or a heartbeat starts one `INFO
//! memory` read in the background (never in the caller's way). A warning
//! is logged once when usage passes [`WARN_AT`]; it is logged again only
//! after usage fell below [`REARM_AT`] and passed [`WARN_AT`] again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ork_core::MemoryUsage;
use ork_core::Result;
use redis::Value;

use crate::backend::{backend_error, strings_in, Inner};

/// How often the backend reads memory use on its own.
pub(crate) const WATCH_EVERY: Duration = Duration::from_secs(5);
/// The share of `maxmemory` past which a warning is logged.
pub(crate) const WARN_AT: f64 = 0.8;
/// The share below which a later pass of [`WARN_AT`] warns again.
pub(crate) const REARM_AT: f64 = 0.7;

/// Parses `INFO memory` text: `used_memory` and `maxmemory` (0: no limit).
pub(crate) fn parse_info(text: &str) -> Option<MemoryUsage> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let used = field("used_memory")?;
    let max = field("maxmemory").filter(|&m| m > 0);
    Some(MemoryUsage::new(used, max))
}

impl Inner {
    /// Reads memory use. On a Cluster every primary answers, and the one
    /// nearest its limit is reported (a full node refuses its slots' writes
    /// whatever the others hold).
    pub(crate) async fn memory(&self) -> Result<Option<MemoryUsage>> {
        let mut conn = self.pool.get();
        let info: Value = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut conn)
            .await
            .map_err(backend_error)?;
        let readings = strings_in(&info)
            .iter()
            .filter_map(|t| parse_info(t))
            .collect::<Vec<_>>();
        let fullest = readings.iter().copied().max_by(|a, b| {
            let key = |m: &MemoryUsage| m.ratio().unwrap_or(-1.0);
            key(a)
                .total_cmp(&key(b))
                .then(a.used_bytes.cmp(&b.used_bytes))
        });
        if let Some(m) = fullest {
            self.memory_watch.saw(m);
        }
        Ok(fullest)
    }
}

/// The state of the 80% warning.
#[derive(Debug)]
pub(crate) struct Watch {
    started: Instant,
    /// When the last background read started, in ms since `started` (0:
    /// never).
    last_ms: AtomicU64,
    /// Whether usage is past the mark and the warning was logged.
    warned: AtomicBool,
}

impl Watch {
    pub(crate) fn new() -> Self {
        Watch {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    /// Whether a background read is due now (and, if so, claims it).
    fn due(&self) -> bool {
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let last = self.last_ms.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < WATCH_EVERY.as_millis() as u64 {
            return false;
        }
        self.last_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes a reading into account: warns once when it passes the mark.
    pub(crate) fn saw(&self, m: MemoryUsage) {
        let Some(ratio) = m.ratio() else {
            return;
        };
        if ratio >= WARN_AT {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    used_bytes = m.used_bytes,
                    max_bytes = m.max_bytes.unwrap_or(0),
                    percent = (ratio * 100.0).round() as u64,
                    "Redis memory is past 80% of maxmemory: at 100% enqueues are refused \
                     (workers still drain the queues); raise maxmemory or add workers"
                );
            }
        } else if ratio < REARM_AT {
            self.warned.store(false, Ordering::Relaxed);
        }
    }
}

/// Starts a background reading when one is due (and a Tokio runtime runs).
pub(crate) fn watch(inner: &Arc<Inner>) {
    if !inner.memory_watch.due() {
        return;
    }
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let inner = inner.clone();
    rt.spawn(async move {
        if let Err(e) = inner.memory().await {
            tracing::debug!(error = %e, "could not read Redis memory use");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::parse_info;

    #[test]
    fn reads_info_memory() {
        let text = "# Memory\r\nused_memory:3145000\r\nused_memory_human:3.00M\r\n\
                    used_memory_rss:9000000\r\nmaxmemory:3145728\r\nmaxmemory_human:3.00M\r\n";
        let m = parse_info(text).unwrap();
        assert_eq!((m.used_bytes, m.max_bytes), (3_145_000, Some(3_145_728)));
        let unlimited = parse_info("used_memory:100\r\nmaxmemory:0\r\n").unwrap();
        assert_eq!(unlimited.max_bytes, None);
        assert!(parse_info("# Server\r\nredis_version:7.0.15\r\n").is_none());
    }
}
