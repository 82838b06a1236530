//! The pool's loops: claiming, heartbeats and reaping, flushing completions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Config;
use crate::backend::{Backend, ClaimRequest, Finish, Lease, LeaseStatus, WorkerInfo};
use crate::context::StateMap;
use crate::job::JobId;
use crate::schedule::Scheduler;
use crate::task::TaskEntry;

/// Cancellation of the job was requested.
pub(crate) const SIGNAL_CANCEL: u8 = 1;
/// The job's lease was lost: another attempt may run it.
pub(crate) const SIGNAL_LOST: u8 = 2;

/// A task as the pool runs it: its entry and its per-process cap.
pub(crate) struct Registered {
    pub(crate) entry: TaskEntry,
    pub(crate) cap: Option<Arc<Semaphore>>,
}

/// A job being run, as the heartbeat loop sees it.
pub(crate) struct InFlight {
    pub(crate) lease: Lease,
    pub(crate) token: CancellationToken,
    pub(crate) signal: Arc<AtomicU8>,
}

/// Everything an attempt needs, shared by the pool's tasks.
pub(crate) struct Shared {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) config: Config,
    pub(crate) state: Arc<StateMap>,
    pub(crate) registry: HashMap<&'static str, Registered>,
    /// Fired past the grace period of a shutdown: running jobs are handed back.
    pub(crate) hard_stop: CancellationToken,
    pub(crate) inflight: Mutex<rustc_hash::FxHashMap<JobId, InFlight>>,
    pub(crate) finished: mpsc::UnboundedSender<Finish>,
    pub(crate) processed: AtomicU64,
    /// The pool's slots (given back by parents while they wait).
    pub(crate) slots: Arc<Semaphore>,
}

pub(crate) struct Pool {
    shared: Arc<Shared>,
    stop: CancellationToken,
    finished_rx: mpsc::UnboundedReceiver<Finish>,
    scheduler: Option<Scheduler>,
}

impl Pool {
    pub(crate) fn new(
        backend: Arc<dyn Backend>,
        config: Config,
        state: Arc<StateMap>,
        registry: HashMap<&'static str, TaskEntry>,
        stop: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let registry = registry
            .into_iter()
            .map(|(name, entry)| {
                let cap = entry
                    .options
                    .concurrency
                    .map(|n| Arc::new(Semaphore::new(n)));
                (name, Registered { entry, cap })
            })
            .collect();
        let slots = Arc::new(Semaphore::new(config.concurrency));
        Pool {
            shared: Arc::new(Shared {
                backend,
                config,
                state,
                registry,
                hard_stop: CancellationToken::new(),
                inflight: Mutex::new(rustc_hash::FxHashMap::default()),
                finished: tx,
                processed: AtomicU64::new(0),
                slots,
            }),
            stop,
            finished_rx: rx,
            scheduler: None,
        }
    }

    /// Runs this scheduler beside the pool's loops.
    pub(crate) fn with_scheduler(mut self, scheduler: Scheduler) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    pub(crate) async fn run(self) {
        let Pool {
            shared,
            stop,
            finished_rx,
            scheduler,
        } = self;
        let scheduler = scheduler.map(|s| tokio::spawn(s.run(stop.clone())));
        let attempts = TaskTracker::new();
        let config = &shared.config;
        tracing::info!(worker = %config.id, queues = ?config.queues, concurrency = config.concurrency, "worker pool started");
        let flusher = tokio::spawn(flush(shared.backend.clone(), finished_rx));
        let done = CancellationToken::new();
        let beat = tokio::spawn(heartbeat(shared.clone(), done.clone()));
        tokio::spawn(super::cancels::listen(shared.clone(), done.clone()));

        claim_loop(&shared, &stop, &attempts).await;
        if let Some(scheduler) = scheduler {
            let _ = scheduler.await;
        }

        // Graceful stop: wait for running jobs, then hand back the rest.
        attempts.close();
        if tokio::time::timeout(config.grace, attempts.wait())
            .await
            .is_err()
        {
            let left = shared.inflight.lock().expect("inflight lock").len();
            tracing::warn!(
                running = left,
                "grace period over: handing running jobs back"
            );
            shared.hard_stop.cancel();
            attempts.wait().await;
        }
        done.cancel();
        let _ = beat.await;
        let backend = shared.backend.clone();
        let id = config.id.clone();
        drop(shared); // closes the completion channel once attempts are gone
        let _ = flusher.await;
        if let Err(e) = backend.unregister_worker(&id).await {
            tracing::debug!(error = %e, "could not unregister the worker");
        }
        tracing::info!(worker = %id, "worker pool stopped");
    }
}

