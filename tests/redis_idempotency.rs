//! A producer whose enqueue reply is lost retries with an idempotency key:
//! one job, one run.
//!
//! The reply is lost for sure, not by chance: the producer talks to Redis
//! through a small TCP relay that, once armed, drops what the server sends
//! back. The relay sees the enqueue's reply arrive (so the job was stored,
//! and with `appendfsync always`, on disk), drops it, and the server is
//! SIGKILLed and restarted from its AOF. The producer's enqueue fails, it
//! retries with the same key, and gets the job it had made.

mod fault_kit;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fault_kit::relay::Relay;
use ork::prelude::*;
use ork_redis::redis::{self, AsyncCommands};
use ork_redis::testing::RedisServer;
use ork_redis::RedisBackend;

/// Charges an order once; counts its runs.
#[ork::task]
async fn charge(ctx: Context, order: u64) -> ork::Result<u64> {
    ctx.state::<Arc<AtomicUsize>>()
        .fetch_add(1, Ordering::SeqCst);
    Ok(order * 100)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_enqueue_whose_reply_was_lost_runs_once() {
    let ns = "idem";
    let mut server = tokio::task::spawn_blocking(|| RedisServer::builder().aof(true).start())
        .await
        .unwrap();
    let relay = Relay::start(server.port()).await;
    let producer = Ork::with_backend(
        RedisBackend::builder(relay.url())
            .namespace(ns)
            .build()
            .await
            .unwrap(),
    );
    let call = || charge::call(7).idempotency_key("order-7");

    // The enqueue lands; its reply is swallowed; the server dies.
    relay.drop_replies.store(true, Ordering::SeqCst);
    let first = tokio::spawn({
        let producer = producer.clone();
        async move { producer.enqueue(call()).await.map(|h| h.id().clone()) }
    });
    tokio::time::timeout(Duration::from_secs(10), relay.dropped.notified())
        .await
        .expect("the server answered the enqueue");
    // The swallowed reply may be another command's (a memory reading, say):
    // wait, on a connection of the test's own, until the job is stored.
    let direct = redis::Client::open(server.url()).unwrap();
    let mut direct = direct.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stored: Vec<String> = direct.keys(format!("{{{ns}}}:job:*")).await.unwrap();
        if !stored.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the enqueue never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::task::block_in_place(|| server.kill());
    let first = tokio::time::timeout(Duration::from_secs(15), first)
        .await
        .expect("the lost reply ends the enqueue")
        .unwrap();
    let err = first.expect_err("the producer never saw the reply");
    assert!(err.is_transient(), "{err}");
    relay.drop_replies.store(false, Ordering::SeqCst);
    tokio::task::block_in_place(|| server.restart());

    // The job survived the restart (AOF, fsync always).
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let stored: Vec<String> = loop {
        // The server answers LOADING while it replays its AOF.
        match raw.keys(format!("{{{ns}}}:job:*")).await {
            Ok(keys) => break keys,
            Err(e)
                if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("read the restarted server: {e}"),
        }
    };
    assert_eq!(stored.len(), 1, "the first enqueue was stored: {stored:?}");

    // The producer retries with the same key until the server answers.
    let started = Instant::now();
    let handle = loop {
        match producer.enqueue(call()).await {
            Ok(h) => break h,
            Err(e) => {
                assert!(e.is_transient(), "{e}");
                assert!(started.elapsed() < Duration::from_secs(15), "retrying: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(
        format!("{{{ns}}}:job:{}", handle.id()),
        stored[0],
        "the retry returned the job the lost enqueue made"
    );

    let runs = Arc::new(AtomicUsize::new(0));
    let worker = Ork::with_backend(
        RedisBackend::builder(server.url())
            .namespace(ns)
            .build()
            .await
            .unwrap(),
    );
    let pool = worker.worker().state(runs.clone()).start().unwrap();
    assert_eq!(handle.result().await.unwrap(), 700);

    // A retry after the job ran still finds it, with its result.
    let late = producer.enqueue(call()).await.unwrap();
    assert_eq!(late.id(), handle.id());
    assert_eq!(late.result().await.unwrap(), 700);
    pool.shutdown().await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one job, one run");
    let all: Vec<String> = raw.keys(format!("{{{ns}}}:job:*")).await.unwrap();
    assert_eq!(all.len(), 1, "one job");
}
