//! One attempt of one job: from claim to the recorded outcome.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use super::catch::{catch, panic_message};
use super::lease::{Held, Watched};
use super::run::{Registered, Shared, SIGNAL_CANCEL, SIGNAL_LOST};
use crate::backend::BoxFuture;
use crate::backend::{Claimed, Finish, Lease, Outcome};
use crate::context::{Context, Slot};
use crate::durable::Park;
use crate::job::JobRecord;
use crate::metrics::counters::{self, AttemptEnd};
use crate::retry::{decide, RetryDecision};
use crate::task::RunError;

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
pub(crate) enum Ended {
    Ok(Vec<u8>),
    /// Retrying can't help: dead-letter at once.
    Fatal(String),
    /// A failure that follows the task's retry policy.
    Failed(String),
    Cancelled,
    HandedBack,
    LeaseLost,
    /// Parked by a durable sleep or wait.
    Parked(Park),
}

/// Registers a claimed job in the pool's in-flight map: from here until
/// its outcome is acknowledged it holds its lease, which the lease thread
/// renews (and whose local deadline it keeps), whether the job runs or
/// still waits in the claim buffer for a slot.
pub(crate) fn hold(shared: &Arc<Shared>, job: &Claimed, deadline: u64) -> Arc<Held> {
    let name = shared
        .registry
        .get(job.record.task.as_str())
        .map_or("unknown", |r| r.entry.options.name);
    let token = shared.hard_stop.child_token();
    let held = Arc::new(Held::new(job.lease.clone(), name, token, deadline));
    shared
        .inflight
        .lock()
        .expect("inflight lock")
        .insert(job.lease.id.clone(), held.clone());
    held
}

pub(crate) async fn attempt(
    shared: Arc<Shared>,
    job: Claimed,
    held: Arc<Held>,
    admitted: Result<OwnedSemaphorePermit, Ended>,
) {
    let Claimed {
        mut record,
        attempt,
        lost,
        lease,
    } = job;
    let span =
        tracing::info_span!("ork.attempt", job_id = %record.id, task = %record.task, attempt);
    async move {
        let began = std::time::Instant::now();
        let slot = Arc::new(PoolSlot {
            slots: shared.slots.clone(),
            permit: Mutex::new(None),
        });
        let reg = shared.registry.get(record.task.as_str());
        let ended = match admitted {
            Err(ended) => ended,
            Ok(permit) => {
                *slot.permit.lock().expect("slot lock") = Some(permit);
                if held.expired_at(shared.clock.now()) {
                    // The claim's answer came after its lease ran out here,
                    // or the job waited for a slot past it: another worker
                    // may hold the job by now. Never start it.
                    tracing::warn!(
                        "lease ran out locally before the job could start: not started"
                    );
                    Ended::HandedBack
                } else {
                match reg {
                    None => Ended::Fatal(format!(
                        "unknown task `{}`: no task of that name is registered in worker {}",
                        record.task, shared.config.id
                    )),
                    Some(_) if lost >= shared.config.max_lost_leases => Ended::Fatal(format!(
                        "lost its lease {lost} times (the task may be crashing or stalling its worker)"
                    )),
                    Some(reg) => {
                        run(
                            &shared,
                            reg,
                            &mut record,
                            attempt,
                            &lease,
                            &held,
                            slot.clone(),
                        )
                        .await
                    }
                }
                }
            }
        };
        // A body that ended after its local deadline passed is discarded:
        // the job may run elsewhere already.
        let ended = match ended {
            Ended::LeaseLost => Ended::LeaseLost,
            other if held.mark_done() => other,
            _ => Ended::LeaseLost,
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
            Ended::Parked(Park { until_ms, reason }) => {
                tracing::debug!(until_ms, %reason, "parked");
                Some(Outcome::Park { until_ms, reason })
            }
            Ended::LeaseLost => None,
        };
        let end = match &outcome {
            Some(Outcome::Succeeded { .. }) => AttemptEnd::Succeeded,
            Some(Outcome::Retry { .. }) => AttemptEnd::Retried,
            Some(Outcome::Dead { .. }) => AttemptEnd::Dead,
            Some(Outcome::Cancelled) => AttemptEnd::Cancelled,
            Some(Outcome::Released) => AttemptEnd::Released,
            Some(Outcome::Park { .. }) => AttemptEnd::Parked,
            None => AttemptEnd::Lost,
        };
        // The record is done with: its names become the labels.
        counters::record_attempt(
            std::mem::take(&mut record.queue),
            std::mem::take(&mut record.task),
            end,
            began.elapsed(),
        );
        // The slot first: the flusher lingers only while other attempts run.
        slot.release();
        match outcome {
            // The flusher drops it from the in-flight map once acknowledged.
            // The receiver lives until every attempt is gone.
            Some(outcome) => {
                let _ = shared.finished.send(Finish { lease, outcome });
            }
            None => {
                let mut inflight = shared.inflight.lock().expect("inflight lock");
                if inflight
                    .get(&lease.id)
                    .is_some_and(|h| Arc::ptr_eq(h, &held))
                {
                    inflight.remove(&lease.id);
                }
            }
        }
        shared.processed.fetch_add(1, Ordering::Relaxed);
    }
    .instrument(span)
    .await
}

