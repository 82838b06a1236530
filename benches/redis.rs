//! BENCH.md's end-to-end workloads on Redis, next to `redis-benchmark` on the
//! same server in the same run. Prints one JSON line per figure.
//!
//! `cargo bench --bench redis` (all workloads), or name some:
//! `cargo bench --bench redis -- w2 w4`. `ORK_BENCH_W5_JOBS` sets the W5
//! backlog (default 1,000,000).

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
    ctx.state::<Arc<Mutex<Vec<u64>>>>().lock().unwrap().push(lag);
    Ok(())
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

struct Bench {
    server: RedisServer,
    redis: redis::Client,
    ns: u32,
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

    fn reference(&self) {
        for (label, args) in [
            ("reference_lpush_c50_P1", vec!["-n", "200000", "-c", "50", "-P", "1"]),
            ("reference_lpush_c50_P16", vec!["-n", "1000000", "-c", "50", "-P", "16"]),
            ("reference_lpush_c1_P1", vec!["-n", "20000", "-c", "1", "-P", "1"]),
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
        let info: String = redis::cmd("INFO").arg("commandstats").query(&mut c).unwrap();
        info.lines()
            .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info") && !l.starts_with("cmdstat_config"))
            .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
            .sum()
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
    let t = Instant::now();
    for _ in 0..n {
        ork.enqueue(noop::call().queue("w1")).await.unwrap();
    }
    line("W1_enqueue_one_by_one", n, t.elapsed().as_secs_f64(), None, "one producer, awaited one round trip per job");
    let ork = b.ork().await;
    let t = Instant::now();
    for _ in 0..n / 1000 {
        ork.enqueue_many((0..1000).map(|_| noop::call().queue("w1")))
            .await
            .unwrap();
    }
    line("W1_enqueue_bulk", n, t.elapsed().as_secs_f64(), None, "enqueue_many, batches of 1000");
}

async fn drain(ork: &Ork, queue: &str, n: usize) -> f64 {
    let worker = ork
        .worker()
        .queues([queue])
        .concurrency(512)
        .claim_batch(256)
        .scheduler(false)
        .start()
        .unwrap();
    let t = Instant::now();
    wait_succeeded(ork, queue, n as u64).await;
    let s = t.elapsed().as_secs_f64();
    worker.shutdown().await;
    s
}

async fn w2(b: &mut Bench) {
    let n = 20_000;
    let ork = b.ork().await;
    for _ in 0..n / 1000 {
        ork.enqueue_many((0..1000).map(|_| noop::call().queue("w2")))
            .await
            .unwrap();
    }
    let s = drain(&ork, "w2", n).await;
    line("W2_drain", n, s, None, "one worker pool in the bench process, concurrency 512, claim batch 256");

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
    let t = Instant::now();
    for _ in 0..n {
        ork.enqueue(stamp::call(now_us()).queue("w3")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_succeeded(&ork, "w3", n as u64).await;
    let s = t.elapsed().as_secs_f64();
    worker.shutdown().await;
    let lags = lags.lock().unwrap().clone();
    line("W3_latency", n, s, Some(&lags), "idle worker, ~100 enqueues/s, enqueue to task start");
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
    let t = Instant::now();
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(join).await.unwrap(), 1000);
    line("W4_chord_1000", 1001, t.elapsed().as_secs_f64(), None, "submit to the join done");

    let mut flow = Workflow::new("chain");
    let mut last = flow.add(step::call(1));
    for _ in 1..1000 {
        last = flow.add(step::flow(last));
    }
    let t = Instant::now();
    let run = ork.submit(flow).await.unwrap();
    run.output(last).await.unwrap();
    line("chain_1000", 1000, t.elapsed().as_secs_f64(), None, "1,000 nodes, each fed by the one before");

    let mut flow = Workflow::new("fanout");
    let join = flow.chord((0..10_000).map(|_| noop::call()), gather::flow);
    let t = Instant::now();
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(join).await.unwrap(), 10_000);
    line("fanout_10000", 10_001, t.elapsed().as_secs_f64(), None, "10,000 parallel no-ops then one join");
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
    let s = drain(&ork, "w5", 20_000).await;
    line("W5_drain_with_backlog", 20_000, s, None, "first 20,000 of the backlog, same pool as W2");
}

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.to_lowercase())
        .collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let server = RedisServer::start();
    let redis = redis::Client::open(server.url()).unwrap();
    let mut b = Bench { server, redis, ns: 0 };
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
    });
}
