//! A chain A → B → C where B, at run time, spawns as many sub-tasks as A's
//! output says, and C receives B's result computed from all of them.
//!
//! Run with `cargo run --example subtasks`.

use ork::prelude::*;
use ork::workflow::Workflow;

/// A: decides how much work there is.
#[ork::task]
async fn plan(batches: u32) -> ork::Result<Vec<u32>> {
    Ok((1..=batches).collect())
}

/// The unit of work B fans out to.
#[ork::task(retries = 3)]
async fn crunch(batch: u32) -> ork::Result<u64> {
    Ok(u64::from(batch) * u64::from(batch))
}

/// B: spawns one sub-task per batch and waits for all of them, durably
/// (children have ids derived from B's, so a re-run of B after a crash finds
/// them instead of spawning them twice; B's worker slot is given back while
/// it waits).
#[ork::task]
async fn fan_out(ctx: Context, batches: Vec<u32>) -> ork::Result<u64> {
    let parts = ctx.map(batches, crunch::call).await?;
    Ok(parts.into_iter().sum())
}

/// C: receives B's result.
#[ork::task]
async fn publish(total: u64) -> ork::Result<String> {
    Ok(format!("sum of squares: {total}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ork = Ork::memory();
    // Two slots are enough: B gives its slot back while its children run.
    let worker = ork.worker().concurrency(2).start()?;

    let mut flow = Workflow::new("plan-crunch-publish");
    let a = flow.add(plan::call(20));
    let b = flow.add(fan_out::flow(a));
    let c = flow.add(publish::flow(b));
    let run = ork.submit(flow).await?;
    println!("{}", run.output(c).await?);

    let b_job = run.node(b).info().await?;
    println!("B ran {} attempt(s); its children:", b_job.attempts);
    let children: Vec<_> = (0..20).map(|i| b_job.record.id.child(i)).collect();
    for info in ork
        .backend()
        .jobs(&children)
        .await?
        .into_iter()
        .flatten()
        .take(3)
    {
        println!("  {} {} {}", info.record.id, info.record.task, info.state);
    }
    println!("  ...");
    worker.shutdown().await;
    Ok(())
}