/// Runs a known task's body under its caps, timeout and lease.
async fn run(
    shared: &Arc<Shared>,
    reg: &Registered,
    record: &mut JobRecord,
    attempt: u32,
    lease: &Lease,
    held: &Arc<Held>,
    slot: Arc<PoolSlot>,
) -> Ended {
    let token = &held.token;
    let _cap = match &reg.cap {
        Some(sem) => tokio::select! {
            p = sem.clone().acquire_owned() => Some(p.expect("never closed")),
            _ = token.cancelled() => return stopped(shared, held),
        },
        None => None,
    };
    let ctx = Context::for_attempt(
        reg.entry.options.name,
        attempt,
        record.codec,
        token.clone(),
        shared.state.clone(),
        shared.backend.clone(),
        lease.clone(),
        record.workflow.clone(),
        slot,
    );
    let payload = if record.inputs.is_empty() {
        Ok(std::mem::take(&mut record.payload))
    } else {
        crate::workflow::assemble::payload(shared.backend.as_ref(), record).await
    };
    match payload {
        Ok(payload) => {
            let probe = ctx.clone();
            let run = (reg.entry.run)(ctx, record.codec, payload);
            let parking = &probe.steps_state().parking;
            match supervise(shared, run, record.timeout(), held, parking).await {
                // A step error that retrying can't fix (a step name used
                // twice, a stored output that no longer decodes): dead at
                // once, with the task's message.
                Ended::Failed(msg) if probe.steps_state().fatal().is_some() => Ended::Fatal(msg),
                ended => ended,
            }
        }
        Err(msg) => Ended::Fatal(msg),
    }
}

/// How an attempt whose token fired before it ran ends.
fn stopped(shared: &Shared, held: &Held) -> Ended {
    if shared.hard_stop.is_cancelled() {
        Ended::HandedBack
    } else if held.signal.load(Ordering::SeqCst) == SIGNAL_LOST {
        Ended::LeaseLost
    } else {
        Ended::Cancelled
    }
}

async fn supervise(
    shared: &Shared,
    run: crate::backend::BoxFuture<'static, Result<Vec<u8>, RunError>>,
    timeout: Option<Duration>,
    held: &Arc<Held>,
    parking: &crate::durable::Parking,
) -> Ended {
    let token = &held.token;
    let signal = &held.signal;
    let mut run = Watched::new(catch(run), held.clone(), shared.clock);
    let limit = timeout.unwrap_or(Duration::MAX);
    let deadline = tokio::time::Instant::now().checked_add(limit);
    if let Some(t) = timeout {
        let ns = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        held.set_timeout(shared.clock.now().saturating_add(ns));
    }
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
        // A durable sleep or wait: the task stops at the call.
        _ = parking.parked.cancelled() => match parking.take() {
            Some(park) => return Ended::Parked(park),
            None => return Ended::Failed("parked without a due time".to_owned()),
        },
        _ = token.cancelled() => {
            if shared.hard_stop.is_cancelled() {
                return Ended::HandedBack;
            }
            if signal.load(Ordering::SeqCst) == SIGNAL_LOST {
                return Ended::LeaseLost;
            }
            // Cancellation requested: the task sees it through its Context
            // and may return; it is recorded as cancelled either way. Its
            // lease is still renewed, and still bounds it.
            tokio::select! {
                _ = tokio::time::timeout(CANCEL_GRACE, &mut run) => {}
                _ = held.expired() => return Ended::LeaseLost,
            }
            return Ended::Cancelled;
        }
    };
    match signal.load(Ordering::SeqCst) {
        SIGNAL_CANCEL => return Ended::Cancelled,
        SIGNAL_LOST => return Ended::LeaseLost,
        _ => {}
    }
    match result {
        Ok(Ok(bytes)) => Ended::Ok(bytes),
        Ok(Err(RunError::Task(e))) => Ended::Failed(e.message),
        Ok(Err(RunError::Decode(msg))) => Ended::Fatal(msg),
        Ok(Err(RunError::Encode(msg))) => {
            Ended::Fatal(format!("result could not be encoded: {msg}"))
        }
        Err(panic) => Ended::Failed(format!("panicked: {}", panic_message(&*panic))),
    }
}
