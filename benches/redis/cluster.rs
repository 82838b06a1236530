//! W2 on a local three-primary Redis Cluster, with the namespace in one
//! shard against six (`cargo bench --bench redis -- cluster`).
//!
//! Each turn bulk-enqueues `ORK_BENCH_CLUSTER_TASKS` no-ops (default
//! 100,000) into a fresh namespace and drains them with one tuned pool in
//! this process (concurrency 512, claim batch 256; `ORK_BENCH_CLUSTER_POOLS`
//! pools), counting completions in
//! Redis. Every primary's CPU time (`used_cpu_sys + used_cpu_user` from its
//! own `INFO cpu`) is read before the enqueue and after the drain: µs per
//! task on each primary, and each one's share of the total. One shard and
//! six alternate, `ORK_BENCH_CLUSTER_REPS` turns each (default 3); then the
//! medians, ranges and the ratio of drain rates. `redis-benchmark -t lpush
//! -c 50 -P 1` runs against the primary holding its key, in the same run.
//!
//! The six-shard namespaces are picked so their shards split two per
//! primary (the slot of a shard is fixed by its tag `{ns:i}`; with another
//! namespace the split can be 3/2/1, and the busiest primary then bounds
//! the rate). The namespace is printed with each row.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use ork::prelude::*;
use ork_redis::testing::RedisCluster;
use ork_redis::RedisBackend;

use super::noop;

/// A primary: its address and a plain connection to it.
struct Primary {
    port: u16,
    conn: redis::Connection,
}

impl Primary {
    fn cpu_us(&mut self) -> f64 {
        let text: String = redis::cmd("INFO").arg("cpu").query(&mut self.conn).unwrap();
        let field = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (field("used_cpu_sys:") + field("used_cpu_user:")) * 1e6
    }

    /// Commands run so far (`INFO`, `CONFIG` and `CLUSTER` left out), and
    /// of them the script calls.
    fn commands(&mut self) -> (u64, u64) {
        let text: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut self.conn)
            .unwrap();
        let (mut all, mut scripts) = (0, 0);
        for l in text.lines() {
            let Some((name, rest)) = l.strip_prefix("cmdstat_").and_then(|l| l.split_once(':'))
            else {
                continue;
            };
            if name == "info" || name.starts_with("config") || name.starts_with("cluster") {
                continue;
            }
            let calls: u64 = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls=")?.parse().ok())
                .unwrap_or(0);
            all += calls;
            if name == "fcall" || name == "evalsha" || name == "eval" {
                scripts += calls;
            }
        }
        (all, scripts)
    }
}

/// One turn's figures.
struct Turn {
    shards: usize,
    rate: f64,
    /// µs of CPU per task, per primary (in port order).
    us: Vec<f64>,
    /// Commands per task (inside scripts too), all primaries.
    commands: f64,
    /// Script calls per task, all primaries.
    scripts: f64,
}

impl Turn {
    fn total(&self) -> f64 {
        self.us.iter().sum()
    }

    fn shares(&self) -> Vec<f64> {
        let t = self.total().max(1e-9);
        self.us.iter().map(|u| u / t).collect()
    }
}

fn list(v: &[f64], digits: usize) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.digits$}")).collect();
    format!("[{}]", items.join(","))
}

/// (first, last, port) of each slot range.
fn slot_ranges(conn: &mut redis::Connection) -> Vec<(u16, u16, u16)> {
    let reply: Vec<redis::Value> = redis::cmd("CLUSTER").arg("SLOTS").query(conn).unwrap();
    reply
        .into_iter()
        .filter_map(|range| {
            let redis::Value::Array(parts) = range else {
                return None;
            };
            let first: u16 = redis::from_redis_value(parts.first()?.clone()).ok()?;
            let last: u16 = redis::from_redis_value(parts.get(1)?.clone()).ok()?;
            let redis::Value::Array(node) = parts.get(2)? else {
                return None;
            };
            let port: u16 = redis::from_redis_value(node.get(1)?.clone()).ok()?;
            Some((first, last, port))
        })
        .collect()
}

fn owner(ranges: &[(u16, u16, u16)], conn: &mut redis::Connection, key: &str) -> u16 {
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query(conn)
        .unwrap();
    ranges
        .iter()
        .find(|(a, b, _)| (*a..=*b).contains(&slot))
        .map(|r| r.2)
        .unwrap()
}

