//! The job record: what a backend stores for each enqueued call.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::codec::Codec;
use crate::retry::Backoff;

/// A job's id: 26 characters, sortable by creation time (ULID layout:
/// 48 bits of milliseconds then 80 random bits, Crockford base32).
///
/// Ids of sub-tasks and workflow nodes are derived from their parent's id
/// (`parent.3`), so they are stable across re-runs.
///
/// Cheap to clone (a shared string).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(Arc<str>);

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl JobId {
    /// A fresh, random id.
    pub fn new() -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let random = fastrand::u128(..) & ((1u128 << 80) - 1);
        let mut value = (millis << 80) | random;
        let mut out = [0u8; 26];
        for slot in out.iter_mut().rev() {
            *slot = CROCKFORD[(value & 31) as usize];
            value >>= 5;
        }
        let text = std::str::from_utf8(&out).expect("the alphabet is ASCII");
        JobId(Arc::from(text))
    }

    /// The id of the `index`-th child of this job (sub-tasks, workflow nodes).
    pub fn child(&self, index: usize) -> JobId {
        JobId(Arc::from(format!("{}.{index}", self.0)))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for JobId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(JobId(Arc::from(s)))
    }
}

impl Default for JobId {
    fn default() -> Self {
        JobId::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for JobId {
    fn from(s: String) -> Self {
        JobId(Arc::from(s))
    }
}

impl From<&str> for JobId {
    fn from(s: &str) -> Self {
        JobId(Arc::from(s))
    }
}

/// So that every method taking `impl Into<JobId>` takes `&id` as well as
/// `id` or a string; the clone is a reference count.
impl From<&JobId> for JobId {
    fn from(id: &JobId) -> Self {
        id.clone()
    }
}

/// Where a job is in its life.
///
/// ```text
/// Waiting ──(deps done)──▶ Queued ◀──(retry due / lease expired / handed back)──┐
/// Scheduled ──(due)──────▶ Queued ──claim──▶ Running ──▶ Succeeded               │
///                                               ├──────▶ Scheduled (retry) ─────┘
///                                               └──────▶ Dead (retries spent, bad input)
/// Waiting | Scheduled | Queued ──cancel──▶ Cancelled
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum JobState {
    /// Waiting for other jobs (workflow dependencies) to finish.
    Waiting,
    /// Waiting for its time (delayed, or a retry's backoff).
    Scheduled,
    /// Ready to be claimed by a worker.
    Queued,
    /// Claimed by a worker that holds its lease.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Failed for good: in the dead letters.
    Dead,
    /// Cancelled before it ran.
    Cancelled,
}

impl JobState {
    /// Whether the job will not change any more (unless retried by hand).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Dead | JobState::Cancelled
        )
    }

