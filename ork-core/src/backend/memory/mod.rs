//! The in-memory engine: the same semantics as Redis, in one process.
//!
//! For tests, development and small apps. Everything lives behind one mutex;
//! time is read from tokio's clock, so tests can pause and advance it.

use std::collections::{HashMap, VecDeque};

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, Notify};

use super::{
    Admin, AuditEntry, BoxFuture, CancelRequests, CapUse, ClaimRequest, Claimed, Enqueued, Finish,
    FireTicks, FlowControl, JobStore, Lease, LeaseStatus, Outcome, PauseTarget, Paused, Queries,
    ScheduleStore, StepStore, StoredSchedule, StoredSteps, WorkerRegistry, WorkflowStore,
    AUDIT_LIMIT,
};
use crate::error::{Error, Result};
use crate::inspect::{CancelOutcome, JobQuery, QueueCounts, WorkerInfo};
use crate::job::{JobId, JobInfo, JobRecord, JobState};
use crate::rate::Rate;
use crate::Backend;

mod signals;
mod state;

use state::{acquire, Admit, State};

const PRIORITIES: usize = 10;

/// The in-memory engine. Cheap to clone (clones share the same store).
#[derive(Debug, Clone)]
pub struct MemoryBackend {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Woken when work may have become ready.
    work: Notify,
    /// Woken when a job reached a terminal state.
    done: Notify,
    /// Ids of running jobs whose cancellation was requested.
    cancels: broadcast::Sender<JobId>,
    base_ms: u64,
    start: tokio::time::Instant,
    /// The audit trail, newest first.
    audit: Mutex<VecDeque<AuditEntry>>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        MemoryBackend::new()
    }
}

impl MemoryBackend {
    /// An empty engine.
    pub fn new() -> Self {
        let base_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        MemoryBackend::starting_at(base_ms)
    }

    /// An empty engine whose clock reads `unix_ms` now and advances with
    /// tokio's: for tests of calendars and time zones on the paused clock.
    pub fn starting_at(unix_ms: u64) -> Self {
        let base_ms = unix_ms;
        MemoryBackend {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                work: Notify::new(),
                done: Notify::new(),
                cancels: broadcast::channel(1024).0,
                base_ms,
                start: tokio::time::Instant::now(),
                audit: Mutex::new(VecDeque::new()),
            }),
        }
    }

    fn now(&self) -> u64 {
        self.shared.base_ms + self.shared.start.elapsed().as_millis() as u64
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough data for an
        // in-process engine; keep serving rather than poisoning every caller.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn claim_now(&self, req: &ClaimRequest) -> (Vec<Claimed>, Option<u64>) {
        let now = self.now();
        let mut st = self.lock();
        st.promote_due(now);
        st.expire(now);
        let mut out = Vec::new();
        // Rate-limited jobs, each due when its reserved token is.
        let mut later = Vec::new();
        'queues: for queue in &req.queues {
            if st.paused_queues.contains(queue) {
                continue;
            }
            let st = &mut *st;
            let Some(levels) = st.ready.get_mut(queue) else {
                continue;
            };
            let mut ids = Vec::new();
            for level in levels.iter_mut().rev() {
                while let Some(id) = level.pop_front() {
                    if !st.paused_tasks.is_empty() {
                        // A paused task's job is set aside, still queued.
                        let task = &st.jobs[&id].info.record.task;
                        if let Some(held) = st.paused_tasks.get_mut(task) {
                            held.push_back(id);
                            continue;
                        }
                    }
                    match acquire(
                        &mut st.jobs,
                        &mut st.limits,
                        &st.queue_caps,
                        &mut st.rates,
                        &id,
                        now,
                    ) {
                        Admit::Go => {}
                        Admit::Parked => continue,
                        Admit::Later(due) => {
                            later.push((id, due));
                            continue;
                        }
                    }
                    ids.push(id);
                    if ids.len() + out.len() >= req.max {
                        break;
                    }
                }
                if ids.len() + out.len() >= req.max {
                    break;
                }
            }
            for id in ids {
                let lease_until = now + req.lease.as_millis() as u64;
                let entry = st.jobs.get_mut(&id).expect("ready job has an entry");
                entry.fence += 1;
                entry.lease_until = lease_until;
                entry.info.state = JobState::Running;
                entry.info.attempts += 1;
                entry.info.started_at_ms = Some(now);
                entry.info.progress = 0;
                out.push(Claimed {
                    record: entry.info.record.clone(),
                    attempt: entry.info.attempts,
                    lost: entry.lost,
                    lease: Lease {
                        id: id.clone(),
                        fence: entry.fence,
                    },
                });
                st.running.insert(id);
            }
            if out.len() >= req.max {
                break 'queues;
            }
        }
        for (id, due) in later {
            st.schedule(id, due);
        }
        let next_due = st.scheduled.first().map(|(due, _, _)| *due);
        (out, next_due)
    }
}