async fn claim_loop(shared: &Arc<Shared>, stop: &CancellationToken, attempts: &TaskTracker) {
    let config = &shared.config;
    let slots = &shared.slots;
    let mut failures = 0u32;
    loop {
        let first = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => p.expect("slots never close"),
        };
        // Only one slot is held while the claim blocks: a parent that gave
        // its slot back while waiting for sub-tasks must be able to take
        // one again at once. The claim asks for as many jobs as slots are
        // free now; slots for the extra jobs are taken when they arrive.
        let mut permits = vec![first];
        let max = (1 + slots.available_permits()).min(config.claim_batch);
        let req = ClaimRequest::new(config.id.clone(), config.queues.clone(), max, config.lease)
            .wait(config.idle_wait);
        let claimed = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            r = shared.backend.claim(&req) => r,
        };
        match claimed {
            Ok(jobs) => {
                failures = 0;
                for job in jobs {
                    let permit: OwnedSemaphorePermit = match permits.pop() {
                        Some(p) => p,
                        None => match slots.clone().try_acquire_owned() {
                            Ok(p) => p,
                            // A parent took a slot back meanwhile: wait for one.
                            Err(_) => slots.clone().acquire_owned().await.expect("never closed"),
                        },
                    };
                    // Boxed: the attempt future is large, and tokio moves a task's
                    // future (and its output slot) by value.
                    attempts.spawn(Box::pin(super::execute::attempt(
                        shared.clone(),
                        job,
                        permit,
                    )));
                }
                // Let the attempts just spawned start before the next
                // claim is built and sent.
                tokio::task::yield_now().await;
            }
            Err(e) => {
                failures += 1;
                let pause = Duration::from_millis(50 * 2u64.pow(failures.min(7)));
                tracing::warn!(error = %e, retry_in = ?pause, "claiming work failed");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// Extends leases, relays cancellations, registers the worker, reaps
/// expired leases of any worker.
async fn heartbeat(shared: Arc<Shared>, done: CancellationToken) {
    let config = &shared.config;
    let started_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut tick = tokio::time::interval(config.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (leases, running): (Vec<Lease>, usize) = {
            let inflight = shared.inflight.lock().expect("inflight lock");
            (
                inflight.values().map(|f| f.lease.clone()).collect(),
                inflight.len(),
            )
        };
        if !leases.is_empty() {
            match shared.backend.heartbeat(&leases, config.lease).await {
                Ok(statuses) => apply_statuses(&shared, &leases, &statuses),
                Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
            }
        }
        let info = WorkerInfo {
            id: config.id.clone(),
            host: config.host.clone(),
            pid: std::process::id(),
            queues: config.queues.clone(),
            concurrency: config.concurrency,
            started_at_ms,
            last_seen_ms: 0,
            running,
            processed: shared.processed.load(Ordering::Relaxed),
        };
        if let Err(e) = shared
            .backend
            .register_worker(&info, config.heartbeat * 3)
            .await
        {
            tracing::debug!(error = %e, "worker registration failed");
        }
        match shared.backend.reap().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "requeued jobs whose lease expired"),
            Err(e) => tracing::debug!(error = %e, "reaping failed"),
        }
    }
}

fn apply_statuses(shared: &Shared, leases: &[Lease], statuses: &[LeaseStatus]) {
    let inflight = shared.inflight.lock().expect("inflight lock");
    for (lease, status) in leases.iter().zip(statuses) {
        let Some(f) = inflight.get(&lease.id) else {
            continue;
        };
        if f.lease != *lease {
            continue;
        }
        let signal = match status {
            LeaseStatus::Held => continue,
            LeaseStatus::CancelRequested => SIGNAL_CANCEL,
            _ => SIGNAL_LOST,
        };
        if signal == SIGNAL_LOST {
            tracing::warn!(job_id = %lease.id, "lease lost: another worker may run this job; stopping it here");
        }
        f.signal.store(signal, Ordering::SeqCst);
        f.token.cancel();
    }
}

/// Writes completions in batches; a batch that fails is tried again, so a
/// backend outage delays results but loses none (a stale one is refused by
/// its fencing token).
async fn flush(backend: Arc<dyn Backend>, mut rx: mpsc::UnboundedReceiver<Finish>) {
    let mut batch = Vec::with_capacity(256);
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut failures = 0u32;
        loop {
            match backend.finish(&batch).await {
                Ok(_) => break,
                Err(e) => {
                    failures += 1;
                    let pause = Duration::from_millis(50 * 2u64.pow(failures.min(7)));
                    tracing::warn!(error = %e, retry_in = ?pause, jobs = batch.len(), "recording results failed");
                    tokio::time::sleep(pause).await;
                }
            }
        }
        batch.clear();
    }
}
