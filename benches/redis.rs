//! BENCH.md's end-to-end workloads on Redis, next to `redis-benchmark` on the
//! same server in the same run. Prints one JSON line per figure.
//!
//! `cargo bench --bench redis` (all workloads), or name some:
//! `cargo bench --bench redis -- w2 w4` (`flow`: W2 under running caps). `ORK_BENCH_W5_JOBS` sets the W5
//! backlog (default 1,000,000), `ORK_BENCH_W2_JOBS` the W2 one (default
//! 20,000, for profiling). With `ORK_BENCH_STATS=1`, each workload
//! also prints the server's `INFO commandstats` per task (to stderr).
//!
//! `cargo bench --bench redis -- cost`: Redis CPU and commands per task with
//! the defaults (see `redis/cost.rs`), and with `ORK_BENCH_BASELINE` naming
//! another tree's bench binary, the same measured by that binary on this
//! server, in turns, with the ratios (`benches/compare.sh` builds b08fb0f's).
//!
//! `cargo bench --bench redis -- cluster`: W2 on a local three-primary
//! Redis Cluster with one shard against six (see `redis/cluster.rs`).

#![allow(missing_docs)]

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ork::prelude::*;
use ork::workflow::Workflow;
use ork_redis::testing::RedisServer;
use ork_redis::RedisBackend;

#[ork::task(result_ttl = "10m")]
async fn noop() -> ork::Result<u8> {
    Ok(1)
}

/// A no-op under a fleet-wide running cap no pool reaches.
#[ork::task(result_ttl = "10m", max_running = 1000000)]
async fn noop_capped() -> ork::Result<u8> {
    Ok(1)
}

#[ork::task]
async fn gather(xs: Vec<u8>) -> ork::Result<usize> {
    Ok(xs.len())
}

#[ork::task]
async fn step(x: u8) -> ork::Result<u8> {
    Ok(x)
}

