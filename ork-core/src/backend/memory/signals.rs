//! The memory engine's signals (see [`SignalStore`]).

use std::time::Duration;

use super::MemoryBackend;
use crate::backend::{BoxFuture, Signal, SignalStore};
use crate::error::Result;
use crate::job::{JobId, JobState};

impl SignalStore for MemoryBackend {
    fn put_signal<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        retention: Duration,
    ) -> BoxFuture<'a, Result<(u64, Vec<JobId>)>> {
        Box::pin(async move {
            let now = self.now();
            let mut st = self.lock();
            let kept = st.signals.entry(key.to_owned()).or_default();
            while kept.front().is_some_and(|s| s.1 <= now) {
                kept.pop_front();
            }
            let last = kept.back().map_or(0, |s| s.0);
            let seq = (now * 1000).max(last + 1);
            let expires = now.saturating_add(retention.as_millis().max(1) as u64);
            kept.push_back((seq, expires, value.to_vec()));
            let waiters = st.listeners.remove(key).unwrap_or_default();
            Ok((seq, waiters.into_iter().collect()))
        })
    }

    fn listen<'a>(
        &'a self,
        key: &'a str,
        after: u64,
        job: &'a JobId,
        until_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Signal>>> {
        let _ = until_ms;
        Box::pin(async move {
            let now = self.now();
            let mut st = self.lock();
            let found = st.signals.get(key).and_then(|kept| {
                kept.iter()
                    .find(|s| s.0 > after && s.1 > now)
                    .map(|s| Signal::new(s.0, s.2.clone()))
            });
            if found.is_none() {
                st.listeners
                    .entry(key.to_owned())
                    .or_default()
                    .insert(job.clone());
            }
            Ok(found)
        })
    }

    fn unlisten<'a>(&'a self, key: &'a str, job: &'a JobId) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut st = self.lock();
            if let Some(waiters) = st.listeners.get_mut(key) {
                waiters.remove(job);
                if waiters.is_empty() {
                    st.listeners.remove(key);
                }
            }
            Ok(())
        })
    }

    fn wake<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            {
                let mut st = self.lock();
                let Some(e) = st.jobs.get_mut(id) else {
                    return Ok(false);
                };
                match e.info.state {
                    JobState::Scheduled if e.info.parked.is_some() => {
                        let due = e.info.due_at_ms;
                        st.scheduled.retain(|(d, _, j)| Some(*d) != due || j != id);
                        st.push_ready(id.clone());
                    }
                    JobState::Running | JobState::Queued => {
                        e.woken = true;
                        return Ok(true);
                    }
                    _ => return Ok(false),
                }
            }
            self.shared.work.notify_waiters();
            Ok(true)
        })
    }
}
