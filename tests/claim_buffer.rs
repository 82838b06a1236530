//! The claim buffer: jobs a pool claimed ahead of its free slots.
//!
//! - On shutdown, buffered jobs go back to their queue at once, while the
//!   running one still finishes, and without using up an attempt: each
//!   runs later as attempt 1 (memory engine and Redis).
//! - A worker process SIGKILLed while it holds a buffer: its buffered jobs
//!   come back once their lease runs out and run exactly once, on the
//!   other worker.

mod fault_kit;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fault_kit::process::{run_child, ChildEnv, Fleet};
use fault_kit::{backend, connect, eventually, executions, raw, server, ExecLog};
use ork::prelude::*;
use ork::{JobId, JobState};
use tokio::sync::{Notify, Semaphore};

/// What the gated task shares with the test.
struct Gate {
    /// (label, attempt) of every body that ran, in order.
    ran: Mutex<Vec<(String, u32)>>,
    started: Notify,
    open: Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            ran: Mutex::default(),
            started: Notify::new(),
            open: Semaphore::new(0),
        }
    }
}

/// Records its run; the one labelled `hold` waits for the gate.
#[ork::task]
async fn gated(ctx: Context, label: String) -> ork::Result<()> {
    let gate = ctx.state::<Arc<Gate>>();
    gate.ran
        .lock()
        .unwrap()
        .push((label.clone(), ctx.attempt()));
    if label == "hold" {
        gate.started.notify_one();
        let _ = gate.open.acquire().await.expect("gate open");
    }
    Ok(())
}

async fn states(ork: &Ork, ids: &[JobId]) -> Vec<(JobState, u32)> {
    ork.backend()
        .jobs(ids)
        .await
        .unwrap()
        .into_iter()
        .map(|i| {
            let i = i.expect("the job exists");
            (i.state, i.attempts)
        })
        .collect()
}

