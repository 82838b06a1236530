//! The pool's loops: claiming, heartbeats and reaping, flushing completions.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::lease::{Clock, Held};
use super::Config;
use crate::backend::{Backend, ClaimRequest, Finish, Outcome};
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

/// Everything an attempt needs, shared by the pool's tasks.
pub(crate) struct Shared {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) config: Config,
    pub(crate) state: Arc<StateMap>,
    pub(crate) registry: HashMap<&'static str, Registered>,
    /// Fired past the grace period of a shutdown: running jobs are handed back.
    pub(crate) hard_stop: CancellationToken,
    /// Attempts holding a lease: from claim until their outcome is
    /// acknowledged.
    pub(crate) inflight: Mutex<rustc_hash::FxHashMap<JobId, Arc<Held>>>,
    /// The pool's monotonic clock, for local lease deadlines.
    pub(crate) clock: Clock,
    pub(crate) finished: mpsc::UnboundedSender<Finish>,
    pub(crate) processed: AtomicU64,
    /// The pool's slots (given back by parents while they wait).
    pub(crate) slots: Arc<Semaphore>,
    /// Fired when the pool stops fetching: buffered jobs are handed back.
    pub(crate) stopping: CancellationToken,
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
                clock: Clock::new(),
                finished: tx,
                processed: AtomicU64::new(0),
                slots,
                stopping: stop.clone(),
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
        let closing = CancellationToken::new();
        let stop_at = Arc::new(Mutex::new(None));
        let flusher = tokio::spawn(flush(
            shared.clone(),
            finished_rx,
            closing.clone(),
            stop_at.clone(),
        ));
        let done = CancellationToken::new();
        let lease_thread = match super::lease::spawn(shared.clone(), done.clone()) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "could not start the lease thread: no leases are renewed, jobs longer than the lease will run again elsewhere");
                None
            }
        };
        tokio::spawn(super::cancels::listen(shared.clone(), done.clone()));

        claim_loop(&shared, &stop, &attempts).await;

        // Graceful stop: wait for running jobs, then hand back the rest.
        // Past the grace period everything left shares one hand-back
        // budget, whatever the backend answers.
        attempts.close();
        let mut budget = None;
        if tokio::time::timeout(config.grace, attempts.wait())
            .await
            .is_err()
        {
            let left = running(&shared);
            tracing::warn!(
                running = left,
                "grace period over: handing running jobs back"
            );
            shared.hard_stop.cancel();
            let until = *budget.get_or_insert(Instant::now() + config.handback_timeout);
            if tokio::time::timeout_at(until, attempts.wait())
                .await
                .is_err()
            {
                tracing::error!(
                    running = running(&shared),
                    "attempts did not stop within the hand-back timeout (a task that never yields?): abandoning them; their jobs are left to their leases"
                );
            }
        }
        let until = *budget.get_or_insert(Instant::now() + config.handback_timeout);
        if let Some(scheduler) = scheduler {
            let _ = tokio::time::timeout_at(until, scheduler).await;
        }
        // Outcomes not yet acknowledged keep their leases until they are,
        // or until the budget is spent.
        *stop_at.lock().expect("stop lock") = Some(until);
        closing.cancel();
        let _ = flusher.await;
        // The lease thread ends at its next check; nothing waits for it
        // (a wait here would be on another thread's time, not this
        // runtime's, which a paused test clock would jump across).
        done.cancel();
        drop(lease_thread);
        let backend = shared.backend.clone();
        let id = config.id.clone();
        let key = crate::inspect::worker_key(&id, &config.instance);
        match tokio::time::timeout_at(until, backend.unregister_worker(&key)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "could not unregister the worker"),
            Err(_) => tracing::debug!("unregistering the worker timed out"),
        }
        tracing::info!(worker = %id, "worker pool stopped");
    }
}

fn running(shared: &Shared) -> usize {
    shared.inflight.lock().expect("inflight lock").len()
}

