//! The engine built from an application's `deadpool_redis::Pool`: jobs are
//! enqueued and drained by a worker, the application keeps using its pool,
//! and the engine's connections are replaced after the server restarts.

use std::time::Duration;

use ork_core::backend::BoxFuture;
use ork_core::{Call, Context, Ork, Task, TaskError, TaskOptions};
use ork_redis::testing::RedisServer;
use ork_redis::RedisBackend;

struct Double;

impl Task for Double {
    type Args = (u64,);
    type Output = u64;
    const OPTIONS: TaskOptions = TaskOptions::new("deadpool::double");
    fn run(_ctx: Context, (x,): (u64,)) -> BoxFuture<'static, Result<u64, TaskError>> {
        Box::pin(async move { Ok(x * 2) })
    }
}

fn pool(url: &str, max_size: usize) -> deadpool_redis::Pool {
    let mut config = deadpool_redis::Config::from_url(url);
    config.pool = Some(deadpool_redis::PoolConfig::new(max_size));
    config.create_pool(None).expect("a valid URL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_from_a_deadpool_pool_enqueues_and_drains() {
    let mut server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    // Smaller than what the engine takes: taken connections leave the pool.
    let pool = pool(&server.url(), 2);
    let backend = RedisBackend::from_deadpool(pool.clone())
        .namespace("dp")
        .pool_size(3)
        .build()
        .await
        .unwrap();
    assert_eq!(backend.namespace(), "dp");
    let ork = Ork::with_backend(backend);
    let worker = ork
        .worker()
        .task::<Double>()
        .concurrency(8)
        .lease(Duration::from_secs(3))
        .start()
        .unwrap();
    let jobs = ork
        .enqueue_many((0..100u64).map(|i| Call::new::<Double>((i,))))
        .await
        .unwrap();
    for (i, job) in jobs.iter().enumerate() {
        let doubled = job.result_timeout(Duration::from_secs(20)).await.unwrap();
        assert_eq!(doubled, 2 * i as u64);
    }
    assert_eq!(ork.counts().await.unwrap()[0].succeeded, 100);

    // The application's own use of its pool goes on beside the engine.
    let mut conn = pool.get().await.unwrap();
    let () = redis::cmd("SET")
        .arg("app:key")
        .arg("app")
        .query_async(&mut *conn)
        .await
        .unwrap();
    let value: String = redis::cmd("GET")
        .arg("app:key")
        .query_async(&mut *conn)
        .await
        .unwrap();
    assert_eq!(value, "app");
    drop(conn);
    assert!(pool.status().size <= 2, "{:?}", pool.status());

    // After a restart (the data is gone), the broken connections are
    // replaced by fresh ones from the pool: an enqueue goes through again
    // (after a failure or two while the old sockets are found dead), and
    // the worker runs it.
    let server = tokio::task::spawn_blocking(move || {
        server.restart();
        server
    })
    .await
    .unwrap();
    let mut job = None;
    for _ in 0..50 {
        match ork.enqueue(Call::new::<Double>((21,))).await {
            Ok(j) => {
                job = Some(j);
                break;
            }
            Err(e) => {
                assert!(e.is_transient(), "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let job = job.expect("an enqueue went through after the restart");
    assert_eq!(
        job.result_timeout(Duration::from_secs(20)).await.unwrap(),
        42
    );
    worker.shutdown().await;
    drop(server);
}