    /// Lower-case name, as shown by tools.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Waiting => "waiting",
            JobState::Scheduled => "scheduled",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "waiting" => JobState::Waiting,
            "scheduled" => JobState::Scheduled,
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "dead" => JobState::Dead,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }

    /// Every state, in life order.
    pub const ALL: [JobState; 7] = [
        JobState::Waiting,
        JobState::Scheduled,
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Dead,
        JobState::Cancelled,
    ];
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything needed to run a job, as written at enqueue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobRecord {
    /// The job's id.
    pub id: JobId,
    /// The registered task name.
    pub task: String,
    /// The queue it waits in.
    pub queue: String,
    /// Encoded arguments.
    pub payload: Vec<u8>,
    /// The codec of `payload` (and of the result).
    pub codec: Codec,
    /// 0 to 9; higher runs first within a queue.
    pub priority: u8,
    /// How many times a failed attempt is retried.
    pub retries: u32,
    /// Delay between attempts.
    pub backoff: Backoff,
    /// The most one attempt may take, in milliseconds (0: no limit).
    pub timeout_ms: u64,
    /// How long the result and the finished record are kept, in milliseconds.
    pub result_ttl_ms: u64,
    /// At most one job with this key is queued or running at a time.
    pub unique: Option<String>,
    /// Run no earlier than this long after enqueue (judged on the backend's clock).
    pub delay_ms: u64,
    /// Run no earlier than this Unix time in milliseconds.
    pub run_at_ms: Option<u64>,
    /// Jobs that must finish before this one is queued (workflow edges).
    pub deps: Vec<JobId>,
    /// When this job fails for good, its dependants still run (and see the error).
    pub allow_failure: bool,
    /// The workflow this job belongs to, if any.
    pub workflow: Option<JobId>,
    /// The job that spawned this one, if any.
    pub parent: Option<JobId>,
    /// When not empty, the arguments are assembled from these at run time
    /// (workflow data edges) and `payload` is unused.
    pub inputs: Vec<ArgSpec>,
    /// An idempotency key: as long as this job's record is kept (while it
    /// is unfinished, then for its result TTL), enqueueing a record with the
    /// same key returns this job instead. Kept by backends beside the
    /// record, not in it: a record read back has none.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
    /// The most attempts of this task running at once across the fleet
    /// (`#[ork::task(max_running = N)]`); `None`: no cap. Stored in the
    /// record's own format (`ork_core::stored`), like the fields below;
    /// serde skips them, as the positional format 1 never had them.
    #[serde(skip)]
    pub max_running: Option<u32>,
    /// A concurrency key (`.concurrency_key(k)`): at most
    /// [`key_limit`](Self::key_limit) jobs with this key run at once across
    /// the fleet.
    #[serde(skip)]
    pub concurrency_key: Option<String>,
    /// The most jobs of [`concurrency_key`](Self::concurrency_key) running
    /// at once; `None`: 1.
    #[serde(skip)]
    pub key_limit: Option<u32>,
    /// The task's own rate limit (`#[ork::task(rate = "100/s")]`).
    #[serde(skip)]
    pub rate: Option<crate::rate::Rate>,
    /// A named rate limiter shared by several tasks
    /// (`#[ork::task(limiter = "stripe")]`), defined with
    /// [`Ork::limiter`](crate::Ork::limiter); it takes the place of `rate`.
    #[serde(skip)]
    pub limiter: Option<String>,
    /// Applies the rate limit (the limiter's, or the task's) per this key
    /// (`.rate_key(k)`), each key its own bucket.
    #[serde(skip)]
    pub rate_key: Option<String>,
}

/// Where one argument of a workflow node comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ArgSpec {
    /// A value known at submit, encoded.
    Value(Vec<u8>),
    /// The output of another job.
    Output(JobId),
    /// The output of another job, or its error: a `Result<T, TaskError>`.
    OutputOrError(JobId),
    /// The outputs of several jobs, as a `Vec<T>`.
    All(Vec<JobId>),
    /// The item of a map (only in a map's template).
    Item,
}

impl JobRecord {
    /// A record with defaults for everything but the task, queue and payload.
    pub fn new(task: impl Into<String>, payload: Vec<u8>) -> Self {
        JobRecord {
            id: JobId::new(),
            task: task.into(),
            queue: crate::DEFAULT_QUEUE.to_owned(),
            payload,
            codec: Codec::default(),
            priority: 0,
            retries: 0,
            backoff: Backoff::default(),
            timeout_ms: 0,
            result_ttl_ms: crate::DEFAULT_RESULT_TTL.as_millis() as u64,
            unique: None,
            delay_ms: 0,
            run_at_ms: None,
            deps: Vec::new(),
            allow_failure: false,
            workflow: None,
            parent: None,
            inputs: Vec::new(),
            idempotency_key: None,
            max_running: None,
            concurrency_key: None,
            key_limit: None,
            rate: None,
            limiter: None,
            rate_key: None,
        }
    }

    /// The token bucket this job takes a token from, if any: its name
    /// (`l:<limiter>` or `t:<task>`, then `|<key>` with a rate key), and
    /// where its rate comes from (the limiter's name, or the record's rate).
    pub fn rate_bucket(&self) -> Option<(String, std::result::Result<String, crate::rate::Rate>)> {
        let (base, source) = match (&self.limiter, self.rate) {
            (Some(l), _) => (format!("l:{l}"), Ok(l.clone())),
            (None, Some(r)) => (format!("t:{}", self.task), Err(r)),
            (None, None) => return None,
        };
        Some(match &self.rate_key {
            Some(k) => (format!("{base}|{k}"), source),
            None => (base, source),
        })
    }