impl JobStore for MemoryBackend {
    fn now_ms(&self) -> BoxFuture<'_, Result<u64>> {
        let now = self.now();
        Box::pin(async move { Ok(now) })
    }

    fn enqueue(&self, jobs: Vec<JobRecord>) -> BoxFuture<'_, Result<Vec<Enqueued>>> {
        Box::pin(async move {
            let now = self.now();
            let (out, woke) = self.lock().enqueue(jobs, now);
            if woke {
                self.shared.work.notify_waiters();
            }
            Ok(out)
        })
    }

    fn claim<'a>(&'a self, req: &'a ClaimRequest) -> BoxFuture<'a, Result<Vec<Claimed>>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + req.wait;
            loop {
                let notified = self.shared.work.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let (claimed, next_due) = self.claim_now(req);
                let now_instant = tokio::time::Instant::now();
                if !claimed.is_empty() || now_instant >= deadline {
                    return Ok(claimed);
                }
                let mut wake_at = deadline;
                if let Some(due) = next_due {
                    let wait_ms = due.saturating_sub(self.now());
                    wake_at = wake_at.min(now_instant + Duration::from_millis(wait_ms.max(1)));
                }
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep_until(wake_at) => {}
                }
            }
        })
    }

    fn heartbeat<'a>(
        &'a self,
        leases: &'a [Lease],
        lease: Duration,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>>> {
        Box::pin(async move {
            let now = self.now();
            let mut st = self.lock();
            Ok(leases
                .iter()
                .map(|l| match st.current(&l.id, l.fence) {
                    true => {
                        let e = st.jobs.get_mut(&l.id).expect("current");
                        e.lease_until = now + lease.as_millis() as u64;
                        if e.cancel_requested {
                            LeaseStatus::CancelRequested
                        } else {
                            LeaseStatus::Held
                        }
                    }
                    false => LeaseStatus::Lost,
                })
                .collect())
        })
    }

    fn finish<'a>(&'a self, batch: &'a [Finish]) -> BoxFuture<'a, Result<Vec<bool>>> {
        Box::pin(async move {
            let now = self.now();
            let mut applied = Vec::with_capacity(batch.len());
            let (mut woke_work, mut woke_done) = (false, false);
            {
                let mut st = self.lock();
                let readied = st.readied;
                for Finish { lease, outcome } in batch {
                    let lease = lease.clone();
                    if !st.current(&lease.id, lease.fence) {
                        applied.push(false);
                        continue;
                    }
                    applied.push(true);
                    st.running.remove(&lease.id);
                    st.release_slots(&lease.id);
                    match outcome {
                        Outcome::Succeeded { result } => {
                            let e = st.jobs.get_mut(&lease.id).expect("checked");
                            e.info.result = Some(result.clone());
                            e.info.progress = 100;
                            st.terminate(&lease.id, JobState::Succeeded, None, now);
                            woke_done = true;
                        }
                        Outcome::Retry { delay, error } => {
                            let e = st.jobs.get_mut(&lease.id).expect("checked");
                            e.info.error = Some(error.clone());
                            st.schedule(lease.id, now + delay.as_millis() as u64);
                            woke_work = true;
                        }
                        Outcome::Dead { error } => {
                            st.terminate(&lease.id, JobState::Dead, Some(error.clone()), now);
                            woke_done = true;
                        }
                        Outcome::Cancelled => {
                            st.terminate(&lease.id, JobState::Cancelled, None, now);
                            woke_done = true;
                        }
                        Outcome::Released => {
                            let e = st.jobs.get_mut(&lease.id).expect("checked");
                            e.info.attempts = e.info.attempts.saturating_sub(1);
                            st.push_ready(lease.id);
                            woke_work = true;
                        }
                        Outcome::Park { until_ms, reason } => {
                            let e = st.jobs.get_mut(&lease.id).expect("checked");
                            e.info.attempts = e.info.attempts.saturating_sub(1);
                            if std::mem::take(&mut e.woken) {
                                st.push_ready(lease.id);
                            } else {
                                st.schedule(lease.id.clone(), *until_ms);
                                let e = st.jobs.get_mut(&lease.id).expect("checked");
                                e.info.parked = Some(reason.clone());
                            }
                            woke_work = true;
                        }
                    }
                }
                // A dependant released by a finish is work too.
                woke_work |= st.readied != readied;
            }
            if woke_work {
                self.shared.work.notify_waiters();
            }
            if woke_done {
                self.shared.done.notify_waiters();
            }
            Ok(applied)
        })
    }

    fn reap(&self) -> BoxFuture<'_, Result<usize>> {
        Box::pin(async move {
            let now = self.now();
            let n = {
                let mut st = self.lock();
                let expired: Vec<JobId> = st
                    .running
                    .iter()
                    .filter(|id| st.jobs.get(*id).is_some_and(|e| e.lease_until <= now))
                    .cloned()
                    .collect();
                for id in &expired {
                    st.running.remove(id);
                    st.release_slots(id);
                    let e = st.jobs.get_mut(id).expect("running job exists");
                    e.info.attempts = e.info.attempts.saturating_sub(1);
                    e.lost += 1;
                    e.reaped_fence = Some(e.fence);
                    e.info.error = Some("lease expired (the worker died or stalled)".to_owned());
                    st.push_ready(id.clone());
                }
                // Caps whose slots freed without moving their parked jobs
                // (a job moved forward, then cancelled before a claim):
                // move them now.
                let names: Vec<String> = st.limits.keys().cloned().collect();
                for name in names {
                    st.unpark(&name);
                }
                expired.len()
            };
            if n > 0 {
                self.shared.work.notify_waiters();
            }
            Ok(n)
        })
    }

    fn progress<'a>(&'a self, lease: &'a Lease, percent: u8) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut st = self.lock();
            if let Some(e) = st.jobs.get_mut(&lease.id) {
                if e.fence == lease.fence && e.info.state == JobState::Running {
                    e.info.progress = percent.min(100);
                }
            }
            Ok(())
        })
    }

    fn cancel<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<CancelOutcome>> {
        Box::pin(async move {
            let now = self.now();
            let (outcome, requested) = {
                let mut st = self.lock();
                let state = st
                    .jobs
                    .get(id)
                    .map(|e| e.info.state)
                    .ok_or_else(|| Error::UnknownJob(id.clone()))?;
                let outcome = match state {
                    JobState::Running => CancelOutcome::Requested,
                    s if s.is_terminal() => CancelOutcome::AlreadyFinished(s),
                    _ => CancelOutcome::Cancelled,
                };
                (outcome, st.cancel_tree(id, now))
            };
            for id in requested {
                // No receiver (no pool running) is fine.
                let _ = self.shared.cancels.send(id);
            }
            self.shared.done.notify_waiters();
            Ok(outcome)
        })
    }

    fn children<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<Vec<JobId>>> {
        Box::pin(async move { Ok(self.lock().children.get(id).cloned().unwrap_or_default()) })
    }

    fn cancel_requests(&self) -> BoxFuture<'_, Result<CancelRequests>> {
        Box::pin(async move {
            let mut from = self.shared.cancels.subscribe();
            let (tx, rx) = mpsc::channel(256);
            tokio::spawn(async move {
                loop {
                    let next = tokio::select! {
                        _ = tx.closed() => return,
                        next = from.recv() => next,
                    };
                    match next {
                        Ok(id) => {
                            if tx.send(id).await.is_err() {
                                return;
                            }
                        }
                        // Missed ids are still seen at the next heartbeat.
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
            Ok(CancelRequests::new(rx))
        })
    }
}

impl Queries for MemoryBackend {
    fn jobs<'a>(&'a self, ids: &'a [JobId]) -> BoxFuture<'a, Result<Vec<Option<JobInfo>>>> {
        Box::pin(async move {
            let now = self.now();
            let mut st = self.lock();
            st.expire(now);
            Ok(ids
                .iter()
                .map(|id| st.jobs.get(id).map(|e| e.info.clone()))
                .collect())
        })
    }

    fn wait<'a>(
        &'a self,
        id: &'a JobId,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<JobInfo>>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let notified = self.shared.done.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let info = self.lock().jobs.get(id).map(|e| e.info.clone());
                match info {
                    None => return Ok(None),
                    Some(info) if info.state.is_terminal() => return Ok(Some(info)),
                    Some(info) => {
                        if tokio::time::Instant::now() >= deadline {
                            return Ok(Some(info));
                        }
                    }
                }
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep_until(deadline) => {}
                }
            }
        })
    }

    fn list<'a>(&'a self, query: &'a JobQuery) -> BoxFuture<'a, Result<Vec<JobInfo>>> {
        Box::pin(async move {
            let st = self.lock();
            let mut found: Vec<&JobInfo> = st
                .jobs
                .values()
                .map(|e| &e.info)
                .filter(|i| query.state.is_none_or(|s| i.state == s))
                .filter(|i| query.queue.as_ref().is_none_or(|q| &i.record.queue == q))
                .collect();
            found.sort_by(|a, b| {
                (a.enqueued_at_ms, &a.record.id).cmp(&(b.enqueued_at_ms, &b.record.id))
            });
            Ok(found
                .into_iter()
                .skip(query.offset)
                .take(query.effective_limit())
                .cloned()
                .collect())
        })
    }

    fn counts(&self) -> BoxFuture<'_, Result<Vec<QueueCounts>>> {
        Box::pin(async move {
            let st = self.lock();
            let mut by_queue: HashMap<&str, QueueCounts> = HashMap::new();
            for e in st.jobs.values() {
                let q = e.info.record.queue.as_str();
                by_queue
                    .entry(q)
                    .or_insert_with(|| QueueCounts::new(q))
                    .bump(e.info.state);
            }
            let mut out: Vec<QueueCounts> = by_queue.into_values().collect();
            out.sort_by(|a, b| a.queue.cmp(&b.queue));
            Ok(out)
        })
    }
}

