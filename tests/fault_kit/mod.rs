//! Process-level fault testing on Redis: worker processes that are this
//! test binary run again (see [`process`]), killed with SIGKILL and
//! restarted; an execution log every task writes to; and the checks that
//! compare what ran with what the kills left in flight.
#![allow(dead_code, missing_docs, unreachable_pub)]

pub mod process;
pub mod relay;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant};

use ork::backend::JobRecord;
use ork::backend::{
    Admin, JobStore, Queries, ScheduleStore, SignalStore, StepStore, WorkerRegistry, WorkflowStore,
};
use ork::backend::{
    BoxFuture, ClaimRequest, Claimed, Enqueued, Finish, FireTicks, Lease, LeaseStatus, Signal,
    StoredSchedule, StoredSteps,
};
use ork::{Backend, Context, JobId, JobInfo, JobState, Ork};
use ork::{CancelOutcome, JobQuery, QueueCounts, WorkerInfo};
use ork_redis::testing::RedisServer;
use ork_redis::RedisBackend;
use redis::aio::{ConnectionManager, MultiplexedConnection};

/// A redis-server of the test's own.
pub async fn server() -> RedisServer {
    start_server(RedisServer::start).await
}

/// A redis-server started by `start` (a builder's `start`), off the
/// runtime's threads.
pub async fn start_server(start: impl FnOnce() -> RedisServer + Send + 'static) -> RedisServer {
    tokio::task::spawn_blocking(start)
        .await
        .expect("start redis-server")
}

/// The Redis engine on namespace `ns` of the server at `url`.
pub async fn backend(url: &str, ns: &str) -> RedisBackend {
    RedisBackend::builder(url)
        .namespace(ns)
        .build()
        .await
        .expect("connect the backend")
}

/// A client on namespace `ns` of the server at `url`.
pub async fn connect(url: &str, ns: &str) -> Ork {
    Ork::with_backend(backend(url, ns).await)
}

/// The key of a namespace's execution log (outside the namespace).
pub fn log_key(ns: &str) -> String {
    format!("faults:{ns}:executions")
}

/// Where tasks record each execution: one list entry
/// `<incarnation>|<job id>|<attempt>` per run of a task body.
#[derive(Clone)]
pub struct ExecLog {
    conn: ConnectionManager,
    key: String,
    name: String,
}

impl ExecLog {
    pub async fn connect(url: &str, ns: &str, name: &str) -> ExecLog {
        let client = redis::Client::open(url).expect("a Redis URL");
        ExecLog {
            conn: ConnectionManager::new(client)
                .await
                .expect("connect the execution log"),
            key: log_key(ns),
            name: name.to_owned(),
        }
    }

    /// This process's incarnation name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records that this attempt's body runs. Retries while Redis is away
    /// (a server restart), for up to a minute.
    pub async fn record(&self, ctx: &Context) {
        let entry = format!("{}|{}|{}", self.name, ctx.job_id(), ctx.attempt());
        self.push(&self.key, &entry).await;
    }

    /// Waits (politely) until an entry can be taken from the list `key`.
    pub async fn wait_for(&self, key: &str) {
        loop {
            let mut conn = self.conn.clone();
            let got: Option<String> = redis::cmd("LPOP")
                .arg(key)
                .query_async(&mut conn)
                .await
                .expect("read a gate");
            if got.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Appends `entry` to the list `key`, retrying while Redis is away.
    pub async fn push(&self, key: &str, entry: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut conn = self.conn.clone();
            let r: redis::RedisResult<i64> = redis::cmd("RPUSH")
                .arg(key)
                .arg(entry)
                .query_async(&mut conn)
                .await;
            match r {
                Ok(_) => return,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("execution log unreachable ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("execution log unreachable: {e}"),
            }
        }
    }
}

/// One recorded execution of a task body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    pub name: String,
    pub job: String,
    pub attempt: u32,
}

/// A plain connection for the test's own commands. It waits up to 10 s
/// for a reply (redis-rs's default is 500 ms), so reading a long execution
/// log on a loaded machine does not fail the test.
pub async fn raw(url: &str) -> MultiplexedConnection {
    let config =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(10)));
    redis::Client::open(url)
        .expect("a Redis URL")
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("connect")
}

