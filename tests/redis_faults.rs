//! Faults of real processes on a real redis-server: worker processes
//! killed with SIGKILL mid-run, the
//! server killed and restarted, garbage in a queue, two namespaces on one
//! server.
//!
//! The worker processes are this test binary run again: the test
//! `worker_process` does nothing unless `ORK_FAULT_ROLE` names a role.
//! Every execution of a task body is recorded in a Redis list of the
//! test's own (`faults:<ns>:executions`), so the tests can compare what
//! ran with what each kill left in flight. Each test runs its own server.

mod fault_kit;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fault_kit::process::{run_child, ChildEnv, Fleet};
use fault_kit::{
    backend, connect, eventually, executions, raw, server, start_server, ExecLog, Kills, Rng,
};
use ork::backend::JobRecord;
use ork::prelude::*;
use ork::JobQuery;
use ork::{Codec, Error, JobId, JobState, Task};
use ork_redis::testing::RedisServer;
use ork_redis::RedisBackend;

/// Records its execution, takes `ms`, returns `2 i`.
#[ork::task]
async fn chore(ctx: Context, i: u64, ms: u64) -> ork::Result<u64> {
    ctx.state::<ExecLog>().record(&ctx).await;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(i * 2)
}

#[ork::task]
async fn boom() -> ork::Result<()> {
    panic!("boom on purpose")
}

const QUEUE_VAR: &str = "ORK_FAULT_QUEUE";
const LEASE_VAR: &str = "ORK_FAULT_LEASE_MS";
const CONCURRENCY_VAR: &str = "ORK_FAULT_CONCURRENCY";

/// A worker process (only when run by the tests below).
#[test]
fn worker_process() {
    run_child(2, |env: ChildEnv| async move {
        let queue = env.var(QUEUE_VAR).expect("a queue");
        let lease = Duration::from_millis(env.var(LEASE_VAR).map_or(2000, |v| v.parse().unwrap()));
        let concurrency: usize = env.var(CONCURRENCY_VAR).map_or(8, |v| v.parse().unwrap());
        let log = ExecLog::connect(&env.url, &env.ns, &env.name).await;
        let backend = backend(&env.url, &env.ns).await;
        let ork = Ork::with_backend(backend);
        let worker = ork
            .worker()
            .queues([queue])
            .lease(lease)
            .concurrency(concurrency)
            .id(env.name.clone())
            .state(log);
        let _pool = worker.start().expect("the pool starts");
        std::future::pending::<()>().await;
    });
}

/// How many jobs of `queue` succeeded.
async fn succeeded(ork: &Ork, queue: &str) -> u64 {
    ork.counts()
        .await
        .unwrap()
        .iter()
        .find(|c| c.queue == queue)
        .map_or(0, |c| c.succeeded)
}

/// Jobs' infos, looked up in chunks.
async fn infos(ork: &Ork, ids: &[JobId]) -> Vec<Option<ork::JobInfo>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        out.extend(ork.backend().jobs(chunk).await.unwrap());
    }
    out
}