/// Claims jobs into a local buffer of `prefetch` leased jobs, apart from
/// the slots that run them, so a claim can fetch many jobs in one round
/// trip however few slots are free. Each claimed job is registered in the
/// in-flight map at once (its lease is renewed and its local deadline kept
/// from the claim on), then waits for a slot; see
/// [`attempt`](super::execute::attempt) for what a buffered job does when
/// the pool stops, its lease is lost or its local deadline passes before a
/// slot frees up.
async fn claim_loop(shared: &Arc<Shared>, stop: &CancellationToken, attempts: &TaskTracker) {
    let config = &shared.config;
    let cap = config.buffer();
    let room = Arc::new(Semaphore::new(cap));
    // Refill once half the buffer is free (all of it when idle), so claims
    // stay large while jobs are being run.
    let low = u32::try_from(cap.div_ceil(2).min(config.claim_batch).max(1)).unwrap_or(u32::MAX);
    // Local deadlines run from when a claim was sent, before it blocked:
    // a wait longer than the lease would hand out jobs already expired
    // here. Bounded so that a job claimed at the end of a wait still gets
    // its first renewal well within its local deadline.
    let renewable = config.lease - super::lease::margin(config.lease);
    let idle_wait = config
        .idle_wait
        .min(renewable.saturating_sub(config.heartbeat) / 2)
        .max(Duration::from_millis(5));
    let buffer = super::buffer::Buffer::new(shared.clone(), attempts.clone());
    let mut failures = 0u32;
    loop {
        let mut permits = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            p = room.clone().acquire_many_owned(low) => p.expect("room never closes"),
        };
        let more = room
            .available_permits()
            .min(config.claim_batch.saturating_sub(permits.num_permits()));
        if more > 0 {
            if let Ok(p) = room.clone().try_acquire_many_owned(more as u32) {
                permits.merge(p);
            }
        }
        let max = permits.num_permits();
        let req = ClaimRequest::new(config.id.clone(), config.queues.clone(), max, config.lease)
            .wait(idle_wait);
        let sent = shared.clock.now();
        let claimed = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            r = shared.backend.claim(&req) => r,
        };
        // The claim's leases run from when it was sent, on this clock.
        let deadline = sent.saturating_add(
            u64::try_from((config.lease - super::lease::margin(config.lease)).as_nanos())
                .unwrap_or(u64::MAX),
        );
        match claimed {
            Ok(jobs) => {
                failures = 0;
                for job in jobs {
                    // A backend never answers more than asked; if one did,
                    // the extra job still runs, past the buffer's bound.
                    let spot = permits.split(1);
                    let held = super::execute::hold(shared, &job, deadline);
                    buffer.push(job, held, spot);
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

/// Writes completions in batches. A batch that fails is tried again, so a
/// backend outage delays outcomes but loses none (a stale one is refused
/// by its fencing token). Each attempt stays in the in-flight map, its lease
/// renewed, until its outcome is acknowledged. Once `closing` fires (the
/// pool is stopping and its attempts are gone), what is left is written
/// within the hand-back budget, and anything still unacknowledged then is
/// left to its lease.
async fn flush(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Finish>,
    closing: CancellationToken,
    stop_at: Arc<Mutex<Option<Instant>>>,
) {
    let budget = || {
        stop_at
            .lock()
            .expect("stop lock")
            .unwrap_or_else(|| Instant::now() + shared.config.handback_timeout)
    };
    let mut batch = Vec::with_capacity(256);
    let mut deadline: Option<Instant> = None;
    loop {
        if deadline.is_none() {
            tokio::select! {
                biased;
                n = rx.recv_many(&mut batch, 256) => if n == 0 { return },
                _ = closing.cancelled() => {
                    deadline = Some(budget());
                    continue;
                }
            }
            linger(&shared, &mut rx, &mut batch, &closing).await;
        } else {
            while batch.len() < 256 {
                match rx.try_recv() {
                    Ok(f) => batch.push(f),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                return;
            }
        }
        let mut failures = 0u32;
        loop {
            let call = shared.backend.finish(&batch);
            tokio::pin!(call);
            let result = loop {
                match deadline {
                    Some(d) => match tokio::time::timeout_at(d, &mut call).await {
                        Ok(r) => break r,
                        Err(_) => {
                            give_up(&shared, &batch, &mut rx);
                            return;
                        }
                    },
                    None => tokio::select! {
                        r = &mut call => break r,
                        _ = closing.cancelled() => {
                            deadline = Some(budget());
                        }
                    },
                }
            };
            match result {
                Ok(applied) => {
                    acknowledged(&shared, &batch, &applied);
                    break;
                }
                Err(e) => {
                    failures += 1;
                    let pause = Duration::from_millis(25 * 2u64.pow(failures.min(5)))
                        .min(Duration::from_secs(1));
                    tracing::warn!(error = %e, retry_in = ?pause, jobs = batch.len(), "recording outcomes failed; their leases are kept meanwhile");
                    if deadline.is_some_and(|d| Instant::now() + pause >= d) {
                        give_up(&shared, &batch, &mut rx);
                        return;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = closing.cancelled(), if deadline.is_none() => {
                            deadline = Some(budget());
                        }
                    }
                }
            }
        }
        batch.clear();
    }
}

/// How long a small batch of outcomes waits for more while attempts run.
const LINGER: Duration = Duration::from_millis(1);
/// A batch this large is sent without lingering.
const LINGER_UNTIL: usize = 128;

/// Lets a small batch of outcomes wait a moment for more, so finishes
/// share round trips; only while other attempts run (more outcomes are
/// coming), never on an idle pool, where it would only add latency.
async fn linger(
    shared: &Shared,
    rx: &mut mpsc::UnboundedReceiver<Finish>,
    batch: &mut Vec<Finish>,
    closing: &CancellationToken,
) {
    let busy = || shared.slots.available_permits() < shared.config.concurrency;
    if batch.len() >= LINGER_UNTIL || !busy() {
        return;
    }
    let until = Instant::now() + LINGER;
    while batch.len() < LINGER_UNTIL && busy() {
        tokio::select! {
            biased;
            n = rx.recv_many(batch, 256 - batch.len()) => if n == 0 { return },
            _ = tokio::time::sleep_until(until) => return,
            _ = closing.cancelled() => return,
        }
    }
}

/// Drops acknowledged attempts from the in-flight map.
fn acknowledged(shared: &Shared, batch: &[Finish], applied: &[bool]) {
    let mut inflight = shared.inflight.lock().expect("inflight lock");
    for (i, f) in batch.iter().enumerate() {
        if !applied.get(i).copied().unwrap_or(true) {
            tracing::debug!(job_id = %f.lease.id, "outcome refused: the lease was taken over");
        }
        if inflight
            .get(&f.lease.id)
            .is_some_and(|h| h.lease == f.lease)
        {
            inflight.remove(&f.lease.id);
        }
    }
}

/// The hand-back budget is spent: what was not acknowledged is left to its
/// lease (its job runs again elsewhere once the lease expires).
fn give_up(shared: &Shared, batch: &[Finish], rx: &mut mpsc::UnboundedReceiver<Finish>) {
    let mut left: Vec<&Finish> = batch.iter().collect();
    let mut rest = Vec::new();
    while let Ok(f) = rx.try_recv() {
        rest.push(f);
    }
    left.extend(rest.iter());
    let ids: Vec<String> = left
        .iter()
        .take(20)
        .map(|f| f.lease.id.to_string())
        .collect();
    let handed_back = left
        .iter()
        .filter(|f| f.outcome == Outcome::Released)
        .count();
    tracing::error!(
        jobs = left.len(),
        handed_back,
        first = ?ids,
        "could not record these outcomes within the hand-back timeout: their jobs are left to their leases and will run again once those expire"
    );
    shared.inflight.lock().expect("inflight lock").clear();
}
