//! Leases at the edges, with real processes against a real redis-server:
//! a paused Redis, a worker cut off by a proxy, a frozen worker, a claim
//! answered too late, and a task that blocks its runtime. Each checks from
//! the tasks' own execution log that nothing ran twice, or that no two
//! runs of one job overlapped in time.

mod fault_kit;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fault_kit::process::{run_child, signal, ChildEnv, Fleet, ROLE_VAR};
use fault_kit::relay::Relay;
use fault_kit::{backend, connect, executions, raw, server, ExecLog, FinishSpy};
use ork::prelude::*;
use ork::JobState;

/// Records its execution, takes `ms`, returns `i`.
#[ork::task]
async fn chore(ctx: Context, i: u64, ms: u64) -> ork::Result<u64> {
    ctx.state::<ExecLog>().record(&ctx).await;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(i)
}

/// Runs for `ms` in 10 ms steps, recording when its body started and when
/// it stopped (ran to its end, or was dropped) in the span log.
#[ork::task]
async fn long(ctx: Context, ms: u64) -> ork::Result<()> {
    let log = ctx.state::<ExecLog>();
    log.record(&ctx).await;
    let mut span = Span::begin(log.clone(), &ctx);
    let until = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    span.completed = true;
    Ok(())
}

/// Records its execution, takes `ms`.
#[ork::task]
async fn nap(ctx: Context, ms: u64) -> ork::Result<()> {
    ctx.state::<ExecLog>().record(&ctx).await;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(())
}

/// Blocks its runtime thread for `ms` (a blocking call in an async fn).
#[ork::task(name = "edges::hog")]
async fn hog(ctx: Context, ms: u64) -> ork::Result<()> {
    ctx.state::<ExecLog>().record(&ctx).await;
    std::thread::sleep(Duration::from_millis(ms));
    Ok(())
}