/// Shards per primary (in port order) of namespace `ns` with `shards`.
fn spread(
    ranges: &[(u16, u16, u16)],
    conn: &mut redis::Connection,
    ports: &[u16],
    ns: &str,
    shards: usize,
) -> Vec<usize> {
    let mut per: HashMap<u16, usize> = HashMap::new();
    for i in 0..shards {
        let tag = if i == 0 {
            ns.to_owned()
        } else {
            format!("{ns}:{i}")
        };
        *per.entry(owner(ranges, conn, &format!("{{{tag}}}:queues")))
            .or_default() += 1;
    }
    ports
        .iter()
        .map(|p| per.get(p).copied().unwrap_or(0))
        .collect()
}

async fn turn(
    urls: &[String],
    primaries: &mut [Primary],
    ns: &str,
    shards: usize,
    n: usize,
) -> Turn {
    let backend = RedisBackend::builder(urls[0].as_str())
        .cluster(urls[1..].to_vec())
        .namespace(ns)
        .shards(shards)
        .build()
        .await
        .expect("connect to the cluster");
    let ork = Ork::with_backend(backend);
    let before: Vec<f64> = primaries.iter_mut().map(Primary::cpu_us).collect();
    let cmds_before: Vec<(u64, u64)> = primaries.iter_mut().map(Primary::commands).collect();
    for _ in 0..n / 1000 {
        ork.enqueue_many((0..1000).map(|_| noop::call().queue("cw2")))
            .await
            .unwrap();
    }
    let workers: Vec<_> = (0..pools())
        .map(|_| {
            ork.worker()
                .queues(["cw2"])
                .scheduler(false)
                .concurrency(512)
                .claim_batch(256)
                .start()
                .unwrap()
        })
        .collect();
    let t = Instant::now();
    loop {
        let done: u64 = ork
            .counts()
            .await
            .unwrap()
            .iter()
            .map(|c| c.succeeded)
            .sum();
        if done >= n as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seconds = t.elapsed().as_secs_f64();
    for worker in workers {
        worker.shutdown().await;
    }
    let after: Vec<f64> = primaries.iter_mut().map(Primary::cpu_us).collect();
    let cmds_after: Vec<(u64, u64)> = primaries.iter_mut().map(Primary::commands).collect();
    let delta = |f: fn(&(u64, u64)) -> u64| -> f64 {
        let d: u64 = cmds_before
            .iter()
            .zip(&cmds_after)
            .map(|(b, a)| f(a) - f(b))
            .sum();
        d as f64 / n as f64
    };
    let us = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (a - b) / n as f64)
        .collect();
    Turn {
        shards,
        rate: n as f64 / seconds,
        us,
        commands: delta(|c| c.0),
        scripts: delta(|c| c.1),
    }
}

