//! Leases as the worker holds them: a deadline on two clocks.
//!
//! The server judges a lease on its own clock. The worker keeps a local
//! deadline for each attempt on its monotonic clock: the send time of the
//! last renewal that succeeded, plus the lease, minus a margin. The server
//! extended the lease when the renewal *arrived*, after it was sent, so the
//! local deadline always falls before the server's: when it passes, the
//! attempt is stopped here before any other worker can claim the job. That
//! is what keeps a worker cut off from Redis from running a job another
//! worker has taken over.
//!
//! Renewals and local deadlines run on a thread of their own, with a
//! runtime and (on Redis) a connection of their own, so a task that blocks
//! the pool's runtime can't starve them. The same thread reports such a
//! task: one whose poll has not returned for longer than the blocking
//! threshold, and one past its timeout that does not yield.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::run::Shared;
use crate::backend::{Backend, Lease, LeaseStatus};
use crate::inspect::WorkerInfo;
use crate::metrics::counters;

/// The attempt runs (or waits to).
const RUNNING: u8 = 0;
/// Its body ended; the outcome waits to be acknowledged, under lease.
const DONE: u8 = 1;
/// Its local deadline passed: stopped, its result discarded.
const EXPIRED: u8 = 2;

/// How often the lease thread checks local deadlines and blocked tasks.
const WATCH_EVERY: Duration = Duration::from_millis(20);

/// The worker's monotonic clock, in ns since the pool started (never 0).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            epoch: Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64 + 1
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The safety margin between the local and the server's deadline.
pub(crate) fn margin(lease: Duration) -> Duration {
    (lease / 10).clamp(Duration::from_millis(5), Duration::from_secs(2))
}

/// One attempt's lease, shared by the attempt, the flusher and the lease
/// thread. It stays in the pool's in-flight map from claim until its
/// outcome is acknowledged, so a finished attempt keeps its lease while
/// its finish is on the way.
#[derive(Debug)]
pub(crate) struct Held {
    pub(crate) lease: Lease,
    pub(crate) task: &'static str,
    /// Fired to stop the attempt (cancel, lost lease, hand-back).
    pub(crate) token: CancellationToken,
    /// Why the token fired, when it was not the hand-back.
    pub(crate) signal: AtomicU8,
    phase: AtomicU8,
    /// Local lease deadline (clock ns).
    deadline: AtomicU64,
    /// When the attempt's current poll began (clock ns), 0 between polls.
    polling_since: AtomicU64,
    /// The `polling_since` already reported as blocking (once per poll).
    reported_blocked: AtomicU64,
    /// The attempt's timeout (clock ns), 0 for none.
    timeout_at: AtomicU64,
    reported_timeout: AtomicU8,
    /// Woken when the attempt is stopped for its deadline.
    expired: tokio::sync::Notify,
}

impl Held {
    pub(crate) fn new(
        lease: Lease,
        task: &'static str,
        token: CancellationToken,
        deadline: u64,
    ) -> Self {
        Held {
            lease,
            task,
            token,
            signal: AtomicU8::new(0),
            phase: AtomicU8::new(RUNNING),
            deadline: AtomicU64::new(deadline),
            polling_since: AtomicU64::new(0),
            reported_blocked: AtomicU64::new(0),
            timeout_at: AtomicU64::new(0),
            reported_timeout: AtomicU8::new(0),
            expired: tokio::sync::Notify::new(),
        }
    }

    /// Whether the local deadline has passed at `now`.
    pub(crate) fn expired_at(&self, now: u64) -> bool {
        now >= self.deadline.load(Ordering::Acquire)
    }

    /// Marks the body as ended; false when the attempt had already been
    /// stopped for its deadline (its result must then be discarded).
    pub(crate) fn mark_done(&self) -> bool {
        self.phase
            .compare_exchange(RUNNING, DONE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Stops the attempt for its deadline; false when its body had ended.
    fn expire(&self) -> bool {
        let won = self
            .phase
            .compare_exchange(RUNNING, EXPIRED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            self.signal.store(super::run::SIGNAL_LOST, Ordering::SeqCst);
            self.token.cancel();
            self.expired.notify_waiters();
        }
        won
    }

    /// Resolves once the attempt is stopped for its local deadline.
    pub(crate) async fn expired(&self) {
        let notified = self.expired.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.phase.load(Ordering::Acquire) != EXPIRED {
            notified.await;
        }
    }

    fn is_running(&self) -> bool {
        self.phase.load(Ordering::Acquire) == RUNNING
    }

    /// Moves the local deadline on after a renewal sent at `sent`.
    fn renewed(&self, sent: u64, lease: Duration) {
        let until = sent.saturating_add(nanos(lease - margin(lease)));
        self.deadline.fetch_max(until, Ordering::AcqRel);
    }

    pub(crate) fn set_timeout(&self, at: u64) {
        self.timeout_at.store(at, Ordering::Release);
    }
}

/// A future whose polls are timed for the lease thread: a poll that does
/// not return is a task blocking its runtime thread.
pub(crate) struct Watched<F> {
    inner: F,
    held: Arc<Held>,
    clock: Clock,
}

impl<F> Watched<F> {
    pub(crate) fn new(inner: F, held: Arc<Held>, clock: Clock) -> Self {
        Watched { inner, held, clock }
    }
}

impl<F: Future + Unpin> Future for Watched<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        this.held
            .polling_since
            .store(this.clock.now(), Ordering::Release);
        let out = Pin::new(&mut this.inner).poll(cx);
        this.held.polling_since.store(0, Ordering::Release);
        out
    }
}

