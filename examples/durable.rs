//! A durable order: charge the card once (a step), wait for the shipment
//! event with a timeout (a durable wait: no worker is held), then sleep
//! and send a reminder (a durable sleep). The worker has one slot, and the
//! order gives it back while it waits and sleeps.
//!
//! Run with `cargo run --example durable` (memory engine), or on Redis
//! with `cargo run --example durable -- --redis redis://127.0.0.1:6379`
//! (or `ORK_REDIS_URL` set).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ork::prelude::*;
use serde::{Deserialize, Serialize};

/// The event a warehouse sends when an order leaves.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Shipment {
    carrier: String,
    tracking: String,
}

/// Stands in for a payment provider: counts the charges it takes.
#[derive(Default)]
struct Payments {
    charges: AtomicU32,
}

impl Payments {
    async fn charge(&self, order: u64, cents: u64) -> anyhow::Result<String> {
        let n = self.charges.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(format!("ch_{order}_{n} ({cents} cents)"))
    }
}

#[ork::task]
async fn fulfil(ctx: Context, order: u64, remind_after_ms: u64) -> anyhow::Result<String> {
    let payments = ctx.state::<Arc<Payments>>().clone();
    // Runs once: when the task runs again (after the wait and the sleep
    // below, or a crash), the stored receipt is returned.
    let receipt: String = ctx
        .step("charge", || {
            let payments = payments.clone();
            async move { payments.charge(order, 4200).await }
        })
        .await?;
    // The task stops here until the event arrives (or 5 s pass), and runs
    // again from the top, where this returns the event at once.
    let key = format!("shipped:{order}");
    let Some(shipment) = ctx
        .wait_for::<Shipment>(&key, Duration::from_secs(5))
        .await?
    else {
        return Ok(format!(
            "order {order}: charged {receipt}, not shipped in time"
        ));
    };
    ctx.sleep(Duration::from_millis(remind_after_ms)).await?;
    let reminder = ctx
        .step("remind", || async {
            Ok::<_, ork::Error>(format!(
                "reminder: your parcel {} is with {}",
                shipment.tracking, shipment.carrier
            ))
        })
        .await?;
    Ok(format!("order {order}: charged {receipt}; {reminder}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut url = std::env::var("ORK_REDIS_URL").ok();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--redis" => url = Some(args.next().ok_or_else(|| anyhow::anyhow!("--redis URL"))?),
            other => anyhow::bail!("unknown argument `{other}` (expected `--redis URL`)"),
        }
    }
    let ork = match &url {
        // A namespace of its own, away from any app sharing the Redis.
        Some(url) => Ork::with_backend(
            RedisBackend::builder(url.as_str())
                .namespace("ork-example-durable")
                .build()
                .await?,
        ),
        None => Ork::memory(),
    };
    let payments = Arc::new(Payments::default());
    let worker = ork
        .worker()
        .concurrency(1)
        .state(payments.clone())
        .start()?;

    // Order numbers of this run (signals are kept a day under their key:
    // a rerun on the same Redis must not find this run's events).
    let first = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64
        % 1_000_000_000;
    let order = ork.enqueue(fulfil::call(first, 300)).await?;
    // Parked: no worker holds it while it waits.
    let info = loop {
        let info = order.info().await?;
        if info.parked.is_some() || info.state.is_terminal() {
            break info;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "order {first} is {}, waiting for {}",
        info.state,
        info.parked.as_deref().unwrap_or("nothing")
    );
    // The one slot is free: another order runs meanwhile.
    let other = ork.enqueue(fulfil::call(first + 1, 0)).await?;
    let shipment = Shipment {
        carrier: "ACME".into(),
        tracking: format!("TRK-{first}"),
    };
    let woken = ork.signal(&format!("shipped:{first}"), &shipment).await?;
    println!("shipment event sent, {woken} waiting job woken");
    println!("{}", order.result().await?);
    let second = Shipment {
        carrier: "ACME".into(),
        tracking: format!("TRK-{}", first + 1),
    };
    ork.signal(&format!("shipped:{}", first + 1), &second)
        .await?;
    println!("{}", other.result().await?);
    println!(
        "charges taken: {} (one per order)",
        payments.charges.load(Ordering::SeqCst)
    );
    worker.shutdown().await;
    Ok(())
}