/// Every execution recorded in namespace `ns`, in order.
pub async fn executions(conn: &mut MultiplexedConnection, ns: &str) -> Vec<Execution> {
    let entries: Vec<String> = redis::cmd("LRANGE")
        .arg(log_key(ns))
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await
        .expect("read the execution log");
    entries
        .iter()
        .map(|e| {
            let mut parts = e.split('|');
            let (Some(name), Some(job), Some(attempt)) = (parts.next(), parts.next(), parts.next())
            else {
                panic!("malformed execution entry {e:?}");
            };
            Execution {
                name: name.to_owned(),
                job: job.to_owned(),
                attempt: attempt.parse().expect("an attempt number"),
            }
        })
        .collect()
}

/// What the kills of a run left in flight: per killed incarnation, the
/// attempts (job, attempt number) it was running when it died.
#[derive(Debug, Default)]
pub struct Kills {
    in_flight: HashMap<String, HashSet<(String, u32)>>,
    /// Jobs a live incarnation stopped on its own, its lease run out.
    fenced: HashSet<(String, String)>,
}

impl Kills {
    /// After incarnation `name` was killed (and is gone): the attempts it
    /// was the last to start that are still running in the backend are the
    /// ones it had in flight. Returns how many.
    pub async fn record(&mut self, name: &str, log: &[Execution], backend: &dyn Backend) -> usize {
        let mut last: HashMap<&str, &Execution> = HashMap::new();
        for e in log {
            last.insert(e.job.as_str(), e);
        }
        let mine: Vec<&Execution> = last.into_values().filter(|e| e.name == name).collect();
        let ids: Vec<JobId> = mine.iter().map(|e| JobId::from(e.job.as_str())).collect();
        let mut set = HashSet::new();
        for (chunk, exec) in ids.chunks(500).zip(mine.chunks(500)) {
            let infos = backend.jobs(chunk).await.expect("look jobs up");
            for (info, e) in infos.into_iter().zip(exec) {
                if info.is_some_and(|i| i.state == JobState::Running && i.attempts == e.attempt) {
                    set.insert((e.job.clone(), e.attempt));
                }
            }
        }
        let n = set.len();
        self.in_flight
            .entry(name.to_owned())
            .or_default()
            .extend(set);
        n
    }

    /// How many kills were recorded.
    pub fn count(&self) -> usize {
        self.in_flight.len()
    }

    /// How many attempts the kills caught in flight.
    pub fn caught(&self) -> usize {
        self.in_flight.values().map(HashSet::len).sum()
    }

    /// Whether `name` had (job, attempt) in flight when it was killed.
    pub fn had(&self, name: &str, job: &str, attempt: u32) -> bool {
        self.in_flight
            .get(name)
            .is_some_and(|s| s.contains(&(job.to_owned(), attempt)))
    }

    /// Records attempts that live incarnations stopped themselves, their
    /// lease run out (see `Fleet::self_fenced`): a stall past the lease is
    /// a crash as far as the rest of the fleet can tell, and the job runs
    /// again elsewhere. Each one is printed, so a run that stalls shows it.
    pub fn self_fenced(&mut self, fenced: Vec<(String, String)>) {
        for (name, job) in fenced {
            eprintln!("{name} stopped {job} itself: its lease ran out (stalled?)");
            self.fenced.insert((name, job));
        }
    }

    /// Checks that every attempt of every job ran once, apart from runs
    /// on an incarnation that was killed with it in flight (or stopped it
    /// itself, see [`self_fenced`](Self::self_fenced)). Returns how
    /// many runs were such re-runs. Panics with every violation.
    pub fn check_duplicates(&self, log: &[Execution]) -> usize {
        let mut by_attempt: HashMap<(&str, u32), Vec<&str>> = HashMap::new();
        for e in log {
            by_attempt
                .entry((e.job.as_str(), e.attempt))
                .or_default()
                .push(e.name.as_str());
        }
        let mut violations = Vec::new();
        let mut reruns = 0;
        for ((job, attempt), names) in &by_attempt {
            let killed = names
                .iter()
                .filter(|n| {
                    self.had(n, job, *attempt)
                        || self.fenced.contains(&(n.to_string(), job.to_string()))
                })
                .count();
            let unexplained = names.len() - killed;
            if unexplained > 1 {
                violations.push(format!(
                    "{job} attempt {attempt} ran {} times, on {names:?}; {killed} of them were in flight on a killed worker",
                    names.len()
                ));
            }
            reruns += names.len() - 1;
        }
        violations.sort();
        assert!(
            violations.is_empty(),
            "{} attempts ran more often than kills explain:\n{}",
            violations.len(),
            violations.join("\n")
        );
        reruns
    }
}

/// A small pseudo-random generator (xorshift), for kill timings.
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        eprintln!("kill schedule seed: {seed}");
        Rng(seed)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