/// Worker pools in this process (`ORK_BENCH_CLUSTER_POOLS`, default 1).
fn pools() -> usize {
    std::env::var("ORK_BENCH_CLUSTER_POOLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Median, least and most.
fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

pub(crate) async fn run() {
    let n: usize = std::env::var("ORK_BENCH_CLUSTER_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let reps: usize = std::env::var("ORK_BENCH_CLUSTER_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .expect("start the cluster");
    let urls = cluster.urls();
    let mut primaries: Vec<Primary> = cluster
        .nodes()
        .iter()
        .map(|node| Primary {
            port: node.port(),
            conn: redis::Client::open(node.url())
                .unwrap()
                .get_connection()
                .unwrap(),
        })
        .collect();
    primaries.sort_by_key(|p| p.port);
    let ports: Vec<u16> = primaries.iter().map(|p| p.port).collect();
    let ranges = slot_ranges(&mut primaries[0].conn);

    // The reference, against the primary that holds redis-benchmark's key.
    let home = owner(&ranges, &mut primaries[0].conn, "mylist");
    let out = Command::new("redis-benchmark")
        .args(["-q", "-t", "lpush", "-n", "200000", "-c", "50", "-P", "1"])
        .args(["-p", &home.to_string()])
        .output();
    let reference = out
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .and_then(|text| {
            text.rsplit("LPUSH:")
                .next()?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(0.0);
    println!(
        "{{\"workload\":\"cluster_reference_lpush_c50_P1\",\"n\":200000,\"seconds\":{:.4},\"rate_per_s\":{reference:.0},\"p50_ms\":null,\"p99_ms\":null,\"max_ms\":null,\"config\":\"redis-benchmark -q -t lpush -n 200000 -c 50 -P 1 against one primary of the cluster\"}}",
        200000.0 / reference.max(1.0)
    );

    // Namespaces whose six shards split two per primary.
    let mut even = Vec::new();
    let mut k = 0;
    while even.len() < reps {
        let ns = format!("cl{k}");
        k += 1;
        if spread(&ranges, &mut primaries[0].conn, &ports, &ns, 6) == [2, 2, 2] {
            even.push(ns);
        }
    }
    let mut turns: Vec<Turn> = Vec::new();
    for (rep, six) in even.iter().enumerate() {
        for (shards, ns) in [(1, format!("one{rep}")), (6, six.clone())] {
            let per = spread(&ranges, &mut primaries[0].conn, &ports, &ns, shards);
            let t = turn(&urls, &mut primaries, &ns, shards, n).await;
            println!(
                "{{\"workload\":\"cluster_W2_S{shards}\",\"n\":{n},\"seconds\":{:.4},\"rate_per_s\":{:.0},\"p50_ms\":null,\"p99_ms\":null,\"max_ms\":null,\"redis_cpu_us_per_task_per_primary\":{},\"redis_cpu_us_per_task\":{:.2},\"commands_per_task\":{:.2},\"script_calls_per_task\":{:.3},\"share_per_primary\":{},\"shards_per_primary\":{per:?},\"ratio_to_reference\":{:.2},\"config\":\"3-primary cluster, namespace {ns}, {shards} shard(s); bulk enqueue + drain, {} pool(s), concurrency 512, claim batch 256\"}}",
                n as f64 / t.rate,
                t.rate,
                list(&t.us, 2),
                t.total(),
                t.commands,
                t.scripts,
                list(&t.shares(), 3),
                t.rate / reference.max(1.0),
                pools(),
            );
            turns.push(t);
        }
    }
    let pick = |s: usize| turns.iter().filter(move |t| t.shards == s);
    let summary = |s: usize| {
        let rate = stats(pick(s).map(|t| t.rate).collect());
        let total = stats(pick(s).map(Turn::total).collect());
        let busiest = stats(
            pick(s)
                .map(|t| t.shares().into_iter().fold(0.0, f64::max))
                .collect(),
        );
        let per: Vec<f64> = (0..ports.len())
            .map(|i| stats(pick(s).map(|t| t.us[i]).collect()).0)
            .collect();
        println!(
            "{{\"workload\":\"cluster_W2_S{s}_median\",\"n\":{n},\"reps\":{reps},\"rate_per_s\":{:.0},\"rate_range\":[{:.0},{:.0}],\"redis_cpu_us_per_task\":{:.2},\"us_range\":[{:.2},{:.2}],\"redis_cpu_us_per_task_per_primary\":{},\"busiest_primary_share\":{:.3},\"busiest_share_range\":[{:.3},{:.3}],\"ratio_to_reference\":{:.2},\"config\":\"medians; reference redis-benchmark -t lpush -c 50 -P 1 on one primary = {reference:.0}/s\"}}",
            rate.0, rate.1, rate.2, total.0, total.1, total.2, list(&per, 2),
            busiest.0, busiest.1, busiest.2, rate.0 / reference.max(1.0),
        );
        rate.0
    };
    let one = summary(1);
    let six = summary(6);
    // Per turn, six shards against the one-shard turn just before it.
    let ratios = stats(pick(6).zip(pick(1)).map(|(s, o)| s.rate / o.rate).collect());
    println!(
        "{{\"workload\":\"cluster_scaling_ratio\",\"n\":{n},\"ratio\":{:.2},\"per_turn_range\":[{:.2},{:.2}],\"config\":\"W2 drain rate, 6 shards / 1 shard, medians over {reps} turns on one 3-primary cluster\"}}",
        six / one,
        ratios.1,
        ratios.2,
    );
}
