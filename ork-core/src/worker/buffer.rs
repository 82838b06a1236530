//! The claim buffer: leased jobs waiting here for a free slot.
//!
//! A claim fetches as many jobs as the buffer has room for, however few
//! slots are free, so one round trip serves many jobs. From its claim on, a
//! buffered job is in the pool's in-flight map like a running one: the
//! lease thread renews its lease and keeps its local deadline. Jobs leave
//! the buffer in claim order, each as a slot frees up.
//!
//! A buffered job never starts once its local deadline has passed or its
//! lease was lost (it is left to its lease), and when the pool stops
//! fetching, every buffered job is handed back at once
//! ([`Outcome::Released`](crate::backend::Outcome::Released), which does
//! not use up an attempt).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_util::task::TaskTracker;

use super::execute::{attempt, Ended};
use super::lease::Held;
use super::run::{Shared, SIGNAL_LOST};
use crate::backend::Claimed;

/// A claimed job and its lease, with its place in the buffer.
struct Buffered {
    job: Claimed,
    held: Arc<Held>,
    /// Its place in the buffer; dropped when it leaves.
    _spot: Option<OwnedSemaphorePermit>,
}

/// Hands claimed jobs to slots, in claim order.
pub(crate) struct Buffer {
    shared: Arc<Shared>,
    attempts: TaskTracker,
    tx: mpsc::UnboundedSender<Buffered>,
    /// Jobs sent to the dispatcher and not yet started (or ended).
    waiting: Arc<AtomicUsize>,
}

impl Buffer {
    /// Starts the dispatcher on `attempts`; it ends once the buffer is
    /// dropped and the jobs in it are started or handed back.
    pub(crate) fn new(shared: Arc<Shared>, attempts: TaskTracker) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        attempts.spawn(dispatch(
            shared.clone(),
            attempts.clone(),
            rx,
            waiting.clone(),
        ));
        Buffer {
            shared,
            attempts,
            tx,
            waiting,
        }
    }

    /// Takes a job just claimed: it starts at once when a slot is free and
    /// no job claimed before it waits, else it waits in the buffer.
    pub(crate) fn push(&self, job: Claimed, held: Arc<Held>, spot: Option<OwnedSemaphorePermit>) {
        if self.waiting.load(Ordering::Acquire) == 0 && !self.shared.stopping.is_cancelled() {
            if let Ok(permit) = self.shared.slots.clone().try_acquire_owned() {
                drop(spot);
                self.spawn(job, held, Ok(permit));
                return;
            }
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let item = Buffered {
            job,
            held,
            _spot: spot,
        };
        if let Err(mpsc::error::SendError(item)) = self.tx.send(item) {
            // The dispatcher is gone (it never ends while a buffer lives):
            // hand the job back rather than drop it.
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            self.spawn(item.job, item.held, Err(Ended::HandedBack));
        }
    }

    fn spawn(&self, job: Claimed, held: Arc<Held>, admitted: Result<OwnedSemaphorePermit, Ended>) {
        // Boxed: the attempt future is large, and tokio moves a task's
        // future (and its output slot) by value.
        self.attempts
            .spawn(Box::pin(attempt(self.shared.clone(), job, held, admitted)));
    }
}

async fn dispatch(
    shared: Arc<Shared>,
    attempts: TaskTracker,
    mut rx: mpsc::UnboundedReceiver<Buffered>,
    waiting: Arc<AtomicUsize>,
) {
    while let Some(Buffered { job, held, _spot }) = rx.recv().await {
        let admitted = admit(&shared, &held).await;
        drop(_spot);
        attempts.spawn(Box::pin(attempt(shared.clone(), job, held, admitted)));
        waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Waits for a pool slot. An error when the job must not start: the pool
/// stops fetching (handed back), or its token fired meanwhile (lost lease
/// or local deadline: left to its lease; cancel requested; hard stop).
async fn admit(shared: &Shared, held: &Held) -> Result<OwnedSemaphorePermit, Ended> {
    let not_started = || {
        if shared.stopping.is_cancelled() || shared.hard_stop.is_cancelled() {
            Ended::HandedBack
        } else if held.signal.load(Ordering::SeqCst) == SIGNAL_LOST {
            // Another worker may hold the job already.
            Ended::LeaseLost
        } else {
            Ended::Cancelled
        }
    };
    tokio::select! {
        biased;
        _ = shared.stopping.cancelled() => Err(not_started()),
        _ = held.token.cancelled() => Err(not_started()),
        p = shared.slots.clone().acquire_owned() => Ok(p.expect("never closed")),
    }
}
