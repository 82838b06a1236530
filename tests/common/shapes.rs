//! Workflow and sub-task shapes, written once and run on every engine.
//!
//! Each check takes an `Ork` on a fresh engine (or namespace), starts its own
//! worker, and asserts what a user would check: outputs, node states, errors.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ork::prelude::*;
use ork::workflow::{Workflow, WorkflowState};
use ork::{JobState, TaskError};

#[ork::task]
pub async fn double(x: i64) -> ork::Result<i64> {
    Ok(x * 2)
}

#[ork::task]
pub async fn add(x: i64, y: i64) -> ork::Result<i64> {
    Ok(x + y)
}

#[ork::task]
pub async fn sum(xs: Vec<i64>) -> ork::Result<i64> {
    Ok(xs.iter().sum())
}

#[ork::task]
pub async fn range(n: i64) -> ork::Result<Vec<i64>> {
    Ok((0..n).collect())
}

#[ork::task]
pub async fn fail(msg: String) -> Result<i64, String> {
    Err(msg)
}

#[ork::task]
pub async fn describe(r: Result<i64, TaskError>) -> ork::Result<String> {
    Ok(match r {
        Ok(v) => format!("ok {v}"),
        Err(e) => format!("err {e}"),
    })
}

/// Sub-tasks: doubles 0..n in children, returns the sum.
#[ork::task]
pub async fn fan(ctx: Context, n: i64) -> ork::Result<i64> {
    let doubled = ctx.map(0..n, double::call).await?;
    Ok(doubled.into_iter().sum())
}

/// Sub-tasks of sub-tasks: `width^depth` leaves.
#[ork::task]
pub async fn tree(ctx: Context, depth: u32, width: u32) -> ork::Result<u64> {
    if depth == 0 {
        return Ok(1);
    }
    let handles = {
        let mut v = Vec::new();
        for _ in 0..width {
            v.push(ctx.spawn(tree::call(depth - 1, width)).await?);
        }
        v
    };
    Ok(ctx.join(handles).await?.into_iter().sum())
}

/// Replaces itself with a workflow: range(n) → map double → sum.
#[ork::task]
pub async fn expand(ctx: Context, n: i64) -> ork::Result<i64> {
    let mut flow = Workflow::new("expanded");
    let list = flow.add(range::call(n));
    let doubled = flow.map(list, double::flow);
    let total = flow.add(sum::flow(doubled));
    ctx.replace(flow, total).await
}

/// Holds until cancelled; records that it saw the cancellation.
#[ork::task]
pub async fn hold(ctx: Context) -> ork::Result<i64> {
    let seen = ctx.state::<Arc<Seen>>().clone();
    seen.started.store(true, Ordering::SeqCst);
    tokio::select! {
        _ = ctx.cancellation().cancelled() => {
            seen.cancelled.store(true, Ordering::SeqCst);
            Err(ork::Error::Cancelled(ctx.job_id().clone()))
        }
        _ = tokio::time::sleep(Duration::from_secs(60)) => Ok(0),
    }
}

/// Counts its runs.
#[ork::task]
pub async fn counted(ctx: Context, x: i64) -> ork::Result<i64> {
    ctx.state::<Arc<Seen>>().runs.fetch_add(1, Ordering::SeqCst);
    Ok(x)
}

/// Records that it ran, in the order tasks started; returns `x`.
#[ork::task]
pub async fn stamp(ctx: Context, x: i64) -> ork::Result<i64> {
    ctx.state::<Arc<Seen>>().order.lock().unwrap().push(x);
    Ok(x)
}

/// The sum of each list.
#[ork::task]
pub async fn sums(lists: Vec<Vec<i64>>) -> ork::Result<Vec<i64>> {
    Ok(lists.iter().map(|l| l.iter().sum()).collect())
}

/// State the worker was never given.
pub struct Missing;

/// Asks for state the worker was never given.
#[ork::task]
pub async fn needs_missing(ctx: Context) -> ork::Result<i64> {
    ctx.state::<Missing>();
    Ok(0)
}