/// Three worker processes run 2,000 jobs while one of them is SIGKILLed
/// and restarted eight times: every job succeeds once with its result, an
/// attempt runs twice only when a killed process had it in flight, and no
/// attempt stays running longer than the lease and a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_lose_nothing_and_rerun_only_what_they_held() {
    const JOBS: u64 = 2000;
    const LEASE: Duration = Duration::from_secs(2);
    let (ns, queue) = ("kill", "kill-q");
    let server = server().await;
    let ork = connect(&server.url(), ns).await;
    let mut conn = raw(&server.url()).await;
    let mut fleet = Fleet::new("worker_process", &server.url(), ns);
    fleet
        .env(QUEUE_VAR, queue)
        .env(LEASE_VAR, LEASE.as_millis())
        .env(CONCURRENCY_VAR, 8);
    for _ in 0..3 {
        fleet.add("chores");
    }
    let handles = ork
        .enqueue_many((0..JOBS).map(|i| chore::call(i, 40 + (i * 37) % 100).queue(queue)))
        .await
        .unwrap();
    let ids: Vec<JobId> = handles.iter().map(|h| h.id().clone()).collect();

    // Samples the oldest running attempt: a job held by a dead worker must
    // go back to its queue within a lease and a reaper tick.
    let oldest = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (ork, oldest, done) = (ork.clone(), oldest.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let now = ork.backend().now_ms().await.unwrap();
                let running = ork
                    .list(&JobQuery::state(JobState::Running).page(0, 10_000))
                    .await
                    .unwrap();
                for r in running {
                    let age = now.saturating_sub(r.started_at_ms.unwrap_or(now));
                    oldest.fetch_max(age, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let mut rng = Rng::seeded();
    let mut kills = Kills::default();
    let mut caught = Vec::new();
    for _ in 0..8 {
        tokio::time::sleep(rng.millis(300, 900)).await;
        let slot = rng.below(fleet.len() as u64) as usize;
        let name = fleet.kill(slot).unwrap();
        // Let whatever the dead process wrote reach the server.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let log = executions(&mut conn, ns).await;
        caught.push(kills.record(&name, &log, ork.backend().as_ref()).await);
        tokio::time::sleep(rng.millis(0, 400)).await;
        fleet.start(slot);
    }
    let until_done = Instant::now();
    eventually(Duration::from_secs(60), "every job succeeded", || async {
        succeeded(&ork, queue).await == JOBS
    })
    .await;
    let tail = until_done.elapsed();
    done.store(true, Ordering::SeqCst);
    sampler.await.unwrap();

    // None lost: every job succeeded, with its own result.
    for (i, info) in infos(&ork, &ids).await.into_iter().enumerate() {
        let info = info.unwrap_or_else(|| panic!("job {i} is gone"));
        assert_eq!(info.state, JobState::Succeeded, "job {i}");
        let result: u64 = Codec::Bincode.decode(&info.result.unwrap()).unwrap();
        assert_eq!(result, 2 * i as u64);
        assert_eq!(info.attempts, 1, "job {i}: a lost lease is not an attempt");
    }
    let log = executions(&mut conn, ns).await;
    let ran: HashSet<&str> = log.iter().map(|e| e.job.as_str()).collect();
    let ours: HashSet<&str> = ids.iter().map(JobId::as_str).collect();
    assert_eq!(ran, ours, "every job ran, and nothing else");
    // Twice only when it was in flight on a killed worker.
    kills.self_fenced(fleet.self_fenced());
    let reruns = kills.check_duplicates(&log);
    assert_eq!(kills.count(), 8);
    assert!(
        caught.iter().filter(|&&n| n > 0).count() >= 5,
        "the kills caught work in flight: {caught:?}"
    );
    let oldest = Duration::from_millis(oldest.load(Ordering::SeqCst));
    assert!(
        oldest < LEASE + Duration::from_secs(3),
        "an attempt stayed running {oldest:?}"
    );
    eprintln!(
        "{JOBS} jobs, {} executions, {reruns} re-runs after kills caught {caught:?} in flight; \
         oldest running attempt {oldest:?}; {tail:?} from the last kill to the end",
        log.len()
    );
}

/// The server (AOF, fsync always) is SIGKILLed and restarted twice while
/// a producer enqueues and two worker processes run: every enqueue that
/// returned Ok completes, and the same processes reconnect by themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarts_lose_no_acknowledged_enqueue() {
    let (ns, queue) = ("restart", "restart-q");
    let mut server = start_server(|| RedisServer::builder().aof(true).start()).await;
    let url = server.url();
    let ork = connect(&url, ns).await;
    let mut fleet = Fleet::new("worker_process", &url, ns);
    fleet
        .env(QUEUE_VAR, queue)
        .env(LEASE_VAR, 2000)
        .env(CONCURRENCY_VAR, 8);
    for _ in 0..2 {
        fleet.add("chores");
    }
    // A producer enqueues one job at a time, keeping each one the server
    // acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (ork, stop) = (ork.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut acked, mut refused) = (Vec::new(), 0u32);
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                match ork.enqueue(chore::call(i, 5).queue(queue)).await {
                    Ok(h) => acked.push((i, h.id().clone())),
                    Err(e) => {
                        assert!(e.is_transient(), "{e}");
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            (acked, refused)
        })
    };
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        tokio::task::block_in_place(|| server.kill());
        tokio::time::sleep(Duration::from_millis(1000)).await;
        tokio::task::block_in_place(|| server.restart());
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    let (acked, refused) = producer.await.unwrap();
    assert!(acked.len() > 200, "{} enqueues acknowledged", acked.len());

    let ids: Vec<JobId> = acked.iter().map(|(_, id)| id.clone()).collect();
    let started = Instant::now();
    let mut left = ids.clone();
    while !left.is_empty() {
        let found = infos(&ork, &left).await;
        let lost: Vec<&JobId> = left
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(id, _)| id)
            .collect();
        assert!(lost.is_empty(), "acknowledged enqueues lost: {lost:?}");
        left = left
            .into_iter()
            .zip(found)
            .filter(|(_, f)| f.as_ref().is_some_and(|f| f.state != JobState::Succeeded))
            .map(|(id, _)| id)
            .collect();
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} acknowledged jobs not done: {:?}\n{}",
            left.len(),
            &left[..left.len().min(5)],
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for ((i, _), info) in acked.iter().zip(infos(&ork, &ids).await) {
        let result: u64 = Codec::Bincode
            .decode(&info.unwrap().result.unwrap())
            .unwrap();
        assert_eq!(result, 2 * i);
    }
    // The same worker processes reconnected by themselves.
    for slot in 0..fleet.len() {
        assert!(fleet.alive(slot), "worker {slot} died\n{}", fleet.logs());
        assert_eq!(fleet.name(slot), format!("w{slot}.1"));
    }
    let mut conn = raw(&url).await;
    let ran: HashSet<String> = executions(&mut conn, ns)
        .await
        .into_iter()
        .map(|e| e.job)
        .collect();
    assert!(ids.iter().all(|id| ran.contains(id.as_str())));
    eprintln!(
        "{} enqueues acknowledged, {refused} refused during the outages; done {:?} after the producer stopped",
        acked.len(),
        started.elapsed()
    );
}

