//! This process's worker counters: attempts by outcome, a histogram of run
//! times, blocked polls and local lease expiries, kept in
//! [prometheus-client] metrics.
//!
//! This module is low on purpose: it imports nothing from the worker, the
//! client or the engine, so every layer may count into it.
//!
//! [prometheus-client]: prometheus_client

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds of the run-time histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0,
];

/// How an attempt run by a worker of this process ended (the `outcome`
/// label of `ork_attempts_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AttemptEnd {
    Succeeded,
    Retried,
    Dead,
    Cancelled,
    /// Handed back at shutdown.
    Released,
    /// Parked by a durable sleep or wait.
    Parked,
    /// Its lease was lost.
    Lost,
}

impl AttemptEnd {
    fn as_str(self) -> &'static str {
        match self {
            AttemptEnd::Succeeded => "succeeded",
            AttemptEnd::Retried => "retried",
            AttemptEnd::Dead => "dead",
            AttemptEnd::Cancelled => "cancelled",
            AttemptEnd::Released => "released",
            AttemptEnd::Parked => "parked",
            AttemptEnd::Lost => "lost",
        }
    }

    /// Whether the attempt's run time goes into the histogram.
    fn timed(self) -> bool {
        matches!(
            self,
            AttemptEnd::Succeeded | AttemptEnd::Retried | AttemptEnd::Dead
        )
    }
}

impl EncodeLabelValue for AttemptEnd {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AttemptLabels {
    queue: String,
    task: String,
    outcome: AttemptEnd,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TaskLabels {
    queue: String,
    task: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BlockedLabels {
    task: Cow<'static, str>,
}

type RunTimes = Family<TaskLabels, Histogram, fn() -> Histogram>;

/// The metric handles (each is a shared reference: a clone counts into
/// the same values).
#[derive(Debug, Clone)]
struct Counters {
    attempts: Family<AttemptLabels, Counter>,
    run_time: RunTimes,
    blocked: Family<BlockedLabels, Counter>,
    local_expiries: Counter,
}

static COUNTERS: LazyLock<Counters> = LazyLock::new(|| Counters {
    attempts: Family::default(),
    run_time: Family::new_with_constructor(|| Histogram::new(BUCKETS)),
    blocked: Family::default(),
    local_expiries: Counter::default(),
});

/// The registry [`local`] renders: ork's metrics alone.
static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let mut registry = Registry::default();
    register(&mut registry);
    registry
});

/// Registers this process's worker metrics in `registry`, to be exported
/// with the application's own (ork keeps counting into the same values).
/// Call it once per registry.
///
/// ```
/// let mut registry = prometheus_client::registry::Registry::default();
/// ork_core::metrics::register(&mut registry);
/// let mut text = String::new();
/// prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
/// assert!(text.contains("# TYPE ork_lease_expired_locally counter"));
/// ```
pub fn register(registry: &mut Registry) {
    let c = &*COUNTERS;
    registry.register(
        "ork_attempts",
        "Attempts run by this process's workers, by outcome",
        c.attempts.clone(),
    );
    registry.register(
        "ork_attempt_duration_seconds",
        "Run time of this process's attempts that succeeded, were retried or died",
        c.run_time.clone(),
    );
    registry.register(
        "ork_task_blocked",
        "Times a task kept its runtime thread past the blocking threshold",
        c.blocked.clone(),
    );
    registry.register(
        "ork_lease_expired_locally",
        "Attempts stopped because their lease could not be renewed before its local deadline",
        c.local_expiries.clone(),
    );
}

/// Counts one attempt run by a worker of this process. Takes the names by
/// value: a (queue, task) seen before costs no allocation, and no lock but
/// the families' shared read lock and the histogram's own.
pub(crate) fn record_attempt(queue: String, task: String, end: AttemptEnd, took: Duration) {
    let c = &*COUNTERS;
    let labels = AttemptLabels {
        queue,
        task,
        outcome: end,
    };
    c.attempts.get_or_create(&labels).inc();
    if end.timed() {
        let AttemptLabels { queue, task, .. } = labels;
        c.run_time
            .get_or_create(&TaskLabels { queue, task })
            .observe(took.as_secs_f64());
    }
}

/// Counts a task seen blocking its runtime thread.
pub(crate) fn record_blocked(task: &'static str) {
    COUNTERS
        .blocked
        .get_or_create(&BlockedLabels {
            task: Cow::Borrowed(task),
        })
        .inc();
}

/// Counts an attempt stopped at its local lease deadline.
pub(crate) fn record_local_expiry() {
    COUNTERS.local_expiries.inc();
}

/// How often a task was seen blocking its runtime thread, in this process.
pub fn blocked_count(task: &str) -> u64 {
    let labels = BlockedLabels {
        task: Cow::Owned(task.to_owned()),
    };
    COUNTERS.blocked.get(&labels).map_or(0, |c| c.get())
}

/// This process's worker counters in Prometheus text format (version
/// 0.0.4). [`render`](super::render) includes them.
pub fn local() -> String {
    let mut out = String::new();
    // Writing into a String does not fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &REGISTRY);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_and_run_times_render_as_prometheus_text() {
        record_attempt(
            "q".to_owned(),
            "metrics::test".to_owned(),
            AttemptEnd::Succeeded,
            Duration::from_millis(20),
        );
        record_attempt(
            "q".to_owned(),
            "metrics::test".to_owned(),
            AttemptEnd::Lost,
            Duration::from_secs(7),
        );
        record_blocked("metrics::blocker");
        let local = local();
        assert!(
            local.contains("# TYPE ork_attempts_total counter\n"),
            "{local}"
        );
        assert!(local.contains(
            "ork_attempts_total{queue=\"q\",task=\"metrics::test\",outcome=\"succeeded\"} 1\n"
        ));
        assert!(local.contains(
            "ork_attempts_total{queue=\"q\",task=\"metrics::test\",outcome=\"lost\"} 1\n"
        ));
        assert!(local.contains(
            "ork_attempt_duration_seconds_bucket{queue=\"q\",task=\"metrics::test\",le=\"0.025\"} 1\n"
        ), "{local}");
        assert!(local.contains(
            "ork_attempt_duration_seconds_bucket{queue=\"q\",task=\"metrics::test\",le=\"0.01\"} 0\n"
        ));
        // A lost attempt is counted, not timed.
        assert!(local.contains(
            "ork_attempt_duration_seconds_count{queue=\"q\",task=\"metrics::test\"} 1\n"
        ));
        assert!(local.contains("ork_task_blocked_total{task=\"metrics::blocker\"} 1\n"));
        assert!(local.contains("# TYPE ork_lease_expired_locally_total counter\n"));
        assert_eq!(blocked_count("metrics::blocker"), 1);
        assert_eq!(blocked_count("metrics::never"), 0);
    }
}
