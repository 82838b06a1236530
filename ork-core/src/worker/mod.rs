//! The worker pool: claims jobs, runs them, records how they ended.
//!
//! A pool runs inside the user's own process. [`Worker`] is its builder;
//! [`Worker::start`] spawns it and returns a [`WorkerHandle`], and
//! [`Worker::run_until`] runs it as a future until a shutdown signal.

mod buffer;
mod cancels;
mod catch;
mod execute;
mod ids;
mod lease;
mod run;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::context::StateMap;
use crate::error::{Error, Result};
use crate::schedule::{Clock, Scheduler};
use crate::task::{Task, TaskEntry};

/// Builds a worker pool. Get one with [`Ork::worker`](crate::Ork::worker).
pub struct Worker {
    backend: Arc<dyn Backend>,
    config: Config,
    state: StateMap,
    selected: Vec<TaskEntry>,
}

/// Settings of a pool (all have defaults).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) id: String,
    /// This run of the pool (a builder starts once), in its registry key.
    pub(crate) instance: String,
    pub(crate) host: String,
    pub(crate) concurrency: usize,
    pub(crate) queues: Vec<String>,
    pub(crate) lease: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) grace: Duration,
    pub(crate) handback_timeout: Duration,
    pub(crate) reap_every: Duration,
    pub(crate) max_lost_leases: u32,
    pub(crate) blocking_threshold: Duration,
    pub(crate) claim_batch: usize,
    /// Claimed jobs waiting locally for a slot, at most (`None`: default).
    pub(crate) prefetch: Option<usize>,
    pub(crate) idle_wait: Duration,
    pub(crate) scheduler: bool,
    pub(crate) scheduler_clock: Option<Arc<dyn Clock>>,
}

impl Config {
    /// The claim buffer's size.
    pub(crate) fn buffer(&self) -> usize {
        self.prefetch.unwrap_or(self.claim_batch).max(1)
    }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("config", &self.config)
            .field("selected", &self.selected.len())
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub(crate) fn new(backend: Arc<dyn Backend>) -> Self {
        let host = host_name();
        Worker {
            backend,
            config: Config {
                id: format!("{host}:{}:{}", std::process::id(), fastrand::u32(..)),
                instance: format!("{:08x}", fastrand::u32(..)),
                host,
                concurrency: 16,
                queues: vec![crate::DEFAULT_QUEUE.to_owned()],
                lease: Duration::from_secs(30),
                heartbeat: Duration::from_secs(10),
                grace: Duration::from_secs(30),
                handback_timeout: Duration::from_secs(5),
                reap_every: Duration::from_secs(10),
                max_lost_leases: 10,
                blocking_threshold: Duration::from_millis(500),
                claim_batch: 100,
                prefetch: None,
                idle_wait: Duration::from_secs(5),
                scheduler: true,
                scheduler_clock: None,
            },
            state: StateMap::default(),
            selected: Vec::new(),
        }
    }

