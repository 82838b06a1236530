//! The storage contract every engine implements.
//!
//! A backend supplies storage and atomicity; it never decides policy. Which
//! failure is retried, after how long, and what is dead-lettered is decided
//! by the worker (see [`crate::retry`]) and handed to the backend as an
//! [`Outcome`]. Each method below is one atomic step: either all of it
//! happens or none of it does.
//!
//! The trait is object-safe (methods return [`BoxFuture`]) so that the
//! client [`Ork`](crate::Ork) is one type whatever engine it runs on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::job::{JobId, JobInfo, JobRecord, JobState};

mod audit;
mod cancels;
pub mod memory;
mod schedule;

pub use audit::{AuditEntry, AUDIT_LIMIT};
pub use cancels::CancelRequests;
pub use schedule::{FireTicks, StoredSchedule};

/// A boxed, `Send` future: what backend methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What [`Backend::enqueue`] did with one record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Enqueued {
    /// The job was stored.
    Created(JobId),
    /// A job with the same id, the same idempotency key, or the same unique
    /// key while that job is not finished, already exists; nothing was
    /// written. Holds that job's id.
    Existing(JobId),
}

impl Enqueued {
    /// The id of the job that now stands for the call.
    pub fn id(&self) -> &JobId {
        match self {
            Enqueued::Created(id) | Enqueued::Existing(id) => id,
        }
    }
}

/// A request to claim work.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClaimRequest {
    /// The claiming worker's id.
    pub worker: String,
    /// Queues to take from, the first one first.
    pub queues: Vec<String>,
    /// The most jobs to claim.
    pub max: usize,
    /// The lease each claimed job gets.
    pub lease: Duration,
    /// How long to block when nothing is ready (zero: don't block).
    pub wait: Duration,
}

impl ClaimRequest {
    /// A claim request.
    pub fn new(
        worker: impl Into<String>,
        queues: Vec<String>,
        max: usize,
        lease: Duration,
    ) -> Self {
        ClaimRequest {
            worker: worker.into(),
            queues,
            max,
            lease,
            wait: Duration::ZERO,
        }
    }

    /// Sets how long to block when nothing is ready.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }
}

/// The right to finish one attempt of a job: its id and the attempt's
/// fencing token. A lease whose token is not the job's current one is stale,
/// and every operation with it is refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lease {
    /// The job.
    pub id: JobId,
    /// The fencing token of this attempt; grows with every claim.
    pub fence: u64,
}

/// A job handed to a worker.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Claimed {
    /// The job as enqueued.
    pub record: JobRecord,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// How many earlier attempts lost their lease (their worker died or stalled).
    pub lost: u32,
    /// The lease to extend and finish with.
    pub lease: Lease,
}

impl Claimed {
    /// A claimed job (for backends outside this crate).
    pub fn new(record: JobRecord, attempt: u32, lost: u32, lease: Lease) -> Self {
        Claimed {
            record,
            attempt,
            lost,
            lease,
        }
    }
}

/// What a heartbeat learned about a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseStatus {
    /// Still held; extended.
    Held,
    /// Held and extended, but cancellation of the job was requested.
    CancelRequested,
    /// Lost: it expired and the job was handed out again, or the job is gone.
    Lost,
}

/// How an attempt ended, as decided by the worker.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// Done, with this encoded result.
    Succeeded {
        /// The encoded output.
        result: Vec<u8>,
    },
    /// Failed; run again after `delay` (on the backend's clock).
    Retry {
        /// How long until the next attempt.
        delay: Duration,
        /// What went wrong.
        error: String,
    },
    /// Failed for good: to the dead letters.
    Dead {
        /// What went wrong.
        error: String,
    },
    /// Not run to its end (worker shutting down): back to the queue, and the
    /// attempt does not count.
    Released,
    /// Stopped because cancellation was requested.
    Cancelled,
}

/// One attempt's end, to be recorded with [`Backend::finish`].
#[derive(Debug, Clone)]
pub struct Finish {
    /// The attempt.
    pub lease: Lease,
    /// How it ended.
    pub outcome: Outcome,
}

/// A filter for [`Backend::list`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct JobQuery {
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this state.
    pub state: Option<JobState>,
    /// Skip this many.
    pub offset: usize,
    /// Return at most this many (0: a default of 100).
    pub limit: usize,
}

impl JobQuery {
    /// Jobs in a state.
    pub fn state(state: JobState) -> Self {
        JobQuery {
            state: Some(state),
            ..JobQuery::default()
        }
    }

    /// Restricts to a queue.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// Sets the page.
    pub fn page(mut self, offset: usize, limit: usize) -> Self {
        self.offset = offset;
        self.limit = limit;
        self
    }

