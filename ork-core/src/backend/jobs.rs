//! Job life: storing jobs, handing them out under leases, and recording
//! how each attempt ended.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{BoxFuture, CancelRequests};
use crate::error::Result;
use crate::inspect::CancelOutcome;
use crate::job::{JobId, JobRecord};

/// What [`JobStore::enqueue`] did with one record.
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
    /// Parked by a durable sleep or wait (`ctx.sleep`, `ctx.wait_for`):
    /// scheduled for `until_ms` (Unix ms on the backend's clock), and the
    /// attempt does not count. A job woken while it ran
    /// ([`SignalStore::wake`](super::SignalStore::wake)) is made ready at
    /// once instead. `reason` is shown while it is parked
    /// ([`JobInfo::parked`](crate::job::JobInfo::parked)).
    Park {
        /// When to run again.
        until_ms: u64,
        /// What it waits for, in words.
        reason: String,
    },
}

/// One attempt's end, to be recorded with [`JobStore::finish`].
#[derive(Debug, Clone)]
pub struct Finish {
    /// The attempt.
    pub lease: Lease,
    /// How it ended.
    pub outcome: Outcome,
}

/// Job life: the part of the contract the client and the workers run on.
///
/// Every method is one atomic step. Leases and fencing tokens make the
/// steps safe against a worker that stalls or dies: a step taken with a
/// stale [`Lease`] changes nothing. Delivery is at least once: a job whose
/// lease expires is handed out again by [`reap`](Self::reap).
pub trait JobStore: Send + Sync {
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
    /// or running with a cancel request, the record ends cancelled at once.
    /// A record with `deps` starts [`JobState::Waiting`](crate::JobState::Waiting) and is queued exactly once, when every
    /// dependency has succeeded (or failed with `allow_failure`); if a
    /// dependency fails without `allow_failure`, or is cancelled, the record
    /// ends dead (or cancelled) with a message naming the dependency. A
    /// record with a delay or a run-at time starts [`JobState::Scheduled`](crate::JobState::Scheduled).
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
    /// unique key and its dependants (see [`enqueue`](Self::enqueue)).
    fn finish<'a>(&'a self, batch: &'a [Finish]) -> BoxFuture<'a, Result<Vec<bool>>>;

    /// Puts jobs whose lease expired back in their queue: the attempt does
    /// not count and the job's `lost` count grows by one. Returns how many.
    fn reap(&self) -> BoxFuture<'_, Result<usize>>;

    /// Records progress (0 to 100) of a running attempt; stale leases are ignored.
    fn progress<'a>(&'a self, lease: &'a Lease, percent: u8) -> BoxFuture<'a, Result<()>>;

    /// Cancels a job that has not started, or asks a running one to stop.
    /// In the same atomic step, the same happens to its run-time children
    /// (see [`children`](Self::children)) and their descendants, from every
    /// job on the way that has not succeeded or died; each running job
    /// asked to stop is announced on [`cancel_requests`](Self::cancel_requests).
    /// The outcome is the job's own.
    /// An unknown id is [`Error::UnknownJob`](crate::Error::UnknownJob).
    fn cancel<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<CancelOutcome>>;

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
