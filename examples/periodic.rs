//! Periodic tasks on the memory engine: a cron task firing every second and
//! an interval task every 200 ms. The worker pool runs the scheduler; the
//! program watches a few ticks of each, then shuts down.
//!
//! Run with `cargo run --example periodic`.

use std::time::Duration;

use ork::prelude::*;
use ork::JobId;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// Where each run reports its task name and job id.
type Ticks = UnboundedSender<(&'static str, JobId)>;

/// Every second, on the second (the first cron field is the seconds).
#[ork::task(name = "periodic.cron", cron = "* * * * * *")]
async fn each_second(ctx: Context) -> ork::Result<()> {
    report(&ctx)
}

/// Every 200 ms, counted from the Unix epoch so every scheduler agrees.
#[ork::task(name = "periodic.every", every = "200ms")]
async fn every_200ms(ctx: Context) -> ork::Result<()> {
    report(&ctx)
}

fn report(ctx: &Context) -> ork::Result<()> {
    // The receiver is gone only once `main` has seen enough.
    let _ = ctx
        .state::<Ticks>()
        .send((ctx.task_name(), ctx.job_id().clone()));
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ork = Ork::memory();
    let (ticks, mut seen) = unbounded_channel();
    let worker = ork.worker().state::<Ticks>(ticks).start()?;

    // A tick's job id is `<schedule>@<tick in Unix ms>`.
    let (mut cron, mut every) = (0, 0);
    let watch = tokio::time::timeout(Duration::from_secs(10), async {
        while cron < 3 || every < 5 {
            let Some((task, id)) = seen.recv().await else {
                break;
            };
            match task {
                "periodic.cron" => cron += 1,
                _ => every += 1,
            }
            println!("{task:<15} job {id}");
        }
    })
    .await;

    worker.shutdown().await;
    if watch.is_err() {
        anyhow::bail!("saw {cron} cron and {every} interval ticks in 10 s");
    }
    println!("saw {cron} cron and {every} interval ticks; stopped");
    Ok(())
}
