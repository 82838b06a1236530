//! A full Redis (a few MB of `--maxmemory`, `--maxmemory-policy
//! noeviction`): enqueues are refused with a typed error and write nothing,
//! durable step writes are refused the same way, the scripts that drain
//! work run past the limit, and the queue that
//! filled it drains, every job once, with worker processes.
//!
//! The worker processes are this test binary run again (the test
//! `worker_process` does nothing unless `ORK_FAULT_ROLE` is set). They
//! record every execution of a task body on a second server without a
//! memory limit, since the full one would refuse the record.

mod fault_kit;

use std::collections::HashMap;
use std::time::Duration;

use fault_kit::process::{run_child, ChildEnv, Fleet};
use fault_kit::{backend, eventually, executions, raw, ExecLog};
use ork::backend::{ClaimRequest, Finish, LeaseStatus, Outcome};
use ork::prelude::*;
use ork::{CancelOutcome, MemoryUsage};
use ork::{Codec, Error, JobId, JobState};
use ork_redis::testing::RedisServer;
use ork_redis::RedisBackend;

/// Bytes of padding per job: what a succeeded job gives back.
const PAD: usize = 200;

/// Records its execution; returns `i`.
#[ork::task]
async fn filler(ctx: Context, i: u64, pad: String) -> ork::Result<u64> {
    ctx.state::<ExecLog>().record(&ctx).await;
    let _ = pad;
    Ok(i)
}

/// Returns `n` bytes.
#[ork::task]
async fn bulky(n: usize, pad: String) -> ork::Result<Vec<u8>> {
    let _ = pad;
    Ok(vec![7; n])
}

const LOG_URL_VAR: &str = "ORK_FULL_LOG_URL";
const QUEUE_VAR: &str = "ORK_FAULT_QUEUE";

/// A worker process (only when run by the tests below).
#[test]
fn worker_process() {
    run_child(2, |env: ChildEnv| async move {
        let queue = env.var(QUEUE_VAR).expect("a queue");
        let log_url = env.var(LOG_URL_VAR).expect("the log server");
        let log = ExecLog::connect(&log_url, &env.ns, &env.name).await;
        let backend = backend(&env.url, &env.ns).await;
        let _pool = Ork::with_backend(backend)
            .worker()
            .queues([queue])
            .concurrency(16)
            .id(env.name.clone())
            .state(log)
            .start()
            .expect("the pool starts");
        std::future::pending::<()>().await;
    });
}

/// A server that refuses writes past `mb` megabytes. About 2.5 MB of them
/// are Redis's own (its start, the scripts and their Lua VM, client
/// buffers), the rest holds jobs.
async fn full_server(mb: u64) -> RedisServer {
    tokio::task::spawn_blocking(move || {
        RedisServer::builder()
            .arg("--maxmemory")
            .arg(format!("{mb}mb"))
            .arg("--maxmemory-policy")
            .arg("noeviction")
            .start()
    })
    .await
    .unwrap()
}

async fn connect(url: &str, ns: &str, legacy: bool) -> Ork {
    let backend = RedisBackend::builder(url)
        .namespace(ns)
        .legacy_scripts(legacy)
        .build()
        .await
        .unwrap();
    Ork::with_backend(backend)
}

/// Jobs per state in `queue`: (queued, running, succeeded).
async fn counts(ork: &Ork, queue: &str) -> (u64, u64, u64) {
    ork.counts()
        .await
        .unwrap()
        .iter()
        .find(|c| c.queue == queue)
        .map_or((0, 0, 0), |c| (c.queued, c.running, c.succeeded))
}

async fn memory(ork: &Ork) -> MemoryUsage {
    ork.backend()
        .memory()
        .await
        .unwrap()
        .expect("Redis reports memory")
}

fn is_oom(e: &Error) -> bool {
    matches!(e, Error::OutOfMemory { .. })
}

/// Enqueues `filler` jobs in batches of 100 until Redis refuses one;
/// checks that the refused batch wrote nothing. Returns the ids stored.
async fn fill(ork: &Ork, queue: &str) -> Vec<JobId> {
    let pad = "x".repeat(PAD);
    let mut ids = Vec::new();
    for batch in 0u64.. {
        assert!(batch < 1000, "Redis never filled");
        let calls = (0..100).map(|i| filler::call(batch * 100 + i, pad.clone()).queue(queue));
        match ork.enqueue_many(calls).await {
            Ok(handles) => ids.extend(handles.iter().map(|h| h.id().clone())),
            Err(e) => {
                assert!(is_oom(&e), "a refusal is Error::OutOfMemory: {e:?}");
                assert!(e.is_transient());
                assert_eq!(
                    e.to_string(),
                    "Redis is out of memory (maxmemory reached); none of the 100 jobs was \
                     enqueued. Workers free memory as they finish jobs; retry later, or raise \
                     maxmemory"
                );
                assert_eq!(
                    counts(ork, queue).await.0,
                    ids.len() as u64,
                    "nothing written"
                );
                return ids;
            }
        }
    }
    unreachable!()
}

