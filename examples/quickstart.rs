//! The README quickstart: tasks on the in-process engine, nothing to install.
//!
//! Run with `cargo run --example quickstart`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ork::prelude::*;

/// A plain async function becomes a task.
#[ork::task]
async fn add(x: i64, y: i64) -> ork::Result<i64> {
    Ok(x + y)
}

/// Any serde types in and out.
#[ork::task(queue = "mail", priority = 5)]
async fn welcome(user: String) -> anyhow::Result<String> {
    Ok(format!("Welcome aboard, {user}!"))
}

static CALLS: AtomicU32 = AtomicU32::new(0);

/// Fails twice, then succeeds: retried with a fixed backoff.
#[ork::task(retries = 3, backoff = "fixed:200ms")]
async fn flaky(ctx: Context) -> anyhow::Result<u32> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    if ctx.attempt() < 3 {
        anyhow::bail!("the network blinked (attempt {})", ctx.attempt());
    }
    Ok(ctx.attempt())
}

/// Always fails: after its retries it lands in the dead letters.
#[ork::task(retries = 1, backoff = "fixed:100ms")]
async fn doomed(order: u64) -> Result<(), String> {
    Err(format!("order {order} has no shipping address"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ork = Ork::memory();
    let worker = ork
        .worker()
        .concurrency(8)
        .queues(["default", "mail"])
        .start()?;

    let sum = ork.enqueue(add::call(1, 2)).await?;
    println!("add(1, 2)            = {}", sum.result().await?);

    let hello = ork.enqueue(welcome::call("Ada".into())).await?;
    println!("welcome(\"Ada\")       = {:?}", hello.result().await?);

    let retried = ork.enqueue(flaky::call()).await?;
    println!(
        "flaky()              = succeeded on attempt {}",
        retried.result().await?
    );

    let failed = ork.enqueue(doomed::call(42)).await?;
    match failed.result().await {
        Ok(()) => println!("doomed(42)           = unexpectedly fine"),
        Err(e) => println!("doomed(42)           = {e}"),
    }
    for dead in ork.dead_letters(10).await? {
        println!(
            "  dead letter: {} after {} attempts: {}",
            dead.record.task,
            dead.attempts,
            dead.error.unwrap_or_default()
        );
    }

    let start = Instant::now();
    let later = ork
        .enqueue(add::call(20, 22).delay(Duration::from_millis(500)))
        .await?;
    println!("delayed: {}", later.status().await?);
    println!(
        "delayed add(20, 22)  = {} after {} ms",
        later.result().await?,
        start.elapsed().as_millis()
    );

    worker.shutdown().await;
    Ok(())
}