/// What tasks saw, shared with the test through the worker state.
#[derive(Default)]
pub struct Seen {
    pub started: AtomicBool,
    pub cancelled: AtomicBool,
    pub runs: AtomicUsize,
    /// `stamp`'s arguments, in the order its runs started.
    pub order: Mutex<Vec<i64>>,
}

fn worker(ork: &Ork, seen: &Arc<Seen>) -> ork::WorkerHandle {
    ork.worker()
        .concurrency(4)
        .lease(Duration::from_secs(5))
        .state(seen.clone())
        .start()
        .expect("worker starts")
}

pub async fn chain(ork: Ork) {
    let seen = Arc::new(Seen::default());
    let w = worker(&ork, &seen);
    let mut flow = Workflow::new("chain");
    let a = flow.add(add::call(1, 2));
    let b = flow.add(double::flow(a));
    let c = flow.add(add::flow(b, 10));
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(c).await.unwrap(), 16);
    assert_eq!(run.wait().await.unwrap(), WorkflowState::Succeeded);
    let nodes = run.nodes().await.unwrap();
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|n| n.state() == Some(JobState::Succeeded)));
    assert_eq!(nodes[2].deps, vec![1]);
    // Ordering-only chain sugar.
    let mut flow = Workflow::new("ordered");
    let last = flow
        .chain([counted::call(1), counted::call(2), counted::call(3)])
        .unwrap();
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(last).await.unwrap(), 3);
    assert_eq!(run.nodes().await.unwrap()[2].deps, vec![1]);
    w.shutdown().await;
}

pub async fn group_and_chord(ork: Ork) {
    let seen = Arc::new(Seen::default());
    let w = worker(&ork, &seen);
    let mut flow = Workflow::new("chord");
    let total = flow.chord((1..=10).map(double::call), sum::flow);
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(total).await.unwrap(), 110);
    let mut flow = Workflow::new("group");
    let all = flow.group((1..=3).map(double::call));
    let listed = flow.add(sum::flow(all));
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(listed).await.unwrap(), 12);
    w.shutdown().await;
}

/// Groups as values: chain steps, an input, a dependency, outputs, and
/// chord header members.
pub async fn groups(ork: Ork) {
    let seen = Arc::new(Seen::default());
    let w = worker(&ork, &seen);

    // chain(group, group, task): each step starts once the one before is done.
    let mut flow = Workflow::new("chain-of-groups");
    let first = flow.group((1..=3).map(stamp::call));
    let second = flow.group([stamp::call(10), stamp::call(11)]);
    let last = flow.chain((first, second, stamp::call(100)));
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(last).await.unwrap(), 100);
    assert_eq!(run.output(&first).await.unwrap(), vec![1, 2, 3]);
    assert_eq!(run.output(second).await.unwrap(), vec![10, 11]);
    let mut order = seen.order.lock().unwrap().clone();
    assert_eq!(order.len(), 6);
    order[..3].sort_unstable();
    order[3..5].sort_unstable();
    assert_eq!(order, vec![1, 2, 3, 10, 11, 100], "steps ran in order");
    let nodes = run.nodes().await.unwrap();
    assert_eq!(nodes.len(), 6);
    assert_eq!(nodes[3].deps, vec![0, 1, 2]);
    assert_eq!(nodes[4].deps, vec![0, 1, 2]);
    assert_eq!(nodes[5].deps, vec![3, 4]);

    // A group as an input and as a dependency; an empty group's output.
    let mut flow = Workflow::new("group-input-dependency");
    let doubled = flow.group((1..=4).map(double::call));
    let total = flow.add(sum::flow(doubled));
    let after = flow.add_after(add::call(1, 1), [doubled]);
    let none = flow.group(Vec::<ork::Call<i64>>::new());
    let nothing = flow.add(sum::flow(none));
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(total).await.unwrap(), 20);
    assert_eq!(run.output(doubled).await.unwrap(), vec![2, 4, 6, 8]);
    assert_eq!(run.output(after).await.unwrap(), 2);
    assert_eq!(run.output(none).await.unwrap(), Vec::<i64>::new());
    assert_eq!(run.output(nothing).await.unwrap(), 0);
    let nodes = run.nodes().await.unwrap();
    assert_eq!(nodes.len(), 7);
    assert_eq!(nodes[4].deps, vec![0, 1, 2, 3], "sum reads the members");
    assert_eq!(nodes[5].deps, vec![0, 1, 2, 3], "ordered after the members");

    // Groups as chord header members: one list per group, in header order;
    // a group as the whole header gives its members' outputs.
    let mut flow = Workflow::new("chord-of-groups");
    let small = flow.group((1..=2).map(double::call));
    let large = flow.group((10..=12).map(double::call));
    let per_group = flow.chord([small, large], sums::flow);
    let flat = flow.chord(large, sum::flow);
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(per_group).await.unwrap(), vec![6, 66]);
    assert_eq!(run.output(flat).await.unwrap(), 66);
    let nodes = run.nodes().await.unwrap();
    // Five members, one fan-in per header group, two callbacks.
    assert_eq!(nodes.len(), 9);
    assert_eq!(
        (nodes[5].task.as_str(), &nodes[5].deps),
        ("ork::group", &vec![0, 1])
    );
    assert_eq!(
        (nodes[6].task.as_str(), &nodes[6].deps),
        ("ork::group", &vec![2, 3, 4])
    );
    assert_eq!(nodes[7].deps, vec![5, 6]);
    assert_eq!(nodes[8].deps, vec![2, 3, 4]);
    w.shutdown().await;
}