/// Polls `check` every 50 ms until it holds, failing after `limit` with
/// `what` (a lost job fails the test instead of hanging it).
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A backend that records every completion a worker sends, and whether
/// the engine took it: `<incarnation>|<job id>|<fence>|<accepted 0/1>` in
/// the list `faults:<ns>:finishes`.
#[derive(Clone)]
pub struct FinishSpy<B> {
    inner: B,
    log: ExecLog,
    key: String,
    claim_delay: Option<Duration>,
}

impl<B> std::fmt::Debug for FinishSpy<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FinishSpy").finish_non_exhaustive()
    }
}

/// The key [`FinishSpy`] writes to.
pub fn finishes_key(ns: &str) -> String {
    format!("faults:{ns}:finishes")
}

impl<B: Backend> FinishSpy<B> {
    pub fn new(inner: B, log: ExecLog, ns: &str) -> Self {
        FinishSpy {
            inner,
            log,
            key: finishes_key(ns),
            claim_delay: None,
        }
    }

    /// Delays every non-empty claim's answer by `delay`, as a slow network
    /// or a frozen process would.
    pub fn claim_delay(mut self, delay: Duration) -> Self {
        self.claim_delay = Some(delay);
        self
    }
}

impl<B: Backend> JobStore for FinishSpy<B> {
    fn finish<'a>(&'a self, batch: &'a [Finish]) -> BoxFuture<'a, ork::Result<Vec<bool>>> {
        Box::pin(async move {
            let taken = self.inner.finish(batch).await?;
            for (f, ok) in batch.iter().zip(&taken) {
                let entry = format!(
                    "{}|{}|{}|{}",
                    self.log.name,
                    f.lease.id,
                    f.lease.fence,
                    u8::from(*ok)
                );
                self.log.push(&self.key, &entry).await;
            }
            Ok(taken)
        })
    }

    fn now_ms(&self) -> BoxFuture<'_, ork::Result<u64>> {
        self.inner.now_ms()
    }

    fn enqueue(&self, jobs: Vec<JobRecord>) -> BoxFuture<'_, ork::Result<Vec<Enqueued>>> {
        self.inner.enqueue(jobs)
    }

    fn claim<'a>(&'a self, req: &'a ClaimRequest) -> BoxFuture<'a, ork::Result<Vec<Claimed>>> {
        Box::pin(async move {
            let got = self.inner.claim(req).await?;
            if let (Some(d), false) = (self.claim_delay, got.is_empty()) {
                tokio::time::sleep(d).await;
            }
            Ok(got)
        })
    }

    fn heartbeat<'a>(
        &'a self,
        leases: &'a [Lease],
        lease: Duration,
    ) -> BoxFuture<'a, ork::Result<Vec<LeaseStatus>>> {
        self.inner.heartbeat(leases, lease)
    }

    fn reap(&self) -> BoxFuture<'_, ork::Result<usize>> {
        self.inner.reap()
    }

    fn progress<'a>(&'a self, lease: &'a Lease, percent: u8) -> BoxFuture<'a, ork::Result<()>> {
        self.inner.progress(lease, percent)
    }

    fn cancel<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, ork::Result<CancelOutcome>> {
        self.inner.cancel(id)
    }
}

impl<B: Backend> Queries for FinishSpy<B> {
    fn jobs<'a>(&'a self, ids: &'a [JobId]) -> BoxFuture<'a, ork::Result<Vec<Option<JobInfo>>>> {
        self.inner.jobs(ids)
    }

    fn wait<'a>(
        &'a self,
        id: &'a JobId,
        timeout: Duration,
    ) -> BoxFuture<'a, ork::Result<Option<JobInfo>>> {
        self.inner.wait(id, timeout)
    }

    fn list<'a>(&'a self, query: &'a JobQuery) -> BoxFuture<'a, ork::Result<Vec<JobInfo>>> {
        self.inner.list(query)
    }

    fn counts(&self) -> BoxFuture<'_, ork::Result<Vec<QueueCounts>>> {
        self.inner.counts()
    }
}

impl<B: Backend> Admin for FinishSpy<B> {
    fn retry<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, ork::Result<bool>> {
        self.inner.retry(id)
    }

    fn purge<'a>(&'a self, queue: &'a str) -> BoxFuture<'a, ork::Result<u64>> {
        self.inner.purge(queue)
    }
}