impl FlowControl for MemoryBackend {
    fn set_paused<'a>(
        &'a self,
        target: &'a PauseTarget,
        paused: bool,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            target.check()?;
            let changed = self.lock().set_paused(target, paused);
            if changed && !paused {
                self.shared.work.notify_waiters();
            }
            Ok(changed)
        })
    }

    fn paused(&self) -> BoxFuture<'_, Result<Vec<Paused>>> {
        Box::pin(async move {
            let st = self.lock();
            let mut out = Vec::new();
            for q in &st.paused_queues {
                let held = st
                    .ready
                    .get(q)
                    .map_or(0, |levels| levels.iter().map(VecDeque::len).sum::<usize>());
                out.push(Paused::new(PauseTarget::Queue(q.clone()), held as u64));
            }
            for (t, held) in &st.paused_tasks {
                out.push(Paused::new(PauseTarget::Task(t.clone()), held.len() as u64));
            }
            Ok(out)
        })
    }

    fn set_queue_cap<'a>(&'a self, queue: &'a str, cap: Option<u32>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            super::flow::check_queue_cap(queue, cap)?;
            let name = format!("q:{queue}");
            let readied = {
                let mut st = self.lock();
                let before = st.readied;
                match cap {
                    Some(n) => {
                        st.queue_caps.insert(queue.to_owned(), n);
                        if let Some(l) = st.limits.get_mut(&name) {
                            l.cap = n;
                        }
                    }
                    None => {
                        st.queue_caps.remove(queue);
                        if let Some(l) = st.limits.get_mut(&name) {
                            l.cap = u32::MAX;
                        }
                    }
                }
                st.unpark(&name);
                st.readied != before
            };
            if readied {
                self.shared.work.notify_waiters();
            }
            Ok(())
        })
    }

    fn set_limiter<'a>(&'a self, name: &'a str, rate: Option<Rate>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            super::flow::check_limiter_name(name)?;
            let mut st = self.lock();
            match rate {
                Some(r) => st.rates.limiters.insert(name.to_owned(), r),
                None => st.rates.limiters.remove(name),
            };
            Ok(())
        })
    }

    fn limiters(&self) -> BoxFuture<'_, Result<Vec<(String, Rate)>>> {
        Box::pin(async move {
            let st = self.lock();
            Ok(st
                .rates
                .limiters
                .iter()
                .map(|(n, r)| (n.clone(), *r))
                .collect())
        })
    }

    fn running_caps(&self) -> BoxFuture<'_, Result<Vec<CapUse>>> {
        Box::pin(async move {
            let st = self.lock();
            Ok(st
                .limits
                .iter()
                .filter(|(_, l)| l.held_once && (!l.holders.is_empty() || !l.parked.is_empty()))
                .map(|(name, l)| {
                    CapUse::new(name, l.cap, l.holders.len() as u64, l.parked.len() as u64)
                })
                .collect())
        })
    }
}

