//! The quickstart on a Redis server: the same two tasks, with the worker
//! pool and the client sharing the Redis at `ORK_REDIS_URL`. Without it,
//! the program says how to run it and exits.
//!
//! Run with `ORK_REDIS_URL=redis://127.0.0.1:6379 cargo run --example redis`.

use ork::prelude::*;
use ork::RedisBackend;

#[ork::task]
async fn add(x: i64, y: i64) -> ork::Result<i64> {
    Ok(x + y)
}

#[ork::task(queue = "mail", retries = 5, backoff = "exponential", timeout = "30s")]
async fn send_welcome(ctx: Context, user_id: u64) -> anyhow::Result<String> {
    let mailer = ctx.state::<Mailer>(); // your app's state, by type
    ctx.progress(50);
    mailer.send(user_id).await
}

/// Stands in for your app's mail client.
struct Mailer {
    from: String,
}

impl Mailer {
    async fn send(&self, user_id: u64) -> anyhow::Result<String> {
        Ok(format!("{} welcomed user {user_id}", self.from))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Ok(url) = std::env::var("ORK_REDIS_URL") else {
        println!("ORK_REDIS_URL is not set: nothing to connect to. Run it with a Redis server:");
        println!("  ORK_REDIS_URL=redis://127.0.0.1:6379 cargo run --example redis");
        return Ok(());
    };
    // A namespace of its own, so the example's worker never claims the jobs
    // of an app that shares this Redis (`Ork::redis(&url)` uses `ork`).
    let backend = RedisBackend::builder(url.as_str())
        .namespace("ork-example")
        .build()
        .await?;
    let ork = Ork::with_backend(backend);
    let mailer = Mailer {
        from: "hello@example.com".into(),
    };
    let worker = ork
        .worker()
        .concurrency(64)
        .queues(["default", "mail"])
        .state(mailer)
        .start()?;

    let job = ork.enqueue(add::call(1, 2)).await?; // a typed handle
    assert_eq!(job.result().await?, 3);
    println!("add(1, 2) = 3, job {}", job.id());

    let welcome = send_welcome::call(42)
        .delay(100.millis())
        .priority(9)
        .unique("welcome:42");
    let mail = ork.enqueue(welcome).await?;
    println!("{}", mail.result().await?); // hello@example.com welcomed user 42

    worker.shutdown().await; // finish or hand back running jobs
    Ok(())
}