impl<B: Backend> WorkerRegistry for FinishSpy<B> {
    fn register_worker<'a>(
        &'a self,
        info: &'a WorkerInfo,
        ttl: Duration,
    ) -> BoxFuture<'a, ork::Result<()>> {
        self.inner.register_worker(info, ttl)
    }

    fn unregister_worker<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ork::Result<()>> {
        self.inner.unregister_worker(id)
    }

    fn workers(&self) -> BoxFuture<'_, ork::Result<Vec<WorkerInfo>>> {
        self.inner.workers()
    }
}

impl<B: Backend> WorkflowStore for FinishSpy<B> {
    fn put_workflow<'a>(&'a self, id: &'a JobId, meta: Vec<u8>) -> BoxFuture<'a, ork::Result<()>> {
        self.inner.put_workflow(id, meta)
    }

    fn workflow<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, ork::Result<Option<Vec<u8>>>> {
        self.inner.workflow(id)
    }

    fn workflow_ids(&self, offset: usize, limit: usize) -> BoxFuture<'_, ork::Result<Vec<JobId>>> {
        self.inner.workflow_ids(offset, limit)
    }
}

impl<B: Backend> ScheduleStore for FinishSpy<B> {
    fn put_schedule<'a>(
        &'a self,
        name: &'a str,
        definition: Vec<u8>,
    ) -> BoxFuture<'a, ork::Result<bool>> {
        self.inner.put_schedule(name, definition)
    }

    fn delete_schedule<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ork::Result<bool>> {
        self.inner.delete_schedule(name)
    }

    fn pause_schedule<'a>(
        &'a self,
        name: &'a str,
        paused: bool,
    ) -> BoxFuture<'a, ork::Result<bool>> {
        self.inner.pause_schedule(name, paused)
    }

    fn schedules(&self) -> BoxFuture<'_, ork::Result<Vec<StoredSchedule>>> {
        self.inner.schedules()
    }

    fn fire(&self, ticks: FireTicks) -> BoxFuture<'_, ork::Result<Option<Vec<Enqueued>>>> {
        self.inner.fire(ticks)
    }
}

impl<B: Backend> StepStore for FinishSpy<B> {
    fn put_step<'a>(
        &'a self,
        lease: &'a Lease,
        name: &'a str,
        output: &'a [u8],
    ) -> BoxFuture<'a, ork::Result<bool>> {
        self.inner.put_step(lease, name, output)
    }

    fn steps<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, ork::Result<StoredSteps>> {
        self.inner.steps(id)
    }
}

impl<B: Backend> SignalStore for FinishSpy<B> {
    fn put_signal<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        retention: std::time::Duration,
    ) -> BoxFuture<'a, ork::Result<(u64, Vec<JobId>)>> {
        self.inner.put_signal(key, value, retention)
    }

    fn listen<'a>(
        &'a self,
        key: &'a str,
        after: u64,
        job: &'a JobId,
        until_ms: u64,
    ) -> BoxFuture<'a, ork::Result<Option<Signal>>> {
        self.inner.listen(key, after, job, until_ms)
    }

    fn unlisten<'a>(&'a self, key: &'a str, job: &'a JobId) -> BoxFuture<'a, ork::Result<()>> {
        self.inner.unlisten(key, job)
    }

    fn wake<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, ork::Result<bool>> {
        self.inner.wake(id)
    }
}

impl<B: Backend> ork::backend::FlowControl for FinishSpy<B> {
    fn set_paused<'a>(
        &'a self,
        target: &'a ork::backend::PauseTarget,
        paused: bool,
    ) -> BoxFuture<'a, ork::Result<bool>> {
        self.inner.set_paused(target, paused)
    }

    fn paused(&self) -> BoxFuture<'_, ork::Result<Vec<ork::backend::Paused>>> {
        self.inner.paused()
    }

    fn set_queue_cap<'a>(
        &'a self,
        queue: &'a str,
        cap: Option<u32>,
    ) -> BoxFuture<'a, ork::Result<()>> {
        self.inner.set_queue_cap(queue, cap)
    }

    fn running_caps(&self) -> BoxFuture<'_, ork::Result<Vec<ork::backend::CapUse>>> {
        self.inner.running_caps()
    }

    fn set_limiter<'a>(
        &'a self,
        name: &'a str,
        rate: Option<ork::Rate>,
    ) -> BoxFuture<'a, ork::Result<()>> {
        self.inner.set_limiter(name, rate)
    }

    fn limiters(&self) -> BoxFuture<'_, ork::Result<Vec<(String, ork::Rate)>>> {
        self.inner.limiters()
    }
}

impl<B: Backend> Backend for FinishSpy<B> {
    fn standalone(&self) -> BoxFuture<'_, ork::Result<Option<std::sync::Arc<dyn Backend>>>> {
        self.inner.standalone()
    }
}
