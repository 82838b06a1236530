//! Metrics: queue depths, recent rates and latencies, in Prometheus text.
//!
//! Two sources, rendered together by [`render`]:
//!
//! - **the engine**, read by [`snapshot`]: how many jobs each queue holds in
//!   each state, the live workers, and, estimated from the most recently
//!   finished jobs' timestamps, how many jobs finished per second over the
//!   last minute and how long they waited and ran. Any process with an
//!   [`Ork`] client can export these (the `ork dashboard` does, at `/metrics`).
//! - **this process's workers**: counters kept by every worker pool running
//!   in the process (attempts by outcome, a histogram of run times). They are
//!   real Prometheus counters, so `rate()` over them is exact.
//!
//! Mount it in an axum app next to an embedded worker (any web framework
//! will do: [`render`] returns the text of the response):
//!
//! ```ignore
//! let metrics = ork.clone();
//! let app = axum::Router::new().route("/metrics", axum::routing::get(move || {
//!     let ork = metrics.clone();
//!     async move {
//!         match ork_core::metrics::render(&ork).await {
//!             Ok(text) => ([("content-type", "text/plain; version=0.0.4")], text).into_response(),
//!             Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
//!         }
//!     }
//! }));
//! let worker = ork.worker().start()?;
//! ```
//!
//! [`render`] costs a few Redis round trips per queue; scrape it every 15 s
//! or more, not every second. Without an engine at hand, [`local`] gives
//! this process's worker counters alone.
//!
//! # Metrics
//!
//! | name | type | labels | what |
//! |------|------|--------|------|
//! | `ork_queue_jobs` | gauge | `queue`, `state` | jobs in the queue in that state (`succeeded` and `cancelled` count records not yet expired) |
//! | `ork_queue_finished_per_second` | gauge | `queue`, `outcome` (`succeeded`, `dead`) | jobs finished per second over the last 60 s, estimated from the newest finished jobs |
//! | `ork_queue_wait_seconds` | gauge | `queue`, `quantile` (0.5, 0.95, 1) | enqueue to start of the last attempt, of jobs that succeeded in the last 60 s (includes retries' backoff) |
//! | `ork_queue_run_seconds` | gauge | `queue`, `quantile` | start to end of the last attempt, same jobs |
//! | `ork_workers` | gauge | | live workers (every process's) |
//! | `ork_worker_running` | gauge | `worker` | jobs a worker runs now (as of its last heartbeat; pools sharing an id add up, as below) |
//! | `ork_worker_concurrency` | gauge | `worker` | a worker's concurrency |
//! | `ork_worker_processed_total` | counter | `worker` | attempts a worker finished since it started |
//! | `ork_redis_memory_used_bytes` | gauge | | memory the storage server uses (engines that report it: Redis) |
//! | `ork_redis_memory_max_bytes` | gauge | | its `maxmemory`, when one is set |
//! | `ork_attempts_total` | counter | `queue`, `task`, `outcome` | attempts run by this process's workers, by how they ended: `succeeded`, `retried`, `dead`, `cancelled`, `released` (handed back at shutdown), `lost` (lease lost) |
//! | `ork_attempt_duration_seconds` | histogram | `queue`, `task` | run time of this process's attempts that succeeded, were retried or died |
//! | `ork_task_blocked_total` | counter | `task` | times a task of this process kept its runtime thread (one poll) past the pool's blocking threshold |
//! | `ork_lease_expired_locally_total` | counter | | attempts this process stopped because their lease could not be renewed before its local deadline |
//!
//! The rate and latency estimates read the newest [`SAMPLE`] succeeded and
//! dead jobs of each queue (succeeded jobs are indexed by expiry, so with
//! mixed result TTLs "newest" is approximate); when every sampled job
//! finished within the window, the rate is extrapolated from the sample's
//! time span.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::Outcome;
use crate::client::Ork;
use crate::error::Result;
use crate::inspect::{JobQuery, QueueCounts, WorkerInfo};
use crate::job::{JobInfo, JobState};

