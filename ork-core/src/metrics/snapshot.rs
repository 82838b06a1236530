//! The engine's side of the metrics: queue counts, workers and recent
//! rates and latencies read through an [`Ork`] client, and their
//! Prometheus text.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

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
    /// The snapshot in Prometheus text format (see the [module docs](super)).
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

/// The storage server's memory gauges (the limit only when there is one).
/// One gauge per paused queue or task: the jobs it holds back (always
/// written, so that a dashboard sees the metric exists when nothing is
/// paused).
pub(super) fn paused_gauges(out: &mut String, paused: &[crate::backend::Paused]) {
    header(
        out,
        "ork_paused_held",
        "gauge",
        "Ready jobs held back by a paused queue or task.",
    );
    for p in paused {
        let labels = [("kind", p.target.kind()), ("name", p.target.name())];
        sample(out, "ork_paused_held", &labels, p.held as f64);
    }
}

/// Per running cap in use: its running and held jobs.
pub(super) fn cap_gauges(out: &mut String, caps: &[crate::backend::CapUse]) {
    header(
        out,
        "ork_cap_running",
        "gauge",
        "Attempts holding a slot of a running cap.",
    );
    for c in caps {
        sample(
            out,
            "ork_cap_running",
            &[("cap", c.name.as_str())],
            c.running as f64,
        );
    }
    header(
        out,
        "ork_cap_held",
        "gauge",
        "Queued jobs held until a slot of a running cap frees.",
    );
    for c in caps {
        sample(
            out,
            "ork_cap_held",
            &[("cap", c.name.as_str())],
            c.held as f64,
        );
    }
}

pub(super) fn memory_gauges(out: &mut String, usage: &crate::inspect::MemoryUsage) {
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
    }
}
