//! Process-level fault testing on Redis: worker processes that are this
//! test binary run again (a test function that does nothing unless
//! [`ROLE_VAR`] is set), killed with SIGKILL and restarted; an execution
//! log every task writes to; and the checks that compare what ran with
//! what the kills left in flight.
#![allow(dead_code, missing_docs, unreachable_pub)]

pub mod relay;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ork::backend::JobRecord;
use ork::backend::{Admin, JobStore, Queries, ScheduleStore, WorkerRegistry, WorkflowStore};
use ork::backend::{
    BoxFuture, ClaimRequest, Claimed, Enqueued, Finish, FireTicks, Lease, LeaseStatus,
    StoredSchedule,
};
use ork::{Backend, Context, JobId, JobInfo, JobState};
use ork::{CancelOutcome, JobQuery, QueueCounts, WorkerInfo};
use redis::aio::{ConnectionManager, MultiplexedConnection};

/// Which worker process to be; unset in a normal test run.
pub const ROLE_VAR: &str = "ORK_FAULT_ROLE";
const URL_VAR: &str = "ORK_FAULT_URL";
const NS_VAR: &str = "ORK_FAULT_NS";
const NAME_VAR: &str = "ORK_FAULT_NAME";

/// What a worker process was started as.
#[derive(Debug, Clone)]
pub struct ChildEnv {
    pub role: String,
    pub url: String,
    pub ns: String,
    /// The incarnation's name: slot and generation (`w1.3`).
    pub name: String,
}

impl ChildEnv {
    fn from_env() -> Option<ChildEnv> {
        let role = std::env::var(ROLE_VAR).ok()?;
        let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is set"));
        Some(ChildEnv {
            role,
            url: var(URL_VAR),
            ns: var(NS_VAR),
            name: var(NAME_VAR),
        })
    }

    /// A variable the parent passed with [`Fleet::env`].
    pub fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

/// The body of a worker process, when this binary was started as one
/// (else returns at once). `threads`: 0 for a current-thread runtime.
/// The process exits when its parent does.
pub fn run_child<F, Fut>(threads: usize, body: F)
where
    F: FnOnce(ChildEnv) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(env) = ChildEnv::from_env() else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
    // A plain thread: it works even while the runtime is stalled.
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(200));
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(3);
        }
    });
    let rt = if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .expect("a runtime");
    rt.block_on(async move {
        tokio::select! {
            _ = body(env) => {}
            // A bound, in case the parent test forgot this process.
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
        }
    });
}

/// Worker processes: slots, each running one incarnation at a time.
pub struct Fleet {
    test: &'static str,
    env: Vec<(String, String)>,
    dir: PathBuf,
    slots: Vec<Slot>,
}

struct Slot {
    role: String,
    child: Option<Child>,
    name: String,
    generation: u32,
}

impl Fleet {
    /// Worker processes running the test function `test` of this binary,
    /// on the server at `url`, in namespace `ns`.
    pub fn new(test: &'static str, url: &str, ns: &str) -> Fleet {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ork-faults-{}-{}-{ns}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a log directory");
        Fleet {
            test,
            env: vec![
                (URL_VAR.to_owned(), url.to_owned()),
                (NS_VAR.to_owned(), ns.to_owned()),
            ],
            dir,
            slots: Vec::new(),
        }
    }

    /// One more variable for every process started from now on.
    pub fn env(&mut self, key: &str, value: impl ToString) -> &mut Self {
        self.env.push((key.to_owned(), value.to_string()));
        self
    }

    /// Adds a slot with this role and starts it; returns its index.
    pub fn add(&mut self, role: &str) -> usize {
        self.slots.push(Slot {
            role: role.to_owned(),
            child: None,
            name: String::new(),
            generation: 0,
        });
        let i = self.slots.len() - 1;
        self.start(i);
        i
    }

    /// How many slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Starts a new incarnation in slot `i` (killing the one running);
    /// returns its name.
    pub fn start(&mut self, i: usize) -> String {
        self.kill(i);
        let slot = &mut self.slots[i];
        slot.generation += 1;
        slot.name = format!("w{i}.{}", slot.generation);
        let log =
            std::fs::File::create(self.dir.join(format!("{}.log", slot.name))).expect("a log file");
        let child = Command::new(std::env::current_exe().expect("the test binary"))
            .args([self.test, "--exact", "--nocapture", "--test-threads=1"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env(ROLE_VAR, &slot.role)
            .env(NAME_VAR, &slot.name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start a worker process");
        slot.child = Some(child);
        slot.name.clone()
    }

    /// SIGKILL, as a crash; waits for the process to be gone. Returns the
    /// name of the incarnation killed.
    pub fn kill(&mut self, i: usize) -> Option<String> {
        let slot = &mut self.slots[i];
        let mut child = slot.child.take()?;
        let _ = child.kill();
        let _ = child.wait();
        Some(slot.name.clone())
    }

    /// The name of slot `i`'s current (or last) incarnation.
    pub fn name(&self, i: usize) -> &str {
        &self.slots[i].name
    }

    /// The process id of slot `i`'s incarnation, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.slots[i].child.as_ref().map(Child::id)
    }

    /// Whether slot `i` runs a process that has not exited.
    pub fn alive(&mut self, i: usize) -> bool {
        self.slots[i]
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Every process log, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut files: Vec<_> = std::fs::read_dir(&self.dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            out.push_str(&format!("== {}\n{}\n", f.display(), tail.join("\n")));
        }
        out
    }

    /// Lines of every process log that contain `needle`.
    pub fn grep(&self, needle: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            out.extend(
                text.lines()
                    .filter(|l| l.contains(needle))
                    .map(String::from),
            );
        }
        out
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for i in 0..self.slots.len() {
            self.kill(i);
        }
        if std::thread::panicking() {
            eprintln!("worker process logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
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

/// A plain connection for the test's own commands.
pub async fn raw(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
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

    /// Checks that every attempt of every job ran once, apart from runs
    /// on an incarnation that was killed with it in flight. Returns how
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
            let killed = names.iter().filter(|n| self.had(n, job, *attempt)).count();
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

impl<B: Backend> Backend for FinishSpy<B> {
    fn standalone(&self) -> BoxFuture<'_, ork::Result<Option<std::sync::Arc<dyn Backend>>>> {
        self.inner.standalone()
    }
}