impl Admin for MemoryBackend {
    fn retry<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let ok = {
                let mut st = self.lock();
                let Some(e) = st.jobs.get_mut(id) else {
                    return Err(Error::UnknownJob(id.clone()));
                };
                if !matches!(e.info.state, JobState::Dead | JobState::Cancelled) {
                    return Ok(false);
                }
                e.info.attempts = 0;
                e.lost = 0;
                e.cancel_requested = false;
                e.info.cancel_requested = false;
                e.expires_at = None;
                e.info.finished_at_ms = None;
                e.info.state = JobState::Waiting;
                e.deps_done.clear();
                if let Some(key) = e.info.record.unique.clone() {
                    st.unique.insert(key, id.clone());
                }
                let now = self.now();
                // A retried job runs at once, whatever delay it was enqueued with.
                st.settle_deps(id, now, true);
                true
            };
            self.shared.work.notify_waiters();
            Ok(ok)
        })
    }

    fn purge<'a>(&'a self, queue: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let now = self.now();
            let mut st = self.lock();
            let doomed: Vec<JobId> = st
                .jobs
                .values()
                .filter(|e| {
                    e.info.record.queue == queue
                        && matches!(
                            e.info.state,
                            JobState::Waiting | JobState::Scheduled | JobState::Queued
                        )
                })
                .map(|e| e.info.record.id.clone())
                .collect();
            if let Some(levels) = st.ready.get_mut(queue) {
                levels.iter_mut().for_each(VecDeque::clear);
            }
            for id in &doomed {
                st.remove_from_ready(id);
            }
            for id in &doomed {
                st.terminate(id, JobState::Cancelled, Some("purged".to_owned()), now);
                st.forget(id);
            }
            Ok(doomed.len() as u64)
        })
    }

    fn record_audit<'a>(&'a self, entry: &'a AuditEntry) -> BoxFuture<'a, Result<()>> {
        let mut audit = self
            .shared
            .audit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        audit.push_front(entry.clone());
        audit.truncate(AUDIT_LIMIT);
        Box::pin(async { Ok(()) })
    }

    fn audit_log(&self, limit: usize) -> BoxFuture<'_, Result<Vec<AuditEntry>>> {
        let audit = self
            .shared
            .audit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let out: Vec<AuditEntry> = audit.iter().take(limit).cloned().collect();
        Box::pin(async move { Ok(out) })
    }
}

