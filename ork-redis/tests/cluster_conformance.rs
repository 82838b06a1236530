//! The whole backend conformance suite on a three-primary Redis Cluster.
//!
//! One cluster serves every test of this file (forming one takes seconds),
//! each test in a namespace of its own, so in a slot of its own. The
//! cluster lives in a `static`, which is never dropped: a watchdog process
//! kills its nodes and removes their directories once this test process
//! is gone.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use ork_redis::redis;
use ork_redis::testing::RedisCluster;
use ork_redis::RedisBackend;

fn cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let mut cluster = RedisCluster::start(3);
        let mut pids = Vec::new();
        let mut dirs = Vec::new();
        for node in cluster.nodes() {
            pids.push(node.pid().expect("the node runs").to_string());
            dirs.push(node.dir().display().to_string());
        }
        // $0: this process; then the nodes' pids, then their directories.
        let script = format!(
            "while kill -0 $0 2>/dev/null; do sleep 0.2; done; kill -9 {}; rm -rf {}",
            (1..=pids.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(" "),
            (pids.len() + 1..=pids.len() + dirs.len())
                .map(|i| format!("\"${{{i}}}\""))
                .collect::<Vec<_>>()
                .join(" ")
        );
        // The watchdog outlives this process on purpose: nobody waits for it.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(std::process::id().to_string())
            .args(&pids)
            .args(&dirs)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the cluster's watchdog");
        cluster
    })
}

/// A backend on the shared cluster, in a fresh namespace.
async fn cluster_backend() -> RedisBackend {
    sharded_cluster_backend(1).await
}

/// A backend on the shared cluster, in a fresh namespace of `shards`
/// shards.
async fn sharded_cluster_backend(shards: usize) -> RedisBackend {
    static N: AtomicU64 = AtomicU64::new(0);
    let urls = tokio::task::spawn_blocking(|| cluster().urls())
        .await
        .unwrap();
    RedisBackend::builder(urls[0].as_str())
        .cluster(urls[1..].to_vec())
        .namespace(format!("c{}", N.fetch_add(1, Ordering::Relaxed)))
        .shards(shards)
        .build()
        .await
        .expect("connect to the cluster")
}

ork_core::backend_conformance!(cluster_backend());

/// The suite on six shards spread over the three primaries (ordering holds
/// within a shard only: `order_and_priority`, whose jobs span shards, is
/// left out; `conformance.rs` checks the order within a shard).
mod six_shards {
    ork_core::backend_conformance!(@tests super::sharded_cluster_backend(6);
        round_trip, idempotent_by_id, unique_keys, delayed_jobs,
        blocking_claim_wakes, retry_outcome, fencing, late_ack_after_reap, heartbeat_extends, release, cancel,
        dead_letters, purge_and_counts, workers, deps_release_once, deps_failure, progress,
        retry_with_deps, workflow_storage, join_fires_once_after_input_rerun, retry_runs_at_once, schedule_storage, schedule_fire, schedule_pause,
        audit_trail, cancel_reaches_children, idempotency_keys, step_storage, step_fencing,
        step_lifetime, park_and_wake, signal_log, pause_resume_wakes);
    // The other flow checks compare the order of one claim's jobs, and
    // order across shards is not global: they run on one shard only.
}

/// Without `.shards(n)`, a backend on the cluster spreads its namespace
/// over every primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_shards_cover_every_primary() {
    let urls = tokio::task::spawn_blocking(|| cluster().urls())
        .await
        .unwrap();
    let b = RedisBackend::builder(urls[0].as_str())
        .cluster(urls[1..].to_vec())
        .namespace("spread")
        .build()
        .await
        .unwrap();
    assert!(b.shards() >= 6, "{}", b.shards());
    let client = redis::cluster::ClusterClient::new(urls).unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    let mut owners = std::collections::HashSet::new();
    for i in 0..b.shards() {
        let tag = if i == 0 {
            "spread".to_owned()
        } else {
            format!("spread:{i}")
        };
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(format!("{{{tag}}}:queues"))
            .query_async(&mut conn)
            .await
            .unwrap();
        owners.insert(match slot {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        });
    }
    assert_eq!(owners.len(), 3, "{owners:?}");
}

/// The namespaces the suite's tests get are spread over the cluster's
/// three primaries, so the suite ran on each of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_spread_over_the_primaries() {
    let urls = tokio::task::spawn_blocking(|| cluster().urls())
        .await
        .unwrap();
    let client = redis::cluster::ClusterClient::new(urls).unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    let mut owners = std::collections::HashSet::new();
    for n in 0..20 {
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(format!("{{c{n}}}:queues"))
            .query_async(&mut conn)
            .await
            .unwrap();
        // `redis-cli --cluster create` gives each primary a third.
        owners.insert(match slot {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        });
    }
    assert_eq!(owners.len(), 3, "{owners:?}");
}

/// Memory is read from every primary; the one nearest its limit (here none
/// has a limit) is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_is_read_from_the_primaries() {
    use ork_core::backend::Queries;
    let b = cluster_backend().await;
    let m = b.memory().await.unwrap().expect("a reading");
    assert!(m.used_bytes > 0);
    assert_eq!(m.max_bytes, None);
}
