//! What a task costs Redis: commands (from `INFO commandstats`) and memory
//! (from `INFO memory`). Counts, not timings: they don't depend on the
//! machine's load. Run with `--nocapture` to see the breakdown.

use std::time::Duration;

use ork_core::backend::JobStore;
use ork_core::backend::{ClaimRequest, Finish, Outcome};
use ork_core::job::JobRecord;
use ork_redis::redis;
use ork_redis::testing::RedisServer;
use ork_redis::RedisBackend;

fn noop() -> JobRecord {
    JobRecord::new("app::tasks::noop", vec![0])
}

async fn info(conn: &mut redis::aio::MultiplexedConnection, section: &str) -> String {
    redis::cmd("INFO")
        .arg(section)
        .query_async(conn)
        .await
        .unwrap()
}

/// (total calls, per-command lines) from INFO commandstats.
fn calls(stats: &str) -> (u64, Vec<String>) {
    let mut total = 0;
    let mut lines = Vec::new();
    for l in stats.lines().filter(|l| l.starts_with("cmdstat_")) {
        let n: u64 = l
            .split("calls=")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if l.starts_with("cmdstat_config") || l.starts_with("cmdstat_info") {
            continue;
        }
        total += n;
        lines.push(format!("{}={n}", &l[8..l.find(':').unwrap_or(l.len())]));
    }
    (total, lines)
}

#[tokio::test]
async fn commands_per_task() {
    const N: usize = 1000;
    let server = RedisServer::start();
    let b = RedisBackend::connect(&server.url()).await.unwrap();
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();

    b.enqueue((0..N).map(|_| noop()).collect()).await.unwrap();
    let req = ClaimRequest::new("w", vec!["default".into()], 100, Duration::from_secs(30));
    let mut done = 0;
    while done < N {
        let got = b.claim(&req).await.unwrap();
        assert!(!got.is_empty());
        let batch: Vec<Finish> = got
            .into_iter()
            .map(|c| Finish {
                lease: c.lease,
                outcome: Outcome::Succeeded { result: vec![0] },
            })
            .collect();
        done += batch.len();
        assert!(b.finish(&batch).await.unwrap().into_iter().all(|ok| ok));
    }
    let (total, lines) = calls(&info(&mut conn, "commandstats").await);
    let per_task = total as f64 / N as f64;
    println!("bulk enqueue + claim 100 + finish 100: {per_task:.2} commands/task: {lines:?}");
    assert!(per_task < 8.0, "{per_task} commands per task");
    // Redis 7: enqueue, claim and finish are calls of the functions
    // library (lib.lua made once at load), not EVALSHA scripts.
    assert!(
        !lines.iter().any(|l| l.starts_with("evalsha=")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("fcall=")), "{lines:?}");

    // One by one: a round trip and a script per enqueue.
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    for _ in 0..100 {
        b.enqueue(vec![noop()]).await.unwrap();
    }
    let (total, lines) = calls(&info(&mut conn, "commandstats").await);
    println!(
        "one-by-one enqueue: {:.2} commands/job: {lines:?}",
        total as f64 / 100.0
    );
}

#[tokio::test]
async fn memory_per_queued_job() {
    const N: usize = 20_000;
    let server = RedisServer::start();
    let b = RedisBackend::connect(&server.url()).await.unwrap();
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let used = |s: String| -> i64 {
        s.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    // Warm up the namespace's fixed keys first.
    b.enqueue(vec![noop()]).await.unwrap();
    let before = used(info(&mut conn, "memory").await);
    for chunk in 0..N / 1000 {
        let _ = chunk;
        b.enqueue((0..1000).map(|_| noop()).collect())
            .await
            .unwrap();
    }
    let after = used(info(&mut conn, "memory").await);
    let per_job = (after - before) as f64 / N as f64;
    println!("{per_job:.0} bytes per queued no-op job");
    assert!(per_job < 300.0, "{per_job} bytes per queued job");
}