/// Stores a job for `task` the way the engine does, with raw commands:
/// the job hash (`d` is a version byte and the record in bincode without
/// its id), the ready list, the queue registry and the wake token.
async fn raw_enqueue(
    conn: &mut redis::aio::MultiplexedConnection,
    ns: &str,
    queue: &str,
    task: &str,
    payload: Vec<u8>,
) -> JobId {
    let id = JobId::new();
    let mut record = JobRecord::new(task, payload);
    record.queue = queue.to_owned();
    record.id = JobId::from("");
    let mut blob = vec![1u8];
    blob.extend(Codec::Bincode.encode(&record).unwrap());
    let now: (u64, u64) = redis::cmd("TIME").query_async(conn).await.unwrap();
    let mut pipe = redis::pipe();
    pipe.cmd("HSET")
        .arg(format!("{{{ns}}}:job:{id}"))
        .arg("d")
        .arg(blob)
        .arg("s")
        .arg("q")
        .arg("q")
        .arg(queue)
        .arg("t")
        .arg(now.0 * 1000 + now.1 / 1000)
        .ignore();
    pipe.cmd("SADD")
        .arg(format!("{{{ns}}}:queues"))
        .arg(queue)
        .ignore();
    pipe.cmd("RPUSH")
        .arg(format!("{{{ns}}}:q:{queue}:0"))
        .arg(id.as_str())
        .ignore();
    pipe.cmd("ZADD")
        .arg(format!("{{{ns}}}:k:{queue}"))
        .arg(0)
        .arg("t")
        .ignore();
    let _: () = pipe.query_async(conn).await.unwrap();
    id
}

