//! What the client reads back: job listings, queue counts, live workers,
//! cancel outcomes and the storage server's memory.
//!
//! These are the answers of [`Ork`](crate::Ork)'s queries; every engine
//! produces them, so they live below both the client and the engines.

use serde::{Deserialize, Serialize};

use std::time::SystemTime;

use crate::job::JobState;
use crate::time::from_unix_ms;

/// A filter for listing jobs ([`Ork::list`](crate::Ork::list)).
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

    /// Adds another count of the same queue (e.g. another shard's) to
    /// this one.
    pub fn add(&mut self, other: &QueueCounts) {
        self.waiting += other.waiting;
        self.scheduled += other.scheduled;
        self.queued += other.queued;
        self.running += other.running;
        self.succeeded += other.succeeded;
        self.dead += other.dead;
        self.cancelled += other.cancelled;
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
    /// Unix ms; see [`started_at`](Self::started_at).
    #[doc(hidden)]
    pub started_at_ms: u64,
    /// Unix ms; see [`last_seen`](Self::last_seen).
    #[doc(hidden)]
    pub last_seen_ms: u64,
    /// Jobs running now.
    pub running: usize,
    /// Jobs finished since start.
    pub processed: u64,
}

impl WorkerInfo {
    /// The entry's key in the worker registry: the id, then `#` and the
    /// instance when there is one.
    /// [`register_worker`](crate::backend::WorkerRegistry::register_worker)
    /// stores the entry under it and
    /// [`unregister_worker`](crate::backend::WorkerRegistry::unregister_worker)
    /// takes it.
    pub fn key(&self) -> String {
        worker_key(&self.id, &self.instance)
    }

    /// When the pool started (its own clock).
    pub fn started_at(&self) -> SystemTime {
        from_unix_ms(self.started_at_ms)
    }

    /// Its last heartbeat (on the backend's clock).
    pub fn last_seen(&self) -> SystemTime {
        from_unix_ms(self.last_seen_ms)
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
