//! Durable waits under SIGKILL, on a real redis-server: worker processes
//! (this test binary run again, see `fault_kit::process`) hold waiting
//! jobs, and are killed; the signal still reaches each job, on another
//! worker, once.

mod fault_kit;

use std::time::Duration;

use fault_kit::process::{run_child, ChildEnv, Fleet};
use fault_kit::{backend, connect, eventually, raw, server, ExecLog};
use ork::prelude::*;
use ork::JobState;
use ork_redis::redis;

/// The key of the wait log of namespace `ns` (outside the namespace).
fn waits_key(ns: &str) -> String {
    format!("faults:{ns}:waits")
}

/// Records its begin; on its first delivery, when `hold`, never gets
/// further (its worker holds it running until killed); then waits for a
/// signal on `key` and records what it received.
#[ork::task]
async fn held_waiter(ctx: Context, key: String, hold: bool) -> ork::Result<Option<String>> {
    let log = ctx.state::<ExecLog>().clone();
    let list = waits_key(ctx.state::<Namespace>().0.as_str());
    let job = ctx.job_id().to_string();
    log.push(&list, &format!("{}|{job}|begin", log.name()))
        .await;
    if hold && ctx.delivery() == 1 {
        std::future::pending::<()>().await;
    }
    let got = ctx
        .wait_for::<String>(&key, Duration::from_secs(60))
        .await?;
    let what = got.clone().unwrap_or_default();
    log.push(&list, &format!("{}|{job}|end:{what}", log.name()))
        .await;
    Ok(got)
}