/// Calls since the server started, but `INFO`'s: (commands clients sent,
/// every command run, including those scripts call).
async fn commands_called(conn: &mut redis::aio::MultiplexedConnection) -> (u64, u64) {
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    let (mut sent, mut run) = (0, 0);
    for line in stats.lines() {
        let Some((name, rest)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        let calls: u64 = rest
            .split("calls=")
            .nth(1)
            .and_then(|c| c.split(',').next())
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if name == "info" {
            continue;
        }
        run += calls;
        // What the engine sends itself; the rest are scripts' own calls.
        if ["evalsha", "eval", "bzpopmin", "ping"].contains(&name)
            || name.starts_with("script|")
            || name.starts_with("client|")
            || name.starts_with("config|")
        {
            sent += calls;
        }
    }
    (sent, run)
}

/// User and system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces), from field 3.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Garbage bytes and a well-formed job for an unknown task pushed into a
/// queue with raw commands, a job whose arguments don't decode, a task
/// that panics: all dead-lettered with their reason; the worker process
/// then runs a normal job and idles without a loop (Redis command counts
/// and the process's CPU time over a second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_dead_lettered_and_the_worker_idles_quietly() {
    let (ns, queue) = ("bad", "bad-q");
    let server = server().await;
    let url = server.url();
    let ork = connect(&url, ns).await;
    let mut conn = raw(&url).await;
    let mut fleet = Fleet::new("worker_process", &url, ns);
    fleet
        .env(QUEUE_VAR, queue)
        .env(LEASE_VAR, 2000)
        .env(CONCURRENCY_VAR, 4);
    let worker = fleet.add("chores");
    eventually(Duration::from_secs(20), "the worker registered", || async {
        !ork.workers().await.unwrap().is_empty()
    })
    .await;

    // Garbage bytes straight into the ready list.
    let _: () = redis::pipe()
        .cmd("RPUSH")
        .arg(format!("{{{ns}}}:q:{queue}:0"))
        .arg(&[0xff_u8, 0x00, 0xc3, 0x28, b'|', b'\n'][..])
        .ignore()
        .cmd("ZADD")
        .arg(format!("{{{ns}}}:k:{queue}"))
        .arg(0)
        .arg("t")
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    // A well-formed job for a task nobody has.
    let args = Codec::Bincode.encode(&(7u64,)).unwrap();
    let unknown = raw_enqueue(&mut conn, ns, queue, "no-such-task", args).await;
    // A known task whose arguments don't decode.
    let chore_name = <chore as Task>::OPTIONS.name;
    let mangled = raw_enqueue(&mut conn, ns, queue, chore_name, vec![0xff; 3]).await;
    // A task that panics.
    let panics = ork.enqueue(boom::call().queue(queue)).await.unwrap();

    eventually(Duration::from_secs(20), "four dead letters", || async {
        ork.dead_letters(100).await.unwrap().len() >= 4
    })
    .await;
    let dead = ork.dead_letters(100).await.unwrap();
    let reason = |id: &JobId| {
        dead.iter()
            .find(|d| d.record.id == *id)
            .unwrap_or_else(|| panic!("{id} is not a dead letter: {dead:?}"))
            .error
            .clone()
            .unwrap_or_default()
    };
    let garbage = dead
        .iter()
        .find(|d| d.record.id.as_str().starts_with("garbage:"))
        .expect("the garbage entry is a dead letter");
    assert_eq!(
        garbage.error.as_deref(),
        Some("undecodable job record: no job record for this queue entry")
    );
    let why = reason(&unknown);
    assert!(why.contains("unknown task `no-such-task`"), "{why}");
    let why = reason(&mangled);
    assert!(why.contains(chore_name), "{why}");
    let why = reason(panics.id());
    assert!(
        why.contains("panicked") && why.contains("boom on purpose"),
        "{why}"
    );
    assert_eq!(dead.len(), 4, "{dead:?}");

    // The worker keeps going.
    let fine = ork.enqueue(chore::call(21, 0).queue(queue)).await.unwrap();
    assert_eq!(
        fine.result_timeout(Duration::from_secs(20)).await.unwrap(),
        42
    );

    // And idles quietly: no claim loop on the dead letters.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = fleet.pid(worker).unwrap();
    let (calls, cpu) = (commands_called(&mut conn).await, cpu_ticks(pid));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = commands_called(&mut conn).await;
    let (sent, run) = (after.0 - calls.0, after.1 - calls.1);
    let cpu = cpu_ticks(pid) - cpu;
    // Heartbeat ticks (register, reap) and a scheduler round: a handful.
    assert!(sent <= 15, "{sent} commands sent in a second of idling");
    assert!(run <= 100, "{run} commands run in a second of idling");
    assert!(cpu <= 15, "{cpu} ticks of CPU in a second of idling");
    let counts = ork.counts().await.unwrap();
    let c = counts.iter().find(|c| c.queue == queue).unwrap();
    assert_eq!((c.dead, c.succeeded, c.queued, c.running), (4, 1, 0, 0));
    eprintln!("idle second: {sent} commands sent ({run} run, with scripts' own), {cpu} CPU ticks");
}

