//! Flow control on Redis across worker processes: a paused queue or task
//! starts nothing in any process (checked from the tasks' execution log),
//! and everything runs once after the resume.

mod fault_kit;

use std::collections::HashMap;
use std::time::Duration;

use fault_kit::process::{run_child, ChildEnv, Fleet};
use fault_kit::{backend, connect, eventually, executions, raw, server, ExecLog};
use ork::prelude::*;
use ork::{JobId, JobState, Task};

/// A job of the queue that is paused.
#[ork::task(queue = "flow-q")]
async fn other(ctx: Context) -> ork::Result<()> {
    ctx.state::<ExecLog>().record(&ctx).await;
    Ok(())
}

/// A job of the task that is paused (in the same queue).
#[ork::task(queue = "flow-q")]
async fn held(ctx: Context) -> ork::Result<()> {
    ctx.state::<ExecLog>().record(&ctx).await;
    Ok(())
}

/// A job of a queue that is never paused: when it ran, claims ran.
#[ork::task(queue = "flow-side")]
async fn side(ctx: Context) -> ork::Result<()> {
    ctx.state::<ExecLog>().record(&ctx).await;
    Ok(())
}

/// A worker process (only when run by the test below).
#[test]
fn flow_worker_process() {
    run_child(2, |env: ChildEnv| async move {
        let log = ExecLog::connect(&env.url, &env.ns, &env.name).await;
        let ork = Ork::with_backend(backend(&env.url, &env.ns).await);
        let _pool = ork
            .worker()
            .queues(["flow-q", "flow-side"])
            .concurrency(4)
            .id(env.name.clone())
            .state(log)
            .start()
            .expect("the pool starts");
        std::future::pending::<()>().await;
    });
}

/// How many times each job ran, from the execution log.
async fn runs(conn: &mut redis::aio::MultiplexedConnection, ns: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for e in executions(conn, ns).await {
        *out.entry(e.job).or_insert(0) += 1;
    }
    out
}

fn ids(handles: &[ork::JobHandle<()>]) -> Vec<JobId> {
    handles.iter().map(|h| h.id().clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_queue_and_task_start_nothing_in_any_process_until_resumed() {
    const N: usize = 20;
    let ns = "flow-pause";
    let server = server().await;
    let ork = connect(&server.url(), ns).await;
    let mut conn = raw(&server.url()).await;
    let task = <held as Task>::OPTIONS.name;
    assert!(ork.pause_queue("flow-q").await.unwrap());
    assert!(ork.pause_task(task).await.unwrap());

    // The paused task's jobs first in the queue, then the other task's.
    let held_jobs = ids(&ork.enqueue_many((0..N).map(|_| held::call())).await.unwrap());
    let others = ids(&ork.enqueue_many((0..N).map(|_| other::call())).await.unwrap());
    let mut fleet = Fleet::new("flow_worker_process", &server.url(), ns);
    for _ in 0..3 {
        fleet.add("worker");
    }

    // Claims run in every process (the side queue drains), yet the paused
    // queue starts nothing.
    let sides = ids(&ork.enqueue_many((0..N).map(|_| side::call())).await.unwrap());
    eventually(Duration::from_secs(30), "the side queue drains", || {
        let mut conn = conn.clone();
        async move { runs(&mut conn, ns).await.len() >= N }
    })
    .await;
    let ran = runs(&mut conn, ns).await;
    assert_eq!(ran.len(), N, "only side jobs ran: {ran:?}");
    assert!(sides.iter().all(|id| ran.get(id.as_str()) == Some(&1)));
    for id in held_jobs.iter().chain(&others) {
        assert_eq!(
            ork.job(id).await.unwrap().unwrap().state,
            JobState::Queued,
            "paused work stays queued"
        );
    }

    // The queue resumed: the other task's jobs run, past the held ones.
    assert!(ork.resume_queue("flow-q").await.unwrap());
    eventually(Duration::from_secs(30), "the other task's jobs run", || {
        let mut conn = conn.clone();
        async move { runs(&mut conn, ns).await.len() >= 2 * N }
    })
    .await;
    let ran = runs(&mut conn, ns).await;
    assert_eq!(ran.len(), 2 * N, "{ran:?}");
    assert!(others.iter().all(|id| ran.get(id.as_str()) == Some(&1)));
    assert!(held_jobs.iter().all(|id| !ran.contains_key(id.as_str())));
    let paused = ork.paused().await.unwrap();
    assert_eq!(paused.len(), 1);
    assert_eq!(paused[0].held, N as u64, "every held job was set aside");

    // The task resumed: its jobs run, each once.
    assert!(ork.resume_task(task).await.unwrap());
    eventually(Duration::from_secs(30), "the held jobs run", || {
        let mut conn = conn.clone();
        async move { runs(&mut conn, ns).await.len() >= 3 * N }
    })
    .await;
    let ran = runs(&mut conn, ns).await;
    assert_eq!(ran.len(), 3 * N);
    assert!(ran.values().all(|&n| n == 1), "each job ran once: {ran:?}");
    assert!(ork.paused().await.unwrap().is_empty());
    fleet.kill_all();
}
