//! Cancel that reaches a workflow's run-time work, written once and run on
//! every engine: map items, sub-tasks and a replacement workflow.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ork::prelude::*;
use ork::workflow::{Workflow, WorkflowState};
use ork::{JobId, JobState};

/// What the watching tasks saw, shared through the worker state.
#[derive(Default)]
pub struct Watch {
    /// Jobs that started, with when.
    pub started: Mutex<Vec<(JobId, Instant)>>,
    /// Jobs that saw their cancellation, with when.
    pub cancelled: Mutex<Vec<(JobId, Instant)>>,
    /// Watching tasks running now.
    pub running: AtomicUsize,
    /// Runs of the node after the map (must stay 0).
    pub after: AtomicUsize,
}

/// Counts a running task until dropped.
struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs until cancelled, noting when it started and when it saw the cancel.
#[ork::task]
pub async fn watch(ctx: Context, tag: i64) -> ork::Result<i64> {
    let w = ctx.state::<Arc<Watch>>().clone();
    w.running.fetch_add(1, Ordering::SeqCst);
    let _running = Running(&w.running);
    let id = ctx.job_id().clone();
    w.started.lock().unwrap().push((id.clone(), Instant::now()));
    tokio::select! {
        _ = ctx.cancellation().cancelled() => {
            w.cancelled.lock().unwrap().push((id.clone(), Instant::now()));
            Err(ork::Error::Cancelled(id))
        }
        _ = tokio::time::sleep(Duration::from_secs(120)) => Ok(tag),
    }
}

/// A list of `n` numbers.
#[ork::task]
pub async fn numbers(n: i64) -> ork::Result<Vec<i64>> {
    Ok((0..n).collect())
}

/// Runs after the map: never, once cancelled.
#[ork::task]
pub async fn after(ctx: Context, xs: Vec<i64>) -> ork::Result<usize> {
    ctx.state::<Arc<Watch>>()
        .after
        .fetch_add(1, Ordering::SeqCst);
    Ok(xs.len())
}

/// Spawns `n` watching sub-tasks (queue "subs") and waits for them.
#[ork::task]
pub async fn spawner(ctx: Context, n: i64) -> ork::Result<i64> {
    let out = ctx.map(0..n, |i| watch::call(i).queue("subs")).await?;
    Ok(out.into_iter().sum())
}

/// Replaces itself with a workflow of `n` watching nodes (queue "repl").
#[ork::task]
pub async fn replacer(ctx: Context, n: i64) -> ork::Result<i64> {
    let mut flow = Workflow::new("replacement");
    let mut last = None;
    for i in 0..n {
        last = Some(flow.add(watch::call(100 + i).queue("repl")));
    }
    ctx.replace(flow, last.expect("n > 0")).await
}

/// A pool serving `queue` with `concurrency` slots, with a 30 s lease (so a
/// heartbeat only every 10 s: a cancel seen sooner was pushed).
fn pool(ork: &Ork, queue: &str, concurrency: usize, watch: &Arc<Watch>) -> ork::WorkerHandle {
    ork.worker()
        .queues([queue])
        .concurrency(concurrency)
        .lease(Duration::from_secs(30))
        .state(watch.clone())
        .start()
        .expect("worker starts")
}

/// Polls `f` every 10 ms until it holds; panics after `limit`.
async fn until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A workflow with a running map (12 items, 2 running), sub-tasks (4, 2
/// running) and a replacement workflow (3 nodes, 2 running) is cancelled:
/// nothing starts afterwards, every running child sees the cancel within a
/// second (pushed, not at a heartbeat), and the workflow reads `Cancelled`
/// only once nothing of it runs.
pub async fn cancel_reaches_everything(ork: Ork) {
    let w = Arc::new(Watch::default());
    let pools = [
        pool(&ork, "default", 4, &w),
        pool(&ork, "items", 2, &w),
        pool(&ork, "subs", 2, &w),
        pool(&ork, "repl", 2, &w),
    ];
    let mut flow = Workflow::new("cancel-everything");
    let list = flow.add(numbers::call(12));
    let items = flow.map(list, |x| watch::flow(x).queue("items"));
    flow.add(after::flow(items));
    flow.add(spawner::call(4));
    flow.add(replacer::call(3));
    let run = ork.submit(flow).await.unwrap();

    until(Duration::from_secs(20), "6 running children", || {
        w.running.load(Ordering::SeqCst) == 6
    })
    .await;
    // Let claims that were already on their way land.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(w.started.lock().unwrap().len(), 6, "2 per queue run");

    let asked = Instant::now();
    run.cancel().await.unwrap();
    let returned = Instant::now();
    assert!(
        matches!(
            run.state().await.unwrap(),
            WorkflowState::Cancelling | WorkflowState::Cancelled
        ),
        "cancelled or on its way"
    );

    until(
        Duration::from_secs(5),
        "every running child to see it",
        || w.cancelled.lock().unwrap().len() == 6,
    )
    .await;
    let slowest = w
        .cancelled
        .lock()
        .unwrap()
        .iter()
        .map(|(_, at)| at.duration_since(asked))
        .max()
        .unwrap();
    println!("slowest running child saw the cancel {slowest:?} after cancel() was called");
    assert!(
        slowest < Duration::from_secs(1),
        "seen within 1 s: {slowest:?}"
    );

    assert_eq!(run.wait().await.unwrap(), WorkflowState::Cancelled);
    assert_eq!(
        w.running.load(Ordering::SeqCst),
        0,
        "cancelled only once nothing runs"
    );
    let started = w.started.lock().unwrap().clone();
    assert_eq!(started.len(), 6, "nothing started after the cancel");
    assert!(started.iter().all(|(_, at)| *at < returned));
    assert_eq!(w.after.load(Ordering::SeqCst), 0);

    // Every run-time child is listed under its node, and cancelled.
    let kids: Vec<usize> = {
        let mut v = Vec::new();
        for index in 0..run.meta().nodes.len() {
            let children = run.children(index).await.unwrap();
            assert!(
                children.iter().all(|c| c.state == JobState::Cancelled),
                "node {index}: {:?}",
                children.iter().map(|c| c.state).collect::<Vec<_>>()
            );
            v.push(children.len());
        }
        v
    };
    // numbers, map (12 items), after, spawner (4), replacer (3 nodes).
    assert_eq!(kids, vec![0, 12, 0, 4, 3]);
    for p in pools {
        p.shutdown().await;
    }
}

/// Generates the cancel checks as tests for an engine.
#[macro_export]
macro_rules! cancel_checks {
    ($make:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn cancel_reaches_everything() {
            let ork = $make.await;
            common::cancel::cancel_reaches_everything(ork).await;
        }
    };
}