    /// The effective limit.
    pub fn effective_limit(&self) -> usize {
        if self.limit == 0 {
            100
        } else {
            self.limit
        }
    }
}

/// How many jobs a queue holds in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QueueCounts {
    /// The queue.
    pub queue: String,
    /// Waiting for dependencies.
    pub waiting: u64,
    /// Delayed or backing off.
    pub scheduled: u64,
    /// Ready.
    pub queued: u64,
    /// Running.
    pub running: u64,
    /// Succeeded (and not yet expired), or ever, depending on the engine.
    pub succeeded: u64,
    /// In the dead letters.
    pub dead: u64,
    /// Cancelled (and not yet expired).
    pub cancelled: u64,
}

impl QueueCounts {
    /// An all-zero count for a queue.
    pub fn new(queue: impl Into<String>) -> Self {
        QueueCounts {
            queue: queue.into(),
            ..QueueCounts::default()
        }
    }

    /// The count for one state.
    pub fn get(&self, state: JobState) -> u64 {
        match state {
            JobState::Waiting => self.waiting,
            JobState::Scheduled => self.scheduled,
            JobState::Queued => self.queued,
            JobState::Running => self.running,
            JobState::Succeeded => self.succeeded,
            JobState::Dead => self.dead,
            JobState::Cancelled => self.cancelled,
        }
    }

    /// Adds one to a state's count.
    pub fn bump(&mut self, state: JobState) {
        let slot = match state {
            JobState::Waiting => &mut self.waiting,
            JobState::Scheduled => &mut self.scheduled,
            JobState::Queued => &mut self.queued,
            JobState::Running => &mut self.running,
            JobState::Succeeded => &mut self.succeeded,
            JobState::Dead => &mut self.dead,
            JobState::Cancelled => &mut self.cancelled,
        };
        *slot += 1;
    }
}

/// A live worker process, as it reports itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkerInfo {
    /// The worker's id, as the pool was named (`Worker::id`). Pools that
    /// share one have entries of their own, told apart by `instance`.
    pub id: String,
    /// This run of the pool: a token drawn when it starts. Empty in entries
    /// of orks that predate it.
    #[serde(default)]
    pub instance: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Queues served, in priority order.
    pub queues: Vec<String>,
    /// Concurrency.
    pub concurrency: usize,
    /// Start time (Unix ms).
    pub started_at_ms: u64,
    /// Last heartbeat (Unix ms, backend clock).
    pub last_seen_ms: u64,
    /// Jobs running now.
    pub running: usize,
    /// Jobs finished since start.
    pub processed: u64,
}

impl WorkerInfo {
    /// The entry's key in the worker registry: the id, then `#` and the
    /// instance when there is one. [`Backend::register_worker`] stores the
    /// entry under it and [`Backend::unregister_worker`] takes it.
    pub fn key(&self) -> String {
        worker_key(&self.id, &self.instance)
    }
}

/// The registry key of the pool run `instance` named `id`.
pub(crate) fn worker_key(id: &str, instance: &str) -> String {
    if instance.is_empty() {
        id.to_owned()
    } else {
        format!("{id}#{instance}")
    }
}

/// What happened to a cancel request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelOutcome {
    /// The job had not started; it is cancelled and will not run.
    Cancelled,
    /// The job is running; its task was asked to stop (it sees it through
    /// its `Context`).
    Requested,
    /// The job had already finished (in this state); nothing changed.
    AlreadyFinished(JobState),
}

/// How much memory the storage server uses, against its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MemoryUsage {
    /// Bytes in use.
    pub used_bytes: u64,
    /// The configured limit in bytes (`None`: no limit).
    pub max_bytes: Option<u64>,
}

impl MemoryUsage {
    /// A reading (for backends outside this crate).
    pub fn new(used_bytes: u64, max_bytes: Option<u64>) -> Self {
        MemoryUsage {
            used_bytes,
            max_bytes,
        }
    }

    /// Used over the limit, from 0.0 (`None` without a limit).
    pub fn ratio(&self) -> Option<f64> {
        self.max_bytes
            .filter(|&m| m > 0)
            .map(|m| self.used_bytes as f64 / m as f64)
    }
}