/// Processes items `0..n`, recording each (`<incarnation>|<item>`) before
/// its checkpoint.
#[ork::task]
async fn checkpointed(ctx: Context, n: u32) -> ork::Result<u32> {
    let log = ctx.state::<ExecLog>().clone();
    let list = items_key(ctx.state::<Namespace>().0.as_str());
    let start: u32 = ctx.resume().await?.unwrap_or(0);
    for i in start..n {
        log.push(&list, &format!("{}|{i}", log.name())).await;
        ctx.checkpoint(&(i + 1)).await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(n)
}

/// The key of the item log of namespace `ns` (outside the namespace).
fn items_key(ns: &str) -> String {
    format!("faults:{ns}:items")
}

/// The namespace, for the task to find its log.
struct Namespace(String);

/// A worker process (only when run by the tests below).
#[test]
fn durable_worker_process() {
    run_child(2, |env: ChildEnv| async move {
        let log = ExecLog::connect(&env.url, &env.ns, &env.name).await;
        let ork = Ork::with_backend(backend(&env.url, &env.ns).await);
        let _pool = ork
            .worker()
            .lease(Duration::from_millis(1000))
            .id(env.name.clone())
            .state(log)
            .state(Namespace(env.ns.clone()))
            .start()
            .expect("the pool starts");
        std::future::pending::<()>().await;
    });
}

async fn entries(conn: &mut redis::aio::MultiplexedConnection, ns: &str) -> Vec<String> {
    redis::cmd("LRANGE")
        .arg(waits_key(ns))
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await
        .expect("read the wait log")
}

/// Two waiting jobs whose worker is SIGKILLed: one parked, one still
/// running (held before its wait). The signals are sent while no worker
/// lives; a new worker runs both to their end, each receiving its signal
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_reaches_a_waiter_whose_worker_was_killed() {
    let ns = "durable-kill";
    let server = server().await;
    let ork = connect(&server.url(), ns).await;
    let mut conn = raw(&server.url()).await;
    let mut fleet = Fleet::new("durable_worker_process", &server.url(), ns);
    let slot = fleet.add("waiters");
    let first = fleet.start(slot);
    let parked = ork
        .enqueue(held_waiter::call("ship:1".into(), false))
        .await
        .unwrap();
    let held = ork
        .enqueue(held_waiter::call("ship:2".into(), true))
        .await
        .unwrap();
    eventually(Duration::from_secs(30), "one parked, one held", || async {
        let p = parked.info().await.unwrap();
        let h = held.info().await.unwrap();
        p.state == JobState::Scheduled && p.parked.is_some() && h.state == JobState::Running
    })
    .await;
    fleet.kill(slot);
    // The parked job is woken; the held one, running on a dead worker, is
    // flagged: its next park (after the reaper gives it back) is refused.
    assert_eq!(ork.signal("ship:1", "box-1").await.unwrap(), 1);
    assert_eq!(
        ork.signal("ship:2", "box-2").await.unwrap(),
        0,
        "not parked yet: no waiter"
    );
    let second = fleet.start(slot);
    let limit = Duration::from_secs(30);
    let p = tokio::time::timeout(limit, parked.result())
        .await
        .expect("in time");
    assert_eq!(p.unwrap(), Some("box-1".to_owned()));
    let h = tokio::time::timeout(limit, held.result())
        .await
        .expect("in time");
    assert_eq!(h.unwrap(), Some("box-2".to_owned()));
    let log = entries(&mut conn, ns).await;
    let ends: Vec<&String> = log.iter().filter(|e| e.contains("|end:")).collect();
    assert_eq!(ends.len(), 2, "each job ended once: {log:?}");
    for (job, what) in [(parked.id(), "box-1"), (held.id(), "box-2")] {
        let end = format!("{second}|{job}|end:{what}");
        assert!(log.contains(&end), "{end} missing: {log:?}");
        let began_first = format!("{first}|{job}|begin");
        assert!(log.contains(&began_first), "{began_first} missing: {log:?}");
    }
    assert_eq!(parked.info().await.unwrap().attempts, 1);
    fleet.kill_all();
}

/// A 1,000-item checkpointed loop whose worker is SIGKILLed midway
/// resumes on another worker from its checkpoint: every item ran, and
/// none twice but the one in flight at the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpointed_loop_killed_midway_resumes_from_its_checkpoint() {
    const N: u32 = 1000;
    let ns = "durable-loop";
    let server = server().await;
    let ork = connect(&server.url(), ns).await;
    let mut conn = raw(&server.url()).await;
    let mut fleet = Fleet::new("durable_worker_process", &server.url(), ns);
    let slot = fleet.add("loop");
    let first = fleet.start(slot);
    let job = ork.enqueue(checkpointed::call(N)).await.unwrap();
    let kill_after = 300 + fault_kit::Rng::seeded().below(400);
    eventually(
        Duration::from_secs(30),
        "items done before the kill",
        || {
            let mut conn = conn.clone();
            async move {
                let n: u64 = redis::cmd("LLEN")
                    .arg(items_key(ns))
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                n >= kill_after
            }
        },
    )
    .await;
    fleet.kill(slot);
    let second = fleet.start(slot);
    let done = tokio::time::timeout(Duration::from_secs(60), job.result())
        .await
        .expect("in time");
    assert_eq!(done.unwrap(), N);
    let log = {
        let entries: Vec<String> = redis::cmd("LRANGE")
            .arg(items_key(ns))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .unwrap();
        entries
    };
    let by = |who: &str| -> Vec<u32> {
        log.iter()
            .filter_map(|e| e.strip_prefix(&format!("{who}|"))?.parse().ok())
            .collect()
    };
    let (before, after) = (by(&first), by(&second));
    assert_eq!(
        before.len() + after.len(),
        log.len(),
        "only two incarnations ran it"
    );
    assert_eq!(before, (0..before.len() as u32).collect::<Vec<_>>());
    let resumed = after[0];
    assert_eq!(after, (resumed..N).collect::<Vec<_>>());
    // The second resumed at the last item the first began, or just after.
    let last = *before.last().unwrap();
    assert!(
        resumed == last || resumed == last + 1,
        "resumed at {resumed}, the first stopped at {last}"
    );
    fleet.kill_all();
}