/// One slot, a buffer of 8: `hold` runs and blocks, four more wait in the
/// buffer holding leases. Shutdown hands those four back at once (the
/// running one still finishes within the grace period), with their
/// attempt given back; a new pool then runs each of them as attempt 1.
async fn buffered_jobs_are_handed_back_on_shutdown(ork: Ork) {
    let gate = Arc::new(Gate::default());
    let mut ids = Vec::new();
    for label in ["hold", "b1", "b2", "b3", "b4"] {
        ids.push(
            ork.enqueue(gated::call(label.to_owned()).queue("buffered"))
                .await
                .unwrap()
                .id()
                .clone(),
        );
    }
    let started = gate.started.notified();
    let worker = ork
        .worker()
        .queues(["buffered"])
        .concurrency(1)
        .prefetch(8)
        .scheduler(false)
        .state(gate.clone())
        .start()
        .unwrap();
    started.await;
    // The four others are claimed (leased) and wait in the buffer.
    let limit = Duration::from_secs(10);
    tokio::time::timeout(limit, async {
        while states(&ork, &ids[1..])
            .await
            .iter()
            .any(|s| s.0 != JobState::Running)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the buffer filled");
    assert_eq!(
        states(&ork, &ids[1..]).await,
        vec![(JobState::Running, 1); 4]
    );

    let shutdown = tokio::spawn(worker.shutdown());
    // Handed back at once, while `hold` still runs: queued again, no
    // attempt used up.
    tokio::time::timeout(limit, async {
        while states(&ork, &ids[1..]).await != vec![(JobState::Queued, 0); 4] {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the buffered jobs were handed back");
    assert_eq!(states(&ork, &ids[..1]).await, vec![(JobState::Running, 1)]);
    assert!(!shutdown.is_finished(), "the running job is waited for");
    gate.open.add_permits(1);
    shutdown.await.unwrap();
    assert_eq!(
        states(&ork, &ids[..1]).await,
        vec![(JobState::Succeeded, 1)]
    );

    // A new pool runs each of them once, as attempt 1.
    let worker = ork
        .worker()
        .queues(["buffered"])
        .scheduler(false)
        .state(gate.clone())
        .start()
        .unwrap();
    tokio::time::timeout(limit, async {
        while states(&ork, &ids)
            .await
            .iter()
            .any(|s| s.0 != JobState::Succeeded)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("every job ran");
    worker.shutdown().await;
    assert_eq!(states(&ork, &ids).await, vec![(JobState::Succeeded, 1); 5]);
    let mut ran = gate.ran.lock().unwrap().clone();
    ran.sort();
    let mut want: Vec<(String, u32)> = ["b1", "b2", "b3", "b4", "hold"]
        .iter()
        .map(|l| ((*l).to_owned(), 1))
        .collect();
    want.sort();
    assert_eq!(ran, want, "each body ran once, as attempt 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_buffered_jobs_are_handed_back_on_shutdown() {
    tokio::time::timeout(
        Duration::from_secs(60),
        buffered_jobs_are_handed_back_on_shutdown(Ork::memory()),
    )
    .await
    .expect("in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_buffered_jobs_are_handed_back_on_shutdown() {
    let ork = Ork::with_backend(ork_redis::testing::backend().await);
    tokio::time::timeout(
        Duration::from_secs(60),
        buffered_jobs_are_handed_back_on_shutdown(ork),
    )
    .await
    .expect("in time");
}

const PREFETCH_VAR: &str = "ORK_BUFFER_PREFETCH";
const LEASE: Duration = Duration::from_millis(1500);

/// Records its execution and takes `ms`.
#[ork::task]
async fn slow(ctx: Context, ms: u64) -> ork::Result<()> {
    ctx.state::<ExecLog>().record(&ctx).await;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(())
}

/// A worker process with one slot (only when run by the test below).
#[test]
fn buffer_worker_process() {
    run_child(2, |env: ChildEnv| async move {
        let prefetch: usize = env.var(PREFETCH_VAR).map_or(1, |v| v.parse().unwrap());
        let log = ExecLog::connect(&env.url, &env.ns, &env.name).await;
        let ork = Ork::with_backend(backend(&env.url, &env.ns).await);
        let _pool = ork
            .worker()
            .queues(["buf-q"])
            .lease(LEASE)
            .concurrency(1)
            .prefetch(prefetch)
            .id(env.name.clone())
            .state(log)
            .start()
            .expect("the pool starts");
        std::future::pending::<()>().await;
    });
}

/// A worker process holding a buffer of leased jobs is SIGKILLed: those
/// jobs come back once their lease runs out and each runs exactly once,
/// on the other worker; only the job it was running may run twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_jobs_of_a_killed_worker_run_once() {
    const JOBS: usize = 8;
    let ns = "buffer-kill";
    let server = server().await;
    let ork = connect(&server.url(), ns).await;
    let mut conn = raw(&server.url()).await;
    let handles = ork
        .enqueue_many((0..JOBS).map(|_| slow::call(800).queue("buf-q")))
        .await
        .unwrap();
    let ids: Vec<JobId> = handles.iter().map(|h| h.id().clone()).collect();
    let mut fleet = Fleet::new("buffer_worker_process", &server.url(), ns);
    let holder = fleet.add_with("worker", &[(PREFETCH_VAR, "6")]);
    // It runs one job and holds the leases of the buffered ones.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let running = loop {
        let ran = executions(&mut conn, ns).await.len();
        let running = states(&ork, &ids)
            .await
            .iter()
            .filter(|s| s.0 == JobState::Running)
            .count();
        if ran == 1 && running >= 4 {
            break running;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker runs one job and buffers more ({ran} ran, {running} leased)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    fleet.kill(holder);
    let before = executions(&mut conn, ns).await;
    // Normally one; the kill may land just after the next job started.
    let started: Vec<String> = before.iter().map(|e| e.job.clone()).collect();
    assert!(
        started.len() < 3,
        "few jobs started before the kill: {started:?}"
    );

    fleet.add_with("worker", &[(PREFETCH_VAR, "1")]);
    eventually(Duration::from_secs(60), "every job succeeded", || {
        let (ork, ids) = (ork.clone(), ids.clone());
        async move {
            states(&ork, &ids)
                .await
                .iter()
                .all(|s| s.0 == JobState::Succeeded)
        }
    })
    .await;
    let log = executions(&mut conn, ns).await;
    let mut runs: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in &log {
        runs.entry(e.job.as_str())
            .or_default()
            .push(e.name.as_str());
    }
    let killed = fleet.name(holder).to_owned();
    for id in &ids {
        let by = runs.get(id.as_str()).cloned().unwrap_or_default();
        if started.iter().any(|s| s == id.as_str()) {
            assert!(by.len() <= 2, "a job started before the kill: {by:?}");
        } else {
            assert_eq!(by.len(), 1, "buffered job {id} ran once: {by:?}");
            assert_ne!(by[0], killed, "never on the killed worker");
        }
    }
    eprintln!("{running} leased at the kill; {} executions", log.len());
}
