//! Durable sleeps and waits: a task that gives its slot back and runs
//! again later, from the top.
//!
//! `ctx.sleep(d)`, `ctx.sleep_until(t)` and `ctx.wait_for(key, timeout)`
//! park the job: its attempt ends there (the task's future is dropped at
//! the call, so no code after it runs in this attempt), the attempt does
//! not count, no worker holds the job, and the job is scheduled for the
//! timer's due time (or the wait's timeout). A signal sent to the key a
//! job waits on makes it ready at once. When the job runs again, it runs
//! from the top: steps before the call return their stored outputs, and
//! the sleep or wait itself returns at once (a sleep that is due, a wait
//! with its signal or its timeout), as each is stored as a step of the
//! job.
//!
//! Timers and waits are named by call order within a run: the first
//! `ctx.sleep` of a run is timer 1 (stored as step `@sleep:1`), the next
//! timer 2; the n-th wait on a key is `@wait:<n>:<key>`. So a task must
//! reach its sleeps and waits in the same order on every run (what it
//! decides before them goes inside steps).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::codec::Codec;
use crate::context::Context;
use crate::error::{Error, Result};

/// Why and until when a run parked its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Park {
    pub(crate) until_ms: u64,
    pub(crate) reason: String,
}

/// What a run knows of its timers and waits.
#[derive(Default)]
pub(crate) struct Parking {
    timers: AtomicU32,
    /// Per signal key: waits so far in this run, and the seq of the last
    /// signal one of them received.
    waits: Mutex<HashMap<String, (u32, u64)>>,
    park: Mutex<Option<Park>>,
    /// Cancelled when the run parks: the worker ends the attempt there.
    pub(crate) parked: CancellationToken,
}

impl fmt::Debug for Parking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parking").finish_non_exhaustive()
    }
}

impl Parking {
    /// The park the run asked for, if it did.
    pub(crate) fn take(&self) -> Option<Park> {
        self.park.lock().expect("park lock").take()
    }
}

/// The stored state of a wait (step `@wait:<n>:<key>`).
enum WaitStep {
    /// Registered; times out at this time (Unix ms, backend clock).
    Pending(u64),
    /// Received the signal of this seq, with this value.
    Delivered(u64, Vec<u8>),
    /// Timed out.
    TimedOut,
}

impl WaitStep {
    fn encode(&self) -> Vec<u8> {
        match self {
            WaitStep::Pending(due) => [&[0u8][..], &due.to_le_bytes()].concat(),
            WaitStep::Delivered(seq, value) => {
                [&[1u8][..], &seq.to_le_bytes(), value.as_slice()].concat()
            }
            WaitStep::TimedOut => vec![2],
        }
    }

    fn decode(bytes: &[u8]) -> Option<WaitStep> {
        let n = |b: &[u8]| Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?));
        match bytes.split_first()? {
            (0, rest) => Some(WaitStep::Pending(n(rest)?)),
            (1, rest) => Some(WaitStep::Delivered(n(rest)?, rest.get(8..)?.to_vec())),
            (2, _) => Some(WaitStep::TimedOut),
            _ => None,
        }
    }
}

/// Encodes a signal's value: the codec's tag, then the value.
pub(crate) fn encode_signal<T: Serialize + ?Sized>(codec: Codec, value: &T) -> Result<Vec<u8>> {
    let mut out = vec![codec.tag()];
    out.extend(codec.encode(value)?);
    Ok(out)
}