/// `ctx.state::<T>()` for a type the pool was never given fails the job,
/// naming the type and the types it was given.
pub async fn state_missing(ork: Ork) {
    let seen = Arc::new(Seen::default());
    let w = worker(&ork, &seen);
    let job = ork.enqueue(needs_missing::call()).await.unwrap();
    assert!(job.result().await.is_err());
    let info = job.info().await.unwrap();
    assert_eq!(info.state, JobState::Dead);
    let expected = format!(
        "no state of type `{}` was given to the worker (call `.state(value)` on the worker \
         builder); it was given `{}`",
        std::any::type_name::<Missing>(),
        std::any::type_name::<Arc<Seen>>(),
    );
    let error = info.error.unwrap();
    assert!(error.ends_with(&expected), "{error}");
    w.shutdown().await;
}

pub async fn diamond(ork: Ork) {
    let seen = Arc::new(Seen::default());
    let w = worker(&ork, &seen);
    let mut flow = Workflow::new("diamond");
    let top = flow.add(counted::call(5));
    let left = flow.add(double::flow(top));
    let right = flow.add(add::flow(top, 1));
    let bottom = flow.add(add::flow(left, right));
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(bottom).await.unwrap(), 16);
    assert_eq!(
        seen.runs.load(Ordering::SeqCst),
        1,
        "the shared top ran once"
    );
    w.shutdown().await;
}

pub async fn nested(ork: Ork) {
    let seen = Arc::new(Seen::default());
    let w = worker(&ork, &seen);
    let mut inner = Workflow::new("inner");
    let x = inner.add(add::call(2, 3));
    let y = inner.add(double::flow(x));
    let mut outer = Workflow::new("outer");
    let first = outer.add(add::call(1, 1));
    let sub = outer.add_flow(inner, y);
    let last = outer.add(add::flow(first, sub));
    let run = ork.submit(outer).await.unwrap();
    assert_eq!(run.output(last).await.unwrap(), 12);
    assert_eq!(run.nodes().await.unwrap().len(), 4);
    w.shutdown().await;
}