/// This process's worker counters.
#[ork::task]
async fn counters() -> ork::Result<String> {
    Ok(ork::metrics::local())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn spans_key(ns: &str) -> String {
    format!("faults:{ns}:spans")
}

/// A run of a body, logged when dropped: `<name>|<job>|<start>|<end>|<completed>`.
struct Span {
    log: ExecLog,
    key: String,
    job: String,
    start: u64,
    completed: bool,
}

impl Span {
    fn begin(log: ExecLog, ctx: &Context) -> Span {
        let ns = ctx.state::<Namespace>().0.clone();
        Span {
            log,
            key: spans_key(&ns),
            job: ctx.job_id().to_string(),
            start: now_ms(),
            completed: false,
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        let entry = format!(
            "{}|{}|{}|{}|{}",
            self.log.name(),
            self.job,
            self.start,
            now_ms(),
            u8::from(self.completed)
        );
        let (log, key) = (self.log.clone(), self.key.clone());
        tokio::spawn(async move { log.push(&key, &entry).await });
    }
}

struct Namespace(String);

const QUEUE: &str = "edges";
const LEASE_VAR: &str = "ORK_EDGE_LEASE_MS";
const BACKEND_URL_VAR: &str = "ORK_EDGE_BACKEND_URL";
const CONCURRENCY_VAR: &str = "ORK_EDGE_CONCURRENCY";
/// The server the execution log goes to: not the one under test, so a
/// task's own logging never waits on a paused or unreachable Redis.
const LOG_URL_VAR: &str = "ORK_EDGE_LOG_URL";

/// A worker process (only when run by the tests below). Roles: `plain`;
/// `hog` (one runtime thread, so a blocking task stalls all of it, and a
/// queue of its own); `slow-claim` (every claim answered 1.5 leases late).
#[test]
fn worker_process() {
    let threads = match std::env::var(ROLE_VAR).as_deref() {
        Ok("hog") => 0,
        _ => 2,
    };
    run_child(threads, |env: ChildEnv| async move {
        let lease = Duration::from_millis(env.var(LEASE_VAR).map_or(1000, |v| v.parse().unwrap()));
        let concurrency: usize = env.var(CONCURRENCY_VAR).map_or(8, |v| v.parse().unwrap());
        let url = env.var(BACKEND_URL_VAR).unwrap_or_else(|| env.url.clone());
        let log_url = env.var(LOG_URL_VAR).expect("a log server");
        let log = ExecLog::connect(&log_url, &env.ns, &env.name).await;
        let backend = backend(&url, &env.ns).await;
        let ork = match env.role.as_str() {
            "slow-claim" => Ork::with_backend(
                FinishSpy::new(backend, log.clone(), &env.ns).claim_delay(lease * 3 / 2),
            ),
            _ => Ork::with_backend(backend),
        };
        let queues = match env.role.as_str() {
            "hog" => vec![QUEUE.to_owned(), "hog-only".to_owned()],
            _ => vec![QUEUE.to_owned()],
        };
        let worker = ork
            .worker()
            .queues(queues)
            .lease(lease)
            .concurrency(concurrency)
            .blocking_threshold(Duration::from_millis(200))
            .grace(Duration::from_millis(500))
            .handback_timeout(Duration::from_millis(1500))
            .id(env.name.clone())
            .state(log)
            .state(Namespace(env.ns.clone()));
        if env.role == "term" {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("a SIGTERM handler");
            worker
                .run_until(async move {
                    term.recv().await;
                })
                .await
                .expect("the pool runs");
            eprintln!("pool returned");
            std::process::exit(0);
        }
        let _pool = worker.start().expect("the pool starts");
        std::future::pending::<()>().await;
    });
}

/// Waits until every job has ended, then checks each succeeded.
async fn all_succeeded(ork: &Ork, ids: &[ork::JobId], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let mut states = Vec::with_capacity(ids.len());
        for id in ids {
            let info = ork.job(id).await.expect("look the job up");
            states.push(info.expect("job exists").state);
        }
        if states.iter().all(|s| s.is_terminal()) {
            assert!(
                states.iter().all(|s| *s == JobState::Succeeded),
                "every job succeeds: {states:?}"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "jobs not done in time: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs of each job, by job id.
async fn runs_per_job(url: &str, ns: &str) -> HashMap<String, Vec<String>> {
    let mut conn = raw(url).await;
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for e in executions(&mut conn, ns).await {
        out.entry(e.job).or_default().push(e.name);
    }
    out
}

/// Redis is frozen (SIGSTOP) for 2.5 leases while two worker processes
/// finish short tasks, then resumes: no task body runs twice. Attempts
/// that finished during the pause keep their leases until their finish
/// lands; none is reaped and run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redis_reruns_nothing() {
    let ns = "pause";
    let (server, logs) = (server().await, server().await);
    let (url, log_url) = (server.url(), logs.url());
    let ork = connect(&url, ns).await;
    let mut fleet = Fleet::new("worker_process", &url, ns);
    fleet.env(LOG_URL_VAR, &log_url);
    fleet.env(LEASE_VAR, 1200).env(CONCURRENCY_VAR, 8);
    fleet.add("plain");
    fleet.add("plain");
    let calls: Vec<_> = (0..600).map(|i| chore::call(i, 20).queue(QUEUE)).collect();
    let handles = ork.enqueue_many(calls).await.expect("enqueue");
    let ids: Vec<ork::JobId> = handles.iter().map(|h| h.id().clone()).collect();
    let mut conn = raw(&log_url).await;
    wait_executions(&mut conn, ns, 100, "the workers did not start").await;
    let pid = server.pid().expect("the server's pid");
    signal(pid, "STOP");
    tokio::time::sleep(Duration::from_millis(3000)).await;
    signal(pid, "CONT");
    all_succeeded(&ork, &ids, Duration::from_secs(60)).await;
    let runs = runs_per_job(&log_url, ns).await;
    let twice: Vec<_> = runs.iter().filter(|(_, r)| r.len() > 1).collect();
    assert_eq!(runs.len(), ids.len(), "every job ran");
    assert!(twice.is_empty(), "no job ran twice: {twice:?}");
}

/// One run of a body: who ran it, from when to when (Unix ms), and
/// whether it ran to its end.
#[derive(Debug, Clone)]
struct Run {
    name: String,
    start: u64,
    end: u64,
    completed: bool,
}

async fn spans(url: &str, ns: &str) -> HashMap<String, Vec<Run>> {
    let mut conn = raw(url).await;
    let entries: Vec<String> = redis::cmd("LRANGE")
        .arg(spans_key(ns))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .expect("read the spans");
    let mut out: HashMap<String, Vec<Run>> = HashMap::new();
    for e in entries {
        let p: Vec<&str> = e.split('|').collect();
        out.entry(p[1].to_owned()).or_default().push(Run {
            name: p[0].to_owned(),
            start: p[2].parse().unwrap(),
            end: p[3].parse().unwrap(),
            completed: p[4] == "1",
        });
    }
    out
}

/// Waits until `n` executions are logged.
async fn wait_executions(
    conn: &mut redis::aio::MultiplexedConnection,
    ns: &str,
    n: usize,
    what: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while executions(conn, ns).await.len() < n {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `n` runs have logged their spans (a dropped body logs its
/// span from a task of its own).
async fn wait_spans(log_url: &str, ns: &str, n: usize) -> HashMap<String, Vec<Run>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = spans(log_url, ns).await;
        if s.values().map(Vec::len).sum::<usize>() >= n {
            return s;
        }
        assert!(Instant::now() < deadline, "spans missing: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// No two runs of one job overlap in time.
fn assert_no_overlap(spans: &HashMap<String, Vec<Run>>) {
    for (job, runs) in spans {
        for (i, a) in runs.iter().enumerate() {
            for b in &runs[i + 1..] {
                assert!(
                    a.end <= b.start || b.end <= a.start,
                    "two runs of {job} overlap: {a:?} and {b:?}"
                );
            }
        }
    }
}

/// A worker whose connection to Redis stops carrying anything (a proxy
/// that stops forwarding) while it runs tasks longer than the lease: it
/// stops them itself before the lease can run out on the server, so the
/// peer that takes them over never overlaps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_worker_stops_before_another_starts() {
    let ns = "partition";
    let (server, logs) = (server().await, server().await);
    let (url, log_url) = (server.url(), logs.url());
    let proxy = Relay::start(server.port()).await;
    let ork = connect(&url, ns).await;
    let mut cut = Fleet::new("worker_process", &url, ns);
    cut.env(LOG_URL_VAR, &log_url);
    cut.env(LEASE_VAR, 1000)
        .env(CONCURRENCY_VAR, 6)
        .env(BACKEND_URL_VAR, proxy.url());
    cut.add("plain");
    let calls: Vec<_> = (0..6).map(|_| long::call(2500).queue(QUEUE)).collect();
    let handles = ork.enqueue_many(calls).await.expect("enqueue");
    let ids: Vec<ork::JobId> = handles.iter().map(|h| h.id().clone()).collect();
    let mut conn = raw(&log_url).await;
    wait_executions(&mut conn, ns, 6, "the first worker did not start all").await;
    // One fleet, so the two get distinct names; the peer connects directly.
    cut.env(BACKEND_URL_VAR, &url);
    let peer = cut.add("plain");
    proxy.block(true);
    all_succeeded(&ork, &ids, Duration::from_secs(30)).await;
    proxy.block(false);
    // Let the cut-off worker's dropped bodies write their spans.
    let spans = wait_spans(&log_url, ns, 12).await;
    assert_no_overlap(&spans);
    let (first, second) = (cut.name(0).to_owned(), cut.name(peer).to_owned());
    for id in &ids {
        let runs = &spans[id.as_str()];
        assert_eq!(
            runs.len(),
            2,
            "{id}: once cut off, once on the peer: {runs:?}"
        );
        assert!(runs.iter().any(|r| r.name == first && !r.completed));
        assert!(runs.iter().any(|r| r.name == second && r.completed));
    }
    assert!(
        !cut.grep("lease could not be renewed in time").is_empty(),
        "the cut-off worker says why it stopped"
    );
}

/// A worker frozen (SIGSTOP) past its lease while its tasks run: a peer
/// takes the jobs over; once the frozen worker resumes, its stale attempts
/// are dropped without completing, and the peer's runs stand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_worker_drops_its_stale_attempts() {
    let ns = "freeze";
    let (server, logs) = (server().await, server().await);
    let (url, log_url) = (server.url(), logs.url());
    let ork = connect(&url, ns).await;
    let mut frozen = Fleet::new("worker_process", &url, ns);
    frozen.env(LOG_URL_VAR, &log_url);
    frozen.env(LEASE_VAR, 1000).env(CONCURRENCY_VAR, 4);
    frozen.add("plain");
    let calls: Vec<_> = (0..4).map(|_| long::call(3000).queue(QUEUE)).collect();
    let handles = ork.enqueue_many(calls).await.expect("enqueue");
    let ids: Vec<ork::JobId> = handles.iter().map(|h| h.id().clone()).collect();
    let mut conn = raw(&log_url).await;
    wait_executions(&mut conn, ns, 4, "the worker did not start all").await;
    let pid = frozen.pid(0).expect("pid");
    signal(pid, "STOP");
    let peer = frozen.add("plain");
    let peer_name = frozen.name(peer).to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let took = executions(&mut conn, ns)
            .await
            .iter()
            .filter(|e| e.name == peer_name)
            .count();
        if took == 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the peer took over {took} of 4");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(pid, "CONT");
    all_succeeded(&ork, &ids, Duration::from_secs(30)).await;
    let spans = wait_spans(&log_url, ns, 8).await;
    let stale = frozen.name(0).to_owned();
    for id in &ids {
        let runs = &spans[id.as_str()];
        assert_eq!(runs.len(), 2, "{id}: {runs:?}");
        let old = runs.iter().find(|r| r.name == stale).expect("stale run");
        let new = runs.iter().find(|r| r.name == peer_name).expect("peer run");
        assert!(!old.completed, "the stale attempt never reached its end");
        assert!(new.completed);
        let info = ork.job(id).await.expect("job").expect("exists");
        assert_eq!(info.attempts, 1, "a lost lease is not an attempt");
    }
}

/// Every claim a worker gets is answered after its lease ran out there (as
/// after a freeze or a stalled network): it starts none of them, hands
/// them back, and a peer runs each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_answered_too_late_are_never_started() {
    let ns = "late-claim";
    let (server, logs) = (server().await, server().await);
    let (url, log_url) = (server.url(), logs.url());
    let ork = connect(&url, ns).await;
    let mut fleet = Fleet::new("worker_process", &url, ns);
    fleet.env(LOG_URL_VAR, &log_url);
    fleet.env(LEASE_VAR, 400).env(CONCURRENCY_VAR, 4);
    let slow = fleet.add("slow-claim");
    let calls: Vec<_> = (0..20).map(|i| chore::call(i, 5).queue(QUEUE)).collect();
    let handles = ork.enqueue_many(calls).await.expect("enqueue");
    let ids: Vec<ork::JobId> = handles.iter().map(|h| h.id().clone()).collect();
    // Let the slow worker claim (and hand back) for a while alone.
    let deadline = Instant::now() + Duration::from_secs(20);
    while fleet.grep("not started").is_empty() {
        assert!(Instant::now() < deadline, "the slow worker claimed nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fleet.add("plain");
    all_succeeded(&ork, &ids, Duration::from_secs(30)).await;
    let runs = runs_per_job(&log_url, ns).await;
    let slow_name = fleet.name(slow).to_owned();
    for id in &ids {
        let names = &runs[id.as_str()];
        assert_eq!(names.len(), 1, "{id} ran once: {names:?}");
        assert_ne!(names[0], slow_name, "never on the late claimer");
    }
}

/// A task that blocks its worker's only runtime thread for 3 leases: the
/// pool's other tasks and the hog itself keep their leases (renewed from
/// the lease thread), so a second worker runs none of them again; the hog
/// is reported, by a warning and a counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_blocking_its_runtime_costs_no_rerun() {
    let ns = "hog";
    let (server, logs) = (server().await, server().await);
    let (url, log_url) = (server.url(), logs.url());
    let ork = connect(&url, ns).await;
    let mut fleet = Fleet::new("worker_process", &url, ns);
    fleet.env(LOG_URL_VAR, &log_url);
    fleet.env(LEASE_VAR, 1000).env(CONCURRENCY_VAR, 8);
    let hogging = fleet.add("hog");
    let mut conn = raw(&log_url).await;
    // One batch, so that the hog's worker claims all of it at once.
    let mut calls: Vec<_> = (0..7).map(|_| nap::call(400).queue(QUEUE)).collect();
    calls.push(hog::call(3000).queue(QUEUE));
    let handles = ork.enqueue_many(calls).await.expect("enqueue");
    let ids: Vec<ork::JobId> = handles.iter().map(|h| h.id().clone()).collect();
    let hog_job = handles.last().expect("the hog").clone();
    let hog_name = fleet.name(hogging).to_owned();
    wait_executions(&mut conn, ns, 8, "the hog's worker did not start all").await;
    fleet.add("plain");
    all_succeeded(&ork, &ids, Duration::from_secs(30)).await;
    let runs = runs_per_job(&log_url, ns).await;
    for id in &ids {
        assert_eq!(runs[id.as_str()].len(), 1, "{id} ran once: {runs:?}");
    }
    assert_eq!(runs[hog_job.id().as_str()], vec![hog_name.clone()]);
    assert!(
        !fleet.grep("task is blocking its runtime thread").is_empty(),
        "the hog is reported"
    );
    let text = ork
        .enqueue(counters::call().queue("hog-only"))
        .await
        .expect("enqueue")
        .result_timeout(Duration::from_secs(20))
        .await
        .expect("counters");
    assert!(
        text.contains("ork_task_blocked_total{task=\"edges::hog\"} 1"),
        "the counter: {text}"
    );
}

/// SIGTERM to a worker whose Redis does not answer (frozen): it returns
/// from `run_until` within its grace period plus its hand-back timeout
/// (0.5 s + 1.5 s here), saying which jobs it leaves to their leases; once
/// Redis is back, those jobs run once more on a peer, and only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_when_redis_does_not_answer() {
    let ns = "term";
    let (server, logs) = (server().await, server().await);
    let (url, log_url) = (server.url(), logs.url());
    let ork = connect(&url, ns).await;
    let mut fleet = Fleet::new("worker_process", &url, ns);
    fleet.env(LOG_URL_VAR, &log_url);
    fleet.env(LEASE_VAR, 1000).env(CONCURRENCY_VAR, 4);
    let term = fleet.add("term");
    let calls: Vec<_> = (0..4).map(|_| long::call(3000).queue(QUEUE)).collect();
    let handles = ork.enqueue_many(calls).await.expect("enqueue");
    let ids: Vec<ork::JobId> = handles.iter().map(|h| h.id().clone()).collect();
    let mut conn = raw(&log_url).await;
    wait_executions(&mut conn, ns, 4, "the worker did not start all").await;
    let redis_pid = server.pid().expect("pid");
    signal(redis_pid, "STOP");
    signal(fleet.pid(term).expect("pid"), "TERM");
    let asked = Instant::now();
    // Bounded: grace + hand-back is 2 s; the bound here is loose, it only
    // tells "returned" from "hangs until killed".
    while fleet.alive(term) {
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "the worker did not stop: {}",
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(redis_pid, "CONT");
    assert!(
        !fleet.grep("pool returned").is_empty(),
        "run_until returned"
    );
    assert!(
        !fleet.grep("left to their leases").is_empty(),
        "the log names what it leaves behind"
    );
    let peer = fleet.add("plain");
    all_succeeded(&ork, &ids, Duration::from_secs(30)).await;
    let runs = runs_per_job(&log_url, ns).await;
    let (first, second) = (fleet.name(term).to_owned(), fleet.name(peer).to_owned());
    for id in &ids {
        assert_eq!(
            runs[id.as_str()],
            vec![first.clone(), second.clone()],
            "{id}: handed over once"
        );
    }
}