/// Payloads over the limit, through the client: a call, and a workflow
/// node's argument given at submit. Refused with a clear error; nothing is
/// stored, not even the workflow's description.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_calls_and_workflows_are_refused_whole() {
    let server = server().await;
    let backend = RedisBackend::builder(server.url())
        .namespace("big")
        .payload_limit(1024)
        .build()
        .await
        .unwrap();
    let ork = Ork::with_backend(backend);
    // (ork-redis's backend tests cover a raw batch; these go through the
    // client.)
    let err = ork
        .enqueue(oversized::call(0, vec![7; 2000]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::PayloadTooLarge { limit: 1024, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("over the limit of 1024 bytes"),
        "{err}"
    );
    // A workflow with one node over the limit: refused whole, nothing
    // stored (no description that would read as a finished workflow).
    let mut big = Workflow::new("too big");
    let first = big.add(chore::call(1, 0));
    big.add(oversized::flow(first, vec![7; 2000]));
    let err = ork.submit(big).await.unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err}");
    assert!(ork.workflows(0, 10).await.unwrap().is_empty());
    assert!(ork
        .list(&JobQuery::default().page(0, 100))
        .await
        .unwrap()
        .is_empty());
    assert!(ork.counts().await.unwrap().is_empty());
    // Within the limit, all of it is stored.
    let mut fine = Workflow::new("fine");
    let first = fine.add(chore::call(1, 0));
    fine.add(oversized::flow(first, vec![7; 500]));
    let run = ork.submit(fine).await.unwrap();
    assert_eq!(ork.workflows(0, 10).await.unwrap().len(), 1);
    let nodes = run.nodes().await.unwrap();
    assert!(nodes
        .iter()
        .all(|n| n.state() == Some(JobState::Queued) || n.state() == Some(JobState::Waiting)));
}

#[ork::task]
async fn oversized(n: u64, bytes: Vec<u8>) -> ork::Result<u64> {
    Ok(n + bytes.len() as u64)
}

/// Two pools in two namespaces of one server, same queue name, same job
/// id: each runs its own jobs once, the other's reaper leaves a long job
/// alone, workers and dead letters are listed apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_namespaces_keep_their_worker_pools_apart() {
    let server = server().await;
    let url = server.url();
    let queue = "same-q";
    let mut pools = Vec::new();
    let mut orks = Vec::new();
    for ns in ["left", "right"] {
        let ork = connect(&url, ns).await;
        let log = ExecLog::connect(&url, ns, ns).await;
        let pool = ork
            .worker()
            .queues([queue])
            .lease(Duration::from_millis(900))
            .concurrency(8)
            .id(format!("pool-{ns}"))
            .state(log)
            .start()
            .unwrap();
        pools.push(pool);
        orks.push(ork);
    }
    let (left, right) = (&orks[0], &orks[1]);
    // Same ids in both namespaces: each is its namespace's own job.
    let long = left
        .enqueue(chore::call(1, 2500).queue(queue).id(JobId::from("same-id")))
        .await
        .unwrap();
    let other = right
        .enqueue(chore::call(2, 0).queue(queue).id(JobId::from("same-id")))
        .await
        .unwrap();
    let mut ids: HashMap<&str, Vec<JobId>> = HashMap::new();
    for (ns, ork) in [("left", left), ("right", right)] {
        let handles = ork
            .enqueue_many((0..100).map(|i| chore::call(i, 5).queue(queue)))
            .await
            .unwrap();
        ids.insert(ns, handles.iter().map(|h| h.id().clone()).collect());
    }
    assert_eq!(
        other.result_timeout(Duration::from_secs(20)).await.unwrap(),
        4
    );
    // The long job outlives its lease twice over: the other namespace's
    // reaper never touches it.
    assert_eq!(
        long.result_timeout(Duration::from_secs(20)).await.unwrap(),
        2
    );
    for (ns, ork) in [("left", left), ("right", right)] {
        eventually(Duration::from_secs(20), "every job done", || async {
            succeeded(ork, queue).await == 101
        })
        .await;
        let mut conn = raw(&url).await;
        let log = executions(&mut conn, ns).await;
        assert_eq!(log.len(), 101, "{ns}: each job ran once");
        assert!(log.iter().all(|e| e.name == ns && e.attempt == 1));
        let ran: HashSet<&str> = log.iter().map(|e| e.job.as_str()).collect();
        assert!(ids[ns].iter().all(|id| ran.contains(id.as_str())));
        assert!(ran.contains("same-id"));
        let workers = ork.workers().await.unwrap();
        assert_eq!(workers.len(), 1);
        assert_eq!(workers[0].id, format!("pool-{ns}"));
    }
    // A job no worker knows, dead-lettered by the right pool only.
    let mut stray = JobRecord::new("no-such-task", Vec::new());
    stray.queue = queue.to_owned();
    right.backend().enqueue(vec![stray.clone()]).await.unwrap();
    let dead = right
        .backend()
        .wait(&stray.id, Duration::from_secs(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.state, JobState::Dead);
    assert!(left.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(right.dead_letters(10).await.unwrap().len(), 1);
    for p in pools {
        p.shutdown().await;
    }
}