    /// The running caps this record carries, each as a limit name and its
    /// cap: `t:<task>` for [`max_running`](Self::max_running) and `k:<key>`
    /// for the [`concurrency_key`](Self::concurrency_key). An engine that
    /// splits a namespace keeps each whole in one part (the Redis engine
    /// places such jobs by the task or the key).
    pub fn running_caps(&self) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        if let Some(n) = self.max_running {
            out.push((format!("t:{}", self.task), n));
        }
        if let Some(k) = &self.concurrency_key {
            out.push((format!("k:{k}"), self.key_limit.unwrap_or(1)));
        }
        out
    }

    /// The per-attempt timeout, if any.
    pub fn timeout(&self) -> Option<Duration> {
        (self.timeout_ms > 0).then(|| Duration::from_millis(self.timeout_ms))
    }
}

/// A job as seen from outside: its record plus what happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobInfo {
    /// What was enqueued.
    pub record: JobRecord,
    /// Where it is now.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: u32,
    /// The last error, if any attempt failed.
    pub error: Option<String>,
    /// The encoded result, once succeeded.
    pub result: Option<Vec<u8>>,
    /// Last reported progress, 0 to 100.
    pub progress: u8,
    /// When it was enqueued (Unix ms, backend clock); see [`enqueued_at`](Self::enqueued_at).
    #[doc(hidden)]
    pub enqueued_at_ms: u64,
    /// Unix ms; see [`started_at`](Self::started_at).
    #[doc(hidden)]
    pub started_at_ms: Option<u64>,
    /// Unix ms; see [`finished_at`](Self::finished_at).
    #[doc(hidden)]
    pub finished_at_ms: Option<u64>,
    /// Unix ms; see [`due_at`](Self::due_at).
    #[doc(hidden)]
    pub due_at_ms: Option<u64>,
    /// Its cancellation was requested while it ran: a running job with
    /// this set is stopping (tools show it as cancelling).
    #[serde(default)]
    pub cancel_requested: bool,
    /// While scheduled by a durable sleep or wait (`ctx.sleep`,
    /// `ctx.wait_for`): what it waits for, in words. `None` otherwise.
    #[serde(default)]
    pub parked: Option<String>,
}

impl JobInfo {
    /// When it was enqueued (on the backend's clock).
    pub fn enqueued_at(&self) -> SystemTime {
        from_unix_ms(self.enqueued_at_ms)
    }

    /// When the current or last attempt started.
    pub fn started_at(&self) -> Option<SystemTime> {
        self.started_at_ms.map(from_unix_ms)
    }

    /// When it reached a terminal state.
    pub fn finished_at(&self) -> Option<SystemTime> {
        self.finished_at_ms.map(from_unix_ms)
    }

    /// When it is due, while scheduled.
    pub fn due_at(&self) -> Option<SystemTime> {
        self.due_at_ms.map(from_unix_ms)
    }

    /// The signal key it waits on, while parked by `ctx.wait_for` (its
    /// timeout is [`due_at`](Self::due_at)).
    pub fn waits_on(&self) -> Option<&str> {
        self.parked
            .as_deref()?
            .strip_prefix("signal `")?
            .strip_suffix('`')
    }

    /// A fresh info for a record just stored.
    pub fn new(record: JobRecord, state: JobState, now_ms: u64) -> Self {
        JobInfo {
            record,
            state,
            attempts: 0,
            error: None,
            result: None,
            progress: 0,
            enqueued_at_ms: now_ms,
            started_at_ms: None,
            finished_at_ms: None,
            due_at_ms: None,
            cancel_requested: false,
            parked: None,
        }
    }
}

/// A stored Unix-ms time as a [`SystemTime`].
fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}