pub async fn map_runtime_list(ork: Ork) {
    let seen = Arc::new(Seen::default());
    let w = worker(&ork, &seen);
    for n in [5i64, 0] {
        let mut flow = Workflow::new("map");
        let list = flow.add(range::call(n));
        let doubled = flow.map(list, double::flow);
        let total = flow.add(sum::flow(doubled));
        let run = ork.submit(flow).await.unwrap();
        let expected: i64 = (0..n).map(|i| i * 2).sum();
        assert_eq!(
            run.output(doubled).await.unwrap(),
            (0..n).map(|i| i * 2).collect::<Vec<_>>()
        );
        assert_eq!(run.output(total).await.unwrap(), expected);
    }
    // A map whose template also reads another node.
    let mut flow = Workflow::new("map-with-node");
    let offset = flow.add(add::call(100, 0));
    let list = flow.add(range::call(3));
    let shifted = flow.map(list, |i| add::flow(i, offset));
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(shifted).await.unwrap(), vec![100, 101, 102]);
    w.shutdown().await;
}

/// A pool that selects its tasks still runs map nodes (the built-in map
/// task is always served), looking the item task up through the pool.
pub async fn map_on_selected_tasks(ork: Ork) {
    let w = ork
        .worker()
        .task::<range>()
        .task::<double>()
        .task::<sum>()
        .start()
        .unwrap();
    let mut flow = Workflow::new("map-selected");
    let list = flow.add(range::call(4));
    let doubled = flow.map(list, double::flow);
    let total = flow.add(sum::flow(doubled));
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(doubled).await.unwrap(), vec![0, 2, 4, 6]);
    assert_eq!(run.output(total).await.unwrap(), 12);
    w.shutdown().await;
}

pub async fn subtasks(ork: Ork) {
    let seen = Arc::new(Seen::default());
    // Fewer slots than children: parents give their slot back while waiting.
    let w = ork
        .worker()
        .concurrency(4)
        .state(seen.clone())
        .start()
        .unwrap();
    let job = ork.enqueue(fan::call(100)).await.unwrap();
    assert_eq!(job.result().await.unwrap(), 9900);
    let job = ork.enqueue(tree::call(3, 3)).await.unwrap();
    assert_eq!(job.result().await.unwrap(), 27, "three levels of sub-tasks");
    w.shutdown().await;
}

pub async fn replace_with_workflow(ork: Ork) {
    let seen = Arc::new(Seen::default());
    let w = worker(&ork, &seen);
    let mut flow = Workflow::new("outer");
    let grown = flow.add(expand::call(4));
    let after = flow.add(add::flow(grown, 1));
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(after).await.unwrap(), 13);
    w.shutdown().await;
}

pub async fn failure_policies(ork: Ork) {
    let seen = Arc::new(Seen::default());
    let w = worker(&ork, &seen);
    let mut flow = Workflow::new("strict");
    let bad = flow.add(fail::call("disk full".into()));
    let after = flow.add(double::flow(bad));
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.wait().await.unwrap(), WorkflowState::Failed);
    let nodes = run.nodes().await.unwrap();
    assert_eq!(
        nodes[0].job.as_ref().unwrap().error.as_deref(),
        Some("disk full")
    );
    let cascaded = nodes[1].job.as_ref().unwrap();
    assert_eq!(cascaded.state, JobState::Dead);
    let msg = cascaded.error.clone().unwrap();
    assert!(
        msg.contains(&run.id().child(0).to_string()) && msg.contains("disk full"),
        "{msg}"
    );
    assert!(run.output(after).await.is_err());

    let mut flow = Workflow::new("lenient");
    let bad = flow.add(fail::call("flaky".into()));
    let bad = flow.allow_failure(bad);
    let good = flow.add(add::call(1, 1));
    let good = flow.allow_failure(good);
    let d_bad = flow.add(describe::flow(bad));
    let d_good = flow.add(describe::flow(good));
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.output(d_bad).await.unwrap(), "err flaky");
    assert_eq!(run.output(d_good).await.unwrap(), "ok 2");
    assert_eq!(run.wait().await.unwrap(), WorkflowState::Succeeded);
    w.shutdown().await;
}

