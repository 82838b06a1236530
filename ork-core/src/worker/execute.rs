//! One attempt of one job: from claim to the recorded outcome.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use super::catch::CatchUnwind;
use super::run::{InFlight, Shared, SIGNAL_CANCEL, SIGNAL_LOST};
use crate::backend::BoxFuture;
use crate::backend::{Claimed, Finish, Outcome};
use crate::context::{Context, Slot};
use crate::retry::{decide, RetryDecision};
use crate::task::RunError;

/// A job that lost its lease this many times is dead-lettered: it is likely
/// crashing (or stalling) every worker that runs it.
pub(crate) const MAX_LOST_LEASES: u32 = 10;

/// How long a task that was asked to stop may take to return.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// The pool slot an attempt holds; a parent gives it back while it waits.
struct PoolSlot {
    slots: Arc<Semaphore>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Slot for PoolSlot {
    fn release(&self) {
        self.permit.lock().expect("slot lock").take();
    }

    fn reacquire(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.permit.lock().expect("slot lock").is_some() {
                return;
            }
            let permit = self
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("never closed");
            *self.permit.lock().expect("slot lock") = Some(permit);
        })
    }
}

/// How an attempt ended, before it becomes an [`Outcome`].
enum Ended {
    Ok(Vec<u8>),
    /// Retrying can't help: dead-letter at once.
    Fatal(String),
    /// A failure that follows the task's retry policy.
    Failed(String),
    Cancelled,
    HandedBack,
    LeaseLost,
}

pub(crate) async fn attempt(shared: Arc<Shared>, job: Claimed, permit: OwnedSemaphorePermit) {
    let Claimed {
        mut record,
        attempt,
        lost,
        lease,
    } = job;
    let span =
        tracing::info_span!("ork.attempt", job_id = %record.id, task = %record.task, attempt);
    let began = std::time::Instant::now();
    let slot = Arc::new(PoolSlot {
        slots: shared.slots.clone(),
        permit: Mutex::new(Some(permit)),
    });
    async move {
        let ended = match shared.registry.get(record.task.as_str()) {
            None => Ended::Fatal(format!(
                "unknown task `{}`: no task of that name is registered in worker {}",
                record.task, shared.config.id
            )),
            Some(_) if lost >= MAX_LOST_LEASES => Ended::Fatal(format!(
                "lost its lease {lost} times (the task may be crashing or stalling its worker)"
            )),
            Some(reg) => {
                let _cap = match &reg.cap {
                    Some(sem) => Some(sem.clone().acquire_owned().await.expect("never closed")),
                    None => None,
                };
                let token = shared.hard_stop.child_token();
                let signal = Arc::new(AtomicU8::new(0));
                shared.inflight.lock().expect("inflight lock").insert(
                    lease.id.clone(),
                    InFlight {
                        lease: lease.clone(),
                        token: token.clone(),
                        signal: signal.clone(),
                    },
                );
                let ctx = Context::for_attempt(
                    reg.entry.options.name,
                    attempt,
                    record.codec,
                    token.clone(),
                    shared.state.clone(),
                    shared.backend.clone(),
                    lease.clone(),
                    record.workflow.clone(),
                    slot.clone(),
                );
                let payload = if record.inputs.is_empty() {
                    Ok(std::mem::take(&mut record.payload))
                } else {
                    crate::workflow::assemble::payload(shared.backend.as_ref(), &record).await
                };
                let ended = match payload {
                    Ok(payload) => {
                        let run = (reg.entry.run)(ctx, record.codec, payload);
                        supervise(&shared, run, record.timeout(), &token, &signal).await
                    }
                    Err(msg) => Ended::Fatal(msg),
                };
                shared
                    .inflight
                    .lock()
                    .expect("inflight lock")
                    .remove(&lease.id);
                ended
            }
        };
        let outcome = match ended {
            Ended::Ok(result) => {
                tracing::debug!("succeeded");
                Some(Outcome::Succeeded { result })
            }
            Ended::Fatal(error) => {
                tracing::error!(%error, "dead-lettered");
                Some(Outcome::Dead { error })
            }
            Ended::Failed(error) => match decide(attempt, record.retries, &record.backoff) {
                RetryDecision::RetryAfter(delay) => {
                    tracing::warn!(%error, retry_in = ?delay, "failed; will retry");
                    Some(Outcome::Retry { delay, error })
                }
                RetryDecision::GiveUp => {
                    tracing::error!(%error, "failed; retries spent, dead-lettered");
                    Some(Outcome::Dead { error })
                }
            },
            Ended::Cancelled => Some(Outcome::Cancelled),
            Ended::HandedBack => Some(Outcome::Released),
            Ended::LeaseLost => None,
        };
        let took = began.elapsed();
        crate::metrics::record_attempt(&record.queue, &record.task, outcome.as_ref(), took);
        if let Some(outcome) = outcome {
            // The receiver lives until every attempt is gone.
            let _ = shared.finished.send(Finish { lease, outcome });
        }
        shared.processed.fetch_add(1, Ordering::Relaxed);
        slot.release();
    }
    .instrument(span)
    .await
}

async fn supervise(
    shared: &Shared,
    run: crate::backend::BoxFuture<'static, Result<Vec<u8>, RunError>>,
    timeout: Option<Duration>,
    token: &tokio_util::sync::CancellationToken,
    signal: &AtomicU8,
) -> Ended {
    let mut run = CatchUnwind::new(run);
    let limit = timeout.unwrap_or(Duration::MAX);
    let deadline = tokio::time::Instant::now().checked_add(limit);
    let sleep = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    let result = tokio::select! {
        r = &mut run => r,
        _ = &mut sleep => {
            token.cancel();
            return Ended::Failed(format!("timed out after {limit:?}"));
        }
        _ = token.cancelled() => {
            if shared.hard_stop.is_cancelled() {
                return Ended::HandedBack;
            }
            if signal.load(Ordering::SeqCst) == SIGNAL_LOST {
                return Ended::LeaseLost;
            }
            // Cancellation requested: the task sees it through its Context
            // and may return; it is recorded as cancelled either way.
            let _ = tokio::time::timeout(CANCEL_GRACE, &mut run).await;
            return Ended::Cancelled;
        }
    };
    if signal.load(Ordering::SeqCst) == SIGNAL_CANCEL {
        return Ended::Cancelled;
    }
    match result {
        Ok(Ok(bytes)) => Ended::Ok(bytes),
        Ok(Err(RunError::Task(e))) => Ended::Failed(e.message),
        Ok(Err(RunError::Decode(msg))) => Ended::Fatal(msg),
        Ok(Err(RunError::Encode(msg))) => {
            Ended::Fatal(format!("result could not be encoded: {msg}"))
        }
        Err(panic) => Ended::Failed(format!("panicked: {panic}")),
    }
}