impl WorkerRegistry for MemoryBackend {
    fn register_worker<'a>(
        &'a self,
        info: &'a WorkerInfo,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let now = self.now();
            let mut info = info.clone();
            info.last_seen_ms = now;
            self.lock()
                .workers
                .insert(info.key(), (info, now + ttl.as_millis() as u64));
            Ok(())
        })
    }

    fn unregister_worker<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.lock().workers.remove(key);
            Ok(())
        })
    }

    fn workers(&self) -> BoxFuture<'_, Result<Vec<WorkerInfo>>> {
        Box::pin(async move {
            let now = self.now();
            let mut st = self.lock();
            st.workers.retain(|_, (_, until)| *until > now);
            let mut out: Vec<WorkerInfo> = st.workers.values().map(|(w, _)| w.clone()).collect();
            out.sort_by(|a, b| {
                (&a.id, a.started_at_ms, &a.instance).cmp(&(&b.id, b.started_at_ms, &b.instance))
            });
            Ok(out)
        })
    }
}

impl WorkflowStore for MemoryBackend {
    fn put_workflow<'a>(&'a self, id: &'a JobId, meta: Vec<u8>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut st = self.lock();
            let seq = st.next_seq();
            let seq = st.workflows.get(id).map_or(seq, |(s, _)| *s);
            st.workflows.insert(id.clone(), (seq, meta));
            Ok(())
        })
    }

    fn workflow<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(async move { Ok(self.lock().workflows.get(id).map(|(_, m)| m.clone())) })
    }

    fn workflow_ids(&self, offset: usize, limit: usize) -> BoxFuture<'_, Result<Vec<JobId>>> {
        Box::pin(async move {
            let st = self.lock();
            let mut all: Vec<(u64, &JobId)> =
                st.workflows.iter().map(|(id, (s, _))| (*s, id)).collect();
            all.sort_by_key(|&(seq, _)| std::cmp::Reverse(seq));
            Ok(all
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(|(_, id)| id.clone())
                .collect())
        })
    }
}

