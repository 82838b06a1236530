//! Redis work per task with the defaults, end to end: a bulk enqueue of
//! `ORK_BENCH_COST_TASKS` no-ops (default 200,000), then one worker pool with
//! `ork.worker().start()`'s settings drains them. Reported: the server's CPU
//! per task (`used_cpu_sys + used_cpu_user` from `INFO cpu`, which counts
//! every thread of the server, as `/proc/<pid>/stat` does, to the µs),
//! commands per task (`INFO commandstats`, a script call and each command it
//! runs counted once) and the drain rate.
//!
//! This file uses only API that commit b08fb0f has too: `benches/compare.sh`
//! copies it into that tree, whose bench then runs [`external`] against this
//! bench's server (`ORK_BENCH_URL`), so both figures come from one run on
//! one server.

use std::time::{Duration, Instant};

use ork::prelude::*;
use ork_redis::RedisBackend;

/// One measurement.
pub(crate) struct Figures {
    pub(crate) us_per_task: f64,
    pub(crate) commands_per_task: f64,
    pub(crate) drain_per_s: f64,
    pub(crate) enqueue_per_s: f64,
}

impl Figures {
    /// The JSON line of a measurement.
    pub(crate) fn json(&self, workload: &str, n: usize, config: &str) -> String {
        format!(
            "{{\"workload\":\"{workload}\",\"n\":{n},\"redis_cpu_us_per_task\":{:.2},\"commands_per_task\":{:.2},\"rate_per_s\":{:.0},\"enqueue_rate_per_s\":{:.0},\"config\":\"{config}\"}}",
            self.us_per_task, self.commands_per_task, self.drain_per_s, self.enqueue_per_s
        )
    }

    /// Reads a line printed by [`Figures::json`].
    pub(crate) fn parse(line: &str) -> Option<Figures> {
        let field = |name: &str| -> Option<f64> {
            let rest = line.split(&format!("\"{name}\":")).nth(1)?;
            rest.split([',', '}']).next()?.trim().parse().ok()
        };
        Some(Figures {
            us_per_task: field("redis_cpu_us_per_task")?,
            commands_per_task: field("commands_per_task")?,
            drain_per_s: field("rate_per_s")?,
            enqueue_per_s: field("enqueue_rate_per_s")?,
        })
    }
}

/// How many tasks a measurement runs.
pub(crate) fn tasks() -> usize {
    std::env::var("ORK_BENCH_COST_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

fn info(c: &mut redis::Connection, section: &str) -> String {
    redis::cmd("INFO").arg(section).query(c).unwrap()
}

/// The server's CPU time so far, in µs.
fn server_cpu_us(c: &mut redis::Connection) -> f64 {
    let text = info(c, "cpu");
    let field = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (field("used_cpu_sys:") + field("used_cpu_user:")) * 1e6
}

/// Commands the server ran so far (`INFO`, `CONFIG` and `FLUSHALL` left
/// out).
pub(super) fn server_commands(c: &mut redis::Connection) -> u64 {
    info(c, "commandstats")
        .lines()
        .filter(|l| {
            l.starts_with("cmdstat_")
                && !l.starts_with("cmdstat_info")
                && !l.starts_with("cmdstat_config")
                && !l.starts_with("cmdstat_flushall")
        })
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Enqueues `n` no-ops in bulk and drains them with the default worker
/// settings, on the server at `url` (emptied first), in namespace `ns`.
pub(crate) async fn measure(url: &str, ns: &str, n: usize) -> Figures {
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
    let backend = RedisBackend::builder(url)
        .namespace(ns)
        .build()
        .await
        .expect("connect");
    let ork = Ork::with_backend(backend);
    let queue = "cost";
    let cpu0 = server_cpu_us(&mut c);
    let cmds0 = server_commands(&mut c);
    let t = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(1000);
        ork.enqueue_many((0..k).map(|_| super::noop::call().queue(queue)))
            .await
            .unwrap();
        left -= k;
    }
    let enqueue_s = t.elapsed().as_secs_f64();
    let worker = ork
        .worker()
        .queues([queue])
        .scheduler(false)
        .start()
        .unwrap();
    let t = Instant::now();
    loop {
        let done = ork
            .counts()
            .await
            .unwrap()
            .iter()
            .find(|c| c.queue == queue)
            .map_or(0, |c| c.succeeded);
        if done >= n as u64 {
            break;
        }
        // Polling costs the server too: rarely enough not to count.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_s = t.elapsed().as_secs_f64();
    let cpu1 = server_cpu_us(&mut c);
    let cmds1 = server_commands(&mut c);
    worker.shutdown().await;
    Figures {
        us_per_task: (cpu1 - cpu0) / n as f64,
        commands_per_task: (cmds1 - cmds0) as f64 / n as f64,
        drain_per_s: n as f64 / drain_s,
        enqueue_per_s: n as f64 / enqueue_s,
    }
}

/// Run by another tree's bench (`ORK_BENCH_URL` set): one measurement on
/// that server, printed as one JSON line.
pub(crate) fn external() {
    let url = std::env::var("ORK_BENCH_URL").unwrap();
    let ns = std::env::var("ORK_BENCH_NS").unwrap_or_else(|_| "cost_external".into());
    let n = tasks();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(measure(&url, &ns, n));
    println!(
        "{}",
        f.json(
            "cost_defaults",
            n,
            "bulk enqueue + drain with the default worker, INFO cpu and commandstats"
        )
    );
}