/// Enqueues fill Redis until refused: each refusal is `Error::OutOfMemory`
/// with the Redis error as its source, and writes nothing, one job or a
/// thousand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_refuses_enqueues_with_a_typed_error_and_writes_nothing() {
    let server = full_server(3).await;
    let ork = connect(&server.url(), "refuse", false).await;
    let queue = "fill";
    let ids = fill(&ork, queue).await;
    assert!(ids.len() > 1000, "{} jobs filled 3 MB", ids.len());
    let m = memory(&ork).await;
    assert_eq!(m.max_bytes, Some(3 * 1024 * 1024));

    let pad = "y".repeat(PAD);
    let one = ork
        .enqueue(filler::call(1, pad.clone()).queue(queue))
        .await
        .unwrap_err();
    assert!(is_oom(&one), "{one:?}");
    assert!(
        one.to_string().contains("; the job was not enqueued."),
        "{one}"
    );
    let source = std::error::Error::source(&one).expect("the Redis error is the source");
    assert!(source.to_string().contains("OOM"), "{source}");

    let bulk = ork
        .enqueue_many((0..1000).map(|i| filler::call(i, pad.clone()).queue(queue)))
        .await
        .unwrap_err();
    assert!(is_oom(&bulk), "{bulk:?}");
    assert!(
        bulk.to_string()
            .contains("none of the 1000 jobs was enqueued"),
        "{bulk}"
    );
    assert_eq!(counts(&ork, queue).await, (ids.len() as u64, 0, 0));
}

