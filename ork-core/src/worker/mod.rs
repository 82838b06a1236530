//! The worker pool: claims jobs, runs them, records how they ended.
//!
//! A pool runs inside the user's own process. [`Worker`] is its builder;
//! [`Worker::start`] spawns it and returns a [`WorkerHandle`], and
//! [`Worker::run_until`] runs it as a future until a shutdown signal.

mod cancels;
mod catch;
mod execute;
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
    pub(crate) host: String,
    pub(crate) concurrency: usize,
    pub(crate) queues: Vec<String>,
    pub(crate) lease: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) grace: Duration,
    pub(crate) claim_batch: usize,
    pub(crate) idle_wait: Duration,
    pub(crate) scheduler: bool,
    pub(crate) scheduler_clock: Option<Arc<dyn Clock>>,
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
                host,
                concurrency: 16,
                queues: vec![crate::DEFAULT_QUEUE.to_owned()],
                lease: Duration::from_secs(30),
                heartbeat: Duration::from_secs(10),
                grace: Duration::from_secs(30),
                claim_batch: 100,
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

    /// How long a claimed job stays ours without a heartbeat (default 30 s).
    /// Heartbeats are sent every third of it.
    pub fn lease(mut self, lease: Duration) -> Self {
        let lease = lease.max(Duration::from_millis(30));
        self.config.lease = lease;
        self.config.heartbeat = lease / 3;
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
        let mut map = HashMap::with_capacity(entries.len());
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
    /// When two different tasks share a name, or no queue is given.
    pub fn start(self) -> Result<WorkerHandle> {
        let stop = CancellationToken::new();
        let pool = self.into_pool(stop.clone())?;
        let join = tokio::spawn(pool.run());
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

    fn into_pool(self, stop: CancellationToken) -> Result<run::Pool> {
        if self.config.queues.is_empty() {
            return Err(Error::Invalid(
                "a worker needs at least one queue".to_owned(),
            ));
        }
        let registry = self.registry()?;
        let mut scheduler = Scheduler::new(self.backend.clone()).tasks(registry.values().copied());
        if let Some(clock) = &self.config.scheduler_clock {
            scheduler = scheduler.clock(clock.clone());
        }
        if !self.config.scheduler {
            scheduler = scheduler.store_only();
        }
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