impl ScheduleStore for MemoryBackend {
    fn put_schedule<'a>(
        &'a self,
        name: &'a str,
        definition: Vec<u8>,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let now = self.now();
            let mut st = self.lock();
            Ok(match st.schedules.get_mut(name) {
                Some(s) => {
                    s.definition = definition;
                    false
                }
                None => {
                    let s = StoredSchedule::new(name, definition, now, None, false);
                    st.schedules.insert(name.to_owned(), s);
                    true
                }
            })
        })
    }

    fn delete_schedule<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { Ok(self.lock().schedules.remove(name).is_some()) })
    }

    fn pause_schedule<'a>(&'a self, name: &'a str, paused: bool) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let now = self.now();
            let mut st = self.lock();
            let Some(s) = st.schedules.get_mut(name) else {
                return Ok(false);
            };
            if s.paused && !paused {
                s.through_ms = s.through_ms.max(now);
            }
            s.paused = paused;
            Ok(true)
        })
    }

    fn schedules(&self) -> BoxFuture<'_, Result<Vec<StoredSchedule>>> {
        Box::pin(async move { Ok(self.lock().schedules.values().cloned().collect()) })
    }

    fn fire(&self, ticks: FireTicks) -> BoxFuture<'_, Result<Option<Vec<Enqueued>>>> {
        Box::pin(async move {
            let now = self.now();
            let (out, woke) = {
                let mut st = self.lock();
                let Some(s) = st.schedules.get_mut(&ticks.schedule) else {
                    return Ok(None);
                };
                if s.paused || s.through_ms != ticks.expected_through_ms {
                    return Ok(None);
                }
                s.through_ms = ticks.through_ms;
                if let Some(last) = ticks.jobs.last() {
                    s.last_job = Some(last.id.clone());
                }
                st.enqueue(ticks.jobs, now)
            };
            if woke {
                self.shared.work.notify_waiters();
            }
            Ok(Some(out))
        })
    }
}

impl StepStore for MemoryBackend {
    fn put_step<'a>(
        &'a self,
        lease: &'a Lease,
        name: &'a str,
        output: &'a [u8],
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let mut st = self.lock();
            match st.jobs.get_mut(&lease.id) {
                Some(e) if e.fence == lease.fence && e.info.state == JobState::Running => {
                    e.steps.insert(name.to_owned(), output.to_vec());
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn steps<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<StoredSteps>> {
        Box::pin(async move {
            let now = self.now();
            let mut st = self.lock();
            st.expire(now);
            Ok(st.jobs.get(id).map_or_else(Vec::new, |e| {
                e.steps
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }))
        })
    }
}

impl Backend for MemoryBackend {}
