//! Refusals a user can meet besides a full Redis (see the root test
//! `redis_full`), each a typed error with the Redis error as its source:
//! a read-only replica, and a server busy running a long script.

use std::time::Duration;

use ork_core::backend::JobStore;
use ork_core::job::JobRecord;
use ork_core::Error;
use ork_redis::redis;
use ork_redis::testing::RedisServer;
use ork_redis::RedisBackend;

async fn start(builder: impl FnOnce() -> RedisServer + Send + 'static) -> RedisServer {
    tokio::task::spawn_blocking(builder).await.unwrap()
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A replica (what a client reaches on an old primary after a failover)
/// refuses enqueues with `Error::ReadOnly`, a transient error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_refuses_writes_with_a_typed_error() {
    let primary = start(RedisServer::start).await;
    let port = primary.port();
    let replica = start(move || {
        RedisServer::builder()
            .arg("--replicaof")
            .arg("127.0.0.1")
            .arg(port.to_string())
            .start()
    })
    .await;
    let b = RedisBackend::builder(replica.url())
        .namespace("ro")
        .build()
        .await
        .unwrap();
    let e = b
        .enqueue(vec![JobRecord::new("t", vec![1])])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ReadOnly { .. }), "{e:?}");
    assert!(e.is_transient());
    assert!(e.to_string().contains("the job was not enqueued"), "{e}");
    let source = std::error::Error::source(&e).expect("the Redis error is the source");
    assert!(source.to_string().contains("read only replica"), "{source}");
}

/// While a script runs past `lua-time-limit` (`busy-reply-threshold`), Redis answers `BUSY`:
/// `Error::Busy`, transient; once the script is killed, enqueues work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_server_refuses_with_a_typed_error() {
    let server = start(|| {
        RedisServer::builder()
            .arg("--lua-time-limit")
            .arg("5")
            .start()
    })
    .await;
    let b = RedisBackend::builder(server.url())
        .namespace("busy")
        .build()
        .await
        .unwrap();
    let mut conn = raw(&server.url()).await;
    let url = server.url();
    let spin = tokio::spawn(async move {
        let mut conn = raw(&url).await;
        let r: redis::RedisResult<()> = redis::cmd("EVAL")
            .arg("while true do end")
            .arg(0)
            .query_async(&mut conn)
            .await;
        r
    });
    // Wait until the spinning script makes Redis answer BUSY.
    let e = loop {
        match b.enqueue(vec![JobRecord::new("t", vec![1])]).await {
            Err(e) => break e,
            Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    };
    assert!(matches!(e, Error::Busy { .. }), "{e:?}");
    assert!(e.is_transient());
    let _: () = redis::cmd("SCRIPT")
        .arg("KILL")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(spin.await.unwrap().is_err(), "the script was killed");
    b.enqueue(vec![JobRecord::new("t", vec![2])]).await.unwrap();
}