/// The window of the rate and latency estimates.
pub const WINDOW: Duration = Duration::from_secs(60);

/// How many of the newest finished jobs per queue and outcome are read to
/// estimate rates and latencies.
pub const SAMPLE: usize = 100;

/// What the engine can tell about its queues and workers, now.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// The engine's clock when read (Unix ms).
    pub now_ms: u64,
    /// Every known queue, by name.
    pub queues: Vec<QueueStats>,
    /// The live workers.
    pub workers: Vec<WorkerInfo>,
}

/// One queue's counts and recent activity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QueueStats {
    /// Jobs per state.
    pub counts: QueueCounts,
    /// Activity over the last [`WINDOW`].
    pub recent: Recent,
}

/// Estimated activity of a queue over the last [`WINDOW`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Recent {
    /// Jobs that succeeded, per second.
    pub succeeded_per_sec: f64,
    /// Jobs dead-lettered, per second.
    pub dead_per_sec: f64,
    /// Enqueue to start of the last attempt, of recently succeeded jobs.
    pub wait: Option<Quantiles>,
    /// Start to end of the last attempt, of recently succeeded jobs.
    pub run: Option<Quantiles>,
}

/// Quantiles of a duration, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Quantiles {
    /// The median.
    pub p50_ms: u64,
    /// The 95th percentile.
    pub p95_ms: u64,
    /// The largest.
    pub max_ms: u64,
}

impl Quantiles {
    /// The quantiles of some durations in ms (`None` if empty).
    pub fn of(mut values: Vec<u64>) -> Option<Quantiles> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Some(Quantiles {
            p50_ms: at(0.5),
            p95_ms: at(0.95),
            max_ms: at(1.0),
        })
    }
}

/// Reads queue counts, workers, and recent rates and latencies from the
/// engine. Costs a few round trips per queue.
pub async fn snapshot(ork: &Ork) -> Result<Snapshot> {
    let now_ms = ork.backend().now_ms().await?;
    let counts = ork.counts().await?;
    let workers = ork.workers().await?;
    let mut queues = Vec::with_capacity(counts.len());
    for c in counts {
        let ok = newest(ork, &c.queue, JobState::Succeeded, c.succeeded).await?;
        let dead = newest(ork, &c.queue, JobState::Dead, c.dead).await?;
        queues.push(QueueStats {
            recent: recent(&ok, &dead, now_ms),
            counts: c,
        });
    }
    Ok(Snapshot {
        now_ms,
        queues,
        workers,
    })
}

async fn newest(ork: &Ork, queue: &str, state: JobState, count: u64) -> Result<Vec<JobInfo>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let offset = (count as usize).saturating_sub(SAMPLE);
    ork.list(&JobQuery::state(state).queue(queue).page(offset, SAMPLE))
        .await
}

/// Rates and latencies from samples of the newest succeeded and dead jobs.
pub fn recent(succeeded: &[JobInfo], dead: &[JobInfo], now_ms: u64) -> Recent {
    let window = WINDOW.as_millis() as u64;
    let since = now_ms.saturating_sub(window);
    let in_window = |j: &&JobInfo| j.finished_at_ms.is_some_and(|t| t >= since);
    let ok: Vec<&JobInfo> = succeeded.iter().filter(in_window).collect();
    let wait = ok
        .iter()
        .filter_map(|j| Some(j.started_at_ms?.saturating_sub(j.enqueued_at_ms)))
        .collect();
    let run = ok
        .iter()
        .filter_map(|j| Some(j.finished_at_ms?.saturating_sub(j.started_at_ms?)))
        .collect();
    Recent {
        succeeded_per_sec: rate(succeeded, now_ms),
        dead_per_sec: rate(dead, now_ms),
        wait: Quantiles::of(wait),
        run: Quantiles::of(run),
    }
}

