//! Signals: values sent to a key from any process, and the jobs that wait
//! for them (`ctx.wait_for`, `Ork::signal`).
//!
//! Two sides, kept apart so that neither needs one atomic step over both:
//! the signal side (a key's retained signals and its registered waiters)
//! and the job side (waking a parked job). A signal is recorded and its
//! waiters are taken in one step on the key's side; each waiter is then
//! woken with a step on its own side. A waiter registers on the key's side
//! (which hands it a signal already there), then parks itself on its own
//! side (which refuses to park a job woken meanwhile).

use std::time::Duration;

use super::BoxFuture;
use crate::error::Result;
use crate::job::JobId;

/// How long signals are kept under their key unless said otherwise: one
/// day. A waiter that registers within this window after a signal was sent
/// still receives it.
pub const SIGNAL_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// One signal as stored under its key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signal {
    /// Its position under the key: grows with every signal sent to the key
    /// (and with time, so it keeps growing after old signals expire).
    pub seq: u64,
    /// The value, as sent (a codec tag byte, then the encoded value).
    pub value: Vec<u8>,
}

impl Signal {
    /// A signal (for backends outside this crate).
    pub fn new(seq: u64, value: Vec<u8>) -> Self {
        Signal { seq, value }
    }
}

/// Signals and their waiters (see the module docs).
pub trait SignalStore: Send + Sync {
    /// Signal side: records `value` under `key`, kept for `retention`, and
    /// takes (forgets) the jobs registered as waiting on `key`: the caller
    /// wakes each with [`wake`](Self::wake). The new signal's `seq` is
    /// above every earlier one under the key.
    fn put_signal<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        retention: Duration,
    ) -> BoxFuture<'a, Result<(u64, Vec<JobId>)>>;

    /// Signal side: the first signal under `key` whose `seq` is above
    /// `after`, if one is kept; otherwise registers `job` as a waiter on
    /// `key` (kept at least until `until_ms`, on the backend's clock) and
    /// yields `None`. One atomic step.
    fn listen<'a>(
        &'a self,
        key: &'a str,
        after: u64,
        job: &'a JobId,
        until_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Signal>>>;

    /// Signal side: forgets `job` as a waiter on `key` (its wait ended).
    fn unlisten<'a>(&'a self, key: &'a str, job: &'a JobId) -> BoxFuture<'a, Result<()>>;

    /// Job side: wakes job `id`. A job parked by a durable sleep or wait
    /// becomes ready at once (`true`). A running job is flagged, so that
    /// its next park makes it ready at once instead (`true`). Any other
    /// job is left as it is (`false`).
    fn wake<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<bool>>;
}
