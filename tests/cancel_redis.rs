//! Cancel reaching a workflow's run-time work, on Redis (a redis-server of
//! its own).

mod common;

cancel_checks!(async { ork::Ork::with_backend(ork_redis::testing::backend().await) });

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cancel::{watch, Watch};
use ork::prelude::*;
use ork_redis::redis;
use ork_redis::testing::RedisServer;
use ork_redis::RedisBackend;

/// Subscribers to the namespace's cancel channel, as the server counts them.
async fn subscribers(url: &str, ns: &str) -> Option<i64> {
    let client = redis::Client::open(url).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let reply: Vec<redis::Value> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(format!("{{{ns}}}:cancels"))
        .query_async(&mut conn)
        .await
        .ok()?;
    match reply.get(1) {
        Some(redis::Value::Int(n)) => Some(*n),
        _ => None,
    }
}

/// After a Redis restart the pool subscribes again by itself: a cancel is
/// still pushed, not left to the next heartbeat (10 s away here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_cancels_survive_a_redis_restart() {
    let ns = "push";
    let mut server = tokio::task::spawn_blocking(|| RedisServer::builder().aof(true).start())
        .await
        .unwrap();
    let url = server.url();
    let ork = Ork::with_backend(
        RedisBackend::builder(&url)
            .namespace(ns)
            .build()
            .await
            .unwrap(),
    );
    let w = Arc::new(Watch::default());
    let pool = ork
        .worker()
        .lease(Duration::from_secs(30))
        .state(w.clone())
        .start()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while subscribers(&url, ns).await != Some(1) {
        assert!(Instant::now() < deadline, "the pool subscribes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    tokio::task::block_in_place(|| server.kill());
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::task::block_in_place(|| server.restart());
    let deadline = Instant::now() + Duration::from_secs(15);
    while subscribers(&url, ns).await != Some(1) {
        assert!(Instant::now() < deadline, "the pool subscribes again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let job = loop {
        match ork.enqueue(watch::call(1)).await {
            Ok(job) => break job,
            Err(e) => {
                assert!(e.is_transient(), "{e}");
                assert!(Instant::now() < deadline, "enqueue after the restart: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    while w.running.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the job starts");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let asked = Instant::now();
    job.cancel().await.unwrap();
    let limit = asked + Duration::from_secs(5);
    while w.cancelled.lock().unwrap().is_empty() {
        assert!(Instant::now() < limit, "the running job sees the cancel");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seen = w.cancelled.lock().unwrap()[0].1.duration_since(asked);
    println!("after a restart, the running job saw the cancel {seen:?} after cancel() was called");
    assert!(
        seen < Duration::from_secs(1),
        "pushed, within 1 s: {seen:?}"
    );
    assert!(matches!(job.result().await, Err(ork::Error::Cancelled(_))));
    pool.shutdown().await;
}