/// Decodes a signal's value (see [`encode_signal`]).
pub(crate) fn decode_signal<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let (tag, value) = bytes
        .split_first()
        .ok_or_else(|| Error::Codec("an empty signal value".to_owned()))?;
    Codec::from_tag(*tag)?.decode(value)
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The latest due time a park takes (Unix ms, about 140,000 years from
/// 1970): later ones are clamped to it, so that every due time is exact
/// as a Redis score.
const LATEST_DUE_MS: u64 = 1 << 52;

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `now` plus `ms`, clamped to [`LATEST_DUE_MS`].
fn due_after(now: u64, ms: u64) -> u64 {
    now.saturating_add(ms).min(LATEST_DUE_MS)
}

impl Context {
    /// A durable sleep: parks the job for `d` without holding a worker.
    ///
    /// In a worker, the attempt ends at this call: the task's future is
    /// dropped (code after the call does not run in this attempt), the
    /// slot is free at once, and the job is scheduled for the due time
    /// without using an attempt. It then runs again from the top; steps
    /// return their stored outputs, and this sleep, now due, returns
    /// `Ok(())` at once. A second sleep in the same run is a timer of its
    /// own (timers are named by call order). A zero or past due time
    /// returns at once without parking.
    ///
    /// Outside a worker ([`Context::detached`]) it is a plain sleep.
    ///
    /// Errors: the backend is unreachable, or the attempt's lease is no
    /// longer current (the timer can't be recorded).
    pub async fn sleep(&self, d: Duration) -> Result<()> {
        self.timer(|now| due_after(now, millis(d)), d).await
    }

    /// [`sleep`](Self::sleep) until `t` (on the backend's clock).
    pub async fn sleep_until(&self, t: SystemTime) -> Result<()> {
        let due = unix_ms(t).min(LATEST_DUE_MS);
        let local = t.duration_since(SystemTime::now()).unwrap_or_default();
        self.timer(|_| due, local).await
    }

    async fn timer(&self, due_from: impl FnOnce(u64) -> u64, local: Duration) -> Result<()> {
        let n = self.parking().timers.fetch_add(1, Ordering::SeqCst) + 1;
        let name = format!("@sleep:{n}");
        let Some((backend, _)) = self.runtime() else {
            tokio::time::sleep(local).await;
            return Ok(());
        };
        let now = backend.now_ms().await?;
        let due = match self.stored_step(&name).await? {
            Some(bytes) => match <[u8; 8]>::try_from(bytes.as_slice()) {
                Ok(b) => u64::from_le_bytes(b),
                Err(_) => {
                    return Err(self.fatal(&name, "the stored timer is not a time".to_owned()))
                }
            },
            None => {
                let due = due_from(now);
                if due <= now {
                    return Ok(());
                }
                self.store(&name, due.to_le_bytes().to_vec()).await?;
                due
            }
        };
        if due <= now {
            return Ok(());
        }
        self.park(due, format!("sleep #{n}")).await
    }

    /// A durable wait for a signal sent to `key` ([`Ork::signal`](crate::Ork::signal),
    /// `ork signal KEY JSON`, or the dashboard), typed: `Ok(Some(value))`
    /// when one arrives, `Ok(None)` when `timeout` passes first.
    ///
    /// In a worker, the job parks like [`sleep`](Self::sleep) (its attempt
    /// ends at this call, without using an attempt) until a signal arrives
    /// or the timeout passes, then runs again from the top, where this
    /// call returns the signal (or `None`) at once. A signal sent before
    /// the wait is not lost: signals are kept under their key for a
    /// retention window ([`SIGNAL_RETENTION`](crate::backend::SIGNAL_RETENTION)
    /// unless the sender says otherwise), and a wait receives the oldest
    /// kept signal it has not received yet. So every waiting job gets every
    /// signal on its key once: the first `wait_for` on a key in a run gets
    /// the first signal kept, a second one on the same key the next. Use
    /// keys that name what is waited for (`shipment:order-42`), not
    /// generic ones shared by unrelated jobs.
    ///
    /// Errors: the signal does not decode as `T` (the job is
    /// dead-lettered with this error), an empty key, the backend is
    /// unreachable, or the attempt's lease is no longer current.
    ///
    /// Outside a worker ([`Context::detached`]) no signal can reach it: it
    /// sleeps for `timeout` and returns `Ok(None)`.
    pub async fn wait_for<T: DeserializeOwned>(
        &self,
        key: &str,
        timeout: Duration,
    ) -> Result<Option<T>> {
        let Some((name, value)) = self.wait_raw(key, timeout).await? else {
            return Ok(None);
        };
        decode_signal(&value).map(Some).map_err(|e| {
            self.fatal(
                &name,
                format!(
                    "the signal sent to `{key}` does not decode as `{}` ({e})",
                    std::any::type_name::<T>()
                ),
            )
        })
    }

    /// [`wait_for`](Self::wait_for) without decoding: the wait's step name
    /// and the signal's value as sent (codec tag, then the encoded value).
    pub(crate) async fn wait_raw(
        &self,
        key: &str,
        timeout: Duration,
    ) -> Result<Option<(String, Vec<u8>)>> {
        if key.is_empty() {
            return Err(Error::Invalid("a signal key must not be empty".to_owned()));
        }
        let (n, after) = {
            let mut waits = self.parking().waits.lock().expect("wait lock");
            let w = waits.entry(key.to_owned()).or_insert((0, 0));
            w.0 += 1;
            *w
        };
        let name = format!("@wait:{n}:{key}");
        let Some((backend, _)) = self.runtime() else {
            tokio::time::sleep(timeout).await;
            return Ok(None);
        };
        let due = match self.stored_step(&name).await? {
            None => {
                let due = due_after(backend.now_ms().await?, millis(timeout));
                self.store(&name, WaitStep::Pending(due).encode()).await?;
                due
            }
            Some(bytes) => match WaitStep::decode(&bytes) {
                Some(WaitStep::Pending(due)) => due,
                Some(WaitStep::Delivered(seq, value)) => {
                    self.received(key, seq);
                    return Ok(Some((name, value)));
                }
                Some(WaitStep::TimedOut) => return Ok(None),
                None => return Err(self.fatal(&name, "the stored wait is unreadable".to_owned())),
            },
        };
        if let Some(signal) = backend.listen(key, after, self.job_id(), due).await? {
            let step = WaitStep::Delivered(signal.seq, signal.value.clone());
            self.store(&name, step.encode()).await?;
            self.received(key, signal.seq);
            return Ok(Some((name, signal.value)));
        }
        if backend.now_ms().await? >= due {
            backend.unlisten(key, self.job_id()).await?;
            self.store(&name, WaitStep::TimedOut.encode()).await?;
            return Ok(None);
        }
        self.park(due, format!("signal `{key}`")).await
    }

    /// A signal this run's wait received: the key's next wait reads past it.
    fn received(&self, key: &str, seq: u64) {
        if let Some(w) = self.parking().waits.lock().expect("wait lock").get_mut(key) {
            w.1 = w.1.max(seq);
        }
    }

    /// Ends this attempt here: the worker parks the job until `until_ms`.
    async fn park<R>(&self, until_ms: u64, reason: String) -> Result<R> {
        let parking = self.parking();
        *parking.park.lock().expect("park lock") = Some(Park { until_ms, reason });
        parking.parked.cancel();
        std::future::pending().await
    }

    fn parking(&self) -> &Parking {
        &self.steps_state().parking
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StateMap;

    #[test]
    fn wait_steps_round_trip() {
        let d = WaitStep::Delivered(7, vec![1, 2]).encode();
        assert!(matches!(WaitStep::decode(&d), Some(WaitStep::Delivered(7, v)) if v == [1, 2]));
        let p = WaitStep::Pending(99).encode();
        assert!(matches!(WaitStep::decode(&p), Some(WaitStep::Pending(99))));
        assert!(matches!(WaitStep::decode(&[2]), Some(WaitStep::TimedOut)));
        assert!(WaitStep::decode(&[9]).is_none());
        assert_eq!(due_after(1_000, millis(Duration::MAX)), LATEST_DUE_MS);
        assert_eq!(due_after(1_000, 500), 1_500);
        let s = encode_signal(Codec::Bincode, &"hi").unwrap();
        assert_eq!(decode_signal::<String>(&s).unwrap(), "hi");
    }

    /// The stored forms of timers and waits (step fields of job records)
    /// outlive the code that wrote them: these bytes must always decode.
    #[test]
    fn stored_timer_and_wait_forms_are_stable() {
        let pending = [0, 0xe8, 0x03, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            WaitStep::decode(&pending),
            Some(WaitStep::Pending(1000))
        ));
        let delivered = [1, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, b'h', b'i'];
        match WaitStep::decode(&delivered) {
            Some(WaitStep::Delivered(7, value)) => {
                assert_eq!(decode_signal::<String>(&value).unwrap(), "hi");
            }
            _ => panic!("a delivered wait"),
        }
        assert_eq!(WaitStep::Pending(1000).encode(), pending);
        assert_eq!(WaitStep::TimedOut.encode(), [2]);
        // A timer is its due time, 8 bytes little-endian.
        assert_eq!(1000u64.to_le_bytes(), [0xe8, 0x03, 0, 0, 0, 0, 0, 0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_detached_context_sleeps_and_times_out() {
        let ctx = Context::detached(StateMap::default());
        ctx.sleep(Duration::from_secs(5)).await.unwrap();
        let got: Option<u32> = ctx.wait_for("k", Duration::from_secs(1)).await.unwrap();
        assert_eq!(got, None);
        assert!(ctx.wait_for::<u32>("", Duration::ZERO).await.is_err());
    }
}