    /// How many jobs run at once (default 16).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.config.concurrency = n.max(1);
        self
    }

    /// The queues to serve, first one first (default: `["default"]`).
    pub fn queues<I, S>(mut self, queues: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.queues = queues.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a value to the app state tasks read with `ctx.state::<T>()`.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Serves only the tasks selected this way (by default every task linked
    /// into the binary is served).
    pub fn task<T: Task>(mut self) -> Self {
        self.selected.push(TaskEntry::of::<T>());
        self
    }

    /// How long a claimed job stays ours without a renewal (default 30 s).
    /// Renewals (heartbeats) are sent every third of it, and the reaper
    /// runs as often; call [`heartbeat`](Self::heartbeat) and
    /// [`reap_every`](Self::reap_every) after this to set them apart.
    ///
    /// Each attempt also keeps a local deadline: the send time of its last
    /// renewal that succeeded, plus the lease, minus a tenth of it (at most
    /// 2 s). When that passes, the attempt is stopped (its
    /// `ctx.cancellation()` fires, its future is dropped at its next poll,
    /// its result discarded) before the lease can run out on the server, so
    /// a worker cut off from Redis never runs a job another worker took over.
    pub fn lease(mut self, lease: Duration) -> Self {
        let lease = lease.max(Duration::from_millis(30));
        self.config.lease = lease;
        self.config.heartbeat = lease / 3;
        self.config.reap_every = lease / 3;
        self
    }

    /// How often leases are renewed and the worker registers itself
    /// (default: a third of the lease). Must be shorter than the lease less
    /// its margin, or [`start`](Self::start) fails.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.config.heartbeat = every.max(Duration::from_millis(5));
        self
    }

    /// How often this pool looks for jobs of any worker whose lease ran out
    /// and puts them back (default: a third of the lease).
    pub fn reap_every(mut self, every: Duration) -> Self {
        self.config.reap_every = every.max(Duration::from_millis(5));
        self
    }

    /// A job that lost its lease this many times is dead-lettered (default
    /// 10): it is likely crashing or stalling every worker that runs it.
    pub fn max_lost_leases(mut self, n: u32) -> Self {
        self.config.max_lost_leases = n.max(1);
        self
    }

    /// A task whose poll keeps its runtime thread longer than this is
    /// reported (default 500 ms): a warning naming the task, and the
    /// `ork_task_blocked_total` counter. Its lease is still renewed, from a
    /// thread of the pool's own, so no other worker runs its job meanwhile;
    /// such a task can't be stopped by its timeout until it yields.
    pub fn blocking_threshold(mut self, threshold: Duration) -> Self {
        self.config.blocking_threshold = threshold.max(Duration::from_millis(1));
        self
    }

    /// How long shutdown may take past the grace period (default 5 s): to
    /// hand running jobs back and record the outcomes not yet acknowledged,
    /// whatever the backend answers. Jobs whose hand-back could not be
    /// recorded by then are left to their leases, and the log says so.
    pub fn handback_timeout(mut self, timeout: Duration) -> Self {
        self.config.handback_timeout = timeout;
        self
    }

    /// How long shutdown waits for running jobs before handing them back
    /// (default 30 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.config.grace = grace;
        self
    }

    /// The most jobs claimed in one round trip (default 100).
    pub fn claim_batch(mut self, n: usize) -> Self {
        self.config.claim_batch = n.max(1);
        self
    }

    /// How many claimed jobs may wait here for a free slot (default: the
    /// claim batch, 100).
    ///
    /// Claims fill this buffer, so one round trip fetches many jobs however
    /// few slots are free; a claim is sent once half of it is free. A
    /// buffered job holds its lease like a running one (renewed, with its
    /// local deadline), is never started once that deadline has passed,
    /// and is handed back at once when the pool shuts down, without using
    /// up an attempt. Jobs that run for long are better served by a small
    /// buffer (`prefetch(1)`), so that idle workers elsewhere take them.
    pub fn prefetch(mut self, n: usize) -> Self {
        self.config.prefetch = Some(n.max(1));
        self
    }

    /// Names this worker (default: host, pid and a random number).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.config.id = id.into();
        self
    }

    /// Runs a scheduler in this pool (default: on), which fires the ticks
    /// of every stored schedule; each tick is enqueued once however many
    /// pools run one. Either way, the pool stores the schedules of the
    /// periodic tasks it serves (`#[ork::task(cron = ...)]`,
    /// `#[ork::task(every = ...)]`) when it starts.
    pub fn scheduler(mut self, on: bool) -> Self {
        self.config.scheduler = on;
        self
    }

    /// The local clock the scheduler sleeps by (default: the system's).
    /// Ticks are judged on the backend's clock whatever this says; tests
    /// pass an [`OffsetClock`](crate::schedule::OffsetClock) to check it.
    pub fn scheduler_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.config.scheduler_clock = Some(clock);
        self
    }

    fn registry(&self) -> Result<HashMap<&'static str, TaskEntry>> {
        let explicit = !self.selected.is_empty();
        let entries: Vec<TaskEntry> = if explicit {
            self.selected.clone()
        } else {
            crate::task::registered().copied().collect()
        };
        let mut map = HashMap::with_capacity(entries.len() + 1);
        // Built-in tasks (the map node's) are always served.
        if explicit {
            for e in crate::task::registered().filter(|e| e.name().starts_with("ork::")) {
                map.insert(e.name(), *e);
            }
        }
        for e in entries {
            if map.insert(e.name(), e).is_some() {
                // Selecting the same task twice is harmless; two linked
                // tasks with one name are not.
                if !explicit {
                    return Err(Error::Invalid(format!(
                        "two different tasks are named `{}`; give one a `name = \"...\"`",
                        e.name()
                    )));
                }
            }
        }
        Ok(map)
    }

    /// Starts the pool on the current tokio runtime.
    ///
    /// # Errors
    /// When two different tasks share a name, no queue is given, or a
    /// periodic task can't be scheduled (a bad cron expression or time
    /// zone, an interval too short).
    pub fn start(self) -> Result<WorkerHandle> {
        let stop = CancellationToken::new();
        let (backend, me) = (
            self.backend.clone(),
            ids::Starting::new(&self.config.id, &self.config.instance),
        );
        let pool = self.into_pool(stop.clone())?;
        let join = tokio::spawn(async move {
            ids::warn_if_taken(&*backend, &me).await;
            pool.run().await
        });
        Ok(WorkerHandle { stop, join })
    }

    /// Runs the pool until `signal` completes, then shuts down gracefully.
    /// For embedding next to a server: `worker.run_until(ctrl_c)`.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send) -> Result<()> {
        let handle = self.start()?;
        signal.await;
        handle.shutdown().await;
        Ok(())
    }

    fn into_pool(mut self, stop: CancellationToken) -> Result<run::Pool> {
        if self.config.queues.is_empty() {
            return Err(Error::Invalid(
                "a worker needs at least one queue".to_owned(),
            ));
        }
        let renewable = self.config.lease - lease::margin(self.config.lease);
        if self.config.heartbeat >= renewable {
            return Err(Error::Invalid(format!(
                "the heartbeat ({:?}) must be shorter than the lease ({:?}) less its margin",
                self.config.heartbeat, self.config.lease
            )));
        }
        let registry = self.registry()?;
        self.state
            .insert_internal(crate::task::PoolTasks(registry.clone()));
        let mut scheduler = Scheduler::new(self.backend.clone()).tasks(registry.values().copied());
        if let Some(clock) = &self.config.scheduler_clock {
            scheduler = scheduler.clock(clock.clone());
        }
        if !self.config.scheduler {
            scheduler = scheduler.store_only();
        }
        scheduler.check()?;
        Ok(run::Pool::new(
            self.backend,
            self.config,
            Arc::new(self.state),
            registry,
            stop,
        )
        .with_scheduler(scheduler))
    }
}

/// This machine's name, for the worker listing.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// A running pool.
#[derive(Debug)]
pub struct WorkerHandle {
    stop: CancellationToken,
    join: JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops fetching, lets running jobs finish within the grace period,
    /// hands the rest back to their queue, and waits for all of it.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Err(e) = self.join.await {
            tracing::error!(error = %e, "worker pool ended abnormally");
        }
    }

    /// Whether the pool has stopped.
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}