pub async fn cancel(ork: Ork) {
    let seen = Arc::new(Seen::default());
    let w = worker(&ork, &seen);
    let mut flow = Workflow::new("cancel");
    let first = flow.add(hold::call());
    let second = flow.add(counted::flow(first));
    let run = ork.submit(flow).await.unwrap();
    while !seen.started.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    run.cancel().await.unwrap();
    assert_eq!(run.wait().await.unwrap(), WorkflowState::Cancelled);
    assert!(
        seen.cancelled.load(Ordering::SeqCst),
        "the running task saw it"
    );
    assert_eq!(seen.runs.load(Ordering::SeqCst), 0, "no further node ran");
    assert!(run.output(second).await.is_err());
    w.shutdown().await;
}

pub async fn rerun_failed(ork: Ork) {
    let seen = Arc::new(Seen::default());
    let w = worker(&ork, &seen);
    // The first node succeeds; the second fails once (its retry is manual).
    let mut flow = Workflow::new("rerun");
    let a = flow.add(counted::call(3));
    let b = flow.add(fail::call("first time".into()));
    let c = flow.add(add::flow(a, b));
    let run = ork.submit(flow).await.unwrap();
    assert_eq!(run.wait().await.unwrap(), WorkflowState::Failed);
    assert_eq!(seen.runs.load(Ordering::SeqCst), 1);
    // Re-running revives the failed node and its dependant, not the good one.
    assert_eq!(run.retry().await.unwrap(), 2);
    assert_eq!(
        run.wait().await.unwrap(),
        WorkflowState::Failed,
        "it fails again"
    );
    assert_eq!(
        seen.runs.load(Ordering::SeqCst),
        1,
        "finished nodes keep their outputs"
    );
    let _ = c;
    w.shutdown().await;
}

pub async fn listed(ork: Ork) {
    let seen = Arc::new(Seen::default());
    let w = worker(&ork, &seen);
    let mut flow = Workflow::new("listed");
    let n = flow.add(add::call(1, 1));
    let run = ork.submit(flow).await.unwrap();
    run.output(n).await.unwrap();
    let all = ork.workflows(0, 10).await.unwrap();
    assert!(all.iter().any(|h| h.id() == run.id()));
    let again = ork.workflow(run.id()).await.unwrap().unwrap();
    assert_eq!(again.meta().name, "listed");
    assert_eq!(again.state().await.unwrap(), WorkflowState::Succeeded);
    w.shutdown().await;
}

pub async fn invalid(ork: Ork) {
    let mut other = Workflow::new("other");
    let foreign = other.add(add::call(1, 1));
    let mut flow = Workflow::new("bad");
    flow.add(double::flow(foreign));
    let err = ork.submit(flow).await.unwrap_err().to_string();
    assert!(err.contains("another workflow"), "{err}");
    let mut flow = Workflow::new("bad-chain");
    flow.chain((foreign, add::call(1, 1)));
    let err = ork.submit(flow).await.unwrap_err().to_string();
    assert!(err.contains("another workflow"), "{err}");
    let err = ork
        .submit(Workflow::new("empty"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no node"), "{err}");
    let err = ork
        .enqueue(double::flow(foreign))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("add it to that Workflow"), "{err}");
}

/// Generates one test per shape, each with an `Ork` from `$make`.
#[macro_export]
macro_rules! workflow_shapes {
    ($make:expr) => {
        $crate::workflow_shapes!(@tests $make; chain, group_and_chord, groups, state_missing, diamond, nested,
            map_runtime_list, map_on_selected_tasks, subtasks, replace_with_workflow, failure_policies, cancel,
            rerun_failed, listed, invalid);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let ork = $make.await;
                tokio::time::timeout(
                    std::time::Duration::from_secs(60),
                    common::shapes::$name(ork),
                )
                .await
                .expect("the workflow finished in time");
            }
        )*
    };
}