fn rate(sample: &[JobInfo], now_ms: u64) -> f64 {
    let window = WINDOW.as_millis() as u64;
    let times: Vec<u64> = sample.iter().filter_map(|j| j.finished_at_ms).collect();
    let recent: Vec<u64> = times
        .iter()
        .copied()
        .filter(|t| *t >= now_ms.saturating_sub(window))
        .collect();
    if sample.len() >= SAMPLE && recent.len() == times.len() && recent.len() > 1 {
        // Every sampled job is recent: there may be more in the window than
        // the sample holds, so measure over the sample's own span.
        let oldest = recent.iter().copied().min().unwrap_or(now_ms);
        let span = now_ms.saturating_sub(oldest).max(1);
        return recent.len() as f64 * 1000.0 / span as f64;
    }
    recent.len() as f64 * 1000.0 / window as f64
}

impl Snapshot {
    /// The snapshot in Prometheus text format (see the [module docs](self)).
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "ork_queue_jobs",
            "gauge",
            "Jobs in a queue by state.",
        );
        for q in &self.queues {
            for state in JobState::ALL {
                let labels = [
                    ("queue", q.counts.queue.as_str()),
                    ("state", state.as_str()),
                ];
                sample(
                    &mut out,
                    "ork_queue_jobs",
                    &labels,
                    q.counts.get(state) as f64,
                );
            }
        }
        header(
            &mut out,
            "ork_queue_finished_per_second",
            "gauge",
            "Jobs finished per second over the last 60 s, estimated from the newest finished jobs.",
        );
        for q in &self.queues {
            let name = q.counts.queue.as_str();
            let r = &q.recent;
            for (outcome, v) in [("succeeded", r.succeeded_per_sec), ("dead", r.dead_per_sec)] {
                let labels = [("queue", name), ("outcome", outcome)];
                sample(&mut out, "ork_queue_finished_per_second", &labels, v);
            }
        }
        self.quantiles(
            &mut out,
            "ork_queue_wait_seconds",
            "Enqueue to start of the last attempt, of jobs that succeeded in the last 60 s.",
            |r| r.wait,
        );
        self.quantiles(
            &mut out,
            "ork_queue_run_seconds",
            "Run time of the last attempt, of jobs that succeeded in the last 60 s.",
            |r| r.run,
        );
        header(&mut out, "ork_workers", "gauge", "Live workers.");
        sample(&mut out, "ork_workers", &[], self.workers.len() as f64);
        self.per_worker(
            &mut out,
            "ork_worker_running",
            "gauge",
            "Jobs a worker runs now.",
            |w| w.running as f64,
        );
        self.per_worker(
            &mut out,
            "ork_worker_concurrency",
            "gauge",
            "A worker's concurrency.",
            |w| w.concurrency as f64,
        );
        self.per_worker(
            &mut out,
            "ork_worker_processed_total",
            "counter",
            "Attempts a worker finished since it started.",
            |w| w.processed as f64,
        );
        out
    }
}

impl Snapshot {
    fn quantiles(
        &self,
        out: &mut String,
        metric: &str,
        help: &str,
        pick: impl Fn(&Recent) -> Option<Quantiles>,
    ) {
        header(out, metric, "gauge", help);
        for q in &self.queues {
            let Some(qs) = pick(&q.recent) else { continue };
            for (quantile, ms) in [("0.5", qs.p50_ms), ("0.95", qs.p95_ms), ("1", qs.max_ms)] {
                let labels = [("queue", q.counts.queue.as_str()), ("quantile", quantile)];
                sample(out, metric, &labels, ms as f64 / 1000.0);
            }
        }
    }

