//! Periodic tasks on Redis: scheduler processes killed and restarted while
//! a schedule runs, local clocks off by ±30 s, missed-tick policies after
//! every scheduler was down, and namespaces that don't mix.
//!
//! The scheduler processes are this test binary run again (the fault
//! kit's [`Fleet`](fault_kit::process::Fleet)): the test `scheduler_process` does
//! nothing unless the fleet started it, in which case it runs a worker
//! pool (and so a scheduler) on the fleet's server.

mod fault_kit;
#[path = "common/ticks.rs"]
mod ticks;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fault_kit::process::{run_child, ChildEnv, Fleet};
use ork::prelude::*;
use ork::schedule::OffsetClock;
use ork::JobQuery;
use ork::Missed;
use ork_redis::testing::{backend, RedisServer};
use ork_redis::RedisBackend;
use ticks::{multiples, ticks};
use tracing_subscriber::filter::LevelFilter;

#[ork::task(queue = "redis-ticks")]
async fn tock() -> ork::Result<()> {
    Ok(())
}

/// How far off (ms) a scheduler process's clock is.
const OFFSET_VAR: &str = "ORK_PERIODIC_OFFSET_MS";

/// A scheduler process (only when the fleet starts this binary as one).
#[test]
fn scheduler_process() {
    run_child(2, |env: ChildEnv| async move {
        let offset: i64 = env
            .var(OFFSET_VAR)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let ork = fault_kit::connect(&env.url, &env.ns).await;
        let _worker = ork
            .worker()
            .task::<tock>()
            .queues(["redis-ticks"])
            .scheduler_clock(Arc::new(OffsetClock::new(offset)))
            .start()
            .unwrap();
        // Killed long before.
        std::future::pending::<()>().await;
    });
}

/// Every "tick fired" and the number of "tick already enqueued" lines in
/// the logs of every scheduler process.
fn logged(fleet: &Fleet) -> (Vec<u64>, usize) {
    let fired = fleet
        .grep("tick fired")
        .iter()
        .map(|line| field(line, "tick=").expect("tick in the line"))
        .collect();
    (fired, fleet.grep("tick already enqueued").len())
}

