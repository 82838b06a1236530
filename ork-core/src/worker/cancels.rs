//! Pushed cancel requests: a running job learns of its cancellation as soon
//! as it is requested, not at its worker's next heartbeat.
//!
//! Each pool holds one feed from [`JobStore::cancel_requests`] and stops
//! the jobs it runs whose id comes through, exactly as a heartbeat that
//! answers "cancel requested" does. The feed is only a shortcut: when it
//! fails or ends (a lost connection), heartbeats still carry every request,
//! and the feed is opened again with a growing pause.
//!
//! [`JobStore::cancel_requests`]: crate::backend::JobStore::cancel_requests

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::run::{Shared, SIGNAL_CANCEL};
use crate::job::JobId;

/// The longest pause before the feed is opened again.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Relays pushed cancel requests to the pool's running jobs until `done`.
pub(super) async fn listen(shared: Arc<Shared>, done: CancellationToken) {
    let mut failures = 0u32;
    loop {
        let opened = tokio::select! {
            _ = done.cancelled() => return,
            r = shared.backend.cancel_requests() => r,
        };
        match opened {
            Ok(mut feed) => loop {
                let next = tokio::select! {
                    _ = done.cancelled() => return,
                    next = feed.next() => next,
                };
                match next {
                    Some(id) => {
                        failures = 0;
                        stop(&shared, &id);
                    }
                    None => {
                        tracing::debug!("the cancel feed ended; opening it again");
                        break;
                    }
                }
            },
            Err(e) if failures == 0 => {
                tracing::warn!(error = %e, "could not open the cancel feed; cancellations arrive with heartbeats meanwhile");
            }
            Err(e) => tracing::debug!(error = %e, "could not open the cancel feed"),
        }
        failures += 1;
        let pause = (Duration::from_millis(50) * 2u32.pow(failures.min(7))).min(MAX_PAUSE);
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Stops the attempt of `id` running here, if there is one.
fn stop(shared: &Shared, id: &JobId) {
    let inflight = shared.inflight.lock().expect("inflight lock");
    let Some(f) = inflight.get(id) else {
        return;
    };
    // A lost lease stays the stronger signal.
    if f.signal
        .compare_exchange(0, SIGNAL_CANCEL, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        tracing::debug!(job_id = %id, "cancel requested");
    }
    f.token.cancel();
}