    fn per_worker(
        &self,
        out: &mut String,
        metric: &str,
        kind: &str,
        help: &str,
        value: impl Fn(&WorkerInfo) -> f64,
    ) {
        header(out, metric, kind, help);
        // Pools that share an id add up: one series per label set.
        let mut by_id = std::collections::BTreeMap::<&str, f64>::new();
        for w in &self.workers {
            *by_id.entry(w.id.as_str()).or_default() += value(w);
        }
        for (id, v) in by_id {
            sample(out, metric, &[("worker", id)], v);
        }
    }
}

/// The engine's metrics ([`snapshot`]) and this process's worker counters,
/// in Prometheus text format: what a `/metrics` endpoint returns.
pub async fn render(ork: &Ork) -> Result<String> {
    let mut out = snapshot(ork).await?.to_prometheus();
    match ork.backend().memory().await {
        Ok(Some(usage)) => memory_gauges(&mut out, &usage),
        Ok(None) => {}
        // The queue metrics still stand; say why these are missing.
        Err(e) => out.push_str(&format!(
            "# ork_redis_memory_used_bytes unavailable: {}\n",
            e.to_string().replace('\n', " ")
        )),
    }
    out.push_str(&local());
    Ok(out)
}

/// The storage server's memory gauges (the limit only when there is one).
fn memory_gauges(out: &mut String, usage: &crate::inspect::MemoryUsage) {
    header(
        out,
        "ork_redis_memory_used_bytes",
        "gauge",
        "Memory the Redis server uses.",
    );
    sample(
        out,
        "ork_redis_memory_used_bytes",
        &[],
        usage.used_bytes as f64,
    );
    if let Some(max) = usage.max_bytes {
        header(
            out,
            "ork_redis_memory_max_bytes",
            "gauge",
            "The Redis server's maxmemory.",
        );
        sample(out, "ork_redis_memory_max_bytes", &[], max as f64);
    }
}

// ---- this process's worker counters ----------------------------------

/// Upper bounds of the run-time histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0,
];

const OUTCOMES: [&str; 6] = [
    "succeeded",
    "retried",
    "dead",
    "cancelled",
    "released",
    "lost",
];

#[derive(Default)]
struct TaskCounters {
    outcomes: [u64; OUTCOMES.len()],
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_secs: f64,
}

/// Counters per (queue, task), for every pool in this process.
/// By queue, then task: looked up by borrowed names, so counting an attempt
/// allocates nothing once its (queue, task) is known.
static LOCAL: Mutex<BTreeMap<String, BTreeMap<String, TaskCounters>>> = Mutex::new(BTreeMap::new());

/// Counts one attempt run by a worker of this process (`None`: lease lost).
pub(crate) fn record_attempt(queue: &str, task: &str, outcome: Option<&Outcome>, took: Duration) {
    let (slot, timed) = match outcome {
        Some(Outcome::Succeeded { .. }) => (0, true),
        Some(Outcome::Retry { .. }) => (1, true),
        Some(Outcome::Dead { .. }) => (2, true),
        Some(Outcome::Cancelled) => (3, false),
        Some(Outcome::Released) => (4, false),
        None => (5, false),
    };
    let mut map = LOCAL.lock().unwrap_or_else(|e| e.into_inner());
    if !map.contains_key(queue) {
        map.insert(queue.to_owned(), BTreeMap::new());
    }
    let tasks = map.get_mut(queue).expect("inserted above");
    if !tasks.contains_key(task) {
        tasks.insert(task.to_owned(), TaskCounters::default());
    }
    let c = tasks.get_mut(task).expect("inserted above");
    c.outcomes[slot] += 1;
    if timed {
        let secs = took.as_secs_f64();
        c.count += 1;
        c.sum_secs += secs;
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            c.buckets[i] += 1;
        }
    }
}

/// Polls of a task that blocked its runtime thread past the pool's
/// blocking threshold, by task.
static BLOCKED: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

/// Attempts stopped because their lease could not be renewed in time.
static LOCAL_EXPIRIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts a task seen blocking its runtime thread.
pub(crate) fn record_blocked(task: &'static str) {
    *BLOCKED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(task)
        .or_default() += 1;
}