/// The storage engine under ork. See the module docs.
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// The backend's clock, in Unix milliseconds. Every deadline (delays,
    /// leases, retries) is judged on this clock, never on a worker's.
    fn now_ms(&self) -> BoxFuture<'_, Result<u64>>;

    /// Stores jobs, in order, atomically per job.
    ///
    /// Idempotent by id: a record whose id exists is not written again
    /// ([`Enqueued::Existing`]). A record whose `idempotency_key` is held by
    /// a job whose record is still kept (unfinished, or finished within its
    /// result TTL), or whose `unique` key is held by a job that is not
    /// finished, is not written either. A record with a `parent` becomes
    /// one of its [`children`](Self::children); if that parent is cancelled,
    /// or running with a cancel request, the record ends cancelled at once. A record with `deps`
    /// starts [`JobState::Waiting`] and is queued exactly once, when every
    /// dependency has succeeded (or failed with `allow_failure`); if a
    /// dependency fails without `allow_failure`, or is cancelled, the record
    /// ends dead (or cancelled) with a message naming the dependency. A
    /// record with a delay or a run-at time starts [`JobState::Scheduled`].
    fn enqueue(&self, jobs: Vec<JobRecord>) -> BoxFuture<'_, Result<Vec<Enqueued>>>;

    /// Claims up to `max` ready jobs: queues in the order given, within a
    /// queue higher priority first, then first in, first out. Scheduled jobs
    /// that are due are made ready first. Each claimed job is `Running` with a
    /// new fencing token, an attempt count one higher, and a lease of
    /// `lease`. When nothing is ready, blocks up to `wait` for work.
    fn claim<'a>(&'a self, req: &'a ClaimRequest) -> BoxFuture<'a, Result<Vec<Claimed>>>;

    /// Extends leases by `lease` from now. Stale leases are not extended.
    fn heartbeat<'a>(
        &'a self,
        leases: &'a [Lease],
        lease: Duration,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>>>;

    /// Records the end of attempts. An entry whose lease is stale changes
    /// nothing and yields `false`. A terminal outcome releases the job's
    /// unique key and its dependants (see [`Backend::enqueue`]).
    fn finish<'a>(&'a self, batch: &'a [Finish]) -> BoxFuture<'a, Result<Vec<bool>>>;

    /// Puts jobs whose lease expired back in their queue: the attempt does
    /// not count and the job's `lost` count grows by one. Returns how many.
    fn reap(&self) -> BoxFuture<'_, Result<usize>>;

    /// Records progress (0 to 100) of a running attempt; stale leases are ignored.
    fn progress<'a>(&'a self, lease: &'a Lease, percent: u8) -> BoxFuture<'a, Result<()>>;

    /// Looks jobs up by id; `None` for unknown or expired ones.
    fn jobs<'a>(&'a self, ids: &'a [JobId]) -> BoxFuture<'a, Result<Vec<Option<JobInfo>>>>;

    /// Waits until the job is terminal, up to `timeout`, and returns it as it
    /// then is (`None` if unknown).
    fn wait<'a>(
        &'a self,
        id: &'a JobId,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<JobInfo>>>;

    /// Cancels a job that has not started, or asks a running one to stop.
    /// In the same atomic step, the same happens to its run-time children
    /// (see [`children`](Self::children)) and their descendants, from every
    /// job on the way that has not succeeded or died; each running job
    /// asked to stop is announced on [`cancel_requests`](Self::cancel_requests).
    /// The outcome is the job's own.
    /// An unknown id is [`Error::UnknownJob`](crate::Error::UnknownJob).
    fn cancel<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<CancelOutcome>>;

    /// Lists jobs, oldest first.
    fn list<'a>(&'a self, query: &'a JobQuery) -> BoxFuture<'a, Result<Vec<JobInfo>>>;

    /// Queues a dead or cancelled job again with a fresh attempt count.
    /// A job with dependencies goes back to waiting for those that have not
    /// succeeded (and is queued at once if none is left). Returns `false` if
    /// the job is in another state.
    fn retry<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<bool>>;

    /// Deletes every job that is waiting, scheduled or queued in a queue.
    /// Returns how many.
    fn purge<'a>(&'a self, queue: &'a str) -> BoxFuture<'a, Result<u64>>;

    /// Counts per queue and state.
    fn counts(&self) -> BoxFuture<'_, Result<Vec<QueueCounts>>>;

    /// Records a worker's heartbeat under its [`WorkerInfo::key`]; the
    /// entry lives for `ttl`.
    fn register_worker<'a>(
        &'a self,
        info: &'a WorkerInfo,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<()>>;

    /// Removes a worker's entry (clean shutdown), by its
    /// [`WorkerInfo::key`].
    fn unregister_worker<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>>;

    /// The workers whose entry has not expired.
    fn workers(&self) -> BoxFuture<'_, Result<Vec<WorkerInfo>>>;

    /// Stores a workflow's description (opaque bytes), replacing any with
    /// the same id. Kept until deleted.
    fn put_workflow<'a>(&'a self, id: &'a JobId, meta: Vec<u8>) -> BoxFuture<'a, Result<()>>;

    /// A workflow's description, if stored.
    fn workflow<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;

    /// Workflow ids, newest first.
    fn workflow_ids(&self, offset: usize, limit: usize) -> BoxFuture<'_, Result<Vec<JobId>>>;

    /// Stores a schedule's definition (opaque bytes) under `name`. A
    /// schedule of that name keeps its state (paused or not, processed
    /// through, last job): only its definition is replaced. A new schedule
    /// starts unpaused and processed through the backend's now, so no tick
    /// from before it existed is fired. Returns whether it is new.
    fn put_schedule<'a>(
        &'a self,
        name: &'a str,
        definition: Vec<u8>,
    ) -> BoxFuture<'a, Result<bool>>;

    /// Deletes a schedule and its state; a [`fire`](Self::fire) for it is
    /// refused from then on. Returns whether it existed.
    fn delete_schedule<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>>;

    /// Pauses (`true`) or resumes (`false`) a schedule. While paused, every
    /// [`fire`](Self::fire) for it is refused. Resuming a paused schedule
    /// moves its processed-through instant up to the backend's now, so ticks
    /// that fell in the pause are never fired (resuming one that is not
    /// paused changes nothing). Returns whether the schedule exists.
    fn pause_schedule<'a>(&'a self, name: &'a str, paused: bool) -> BoxFuture<'a, Result<bool>>;

    /// Every schedule, by name.
    fn schedules(&self) -> BoxFuture<'_, Result<Vec<StoredSchedule>>>;

    /// The scheduler's atomic step, a compare-and-set: if the schedule
    /// exists, is not paused, and is processed through exactly
    /// `expected_through_ms`, then it becomes processed through
    /// `through_ms`, its last job becomes the last of `jobs` (when there are
    /// any), and `jobs` are enqueued with the semantics of
    /// [`enqueue`](Self::enqueue) (so a tick's deterministic id is a second
    /// guard). Otherwise nothing changes and the result is `None`.
    fn fire(&self, ticks: FireTicks) -> BoxFuture<'_, Result<Option<Vec<Enqueued>>>>;

    /// The storage server's memory use against its limit, for `ork status`,
    /// the dashboard and metrics. `None` where the engine has no such limit
    /// (the default, and the memory engine).
    fn memory(&self) -> BoxFuture<'_, Result<Option<MemoryUsage>>> {
        Box::pin(async { Ok(None) })
    }

    /// The same storage through connections of its own, driven by the
    /// runtime that awaits this. A worker renews its leases from a thread
    /// of its own, so that tasks that hog the worker's runtime can't starve
    /// the renewals; an engine whose I/O runs on tasks of the runtime it was
    /// built on returns such a copy. `None` (the default) means this handle
    /// works from any runtime as it is (the memory engine).
    fn standalone(&self) -> BoxFuture<'_, Result<Option<std::sync::Arc<dyn Backend>>>> {
        Box::pin(async { Ok(None) })
    }

    // Audit

    /// Records an operator action (see [`AuditEntry`]), keeping only the
    /// newest [`AUDIT_LIMIT`]. The default keeps nothing: an engine without
    /// storage for it still works, with an empty [`audit_log`](Self::audit_log).
    fn record_audit<'a>(&'a self, entry: &'a AuditEntry) -> BoxFuture<'a, Result<()>> {
        let _ = entry;
        Box::pin(async { Ok(()) })
    }

    /// The recorded actions, newest first, at most `limit`.
    fn audit_log(&self, limit: usize) -> BoxFuture<'_, Result<Vec<AuditEntry>>> {
        let _ = limit;
        Box::pin(async { Ok(Vec::new()) })
    }

    // Cancel that reaches run-time children, and pushed cancel requests.

    /// The run-time children of a job: what it spawned (`ctx.spawn`,
    /// `ctx.map`, the items of a `flow.map` node) and the nodes of the
    /// workflows it was replaced with (`ctx.replace`), in no particular
    /// order. Recorded at enqueue from each record's `parent`, and kept as
    /// long as the parent's record. [`cancel`](Self::cancel) reaches them
    /// and their descendants. The default knows no children.
    fn children<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<Vec<JobId>>> {
        let _ = id;
        Box::pin(async { Ok(Vec::new()) })
    }

    /// A feed of the ids of jobs whose cancellation is requested, pushed
    /// as [`cancel`](Self::cancel) happens, so that a running task learns
    /// of it at once rather than at its worker's next heartbeat. Each pool
    /// opens one. The default never yields (heartbeats still carry every
    /// request).
    fn cancel_requests(&self) -> BoxFuture<'_, Result<CancelRequests>> {
        Box::pin(async { Ok(CancelRequests::never()) })
    }
}