/// Records how long after its enqueue it started.
#[ork::task]
async fn stamp(ctx: Context, enqueued_us: u64) -> ork::Result<()> {
    let lag = now_us().saturating_sub(enqueued_us);
    ctx.state::<Arc<Mutex<Vec<u64>>>>()
        .lock()
        .unwrap()
        .push(lag);
    Ok(())
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[path = "redis/cost.rs"]
mod cost;

#[path = "redis/cluster.rs"]
mod cluster;

struct Bench {
    server: RedisServer,
    redis: redis::Client,
    ns: u32,
    /// `redis-benchmark -t lpush -c 50 -P 1`'s rate in this run.
    reference_rate: f64,
}

fn line(workload: &str, n: usize, seconds: f64, lat: Option<&[u64]>, config: &str) {
    let (p50, p99, max) = match lat {
        Some(l) if !l.is_empty() => {
            let mut l = l.to_vec();
            l.sort_unstable();
            let at = |q: f64| l[((l.len() as f64 * q) as usize).min(l.len() - 1)] as f64 / 1000.0;
            (
                format!("{:.3}", at(0.50)),
                format!("{:.3}", at(0.99)),
                format!("{:.3}", *l.last().unwrap() as f64 / 1000.0),
            )
        }
        _ => ("null".into(), "null".into(), "null".into()),
    };
    println!(
        "{{\"workload\":\"{workload}\",\"n\":{n},\"seconds\":{seconds:.4},\"rate_per_s\":{:.0},\"p50_ms\":{p50},\"p99_ms\":{p99},\"max_ms\":{max},\"config\":\"{config}\"}}",
        n as f64 / seconds
    );
}

impl Bench {
    async fn ork(&mut self) -> Ork {
        self.ns += 1;
        let backend = RedisBackend::builder(self.server.url())
            .namespace(format!("bench{}", self.ns))
            .build()
            .await
            .expect("connect");
        Ork::with_backend(backend)
    }

    fn reference(&mut self) {
        for (label, args) in [
            (
                "reference_lpush_c50_P1",
                vec!["-n", "200000", "-c", "50", "-P", "1"],
            ),
            (
                "reference_lpush_c50_P16",
                vec!["-n", "1000000", "-c", "50", "-P", "16"],
            ),
            (
                "reference_lpush_c1_P1",
                vec!["-n", "20000", "-c", "1", "-P", "1"],
            ),
        ] {
            let port = self.server.port().to_string();
            let out = Command::new("redis-benchmark")
                .args(["-q", "-t", "lpush", "-p", &port])
                .args(&args)
                .output();
            let text = match out {
                Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
                Err(e) => {
                    eprintln!("redis-benchmark could not run: {e}");
                    return;
                }
            };
            // "LPUSH: 98765.43 requests per second, p50=..."
            let rate = text
                .rsplit("LPUSH:")
                .next()
                .and_then(|t| t.split_whitespace().next())
                .and_then(|r| r.parse::<f64>().ok())
                .unwrap_or(0.0);
            let n: usize = args[1].parse().unwrap();
            if label == "reference_lpush_c50_P1" {
                self.reference_rate = rate;
            }
            println!(
                "{{\"workload\":\"{label}\",\"n\":{n},\"seconds\":{:.4},\"rate_per_s\":{rate:.0},\"p50_ms\":null,\"p99_ms\":null,\"max_ms\":null,\"config\":\"redis-benchmark -q -t lpush {}\"}}",
                n as f64 / rate.max(1.0),
                args.join(" ")
            );
        }
    }

    fn commandstats_reset(&self) {
        let mut c = self.redis.get_connection().unwrap();
        let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
    }

    fn commands_total(&self) -> u64 {
        let mut c = self.redis.get_connection().unwrap();
        cost::server_commands(&mut c)
    }

    /// With `ORK_BENCH_STATS=1`: resets the server's command statistics, so
    /// that [`Bench::stats_print`] shows one workload's.
    fn stats_begin(&self) {
        if std::env::var_os("ORK_BENCH_STATS").is_some() {
            self.commandstats_reset();
        }
    }

    /// With `ORK_BENCH_STATS=1`: prints (to stderr) the commands the server
    /// ran since [`Bench::stats_begin`], per `n` tasks, busiest first.
    fn stats_print(&self, label: &str, n: usize) {
        if std::env::var_os("ORK_BENCH_STATS").is_none() {
            return;
        }
        let mut c = self.redis.get_connection().unwrap();
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut c)
            .unwrap();
        let mut rows: Vec<(String, u64, u64)> = info
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let field = |f: &str| -> Option<u64> {
                    rest.split(',')
                        .find_map(|kv| kv.strip_prefix(f)?.parse().ok())
                };
                Some((name.to_owned(), field("calls=")?, field("usec=")?))
            })
            .filter(|(name, _, _)| name != "info" && name != "config")
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.2));
        let calls: u64 = rows.iter().map(|r| r.1).sum();
        let usec: u64 = rows.iter().map(|r| r.2).sum();
        eprintln!(
            "# {label}: {:.2} commands, {:.1} server us per task",
            calls as f64 / n as f64,
            usec as f64 / n as f64
        );
        for (name, calls, usec) in rows {
            eprintln!(
                "#   {name:<18} {:>8.3}/task {:>8.2} us/task {:>8.2} us/call",
                calls as f64 / n as f64,
                usec as f64 / n as f64,
                usec as f64 / calls.max(1) as f64
            );
        }
    }

    fn used_memory(&self) -> u64 {
        let mut c = self.redis.get_connection().unwrap();
        let info: String = redis::cmd("INFO").arg("memory").query(&mut c).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:")?.trim().parse().ok())
            .unwrap_or(0)
    }
}