fn field(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

async fn through(ork: &Ork) -> HashMap<String, u64> {
    ork.schedules()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.through_ms))
        .collect()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_processes_killed_and_restarted_fire_each_tick_once() {
    let server = fault_kit::server().await;
    let ork = fault_kit::connect(&server.url(), "procs").await;
    ork.schedule("tock", Schedule::every(secs(1)), tock::call())
        .await
        .unwrap();
    let t0 = through(&ork).await["tock"];
    // Three schedulers; two of their machines' clocks are 30 s off.
    let mut procs = Fleet::new("scheduler_process", &server.url(), "procs");
    procs.log_level(LevelFilter::DEBUG);
    for offset in ["-30000", "0", "30000"] {
        procs.add_with("scheduler", &[(OFFSET_VAR, offset)]);
    }
    let started = Instant::now();
    let mut kills = 0;
    while started.elapsed() < secs(36) {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let i = kills % 3;
        procs.kill(i);
        tokio::time::sleep(Duration::from_millis(300)).await;
        procs.start(i);
        kills += 1;
    }
    tokio::time::sleep(secs(2)).await;
    procs.kill_all();
    let end = through(&ork).await["tock"];

    let got = ticks(&ork, "tock").await;
    let expected = multiples(t0, end, 1000);
    assert!(expected.len() >= 35, "{} ticks", expected.len());
    // None missed, none extra.
    assert_eq!(got, expected);
    // None fired twice: a process killed between its fire and its log line
    // leaves a tick unlogged, never one logged twice.
    let (mut logged, twice) = logged(&procs);
    assert_eq!(twice, 0, "a tick's job was enqueued a second time");
    let n = logged.len();
    logged.sort_unstable();
    logged.dedup();
    assert_eq!(logged.len(), n, "a tick was fired by two schedulers");
    assert!(logged.iter().all(|t| got.binary_search(t).is_ok()));
    assert!(
        n + kills >= expected.len(),
        "{n} logged of {}",
        expected.len()
    );
    assert!(kills >= 10, "{kills} kills");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_ticks_after_every_scheduler_was_down() {
    let b = backend().await;
    let ork = Ork::with_backend(b.clone());
    let policies = [
        ("skip", Missed::Skip),
        ("once", Missed::FireOnce),
        ("two", Missed::CatchUp(2)),
        ("all", Missed::CatchUp(1000)),
    ];
    for (name, policy) in policies {
        let s = Schedule::every(secs(1))
            .missed(policy)
            .grace(Duration::from_millis(300));
        ork.schedule(name, s, tock::call()).await.unwrap();
    }
    let scheduler = ork.scheduler();
    scheduler.round().await.unwrap();
    let stopped = through(&ork).await;
    let before: HashMap<&str, Vec<u64>> = {
        let mut m = HashMap::new();
        for (name, _) in policies {
            m.insert(name, ticks(&ork, name).await);
        }
        m
    };
    // Nobody runs a scheduler for a while.
    tokio::time::sleep(Duration::from_millis(4600)).await;
    let round = scheduler.round().await.unwrap();
    let now = round.now_ms;
    for (name, policy) in policies {
        let late = multiples(stopped[name], now - 300, 1000);
        assert!(late.len() >= 3, "{late:?}");
        let picked: &[u64] = match policy {
            Missed::Skip => &[],
            Missed::FireOnce => &late[late.len() - 1..],
            Missed::CatchUp(2) => &late[late.len() - 2..],
            _ => &late,
        };
        let mut expected = picked.to_vec();
        expected.extend(multiples(now - 300, now, 1000));
        let fired = round
            .fired
            .iter()
            .find(|f| f.schedule == name)
            .expect("the only scheduler wins");
        assert_eq!(fired.ticks, expected, "policy {policy:?}");
        assert_eq!(fired.through_ms, now);
        let mut all = before[name].clone();
        all.extend(&expected);
        assert_eq!(ticks(&ork, name).await, all, "policy {policy:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_keep_their_schedules_apart() {
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    let connect = |ns: &'static str| {
        let url = server.url();
        async move {
            let b = RedisBackend::builder(url)
                .namespace(ns)
                .build()
                .await
                .unwrap();
            Ork::with_backend(b)
        }
    };
    let (alpha, beta) = (connect("alpha").await, connect("beta").await);
    let every = Schedule::every(secs(1));
    alpha
        .schedule("same", every.clone(), tock::call())
        .await
        .unwrap();
    beta.schedule("same", every.clone(), tock::call().queue("beta-q"))
        .await
        .unwrap();
    beta.schedule("only-beta", every, tock::call().queue("beta-q"))
        .await
        .unwrap();
    // Schedulers only: they serve a queue nothing goes to.
    let pools: Vec<_> = [&alpha, &beta]
        .into_iter()
        .map(|o| o.worker().task::<tock>().queues(["idle"]).start().unwrap())
        .collect();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    for p in pools {
        p.shutdown().await;
    }
    let names = |o: &Ork| {
        let o = o.clone();
        async move {
            o.schedules()
                .await
                .unwrap()
                .into_iter()
                .map(|s| (s.name, s.queue))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        names(&alpha).await,
        [("same".to_owned(), "redis-ticks".to_owned())]
    );
    assert_eq!(
        names(&beta).await,
        [
            ("only-beta".to_owned(), "beta-q".to_owned()),
            ("same".to_owned(), "beta-q".to_owned())
        ]
    );
    let jobs = |o: &Ork| {
        let o = o.clone();
        async move { o.list(&JobQuery::default().page(0, 1000)).await.unwrap() }
    };
    let a_jobs = jobs(&alpha).await;
    assert!(a_jobs.len() >= 2);
    assert!(a_jobs
        .iter()
        .all(|j| j.record.id.as_str().starts_with("same@") && j.record.queue == "redis-ticks"));
    let b_jobs = jobs(&beta).await;
    assert!(b_jobs.iter().all(|j| j.record.queue == "beta-q"));
    assert!(b_jobs
        .iter()
        .any(|j| j.record.id.as_str().starts_with("only-beta@")));
    assert!(!ticks(&beta, "same").await.is_empty());
    // Deleting in one namespace leaves the other alone.
    assert!(alpha.unschedule("same").await.unwrap());
    assert!(alpha.schedules().await.unwrap().is_empty());
    assert_eq!(beta.schedules().await.unwrap().len(), 2);
    assert!(!alpha.pause("only-beta").await.unwrap());
}