/// Counts an attempt stopped at its local lease deadline.
pub(crate) fn record_local_expiry() {
    LOCAL_EXPIRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// How often a task was seen blocking its runtime thread, in this process.
pub fn blocked_count(task: &str) -> u64 {
    BLOCKED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(task)
        .copied()
        .unwrap_or(0)
}

/// This process's worker counters in Prometheus text format (empty when no
/// worker has run an attempt here). [`render`] includes them.
pub fn local() -> String {
    let mut out = String::new();
    let expiries = LOCAL_EXPIRIES.load(std::sync::atomic::Ordering::Relaxed);
    let blocked = BLOCKED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if !blocked.is_empty() {
        header(
            &mut out,
            "ork_task_blocked_total",
            "counter",
            "Times a task kept its runtime thread past the blocking threshold.",
        );
        for (task, n) in &blocked {
            sample(
                &mut out,
                "ork_task_blocked_total",
                &[("task", task)],
                *n as f64,
            );
        }
    }
    if expiries > 0 {
        header(
            &mut out,
            "ork_lease_expired_locally_total",
            "counter",
            "Attempts stopped because their lease could not be renewed before its local deadline.",
        );
        sample(
            &mut out,
            "ork_lease_expired_locally_total",
            &[],
            expiries as f64,
        );
    }
    let map = LOCAL.lock().unwrap_or_else(|e| e.into_inner());
    if map.is_empty() {
        return out;
    }
    header(
        &mut out,
        "ork_attempts_total",
        "counter",
        "Attempts run by this process's workers, by outcome.",
    );
    for (queue, task, c) in map
        .iter()
        .flat_map(|(q, tasks)| tasks.iter().map(move |(t, c)| (q, t, c)))
    {
        for (name, n) in OUTCOMES.iter().zip(c.outcomes) {
            let labels = [("queue", queue.as_str()), ("task", task), ("outcome", name)];
            sample(&mut out, "ork_attempts_total", &labels, n as f64);
        }
    }
    let metric = "ork_attempt_duration_seconds";
    header(
        &mut out,
        metric,
        "histogram",
        "Run time of this process's attempts that succeeded, were retried or died.",
    );
    for (queue, task, c) in map
        .iter()
        .flat_map(|(q, tasks)| tasks.iter().map(move |(t, c)| (q, t, c)))
    {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(c.buckets) {
            cumulative += n;
            let le = bound.to_string();
            let labels = [("queue", queue.as_str()), ("task", task), ("le", &le)];
            sample(
                &mut out,
                &format!("{metric}_bucket"),
                &labels,
                cumulative as f64,
            );
        }
        let base = [("queue", queue.as_str()), ("task", task.as_str())];
        let inf = [base[0], base[1], ("le", "+Inf")];
        sample(&mut out, &format!("{metric}_bucket"), &inf, c.count as f64);
        sample(&mut out, &format!("{metric}_sum"), &base, c.sum_secs);
        sample(&mut out, &format!("{metric}_count"), &base, c.count as f64);
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobRecord;

    fn finished(at: u64, started: u64, enqueued: u64) -> JobInfo {
        let mut j = JobInfo::new(JobRecord::new("t", vec![]), JobState::Succeeded, enqueued);
        j.started_at_ms = Some(started);
        j.finished_at_ms = Some(at);
        j
    }

    #[test]
    fn rates_count_the_window_and_extrapolate_full_samples() {
        let now = 1_000_000;
        // 30 jobs in the last minute, 10 older: 0.5 per second.
        let mut sample: Vec<JobInfo> = (0..30).map(|i| finished(now - i * 1000, 0, 0)).collect();
        sample.extend((0..10).map(|i| finished(now - 120_000 - i, 0, 0)));
        let r = recent(&sample, &[], now);
        assert!((r.succeeded_per_sec - 0.5).abs() < 1e-9);
        // A full sample all within 10 s: 100 jobs over 10 s.
        let full: Vec<JobInfo> = (0..SAMPLE as u64)
            .map(|i| finished(now - i * 100 - 100, 0, 0))
            .collect();
        let r = recent(&[], &full, now);
        assert!((r.dead_per_sec - 10.0).abs() < 0.01, "{}", r.dead_per_sec);
    }

    #[test]
    fn latencies_are_quantiles_of_recent_jobs() {
        let now = 1_000_000;
        let sample: Vec<JobInfo> = (1..=100)
            .map(|i| finished(now - 10, now - 10 - i, now - 10 - i - 5))
            .collect();
        let r = recent(&sample, &[], now);
        let run = r.run.unwrap();
        assert_eq!((run.p50_ms, run.max_ms), (51, 100));
        assert_eq!(r.wait.unwrap().max_ms, 5);
        assert_eq!(recent(&[], &[], now).run, None);
    }

    #[test]
    fn memory_gauges_show_the_limit_only_when_set() {
        let mut out = String::new();
        memory_gauges(
            &mut out,
            &crate::inspect::MemoryUsage::new(1_048_576, Some(4_194_304)),
        );
        assert!(out.contains(
            "# TYPE ork_redis_memory_used_bytes gauge\nork_redis_memory_used_bytes 1048576\n"
        ));
        assert!(out.contains("ork_redis_memory_max_bytes 4194304\n"));
        let mut out = String::new();
        memory_gauges(&mut out, &crate::inspect::MemoryUsage::new(10, None));
        assert!(out.contains("ork_redis_memory_used_bytes 10\n"));
        assert!(!out.contains("ork_redis_memory_max_bytes"));
    }

    #[test]
    fn pools_sharing_an_id_are_one_series() {
        let pool = |instance: &str, running| WorkerInfo {
            id: "api".to_owned(),
            instance: instance.to_owned(),
            host: "h".to_owned(),
            pid: 1,
            queues: vec!["default".to_owned()],
            concurrency: 4,
            started_at_ms: 0,
            last_seen_ms: 0,
            running,
            processed: 0,
        };
        let snap = Snapshot {
            now_ms: 0,
            queues: vec![],
            workers: vec![pool("0000000a", 1), pool("0000000b", 2)],
        };
        let text = snap.to_prometheus();
        assert!(text.contains("ork_workers 2\n"), "{text}");
        let running: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("ork_worker_running{"))
            .collect();
        assert_eq!(running, ["ork_worker_running{worker=\"api\"} 3"]);
        assert!(
            text.contains("ork_worker_concurrency{worker=\"api\"} 8\n"),
            "{text}"
        );
    }

    #[test]
    fn prometheus_text_is_well_formed() {
        let mut counts = QueueCounts::new("ma\"il");
        counts.queued = 3;
        let snap = Snapshot {
            now_ms: 0,
            queues: vec![QueueStats {
                counts,
                recent: Recent::default(),
            }],
            workers: vec![],
        };
        let text = snap.to_prometheus();
        assert!(text.contains("ork_queue_jobs{queue=\"ma\\\"il\",state=\"queued\"} 3\n"));
        assert!(text.contains("# TYPE ork_workers gauge\nork_workers 0\n"));
        record_attempt(
            "q",
            "metrics::test",
            Some(&Outcome::Succeeded { result: vec![] }),
            Duration::from_millis(20),
        );
        let local = local();
        assert!(local.contains(
            "ork_attempts_total{queue=\"q\",task=\"metrics::test\",outcome=\"succeeded\"} 1"
        ));
        assert!(local.contains(
            "ork_attempt_duration_seconds_bucket{queue=\"q\",task=\"metrics::test\",le=\"0.025\"} 1"
        ));
        assert!(local.contains(
            "ork_attempt_duration_seconds_bucket{queue=\"q\",task=\"metrics::test\",le=\"0.01\"} 0"
        ));
    }
}