async fn wait_succeeded(ork: &Ork, queue: &str, n: u64) {
    loop {
        let done = ork
            .counts()
            .await
            .unwrap()
            .iter()
            .find(|c| c.queue == queue)
            .map_or(0, |c| c.succeeded);
        if done >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn w1(b: &mut Bench) {
    let n = 20_000;
    let ork = b.ork().await;
    b.stats_begin();
    let t = Instant::now();
    for _ in 0..n {
        ork.enqueue(noop::call().queue("w1")).await.unwrap();
    }
    line(
        "W1_enqueue_one_by_one",
        n,
        t.elapsed().as_secs_f64(),
        None,
        "one producer, awaited one round trip per job",
    );
    b.stats_print("W1_enqueue_one_by_one", n);
    let ork = b.ork().await;
    b.stats_begin();
    let t = Instant::now();
    for _ in 0..n / 1000 {
        ork.enqueue_many((0..1000).map(|_| noop::call().queue("w1")))
            .await
            .unwrap();
    }
    line(
        "W1_enqueue_bulk",
        n,
        t.elapsed().as_secs_f64(),
        None,
        "enqueue_many, batches of 1000",
    );
    b.stats_print("W1_enqueue_bulk", n);
}

async fn drain(ork: &Ork, queue: &str, n: usize) -> f64 {
    drain_with(ork, queue, n, true).await
}

/// Drains `n` jobs of `queue` with one pool: tuned (concurrency 512, claim
/// batch 256), or with the defaults of `ork.worker().start()`.
async fn drain_with(ork: &Ork, queue: &str, n: usize, tuned: bool) -> f64 {
    let mut worker = ork.worker().queues([queue]).scheduler(false);
    if tuned {
        worker = worker.concurrency(512).claim_batch(256);
    }
    let worker = worker.start().unwrap();
    let t = Instant::now();
    wait_succeeded(ork, queue, n as u64).await;
    let s = t.elapsed().as_secs_f64();
    worker.shutdown().await;
    s
}

async fn w2(b: &mut Bench) {
    let n: usize = std::env::var("ORK_BENCH_W2_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let ork = b.ork().await;
    for _ in 0..n / 1000 {
        ork.enqueue_many((0..1000).map(|_| noop::call().queue("w2")))
            .await
            .unwrap();
    }
    b.stats_begin();
    let s = drain(&ork, "w2", n).await;
    line(
        "W2_drain",
        n,
        s,
        None,
        "one worker pool in the bench process, concurrency 512, claim batch 256",
    );
    b.stats_print("W2_drain", n);

    // The same drain with the defaults a user gets, next to the tuned one.
    let ork = b.ork().await;
    for _ in 0..n / 1000 {
        ork.enqueue_many((0..1000).map(|_| noop::call().queue("w2d")))
            .await
            .unwrap();
    }
    b.stats_begin();
    let d = drain_with(&ork, "w2d", n, false).await;
    line(
        "W2_drain_defaults",
        n,
        d,
        None,
        "one worker pool in the bench process, ork.worker().start() defaults",
    );
    b.stats_print("W2_drain_defaults", n);
    println!(
        "{{\"workload\":\"W2_defaults_vs_tuned\",\"n\":{n},\"ratio\":{:.2},\"config\":\"W2 rate with defaults / W2 rate tuned, same run\"}}",
        s / d
    );

    // Redis commands per task over a 1,000-task enqueue + drain.
    let ork = b.ork().await;
    b.commandstats_reset();
    ork.enqueue_many((0..1000).map(|_| noop::call().queue("w2c")))
        .await
        .unwrap();
    drain(&ork, "w2c", 1000).await;
    let per_task = b.commands_total() as f64 / 1000.0;
    println!("{{\"workload\":\"redis_commands_per_task\",\"n\":1000,\"commands_per_task\":{per_task:.2},\"config\":\"INFO commandstats over bulk enqueue + drain, includes count polling\"}}");
}

/// W2 under flow control, next to W2 without in the same run: with a
/// running cap above what the pool reaches (`max_running` on the task), and
/// with a concurrency key (limit 1) on every job, 1,000 distinct keys.
/// `cargo bench --bench redis -- flow`.
async fn flow(b: &mut Bench) {
    let n = 20_000;
    let mut rates = [0.0f64; 3];
    // Two rounds, best of each: the machine is shared.
    for round in 0..2 {
        for (i, rate) in rates.iter_mut().enumerate() {
            let ork = b.ork().await;
            let queue = format!("flow{i}-{round}");
            for c in 0..n / 1000 {
                let q = queue.clone();
                match i {
                    0 => {
                        ork.enqueue_many((0..1000).map(|_| noop::call().queue(q.clone())))
                            .await
                    }
                    1 => {
                        ork.enqueue_many((0..1000).map(|_| noop_capped::call().queue(q.clone())))
                            .await
                    }
                    _ => {
                        ork.enqueue_many((0..1000).map(|j| {
                            noop::call()
                                .queue(q.clone())
                                .concurrency_key(format!("k{}", (c * 1000 + j) % 1000))
                        }))
                        .await
                    }
                }
                .unwrap();
            }
            let s = drain(&ork, &queue, n).await;
            *rate = rate.max(n as f64 / s);
        }
    }
    let labels = [
        ("W2_flow_none", "no flow control"),
        (
            "W2_flow_cap_above_reach",
            "max_running = 1,000,000 on the task",
        ),
        (
            "W2_flow_concurrency_key",
            "concurrency key (limit 1) on every job, 1,000 keys",
        ),
    ];
    for ((label, config), rate) in labels.iter().zip(rates) {
        line(
            label,
            n,
            n as f64 / rate,
            None,
            &format!("{config}; best of 2, tuned pool as W2"),
        );
    }
    for ((label, _), rate) in labels.iter().zip(rates).skip(1) {
        println!(
            "{{\"workload\":\"{label}_vs_none\",\"n\":{n},\"ratio\":{:.2},\"ratio_to_reference\":{:.2},\"config\":\"rate / W2_flow_none rate, same run; and / redis-benchmark lpush -P 1\"}}",
            rate / rates[0],
            rate / b.reference_rate
        );
    }
}

async fn w3(b: &mut Bench) {
    let n = 500;
    let ork = b.ork().await;
    let lags = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let worker = ork
        .worker()
        .queues(["w3"])
        .scheduler(false)
        .state(lags.clone())
        .start()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.stats_begin();
    let t = Instant::now();
    let mut calls = Vec::with_capacity(n);
    for _ in 0..n {
        let at = now_us();
        ork.enqueue(stamp::call(at).queue("w3")).await.unwrap();
        calls.push(now_us().saturating_sub(at));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_succeeded(&ork, "w3", n as u64).await;
    let s = t.elapsed().as_secs_f64();
    worker.shutdown().await;
    let lags = lags.lock().unwrap().clone();
    line(
        "W3_latency",
        n,
        s,
        Some(&lags),
        "idle worker, ~100 enqueues/s, enqueue to task start",
    );
    line(
        "W3_enqueue_call",
        n,
        s,
        Some(&calls),
        "the producer's enqueue call alone (part of the latency)",
    );
    b.stats_print("W3_latency", n);
}

async fn workflows(b: &mut Bench) {
    let ork = b.ork().await;
    let worker = ork
        .worker()
        .concurrency(512)
        .claim_batch(256)
        .scheduler(false)
        .start()
        .unwrap();
    // W4: 1,000 parallel no-ops, then one task receiving all 1,000 results.
    let mut flow = Workflow::new("w4");
    let join = flow.chord((0..1000).map(|_| noop::call()), gather::flow);
    b.stats_begin();
    let t = Instant::now();
    let t0 = ork.backend().now_ms().await.unwrap();
    let run = ork.submit(flow).await.unwrap();
    let submitted = t.elapsed().as_secs_f64();
    assert_eq!(run.output(join).await.unwrap(), 1000);
    if std::env::var_os("ORK_BENCH_STATS").is_some() {
        let mem = Ork::memory();
        let mut flow = Workflow::new("w4");
        flow.chord((0..1000).map(|_| noop::call()), gather::flow);
        let t = Instant::now();
        mem.submit(flow).await.unwrap();
        eprintln!(
            "# W4: the same submit on the memory engine: {:.1} ms",
            t.elapsed().as_secs_f64() * 1000.0
        );
        let ids = run.meta().node_ids();
        let evalsha_us = |b: &Bench| -> u64 {
            let mut c = b.redis.get_connection().unwrap();
            let info: String = redis::cmd("INFO")
                .arg("commandstats")
                .query(&mut c)
                .unwrap();
            info.lines()
                .find_map(|l| l.strip_prefix("cmdstat_evalsha:"))
                .and_then(|l| l.split("usec=").nth(1)?.split(',').next()?.parse().ok())
                .unwrap_or(0)
        };
        let before = evalsha_us(b);
        let t = Instant::now();
        let infos = ork.backend().jobs(&ids).await.unwrap();
        eprintln!(
            "# W4: looking up the 1,001 nodes: {:.1} ms, of which {:.1} ms in the scripts",
            t.elapsed().as_secs_f64() * 1000.0,
            (evalsha_us(b) - before) as f64 / 1000.0
        );
        let last_input = infos[..1000]
            .iter()
            .flatten()
            .filter_map(|i| i.finished_at_ms)
            .max()
            .unwrap_or(0);
        let j = infos[1000].as_ref().unwrap();
        eprintln!(
            "# W4: submit {:.1} ms; inputs done +{} ms; join started +{} ms, done +{} ms (server clock, from before submit)",
            submitted * 1000.0,
            last_input.saturating_sub(t0),
            j.started_at_ms.unwrap_or(0).saturating_sub(t0),
            j.finished_at_ms.unwrap_or(0).saturating_sub(t0),
        );
    }
    line(
        "W4_chord_1000",
        1001,
        t.elapsed().as_secs_f64(),
        None,
        "submit to the join done",
    );
    b.stats_print("W4_chord_1000", 1001);

    let mut flow = Workflow::new("chain");
    let mut last = flow.add(step::call(1));
    for _ in 1..1000 {
        last = flow.add(step::flow(last));
    }
    let t = Instant::now();
    let run = ork.submit(flow).await.unwrap();
    run.output(last).await.unwrap();
    line(
        "chain_1000",
        1000,
        t.elapsed().as_secs_f64(),
        None,
        "1,000 nodes, each fed by the one before",
    );

    let mut flow = Workflow::new("fanout");
    let join = flow.chord((0..10_000).map(|_| noop::call()), gather::flow);
    let t = Instant::now();
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(join).await.unwrap(), 10_000);
    line(
        "fanout_10000",
        10_001,
        t.elapsed().as_secs_f64(),
        None,
        "10,000 parallel no-ops then one join",
    );
    worker.shutdown().await;
}

async fn w5(b: &mut Bench) {
    let n: usize = std::env::var("ORK_BENCH_W5_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let ork = b.ork().await;
    let before = b.used_memory();
    for _ in 0..n / 5000 {
        ork.enqueue_many((0..5000).map(|_| noop::call().queue("w5")))
            .await
            .unwrap();
    }
    let after = b.used_memory();
    let per_job = (after.saturating_sub(before)) as f64 / n as f64;
    println!("{{\"workload\":\"W5_memory_per_queued_job\",\"n\":{n},\"bytes_per_job\":{per_job:.1},\"config\":\"INFO memory used_memory delta\"}}");
    b.stats_begin();
    let s = drain(&ork, "w5", 20_000).await;
    b.stats_print("W5_drain_with_backlog", 20_000);
    line(
        "W5_drain_with_backlog",
        20_000,
        s,
        None,
        "first 20,000 of the backlog, same pool as W2",
    );
}

/// Redis CPU and commands per task with the defaults, this tree and (with
/// `ORK_BENCH_BASELINE`) another tree's bench binary on this same server,
/// in turns, `ORK_BENCH_COST_REPS` times (default 3); then the medians,
/// ranges and ratios.
async fn cost_workload(b: &Bench) {
    let n = cost::tasks();
    let reps: usize = std::env::var("ORK_BENCH_COST_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let baseline = std::env::var_os("ORK_BENCH_BASELINE");
    let url = b.server.url();
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for rep in 0..reps {
        let f = cost::measure(&url, &format!("cost{rep}"), n).await;
        println!(
            "{}",
            f.json(
                "cost_defaults",
                n,
                "this tree: bulk enqueue + drain, ork.worker() defaults"
            )
        );
        ours.push(f);
        let Some(bin) = &baseline else { continue };
        let out = Command::new(bin)
            .arg("cost")
            .env("ORK_BENCH_URL", &url)
            .env("ORK_BENCH_NS", format!("base{rep}"))
            .env("ORK_BENCH_COST_TASKS", n.to_string())
            .output()
            .expect("run the baseline bench");
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(f) = text.lines().find_map(cost::Figures::parse) else {
            eprintln!(
                "the baseline printed no figures: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        };
        println!(
            "{}",
            f.json(
                "cost_defaults_baseline",
                n,
                "ORK_BENCH_BASELINE on this server: bulk enqueue + drain, its defaults"
            )
        );
        base.push(f);
    }
    // Median and range of one figure over the repetitions.
    let stats = |fs: &[cost::Figures], get: fn(&cost::Figures) -> f64| -> (f64, f64, f64) {
        let mut v: Vec<f64> = fs.iter().map(get).collect();
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let reference = b.reference_rate.max(1.0);
    let summary = |label: &str, fs: &[cost::Figures]| {
        let us = stats(fs, |f| f.us_per_task);
        let cmds = stats(fs, |f| f.commands_per_task);
        let rate = stats(fs, |f| f.drain_per_s);
        println!(
            "{{\"workload\":\"{label}\",\"n\":{n},\"reps\":{},\"redis_cpu_us_per_task\":{:.2},\"us_range\":[{:.2},{:.2}],\"commands_per_task\":{:.2},\"rate_per_s\":{:.0},\"rate_range\":[{:.0},{:.0}],\"ratio_to_reference\":{:.2},\"ratio_range\":[{:.2},{:.2}],\"config\":\"medians; reference redis-benchmark -t lpush -c 50 -P 1 = {reference:.0}/s\"}}",
            fs.len(), us.0, us.1, us.2, cmds.0, rate.0, rate.1, rate.2,
            rate.0 / reference, rate.1 / reference, rate.2 / reference,
        );
    };
    if ours.is_empty() {
        return;
    }
    summary("cost_defaults_median", &ours);
    if base.is_empty() {
        return;
    }
    summary("cost_defaults_baseline_median", &base);
    // Per turn, this tree against the baseline run right after it.
    let mut ratios: Vec<f64> = ours
        .iter()
        .zip(&base)
        .map(|(o, b)| o.us_per_task / b.us_per_task)
        .collect();
    ratios.sort_by(f64::total_cmp);
    let us = stats(&ours, |f| f.us_per_task).0 / stats(&base, |f| f.us_per_task).0;
    let cmds = stats(&ours, |f| f.commands_per_task).0 / stats(&base, |f| f.commands_per_task).0;
    let rate = stats(&ours, |f| f.drain_per_s).0 / stats(&base, |f| f.drain_per_s).0;
    println!(
        "{{\"workload\":\"cost_ratio_to_baseline\",\"n\":{n},\"redis_cpu_per_task\":{us:.2},\"per_turn_range\":[{:.2},{:.2}],\"commands_per_task\":{cmds:.2},\"drain_rate\":{rate:.2},\"config\":\"this tree / ORK_BENCH_BASELINE, medians over {} turns on one server\"}}",
        ratios[0],
        ratios[ratios.len() - 1],
        ratios.len(),
    );
}

/// Script cost per job, from the server's own `INFO commandstats` (not a
/// BENCH.md workload; run it by name: `cargo bench --bench redis -- scripts`).
/// Each phase runs alone, so the figure is Redis CPU per job, whatever the
/// noise on the machine. `ORK_BENCH_SCRIPT_BACKLOG` jobs are queued first,
/// in the same queue, so claims and finishes run over that backlog.
async fn scripts(b: &mut Bench) {
    use ork::backend::{ClaimRequest, Finish, Outcome};
    let n: usize = std::env::var("ORK_BENCH_SCRIPT_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let backlog: usize = std::env::var("ORK_BENCH_SCRIPT_BACKLOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let ork = b.ork().await;
    let backend = ork.backend().clone();
    let record = |q: &str| noop::call().queue(q).into_record(ork.codec()).unwrap();
    let server_us = |b: &Bench| -> (u64, u64) {
        let mut c = b.redis.get_connection().unwrap();
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut c)
            .unwrap();
        let mut calls = 0;
        let mut usec = 0;
        for l in info.lines() {
            let Some(rest) = l.strip_prefix("cmdstat_") else {
                continue;
            };
            let Some((name, rest)) = rest.split_once(':') else {
                continue;
            };
            if name == "info" || name == "config" || name.starts_with("config|") {
                continue;
            }
            let field = |f: &str| -> u64 {
                rest.split(',')
                    .find_map(|kv| kv.strip_prefix(f)?.parse().ok())
                    .unwrap_or(0)
            };
            if name == "evalsha" || name == "eval" || name == "fcall" {
                usec += field("usec=");
            }
            calls += field("calls=");
        }
        (calls, usec)
    };
    // Per phase, the least server time per job over the repetitions (the
    // machine is shared: the least is the one least disturbed).
    let reps: usize = std::env::var("ORK_BENCH_SCRIPT_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut best: Vec<(&str, usize, f64, f64)> = Vec::new();
    let mut phase = |b: &Bench, label: &'static str, jobs: usize, before: (u64, u64)| {
        let after = server_us(b);
        let us = (after.1 - before.1) as f64 / jobs as f64;
        let cmds = (after.0 - before.0) as f64 / jobs as f64;
        match best.iter_mut().find(|e| e.0 == label) {
            Some(e) => e.2 = e.2.min(us),
            None => best.push((label, jobs, us, cmds)),
        }
    };
    // Round trips of one caller: a plain blocking connection, the
    // multiplexed one redis-rs gives async callers, the smallest script;
    // then each after a 10 ms pause (W3's producer): the wake-up cost.
    let pings = 5000;
    let mut sync = b.redis.get_connection().unwrap();
    let mut mux = b.redis.get_multiplexed_async_connection().await.unwrap();
    let t = Instant::now();
    for _ in 0..pings {
        let _: String = redis::cmd("PING").query(&mut sync).unwrap();
    }
    let blocking = t.elapsed().as_secs_f64();
    line(
        "script_rtt_ping_blocking",
        pings,
        blocking,
        None,
        "PING, one blocking connection",
    );
    let t = Instant::now();
    for _ in 0..pings {
        let _: String = redis::cmd("PING").query_async(&mut mux).await.unwrap();
    }
    let multiplexed = t.elapsed().as_secs_f64();
    line(
        "script_rtt_ping_multiplexed",
        pings,
        multiplexed,
        None,
        "PING, one multiplexed connection",
    );
    let mut manager = b.redis.get_connection_manager().await.unwrap();
    let t = Instant::now();
    for _ in 0..pings {
        let _: String = redis::cmd("PING").query_async(&mut manager).await.unwrap();
    }
    let managed = t.elapsed().as_secs_f64();
    line(
        "script_rtt_ping_manager",
        pings,
        managed,
        None,
        "PING, one ConnectionManager",
    );
    let tiny = redis::Script::new("return 1");
    let t = Instant::now();
    for _ in 0..pings {
        let _: i64 = tiny.invoke_async(&mut mux).await.unwrap();
    }
    let evalsha = t.elapsed().as_secs_f64();
    line(
        "script_rtt_evalsha_multiplexed",
        pings,
        evalsha,
        None,
        "EVALSHA of `return 1`, one multiplexed connection",
    );
    let t = Instant::now();
    for _ in 0..pings {
        backend.now_ms().await.unwrap();
    }
    let script = t.elapsed().as_secs_f64();
    line(
        "script_rtt_now_ms",
        pings,
        script,
        None,
        "JobStore::now_ms, the smallest script",
    );
    let mut idle = (Vec::new(), Vec::new());
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let at = now_us();
        let _: String = redis::cmd("PING").query(&mut sync).unwrap();
        idle.0.push(now_us() - at);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let at = now_us();
        let _: String = redis::cmd("PING").query_async(&mut mux).await.unwrap();
        idle.1.push(now_us() - at);
    }
    line(
        "script_rtt_idle_blocking",
        200,
        4.0,
        Some(&idle.0),
        "PING after 10 ms idle, blocking",
    );
    line(
        "script_rtt_idle_multiplexed",
        200,
        4.0,
        Some(&idle.1),
        "PING after 10 ms idle, multiplexed",
    );
    for _ in 0..backlog / 5000 {
        backend
            .enqueue((0..5000).map(|_| record("s")).collect())
            .await
            .unwrap();
    }
    b.commandstats_reset();
    for _ in 0..reps {
        let t = server_us(b);
        for _ in 0..n / 1000 {
            backend
                .enqueue((0..1000).map(|_| record("s")).collect())
                .await
                .unwrap();
        }
        phase(b, "enqueue_bulk", n, t);
        let t = server_us(b);
        for _ in 0..2000 {
            backend.enqueue(vec![record("s1")]).await.unwrap();
        }
        phase(b, "enqueue_one", 2000, t);
        let t = server_us(b);
        let mut leases = Vec::with_capacity(n);
        while leases.len() < n {
            let req = ClaimRequest::new(
                "w",
                vec!["s".to_owned()],
                256.min(n - leases.len()),
                Duration::from_secs(30),
            );
            let got = backend.claim(&req).await.unwrap();
            if got.is_empty() {
                break;
            }
            leases.extend(got.into_iter().map(|c| c.lease));
        }
        phase(b, "claim_256", leases.len(), t);
        let t = server_us(b);
        for chunk in leases.chunks(256) {
            let batch: Vec<Finish> = chunk
                .iter()
                .map(|l| Finish {
                    lease: l.clone(),
                    outcome: Outcome::Succeeded { result: vec![1] },
                })
                .collect();
            backend.finish(&batch).await.unwrap();
        }
        phase(b, "finish_256", leases.len(), t);
    }
    for (label, jobs, us, cmds) in best {
        println!(
            "{{\"workload\":\"script_{label}\",\"n\":{jobs},\"server_us_per_job\":{us:.2},\"commands_per_job\":{cmds:.2},\"config\":\"evalsha and fcall usec / jobs, least of {reps}; backlog {backlog}\"}}"
        );
    }
}

fn main() {
    if std::env::var_os("ORK_BENCH_URL").is_some() {
        cost::external();
        return;
    }
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.to_lowercase())
        .collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let server = RedisServer::start();
    let redis = redis::Client::open(server.url()).unwrap();
    let mut b = Bench {
        server,
        redis,
        ns: 0,
        reference_rate: 0.0,
    };
    b.reference();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if run("w1") {
            w1(&mut b).await;
        }
        if run("w2") {
            w2(&mut b).await;
        }
        if run("w3") {
            w3(&mut b).await;
        }
        if run("w4") {
            workflows(&mut b).await;
        }
        if run("w5") {
            w5(&mut b).await;
        }
        if run("flow") {
            flow(&mut b).await;
        }
        if wanted.iter().any(|w| w == "scripts") {
            scripts(&mut b).await;
        }
        if wanted.iter().any(|w| w == "cost") {
            cost_workload(&b).await;
        }
        if wanted.iter().any(|w| w == "cluster") {
            cluster::run().await;
        }
    });
}