/// Runs the lease thread until `done` fires.
pub(crate) fn spawn(shared: Arc<Shared>, done: CancellationToken) -> std::io::Result<LeaseThread> {
    let handle = std::thread::Builder::new()
        .name("ork-lease".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "the lease thread could not start its runtime");
                    return;
                }
            };
            runtime.block_on(async {
                tokio::join!(renew(&shared, &done), watch(&shared, &done));
            });
        })?;
    Ok(LeaseThread { _handle: handle })
}

/// The lease thread; it ends by itself once its `done` token fires.
#[derive(Debug)]
pub(crate) struct LeaseThread {
    _handle: std::thread::JoinHandle<()>,
}

/// Renews every held lease each heartbeat, registers the worker, reaps
/// expired leases of any worker.
async fn renew(shared: &Shared, done: &CancellationToken) {
    let config = &shared.config;
    let started_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut own: Option<Arc<dyn Backend>> = None;
    let mut tick = tokio::time::interval(config.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_reap: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tick.tick() => {}
        }
        if own.is_none() {
            match shared.backend.standalone().await {
                Ok(Some(b)) => own = Some(b),
                Ok(None) => own = Some(shared.backend.clone()),
                Err(e) => {
                    tracing::warn!(error = %e, "the lease thread could not open its own connection; renewing through the pool's")
                }
            }
        }
        let backend = own.clone().unwrap_or_else(|| shared.backend.clone());
        let round = async {
            let held = snapshot(shared);
            if !held.is_empty() {
                let leases: Vec<Lease> = held.iter().map(|h| h.lease.clone()).collect();
                let sent = shared.clock.now();
                match backend.heartbeat(&leases, config.lease).await {
                    Ok(statuses) => apply(&held, &statuses, sent, config.lease),
                    Err(e) => {
                        tracing::warn!(error = %e, leases = leases.len(), "renewing leases failed")
                    }
                }
            }
            let info = WorkerInfo {
                id: config.id.clone(),
                instance: config.instance.clone(),
                host: config.host.clone(),
                pid: std::process::id(),
                queues: config.queues.clone(),
                concurrency: config.concurrency,
                started_at_ms,
                last_seen_ms: 0,
                running: held.len(),
                processed: shared.processed.load(Ordering::Relaxed),
            };
            if let Err(e) = backend.register_worker(&info, config.heartbeat * 3).await {
                tracing::debug!(error = %e, "worker registration failed");
            }
            if last_reap.is_none_or(|t| t.elapsed() >= config.reap_every) {
                last_reap = Some(Instant::now());
                match backend.reap().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(jobs = n, "requeued jobs whose lease expired"),
                    Err(e) => tracing::debug!(error = %e, "reaping failed"),
                }
            }
        };
        tokio::select! {
            _ = done.cancelled() => return,
            _ = round => {}
        }
    }
}

/// The attempts holding a lease now.
fn snapshot(shared: &Shared) -> Vec<Arc<Held>> {
    shared
        .inflight
        .lock()
        .expect("inflight lock")
        .values()
        .cloned()
        .collect()
}

fn apply(held: &[Arc<Held>], statuses: &[LeaseStatus], sent: u64, lease: Duration) {
    for (h, status) in held.iter().zip(statuses) {
        match status {
            LeaseStatus::Held => h.renewed(sent, lease),
            LeaseStatus::CancelRequested => {
                h.renewed(sent, lease);
                if h.is_running() {
                    h.signal.store(super::run::SIGNAL_CANCEL, Ordering::SeqCst);
                    h.token.cancel();
                }
            }
            _ => {
                if h.expire() {
                    tracing::warn!(job_id = %h.lease.id, task = h.task, "lease lost: another worker may run this job; stopping it here");
                }
            }
        }
    }
}

/// Stops attempts whose local deadline passed; reports blocked tasks.
async fn watch(shared: &Shared, done: &CancellationToken) {
    let threshold = nanos(shared.config.blocking_threshold);
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tick.tick() => {}
        }
        let held = snapshot(shared);
        let now = shared.clock.now();
        for h in &held {
            if h.is_running() && h.expired_at(now) && h.expire() {
                counters::record_local_expiry();
                tracing::warn!(
                    job_id = %h.lease.id,
                    task = h.task,
                    "lease could not be renewed in time: attempt stopped before another worker may take the job over"
                );
            }
            let since = h.polling_since.load(Ordering::Acquire);
            if since != 0 && now.saturating_sub(since) > threshold {
                if h.reported_blocked.swap(since, Ordering::AcqRel) != since {
                    counters::record_blocked(h.task);
                    tracing::warn!(
                        job_id = %h.lease.id,
                        task = h.task,
                        blocked_for = ?Duration::from_nanos(now - since),
                        "task is blocking its runtime thread (a busy loop or blocking call in an async fn?); its lease is kept while it runs. Use a plain `fn` task, or spawn_blocking"
                    );
                }
                let timeout_at = h.timeout_at.load(Ordering::Acquire);
                if timeout_at != 0
                    && now > timeout_at
                    && since < timeout_at
                    && h.reported_timeout.swap(1, Ordering::AcqRel) == 0
                {
                    tracing::warn!(
                        job_id = %h.lease.id,
                        task = h.task,
                        "task is past its timeout but does not yield, so it can't be stopped; it keeps its lease until it returns"
                    );
                }
            }
        }
    }
}