/// On a full Redis, claims, heartbeats, the reaper and cancels run, and a
/// claimed job still finishes (the allow-oom scripts, or their Redis 6.2
/// form): its payload is dropped, and a result larger than the payload is
/// dropped too, the job succeeding without it; a result no larger is kept.
/// Each for both forms of the scripts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finish_on_a_full_redis_succeeds_and_drops_what_does_not_fit() {
    let server = full_server(3).await;
    for legacy in [false, true] {
        let ns = if legacy { "legacy" } else { "shebang" };
        let ork = connect(&server.url(), ns, legacy).await;
        let backend = ork.backend();
        let big = ork
            .enqueue(
                // Arguments over 250 bytes: their length takes three bytes
                // in the record, which the finish script reads.
                bulky::call(4096, "b".repeat(1000))
                    .queue("bulky")
                    .priority(3)
                    .retries(2)
                    .timeout(Duration::from_secs(7)),
            )
            .await
            .unwrap();
        let small = ork
            .enqueue(bulky::call(1, "s".repeat(PAD)).queue("bulky"))
            .await
            .unwrap();
        ork.enqueue(bulky::call(1, String::new()).queue("later"))
            .await
            .unwrap();
        let unwanted = ork
            .enqueue(bulky::call(1, String::new()).queue("unwanted"))
            .await
            .unwrap();
        let req = ClaimRequest::new("test", vec!["bulky".to_owned()], 2, Duration::from_secs(60));
        let claimed = backend.claim(&req).await.unwrap();
        assert_eq!(claimed.len(), 2);
        // Full: well past the limit (filling to the limit leaves Redis
        // just under it once the last request's buffers are freed).
        let used = memory(&ork).await.used_bytes;
        set_maxmemory(&server, used / 2).await;
        let refused = ork
            .enqueue(bulky::call(1, String::new()).queue("bulky"))
            .await
            .unwrap_err();
        assert!(is_oom(&refused), "{refused:?}");
        // A durable step adds data: refused too, and nothing is stored
        // (the task's step fails; the job's retries run it later).
        let step = backend
            .put_step(&claimed[0].lease, "charge", &[1; 1000])
            .await
            .unwrap_err();
        assert!(is_oom(&step), "{ns}: {step:?}");
        assert!(
            backend
                .steps(&claimed[0].lease.id)
                .await
                .unwrap()
                .is_empty(),
            "{ns}: the refused step wrote nothing"
        );

        // The other scripts that drain work run too: a claim (with a lease
        // that runs out at once), heartbeats, the reaper, a cancel.
        let quick = ClaimRequest::new(
            "test",
            vec!["later".to_owned()],
            1,
            Duration::from_millis(1),
        );
        let lapsed = backend.claim(&quick).await.unwrap();
        assert_eq!(lapsed.len(), 1, "{ns}: a claim on a full Redis");
        let leases: Vec<_> = claimed.iter().map(|c| c.lease.clone()).collect();
        let held = backend
            .heartbeat(&leases, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(held, vec![LeaseStatus::Held, LeaseStatus::Held], "{ns}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(backend.reap().await.unwrap(), 1, "{ns}: the lapsed lease");
        assert_eq!(
            backend.cancel(unwanted.id()).await.unwrap(),
            CancelOutcome::Cancelled,
            "{ns}"
        );

        let results: HashMap<JobId, Vec<u8>> = [
            (big.id().clone(), vec![7; 4096]),
            (small.id().clone(), vec![7; 1]),
        ]
        .into();
        let batch: Vec<Finish> = claimed
            .iter()
            .map(|c| {
                let bytes = Codec::Bincode.encode(&results[&c.record.id]).unwrap();
                Finish {
                    lease: c.lease.clone(),
                    outcome: Outcome::Succeeded { result: bytes },
                }
            })
            .collect();
        assert_eq!(
            backend.finish(&batch).await.unwrap(),
            vec![true, true],
            "{ns}"
        );

        let infos = backend
            .jobs(&[big.id().clone(), small.id().clone()])
            .await
            .unwrap();
        let big_info = infos[0].clone().unwrap();
        assert_eq!(big_info.state, JobState::Succeeded, "{ns}");
        assert!(big_info.result.is_none(), "{ns}: the result was kept");
        assert_eq!(
            big_info.error.as_deref(),
            Some("result dropped: Redis out of memory"),
            "{ns}"
        );
        // The record is still whole, without its arguments.
        assert_eq!(big_info.record.task, claimed[0].record.task);
        assert_eq!(big_info.record.queue, "bulky");
        assert_eq!(
            (
                big_info.record.priority,
                big_info.record.retries,
                big_info.record.timeout_ms
            ),
            (3, 2, 7000)
        );
        assert!(big_info.record.payload.is_empty(), "{ns}");
        let err = big.result().await.unwrap_err();
        assert!(
            err.to_string()
                .contains("result dropped: Redis out of memory"),
            "{err}"
        );

        let small_info = infos[1].clone().unwrap();
        assert_eq!(small_info.state, JobState::Succeeded, "{ns}");
        assert_eq!(small_info.error, None, "{ns}");
        assert!(small_info.record.payload.is_empty(), "{ns}");
        assert_eq!(small.result().await.unwrap(), vec![7]);

        set_maxmemory(&server, 3 * 1024 * 1024).await;
    }
}

async fn set_maxmemory(server: &RedisServer, bytes: u64) {
    let mut conn = raw(&server.url()).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(bytes)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// Two worker processes start on a Redis that enqueues filled: every job
/// runs exactly once and ends succeeded with its result, memory falls, and
/// enqueues succeed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_drain_a_full_redis_and_every_job_runs_once() {
    let (ns, queue) = ("drain", "drain-q");
    // Room for thousands of jobs beyond what the worker processes'
    // connections take.
    let server = full_server(6).await;
    let log_server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    let ork = connect(&server.url(), ns, false).await;
    let ids = fill(&ork, queue).await;
    let full = memory(&ork).await;

    let mut fleet = Fleet::new("worker_process", &server.url(), ns);
    fleet
        .env(QUEUE_VAR, queue)
        .env(LOG_URL_VAR, log_server.url());
    fleet.add("drain");
    fleet.add("drain");
    let total = ids.len() as u64;
    eventually(Duration::from_secs(60), "every job succeeded", || async {
        counts(&ork, queue).await == (0, 0, total)
    })
    .await;

    let infos = ork.backend().jobs(&ids).await.unwrap();
    for (i, info) in infos.into_iter().enumerate() {
        let info = info.unwrap_or_else(|| panic!("job {i} is gone"));
        assert_eq!(info.state, JobState::Succeeded, "job {i}");
        let result: u64 = Codec::Bincode.decode(&info.result.unwrap()).unwrap();
        assert_eq!(result, i as u64);
        assert_eq!(info.attempts, 1, "job {i}");
    }
    let log = executions(&mut raw(&log_server.url()).await, ns).await;
    let mut runs: HashMap<&str, usize> = HashMap::new();
    for e in &log {
        *runs.entry(e.job.as_str()).or_default() += 1;
    }
    assert_eq!(log.len(), ids.len(), "one execution per job");
    assert!(ids.iter().all(|id| runs.get(id.as_str()) == Some(&1)));

    // Each worker process warned once that memory passed 80%.
    let warnings = fleet.grep("Redis memory is past 80% of maxmemory");
    assert_eq!(warnings.len(), 2, "{warnings:?}");

    let drained = memory(&ork).await;
    assert!(
        drained.used_bytes < full.used_bytes,
        "memory fell: {} then {}",
        full.used_bytes,
        drained.used_bytes
    );
    if let Err(e) = ork
        .enqueue_many((0..100).map(|i| filler::call(i, "z".repeat(PAD)).queue("after")))
        .await
    {
        panic!("enqueues succeed again: {e}; memory {full:?} then {drained:?}");
    }
}
