//! Durable sleeps, waits and signals run by workers, on the memory engine
//! and on Redis (a redis-server of the test's own): a sleep frees its slot,
//! signals reach their waiters exactly once whenever they are sent, a wait
//! times out with `None`, and parked jobs survive a worker restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ork::prelude::*;
use ork::{JobState, WorkflowState};

/// What task bodies did, by `<tag>/<event>`, shared through the worker
/// state: the test's own log.
#[derive(Default)]
struct Log(Mutex<HashMap<String, u32>>);

impl Log {
    fn bump(&self, key: impl Into<String>) {
        *self.0.lock().unwrap().entry(key.into()).or_default() += 1;
    }

    fn get(&self, key: &str) -> u32 {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    fn count(&self, suffix: &str) -> usize {
        let log = self.0.lock().unwrap();
        log.keys().filter(|k| k.ends_with(suffix)).count()
    }
}

fn log(ctx: &Context) -> Arc<Log> {
    ctx.state::<Arc<Log>>().clone()
}

/// Records its start once (in a step), sleeps `ms`, records its end.
#[ork::task]
async fn napper(ctx: Context, tag: u32, ms: u64) -> ork::Result<u32> {
    let l = log(&ctx);
    ctx.step("start", || {
        let l = l.clone();
        async move {
            l.bump(format!("{tag}/start"));
            Ok::<_, ork::Error>(())
        }
    })
    .await?;
    ctx.sleep(Duration::from_millis(ms)).await?;
    l.bump(format!("{tag}/end"));
    Ok(tag)
}

/// Waits `n` times on `key`, each with `timeout_ms`; records each run
/// that reaches the end, and returns what it received.
#[ork::task]
async fn waiter(
    ctx: Context,
    tag: String,
    key: String,
    n: u32,
    timeout_ms: u64,
) -> ork::Result<Vec<Option<String>>> {
    let mut got = Vec::new();
    for _ in 0..n {
        got.push(
            ctx.wait_for::<String>(&key, Duration::from_millis(timeout_ms))
                .await?,
        );
    }
    log(&ctx).bump(format!("{tag}/end"));
    Ok(got)
}

/// Processes items `0..n` (recording each), one checkpoint per item.
#[ork::task]
async fn items(ctx: Context, tag: String, n: u32) -> ork::Result<u32> {
    let l = log(&ctx);
    let start: u32 = ctx.resume().await?.unwrap_or(0);
    l.bump(format!("{tag}/start@{start}"));
    for i in start..n {
        l.bump(format!("{tag}/item{i}"));
        ctx.checkpoint(&(i + 1)).await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(n)
}

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn state_of(ork: &Ork, id: &ork::JobId) -> JobState {
    ork.job(id.clone()).await.unwrap().unwrap().state
}

/// 200 tasks that each sleep 2 s, on a pool of 2 slots: all 200 are
/// asleep at once (so no slot is held while sleeping: the backend counts
/// none running), and each body before and after its sleep ran once.
async fn sleeps_free_their_slots(ork: Ork) {
    const N: u32 = 200;
    let l = Arc::new(Log::default());
    let began = Instant::now();
    let pool = ork
        .worker()
        .concurrency(2)
        .state(l.clone())
        .start()
        .unwrap();
    let calls: Vec<_> = (0..N).map(|i| napper::call(i, 2000)).collect();
    let jobs = ork.enqueue_many(calls).await.unwrap();
    until("every task asleep", || async {
        let counts = ork.counts().await.unwrap();
        counts.iter().map(|c| c.scheduled).sum::<u64>() == u64::from(N)
    })
    .await;
    assert_eq!(l.count("/start"), N as usize);
    assert_eq!(l.count("/end"), 0, "asleep: none ended yet");
    let counts = ork.counts().await.unwrap();
    assert_eq!(
        counts.iter().map(|c| c.running).sum::<u64>(),
        0,
        "no slot held"
    );
    let parked = ork.job(jobs[0].id().clone()).await.unwrap().unwrap();
    assert_eq!(parked.parked.as_deref(), Some("sleep #1"));
    assert_eq!(parked.attempts, 0);
    for (i, job) in jobs.iter().enumerate() {
        assert_eq!(job.result().await.unwrap(), i as u32);
    }
    for i in 0..N {
        assert_eq!(l.get(&format!("{i}/start")), 1, "task {i} started once");
        assert_eq!(l.get(&format!("{i}/end")), 1, "task {i} ended once");
    }
    let info = jobs[N as usize - 1].info().await.unwrap();
    assert_eq!(info.attempts, 1, "the sleep used no attempt");
    eprintln!("200 sleeps of 2 s on 2 slots: {:?}", began.elapsed());
    pool.shutdown().await;
}

/// A signal sent before the wait is kept and received; one sent after
/// the job parked wakes it; one to a key nobody waits on wakes nobody.
async fn signals_before_and_after_the_wait(ork: Ork) {
    let l = Arc::new(Log::default());
    let pool = ork.worker().state(l.clone()).start().unwrap();
    // Before.
    assert_eq!(ork.signal("early", "hello").await.unwrap(), 0);
    let early = ork
        .enqueue(waiter::call("early".into(), "early".into(), 1, 60_000))
        .await
        .unwrap();
    assert_eq!(
        early.result().await.unwrap(),
        vec![Some("hello".to_owned())]
    );
    // After.
    let late = ork
        .enqueue(waiter::call("late".into(), "late".into(), 1, 60_000))
        .await
        .unwrap();
    until("the waiter parked", || async {
        state_of(&ork, late.id()).await == JobState::Scheduled
    })
    .await;
    let info = late.info().await.unwrap();
    assert_eq!(info.parked.as_deref(), Some("signal `late`"));
    assert_eq!(
        ork.signal("late", "world").await.unwrap(),
        1,
        "one waiter woken"
    );
    assert_eq!(late.result().await.unwrap(), vec![Some("world".to_owned())]);
    // Nobody waits.
    assert_eq!(ork.signal("nobody", "lost?").await.unwrap(), 0);
    assert_eq!(l.get("early/end"), 1);
    assert_eq!(l.get("late/end"), 1);
    assert_eq!(late.info().await.unwrap().attempts, 1);
    pool.shutdown().await;
}

/// Two signals to one key: a job that waits twice receives both, in
/// order; two jobs waiting on the key each receive each signal once.
async fn signals_twice_reach_each_waiter_once(ork: Ork) {
    let l = Arc::new(Log::default());
    let pool = ork.worker().state(l.clone()).start().unwrap();
    let a = ork
        .enqueue(waiter::call("a".into(), "twice".into(), 2, 60_000))
        .await
        .unwrap();
    let b = ork
        .enqueue(waiter::call("b".into(), "twice".into(), 2, 60_000))
        .await
        .unwrap();
    until("both parked", || async {
        state_of(&ork, a.id()).await == JobState::Scheduled
            && state_of(&ork, b.id()).await == JobState::Scheduled
    })
    .await;
    assert_eq!(ork.signal("twice", "1").await.unwrap(), 2);
    until("both parked again", || async {
        let (sa, sb) = (a.info().await.unwrap(), b.info().await.unwrap());
        sa.state == JobState::Scheduled && sb.state == JobState::Scheduled
    })
    .await;
    ork.signal("twice", "2").await.unwrap();
    let both = vec![Some("1".to_owned()), Some("2".to_owned())];
    assert_eq!(a.result().await.unwrap(), both);
    assert_eq!(b.result().await.unwrap(), both);
    assert_eq!((l.get("a/end"), l.get("b/end")), (1, 1));
    pool.shutdown().await;
}

/// A wait whose timeout passes yields `None`, without using an attempt;
/// a signal sent later is for later waiters.
async fn a_wait_times_out_with_none(ork: Ork) {
    let l = Arc::new(Log::default());
    let pool = ork.worker().state(l.clone()).start().unwrap();
    let job = ork
        .enqueue(waiter::call("t".into(), "never".into(), 1, 300))
        .await
        .unwrap();
    assert_eq!(job.result().await.unwrap(), vec![None]);
    assert_eq!(job.info().await.unwrap().attempts, 1);
    assert_eq!(l.get("t/end"), 1);
    assert_eq!(
        ork.signal("never", "late").await.unwrap(),
        0,
        "no waiter left"
    );
    pool.shutdown().await;
}

/// Jobs asleep while their pool shuts down, and a new pool starts: none
/// is lost, each ends once.
async fn a_restart_while_asleep_loses_nothing(ork: Ork) {
    const N: u32 = 20;
    let l = Arc::new(Log::default());
    let first = ork
        .worker()
        .concurrency(4)
        .state(l.clone())
        .start()
        .unwrap();
    let calls: Vec<_> = (0..N).map(|i| napper::call(i, 1500)).collect();
    let jobs = ork.enqueue_many(calls).await.unwrap();
    until("every task asleep", || async {
        let counts = ork.counts().await.unwrap();
        counts.iter().map(|c| c.scheduled).sum::<u64>() == u64::from(N)
    })
    .await;
    first.shutdown().await;
    let second = ork
        .worker()
        .concurrency(4)
        .state(l.clone())
        .start()
        .unwrap();
    for (i, job) in jobs.iter().enumerate() {
        assert_eq!(job.result().await.unwrap(), i as u32);
    }
    for i in 0..N {
        assert_eq!(l.get(&format!("{i}/start")), 1);
        assert_eq!(l.get(&format!("{i}/end")), 1);
    }
    second.shutdown().await;
}

/// What an approver sends.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Approval {
    approved: bool,
    by: String,
}

/// Drafts a refund of an order.
#[ork::task]
async fn draft(ctx: Context, order: u32) -> ork::Result<u32> {
    log(&ctx).bump(format!("draft/{order}"));
    Ok(order * 10)
}

/// Pays a drafted refund once approved.
#[ork::task]
async fn refund(ctx: Context, amount: u32, approval: Approval) -> ork::Result<String> {
    log(&ctx).bump(format!("refund/{amount}"));
    Ok(if approval.approved {
        format!("refunded {amount} ({})", approval.by)
    } else {
        format!("refused by {}", approval.by)
    })
}

/// A human-approval workflow: draft, wait for the approval, refund.
fn approval_flow(order: u32) -> (Workflow, Node<Approval>, Node<String>) {
    let mut flow = Workflow::new("refund");
    let drafted = flow.add(draft::call(order));
    let approval = flow.wait_for::<Approval>(format!("refund:{order}"), Duration::from_secs(3600));
    let paid = flow.add(refund::flow(drafted, approval));
    (flow, approval, paid)
}

/// The approval arrives while the node waits: the refund runs with it.
async fn an_approval_workflow_runs_on_its_signal(ork: Ork) {
    let ork = ork.with_codec(ork::Codec::Json);
    let l = Arc::new(Log::default());
    let pool = ork.worker().state(l.clone()).start().unwrap();
    let (flow, approval, paid) = approval_flow(7);
    let run = ork.submit(flow).await.unwrap();
    let waiting = run.node(approval);
    until("the approval node parked", || async {
        waiting.info().await.unwrap().parked.is_some()
    })
    .await;
    let info = waiting.info().await.unwrap();
    assert_eq!(info.waits_on(), Some("refund:7"));
    assert!(info.due_at_ms.is_some(), "its timeout");
    assert_eq!(l.get("refund/70"), 0);
    let yes = Approval {
        approved: true,
        by: "ann".into(),
    };
    assert_eq!(ork.signal("refund:7", &yes).await.unwrap(), 1);
    assert_eq!(run.output(paid).await.unwrap(), "refunded 70 (ann)");
    assert_eq!(run.output(approval).await.unwrap(), yes);
    assert_eq!((l.get("draft/7"), l.get("refund/70")), (1, 1));
    pool.shutdown().await;
}

/// Cancelled while the approval node waits: the signal sent afterwards
/// wakes nothing, and the refund never runs.
async fn an_approval_workflow_cancelled_while_waiting_runs_nothing_after(ork: Ork) {
    let ork = ork.with_codec(ork::Codec::Json);
    let l = Arc::new(Log::default());
    let pool = ork.worker().state(l.clone()).start().unwrap();
    let (flow, approval, paid) = approval_flow(8);
    let run = ork.submit(flow).await.unwrap();
    let waiting = run.node(approval);
    until("the approval node parked", || async {
        waiting.info().await.unwrap().parked.is_some()
    })
    .await;
    run.cancel().await.unwrap();
    assert_eq!(run.state().await.unwrap(), WorkflowState::Cancelled);
    let yes = Approval {
        approved: true,
        by: "late".into(),
    };
    assert_eq!(
        ork.signal("refund:8", &yes).await.unwrap(),
        0,
        "nothing woken"
    );
    // A job queued after the signal has run: the pool went past it.
    let after = ork.enqueue(draft::call(99)).await.unwrap();
    assert_eq!(after.result().await.unwrap(), 990);
    assert_eq!(waiting.info().await.unwrap().state, JobState::Cancelled);
    assert_eq!(
        run.node(paid).info().await.unwrap().state,
        JobState::Cancelled
    );
    assert_eq!(l.get("refund/80"), 0, "nothing ran after the wait");
    assert_eq!(l.get("draft/8"), 1);
    pool.shutdown().await;
}

/// A workflow in bincode whose wait node gets a JSON signal (what the
/// command and the dashboard send): the node fails, saying why.
async fn a_signal_in_another_codec_fails_the_wait_node_clearly(ork: Ork) {
    let pool = ork
        .worker()
        .state(Arc::new(Log::default()))
        .start()
        .unwrap();
    let (flow, approval, _) = approval_flow(9);
    let run = ork.submit(flow).await.unwrap();
    let json = ork.clone().with_codec(ork::Codec::Json);
    let yes = Approval {
        approved: true,
        by: "cli".into(),
    };
    json.signal("refund:9", &yes).await.unwrap();
    assert_eq!(run.wait().await.unwrap(), WorkflowState::Failed);
    let err = run.node(approval).info().await.unwrap().error.unwrap();
    assert!(
        err.contains("sent in Json, and this workflow is in Bincode"),
        "{err}"
    );
    pool.shutdown().await;
}

/// A sleep node holds back what is ordered after it, without a worker.
async fn a_sleep_node_delays_what_follows(ork: Ork) {
    let l = Arc::new(Log::default());
    let pool = ork.worker().state(l.clone()).start().unwrap();
    let mut flow = Workflow::new("nap");
    let nap = flow.sleep(Duration::from_millis(500));
    let next = flow.add_after(draft::call(3), [nap]);
    let run = ork.submit(flow).await.unwrap();
    let sleeping = run.node(nap);
    until("the sleep node parked", || async {
        sleeping.info().await.unwrap().parked.is_some()
    })
    .await;
    assert_eq!(
        sleeping.info().await.unwrap().parked.as_deref(),
        Some("sleep #1")
    );
    assert_eq!(l.get("draft/3"), 0, "held back");
    assert_eq!(run.output(next).await.unwrap(), 30);
    assert_eq!(run.wait().await.unwrap(), WorkflowState::Succeeded);
    pool.shutdown().await;
}

/// A 1,000-item checkpointed loop interrupted by a graceful shutdown is
/// handed back without using an attempt, and resumes from its checkpoint:
/// no item ran twice but the one in flight at the shutdown.
async fn a_thousand_item_loop_resumes_after_a_shutdown(ork: Ork) {
    const N: u32 = 1000;
    let l = Arc::new(Log::default());
    let first = ork
        .worker()
        .state(l.clone())
        .grace(Duration::from_millis(20))
        .start()
        .unwrap();
    let job = ork.enqueue(items::call("k".into(), N)).await.unwrap();
    until("300 items", || async { l.get("k/item299") == 1 }).await;
    first.shutdown().await;
    let info = job.info().await.unwrap();
    assert_eq!(info.state, JobState::Queued, "handed back");
    assert_eq!(info.attempts, 0, "the hand-back used no attempt");
    let done = l.count("/start@0");
    assert_eq!(done, 1);
    let second = ork.worker().state(l.clone()).start().unwrap();
    assert_eq!(job.result().await.unwrap(), N);
    assert_eq!(job.info().await.unwrap().attempts, 1);
    let log = l.0.lock().unwrap().clone();
    let resumed: Vec<u32> = log
        .keys()
        .filter_map(|k| k.strip_prefix("k/start@")?.parse().ok())
        .filter(|&at| at > 0)
        .collect();
    assert_eq!(resumed.len(), 1, "resumed once: {resumed:?}");
    let at = resumed[0];
    assert!(
        (300..N).contains(&at),
        "resumed from the checkpoint, at {at}"
    );
    for i in 0..N {
        let n = log.get(&format!("k/item{i}")).copied().unwrap_or(0);
        assert!(n == 1 || (n == 2 && i == at), "item {i} ran {n} times");
    }
    second.shutdown().await;
}

macro_rules! durable_checks {
    ($engine:ident, $make:expr; $($name:ident),*) => {
        mod $engine {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($make.await).await;
                }
            )*
        }
    };
}

durable_checks!(memory, async { ork::Ork::memory() };
    sleeps_free_their_slots, signals_before_and_after_the_wait,
    signals_twice_reach_each_waiter_once, a_wait_times_out_with_none,
    a_restart_while_asleep_loses_nothing, an_approval_workflow_runs_on_its_signal,
    an_approval_workflow_cancelled_while_waiting_runs_nothing_after,
    a_sleep_node_delays_what_follows, a_signal_in_another_codec_fails_the_wait_node_clearly,
    a_thousand_item_loop_resumes_after_a_shutdown);

durable_checks!(redis, async { ork::Ork::with_backend(ork_redis::testing::backend().await) };
    sleeps_free_their_slots, signals_before_and_after_the_wait,
    signals_twice_reach_each_waiter_once, a_wait_times_out_with_none,
    a_restart_while_asleep_loses_nothing, an_approval_workflow_runs_on_its_signal,
    an_approval_workflow_cancelled_while_waiting_runs_nothing_after,
    a_sleep_node_delays_what_follows, a_signal_in_another_codec_fails_the_wait_node_clearly,
    a_thousand_item_loop_resumes_after_a_shutdown);
