//! Worker processes SIGKILLed mid-run on a namespace spread over six
//! shards of a three-primary Redis Cluster.
//!
//! The worker processes are this test binary run again (the test
//! `worker_process` does nothing unless `ORK_FAULT_ROLE` names a role).
//! Every execution of a task body is recorded in a list on a plain
//! redis-server of the test's own, apart from the cluster, so the test can
//! compare what ran with what each kill left in flight.

mod fault_kit;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use fault_kit::process::{run_child, ChildEnv, Fleet};
use fault_kit::{eventually, executions, raw, server, ExecLog, Kills, Rng};
use ork::prelude::*;
use ork::{Codec, JobId, JobState};
use ork_redis::testing::RedisCluster;
use ork_redis::RedisBackend;

/// Records its execution, takes `ms`, returns `2 i`.
#[ork::task(queue = "cluster-kill")]
async fn chore(ctx: Context, i: u64, ms: u64) -> ork::Result<u64> {
    ctx.state::<ExecLog>().record(&ctx).await;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(i * 2)
}

/// The cluster's node URLs, comma-separated.
const NODES_VAR: &str = "ORK_FAULT_CLUSTER";
const SHARDS: usize = 6;
const LEASE: Duration = Duration::from_secs(2);

async fn cluster_backend(nodes: &str, ns: &str) -> RedisBackend {
    let mut urls = nodes.split(',');
    let first = urls.next().expect("a node");
    RedisBackend::builder(first)
        .cluster(urls.map(str::to_owned).collect::<Vec<_>>())
        .namespace(ns)
        .shards(SHARDS)
        .build()
        .await
        .expect("connect to the cluster")
}

/// A worker process (only when run by the test below).
#[test]
fn worker_process() {
    run_child(2, |env: ChildEnv| async move {
        let log = ExecLog::connect(&env.url, &env.ns, &env.name).await;
        let nodes = env.var(NODES_VAR).expect("the cluster's nodes");
        let backend = cluster_backend(&nodes, &env.ns).await;
        let _pool = Ork::with_backend(backend)
            .worker()
            .queues(["cluster-kill"])
            .lease(LEASE)
            .concurrency(8)
            .id(env.name.clone())
            .state(log)
            .start()
            .expect("the pool starts");
        std::future::pending::<()>().await;
    });
}

/// Three worker processes run 1,200 jobs spread over six shards of a
/// three-primary cluster while one of them is SIGKILLed and restarted five
/// times: every job succeeds once with its result, and an attempt runs
/// twice only when a killed process had it in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_on_a_sharded_cluster_lose_nothing() {
    const JOBS: u64 = 1200;
    const KILLS: usize = 5;
    let ns = "ckill";
    let log_server = server().await;
    let cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .expect("start the cluster");
    let nodes = cluster.urls().join(",");
    let ork = Ork::with_backend(cluster_backend(&nodes, ns).await);
    let mut conn = raw(&log_server.url()).await;
    let mut fleet = Fleet::new("worker_process", &log_server.url(), ns);
    fleet.env(NODES_VAR, &nodes);
    for _ in 0..3 {
        fleet.add("chores");
    }
    let handles = ork
        .enqueue_many((0..JOBS).map(|i| chore::call(i, 20 + (i * 37) % 60)))
        .await
        .unwrap();
    let ids: Vec<JobId> = handles.iter().map(|h| h.id().clone()).collect();

    let mut rng = Rng::seeded();
    let mut kills = Kills::default();
    let mut caught = Vec::new();
    for _ in 0..KILLS {
        tokio::time::sleep(rng.millis(300, 700)).await;
        let slot = rng.below(fleet.len() as u64) as usize;
        let name = fleet.kill(slot).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let log = executions(&mut conn, ns).await;
        caught.push(kills.record(&name, &log, ork.backend().as_ref()).await);
        fleet.start(slot);
    }
    let until_done = Instant::now();
    eventually(Duration::from_secs(60), "every job succeeded", || async {
        let counts = ork.counts().await.unwrap();
        counts.iter().map(|c| c.succeeded).sum::<u64>() == JOBS
    })
    .await;
    let tail = until_done.elapsed();

    // None lost: every job succeeded once, with its own result.
    for (chunk_at, chunk) in ids.chunks(500).enumerate() {
        let infos = ork.backend().jobs(chunk).await.unwrap();
        for (k, info) in infos.into_iter().enumerate() {
            let i = chunk_at * 500 + k;
            let info = info.unwrap_or_else(|| panic!("job {i} is gone"));
            assert_eq!(info.state, JobState::Succeeded, "job {i}");
            let result: u64 = Codec::Bincode.decode(&info.result.unwrap()).unwrap();
            assert_eq!(result, 2 * i as u64);
            assert_eq!(info.attempts, 1, "job {i}: a lost lease is not an attempt");
        }
    }
    let log = executions(&mut conn, ns).await;
    let ran: HashSet<&str> = log.iter().map(|e| e.job.as_str()).collect();
    let ours: HashSet<&str> = ids.iter().map(JobId::as_str).collect();
    assert_eq!(ran, ours, "every job ran, and nothing else");
    // The jobs were spread over every primary.
    for url in cluster.urls() {
        let keys: u64 = redis::cmd("DBSIZE")
            .query_async(&mut raw(&url).await)
            .await
            .unwrap();
        assert!(keys > JOBS / 10, "{url} holds {keys} keys");
    }
    kills.self_fenced(fleet.self_fenced());
    let reruns = kills.check_duplicates(&log);
    assert_eq!(kills.count(), KILLS);
    assert!(
        caught.iter().any(|&n| n > 0),
        "the kills caught work in flight: {caught:?}"
    );
    eprintln!(
        "{JOBS} jobs on {SHARDS} shards, {} executions, {reruns} re-runs after kills caught \
         {caught:?} in flight; {tail:?} from the last kill to the end",
        log.len()
    );
}
