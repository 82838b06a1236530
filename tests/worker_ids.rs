//! Two worker pools started under one id are two live workers: each run of
//! a pool registers under its own instance, on both engines, and leaves
//! the listing without taking the other with it.

use std::time::{Duration, Instant};

use ork::prelude::*;
use ork::WorkerInfo;
use ork_redis::testing::RedisServer;

/// The listing once it has `n` entries (the pools register on their first
/// heartbeat, right after they start); what it holds after 20 s otherwise.
async fn listed(ork: &Ork, n: usize) -> Vec<WorkerInfo> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let workers = ork.workers().await.unwrap();
        if workers.len() == n || Instant::now() > until {
            return workers;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn two_pools_share_an_id(ork: Ork) {
    let start = || ork.worker().id("shared").concurrency(2).start().unwrap();
    let (first, second) = (start(), start());

    let workers = listed(&ork, 2).await;
    assert_eq!(workers.len(), 2, "{workers:?}");
    assert!(workers.iter().all(|w| w.id == "shared"), "{workers:?}");
    assert_ne!(workers[0].instance, workers[1].instance);
    assert!(workers.iter().all(|w| !w.instance.is_empty()));

    // A pool that stops removes its own entry, not the other's.
    first.shutdown().await;
    let left = listed(&ork, 1).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(workers.iter().any(|w| w.instance == left[0].instance));

    second.shutdown().await;
    assert!(ork.workers().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_with_one_id_are_two_workers_on_memory() {
    two_pools_share_an_id(Ork::memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_with_one_id_are_two_workers_on_redis() {
    let server = RedisServer::start();
    two_pools_share_an_id(Ork::redis(&server.url()).await.unwrap()).await;
}
