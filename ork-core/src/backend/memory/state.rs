//! The memory engine's state: jobs, queues and indexes behind one mutex.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use rustc_hash::{FxHashMap, FxHashSet};

use super::PRIORITIES;
use crate::backend::{Enqueued, PauseTarget, StoredSchedule};
use crate::inspect::WorkerInfo;
use crate::job::{JobId, JobInfo, JobRecord, JobState};

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) jobs: FxHashMap<JobId, Entry>,
    pub(super) ready: FxHashMap<String, [VecDeque<JobId>; PRIORITIES]>,
    /// (due, seq, id)
    pub(super) scheduled: BTreeSet<(u64, u64, JobId)>,
    pub(super) running: FxHashSet<JobId>,
    pub(super) unique: FxHashMap<String, JobId>,
    pub(super) dependents: FxHashMap<JobId, Vec<JobId>>,
    /// Run-time children by parent (kept while the parent's entry is).
    pub(super) children: FxHashMap<JobId, Vec<JobId>>,
    /// Idempotency keys, each held while its job's entry is kept.
    pub(super) idempotency: FxHashMap<String, JobId>,
    /// Finished jobs by the millisecond they expire at: one bucket per
    /// millisecond, so a finish is a push, not a heap insertion comparing ids.
    pub(super) expiry: BTreeMap<u64, Vec<JobId>>,
    /// Counts jobs made ready or scheduled, so a caller can tell whether
    /// to wake claimers.
    pub(super) readied: u64,
    pub(super) workers: HashMap<String, (WorkerInfo, u64)>,
    /// id -> (seq, meta)
    pub(super) workflows: HashMap<JobId, (u64, Vec<u8>)>,
    /// name -> schedule
    pub(super) schedules: BTreeMap<String, StoredSchedule>,
    pub(super) seq: u64,
    /// Signals kept under each key: (seq, expires at, value), oldest first.
    pub(super) signals: HashMap<String, VecDeque<(u64, u64, Vec<u8>)>>,
    /// The jobs waiting on each signal key.
    pub(super) listeners: HashMap<String, FxHashSet<JobId>>,
    /// Paused queues.
    pub(super) paused_queues: BTreeSet<String>,
    /// Paused tasks, each with the queued jobs a claim set aside, in the
    /// order it met them.
    pub(super) paused_tasks: BTreeMap<String, VecDeque<JobId>>,
    /// Running caps of queues.
    pub(super) queue_caps: BTreeMap<String, u32>,
    /// Per limit (`t:<task>`, `k:<key>`, `q:<queue>`): the jobs holding a
    /// slot, the cap last seen, and the jobs held until a slot frees.
    pub(super) limits: BTreeMap<String, Limit>,
    /// Rate limits.
    pub(super) rates: Rates,
}

/// One running cap's state.
#[derive(Debug, Default)]
pub(super) struct Limit {
    pub(super) cap: u32,
    pub(super) holders: FxHashSet<JobId>,
    pub(super) parked: VecDeque<JobId>,
    /// Whether it has parked a job since it was last idle (only such caps
    /// are listed, as on Redis).
    pub(super) held_once: bool,
}

#[derive(Debug)]
pub(super) struct Entry {
    pub(super) info: JobInfo,
    pub(super) fence: u64,
    pub(super) lease_until: u64,
    pub(super) lost: u32,
    pub(super) cancel_requested: bool,
    /// The fence of the attempt whose lease the reaper took, until the job
    /// is claimed again: that attempt may still renew or finish.
    pub(super) reaped_fence: Option<u64>,
    pub(super) deps_done: FxHashSet<JobId>,
    pub(super) expires_at: Option<u64>,
    /// Durable step outputs and the checkpoint, by name (kept as long as
    /// the entry).
    pub(super) steps: FxHashMap<String, Vec<u8>>,
    /// Woken while it ran or waited in a queue: its next park makes it
    /// ready at once.
    pub(super) woken: bool,
    /// The limits whose slots this job's attempt holds (kept after a reap,
    /// so that an attempt taken back by its holder holds them again).
    pub(super) slots: Vec<String>,
    /// The limit this queued job waits on, when held by a running cap.
    pub(super) parked_on: Option<String>,
    /// The time of the rate-limit token reserved for this job (ms).
    pub(super) reserved: Option<f64>,
}

impl State {
    pub(super) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Stores records (see [`JobStore::enqueue`]); returns the outcomes and
    /// whether work may have become ready.
    pub(super) fn enqueue(&mut self, jobs: Vec<JobRecord>, now: u64) -> (Vec<Enqueued>, bool) {
        let st = self;
        let mut out = Vec::with_capacity(jobs.len());
        let mut woke = false;
        st.expire(now);
        for record in jobs {
            if st.jobs.contains_key(&record.id) {
                out.push(Enqueued::Existing(record.id));
                continue;
            }
            if let Some(key) = &record.idempotency_key {
                if let Some(holder) = st.idempotency.get(key) {
                    if st.jobs.contains_key(holder) {
                        out.push(Enqueued::Existing(holder.clone()));
                        continue;
                    }
                }
            }
            if let Some(key) = &record.unique {
                if let Some(holder) = st.unique.get(key) {
                    out.push(Enqueued::Existing(holder.clone()));
                    continue;
                }
            }
            let id = record.id.clone();
            if let Some(key) = &record.unique {
                st.unique.insert(key.clone(), id.clone());
            }
            if let Some(key) = &record.idempotency_key {
                st.idempotency.insert(key.clone(), id.clone());
            }
            // A child of a parent being cancelled is cancelled at once.
            let stopping = record.parent.as_ref().is_some_and(|parent| {
                st.children
                    .entry(parent.clone())
                    .or_default()
                    .push(id.clone());
                st.jobs.get(parent).is_some_and(|p| {
                    p.info.state == JobState::Cancelled
                        || (p.info.state == JobState::Running && p.cancel_requested)
                })
            });
            let deps = record.deps.clone();
            let due = due_time(&record, now);
            st.jobs.insert(
                id.clone(),
                Entry {
                    info: JobInfo::new(record, JobState::Waiting, now),
                    fence: 0,
                    lease_until: 0,
                    lost: 0,
                    cancel_requested: false,
                    reaped_fence: None,
                    deps_done: FxHashSet::default(),
                    expires_at: None,
                    steps: FxHashMap::default(),
                    woken: false,
                    slots: Vec::new(),
                    parked_on: None,
                    reserved: None,
                },
            );
            out.push(Enqueued::Created(id.clone()));
            if deps.is_empty() {
                if due > now {
                    st.schedule(id.clone(), due);
                } else {
                    st.push_ready(id.clone());
                }
                woke = true;
            } else {
                // Register with each dependency; one already finished
                // counts at once, exactly like a later completion.
                for dep in &deps {
                    st.dependents
                        .entry(dep.clone())
                        .or_default()
                        .push(id.clone());
                }
                woke |= st.settle_deps(&id, now, false);
            }
            if stopping
                && st
                    .jobs
                    .get(&id)
                    .is_some_and(|e| !e.info.state.is_terminal())
            {
                let parent = st.jobs[&id].info.record.parent.clone().expect("has one");
                st.remove_from_ready(&id);
                let why = format!("parent {parent} was cancelled");
                st.terminate(&id, JobState::Cancelled, Some(why), now);
            }
        }
        (out, woke)
    }

    pub(super) fn push_ready(&mut self, id: JobId) {
        let entry = self.jobs.get_mut(&id).expect("job exists");
        entry.info.state = JobState::Queued;
        entry.info.due_at_ms = None;
        entry.info.parked = None;
        let level = entry.info.record.priority.min(9) as usize;
        self.readied += 1;
        let queue = &entry.info.record.queue;
        match self.ready.get_mut(queue) {
            Some(levels) => levels[level].push_back(id),
            None => self.ready.entry(queue.clone()).or_default()[level].push_back(id),
        }
    }

    pub(super) fn schedule(&mut self, id: JobId, due: u64) {
        let seq = self.next_seq();
        let entry = self.jobs.get_mut(&id).expect("job exists");
        entry.info.state = JobState::Scheduled;
        self.readied += 1;
        entry.info.due_at_ms = Some(due);
        self.scheduled.insert((due, seq, id));
    }

    pub(super) fn promote_due(&mut self, now: u64) {
        while let Some(first) = self.scheduled.first() {
            if first.0 > now {
                break;
            }
            let (_, _, id) = self.scheduled.pop_first().expect("checked");
            if self
                .jobs
                .get(&id)
                .is_some_and(|e| e.info.state == JobState::Scheduled)
            {
                self.push_ready(id);
            }
        }
    }

    pub(super) fn expire(&mut self, now: u64) {
        while let Some(entry) = self.expiry.first_entry() {
            if *entry.key() > now {
                break;
            }
            for id in entry.remove() {
                if let Some(e) = self.jobs.get(&id) {
                    if e.expires_at.is_some_and(|t| t <= now) {
                        self.forget(&id);
                    }
                }
            }
        }
    }

    /// Whether the attempt with `fence` is the job's current one: the job
    /// runs under that fence, or the reaper put it back after its lease ran
    /// out and nobody claimed it since, in which case it runs again under
    /// that attempt (the holder was alive after all: it renewed or finished).
    pub(super) fn current(&mut self, id: &JobId, fence: u64) -> bool {
        let Some(e) = self.jobs.get(id) else {
            return false;
        };
        if e.fence != fence {
            return false;
        }
        match e.info.state {
            JobState::Running => true,
            JobState::Queued if e.reaped_fence == Some(fence) => {
                self.remove_from_ready(id);
                let e = self.jobs.get_mut(id).expect("checked");
                e.reaped_fence = None;
                e.info.state = JobState::Running;
                e.info.attempts += 1;
                e.lost = e.lost.saturating_sub(1);
                e.info.error = None;
                self.running.insert(id.clone());
                self.reacquire(id);
                true
            }
            _ => false,
        }
    }

    /// Deletes a job's entry and what is kept as long as it is.
    pub(super) fn forget(&mut self, id: &JobId) {
        if let Some(e) = self.jobs.remove(id) {
            if let Some(key) = &e.info.record.idempotency_key {
                if self.idempotency.get(key) == Some(id) {
                    self.idempotency.remove(key);
                }
            }
        }
        self.dependents.remove(id);
        self.children.remove(id);
    }

    /// Cancels a job and, recursively, its run-time children: those not
    /// started end cancelled (with their waiting dependants), running ones
    /// get a cancel request. Descends from every job that has not
    /// succeeded or died. Returns the running jobs asked to stop.
    pub(super) fn cancel_tree(&mut self, id: &JobId, now: u64) -> Vec<JobId> {
        let mut requested = Vec::new();
        let mut stack: Vec<(JobId, Option<JobId>)> = vec![(id.clone(), None)];
        let mut seen = FxHashSet::default();
        while let Some((jid, parent)) = stack.pop() {
            if !seen.insert(jid.clone()) {
                continue;
            }
            let Some(state) = self.jobs.get(&jid).map(|e| e.info.state) else {
                continue;
            };
            match state {
                JobState::Running => {
                    let e = self.jobs.get_mut(&jid).expect("exists");
                    e.cancel_requested = true;
                    e.info.cancel_requested = true;
                    requested.push(jid.clone());
                }
                JobState::Succeeded | JobState::Dead => continue,
                JobState::Cancelled => {}
                _ => {
                    self.remove_from_ready(&jid);
                    let why = parent.map(|p| format!("parent {p} was cancelled"));
                    self.terminate(&jid, JobState::Cancelled, why, now);
                }
            }
            if let Some(children) = self.children.get(&jid) {
                stack.extend(children.iter().map(|c| (c.clone(), Some(jid.clone()))));
            }
        }
        requested
    }

    pub(super) fn remove_from_ready(&mut self, id: &JobId) {
        if let Some(e) = self.jobs.get(id) {
            let level = e.info.record.priority.min(9) as usize;
            if let Some(levels) = self.ready.get_mut(&e.info.record.queue) {
                levels[level].retain(|x| x != id);
            }
            if let Some(held) = self.paused_tasks.get_mut(&e.info.record.task) {
                held.retain(|x| x != id);
            }
            if let Some(name) = &e.parked_on {
                if let Some(l) = self.limits.get_mut(name) {
                    l.parked.retain(|x| x != id);
                }
            }
        }
    }

    /// Gives back the slots of a job's attempt (it ended, or lost its
    /// lease), and moves jobs parked on those caps back to the front of
    /// their queues, as many as there are free slots.
    pub(super) fn release_slots(&mut self, id: &JobId) {
        let Some(e) = self.jobs.get(id) else {
            return;
        };
        if e.slots.is_empty() {
            return;
        }
        for name in e.slots.clone() {
            if let Some(l) = self.limits.get_mut(&name) {
                l.holders.remove(id);
            }
            self.unpark(&name);
        }
    }

    /// Holds again the slots of an attempt taken back by its holder.
    pub(super) fn reacquire(&mut self, id: &JobId) {
        for name in self.jobs[id].slots.clone() {
            self.limits
                .entry(name)
                .or_default()
                .holders
                .insert(id.clone());
        }
    }

    /// Moves jobs parked on a cap back to the front of their ready lists,
    /// as many as it has free slots.
    pub(super) fn unpark(&mut self, name: &str) {
        let Some(l) = self.limits.get_mut(name) else {
            return;
        };
        let mut free = (l.cap as usize).saturating_sub(l.holders.len());
        let mut back = Vec::new();
        while free > 0 {
            let Some(id) = l.parked.pop_front() else {
                break;
            };
            let Some(e) = self.jobs.get_mut(&id) else {
                continue;
            };
            if e.info.state != JobState::Queued || e.parked_on.as_deref() != Some(name) {
                continue;
            }
            e.parked_on = None;
            back.push(id);
            free -= 1;
        }
        if l.holders.is_empty() && l.parked.is_empty() {
            self.limits.remove(name);
        }
        for id in back.into_iter().rev() {
            let e = &self.jobs[&id];
            let level = e.info.record.priority.min(9) as usize;
            let queue = e.info.record.queue.clone();
            self.ready.entry(queue).or_default()[level].push_front(id);
            self.readied += 1;
        }
    }

    /// Pauses or resumes a queue or a task (see
    /// [`FlowControl`](crate::backend::FlowControl)); returns whether that
    /// changed anything. A resumed task's held jobs go back to the front of
    /// their ready lists, in the order they were set aside.
    pub(super) fn set_paused(&mut self, target: &PauseTarget, paused: bool) -> bool {
        match (target, paused) {
            (PauseTarget::Queue(q), true) => self.paused_queues.insert(q.clone()),
            (PauseTarget::Queue(q), false) => self.paused_queues.remove(q),
            (PauseTarget::Task(t), true) => {
                if self.paused_tasks.contains_key(t) {
                    return false;
                }
                self.paused_tasks.insert(t.clone(), VecDeque::new());
                true
            }
            (PauseTarget::Task(t), false) => {
                let Some(held) = self.paused_tasks.remove(t) else {
                    return false;
                };
                for id in held.into_iter().rev() {
                    let Some(e) = self.jobs.get(&id) else {
                        continue;
                    };
                    if e.info.state != JobState::Queued {
                        continue;
                    }
                    let level = e.info.record.priority.min(9) as usize;
                    let queue = e.info.record.queue.clone();
                    self.ready.entry(queue).or_default()[level].push_front(id);
                    self.readied += 1;
                }
                true
            }
        }
    }

    /// Moves a job to a terminal state, releasing its unique key and its
    /// dependants. Returns whether anything changed.
    pub(super) fn terminate(
        &mut self,
        id: &JobId,
        state: JobState,
        error: Option<String>,
        now: u64,
    ) {
        let mut stack = vec![(id.clone(), state, error)];
        while let Some((id, state, error)) = stack.pop() {
            let Some(entry) = self.jobs.get_mut(&id) else {
                continue;
            };
            entry.info.state = state;
            entry.info.finished_at_ms = Some(now);
            entry.info.due_at_ms = None;
            if error.is_some() {
                entry.info.error = error.clone();
            }
            entry.expires_at = match state {
                JobState::Dead => None,
                _ => Some(now + entry.info.record.result_ttl_ms),
            };
            if let Some(t) = entry.expires_at {
                self.expiry.entry(t).or_default().push(id.clone());
            }
            let allow_failure = entry.info.record.allow_failure;
            if let Some(key) = &entry.info.record.unique {
                if self.unique.get(key) == Some(&id) {
                    self.unique.remove(key);
                }
            }
            self.running.remove(&id);
            let dependents = self.dependents.get(&id).cloned().unwrap_or_default();
            for dep in dependents {
                let Some(d) = self.jobs.get_mut(&dep) else {
                    continue;
                };
                if d.info.state != JobState::Waiting {
                    continue;
                }
                let releases =
                    state == JobState::Succeeded || (state == JobState::Dead && allow_failure);
                if releases {
                    d.deps_done.insert(id.clone());
                    if d.deps_done.len() >= d.info.record.deps.len() {
                        self.release(dep, now);
                    }
                } else if state == JobState::Cancelled {
                    let msg = format!("dependency {id} was cancelled");
                    stack.push((dep, JobState::Cancelled, Some(msg)));
                } else {
                    let msg = format!(
                        "dependency {id} failed: {}",
                        error.clone().unwrap_or_default()
                    );
                    stack.push((dep, JobState::Dead, Some(msg)));
                }
            }
        }
    }

    /// Counts the dependencies of a waiting job that have already finished:
    /// queues it if all are done, fails (or cancels) it if one failed (or was
    /// cancelled). Returns whether it was queued.
    pub(super) fn settle_deps(&mut self, id: &JobId, now: u64, at_once: bool) -> bool {
        let Some(entry) = self.jobs.get(id) else {
            return false;
        };
        let deps = entry.info.record.deps.clone();
        for dep in &deps {
            let (state, allow_failure, error) = match self.jobs.get(dep) {
                Some(d) => (
                    d.info.state,
                    d.info.record.allow_failure,
                    d.info.error.clone(),
                ),
                None => (JobState::Dead, false, Some("unknown job".to_owned())),
            };
            if state == JobState::Succeeded || (state == JobState::Dead && allow_failure) {
                self.jobs
                    .get_mut(id)
                    .expect("checked")
                    .deps_done
                    .insert(dep.clone());
            } else if state == JobState::Cancelled {
                let msg = format!("dependency {dep} was cancelled");
                self.terminate(id, JobState::Cancelled, Some(msg), now);
                return false;
            } else if state == JobState::Dead {
                let msg = format!("dependency {dep} failed: {}", error.unwrap_or_default());
                self.terminate(id, JobState::Dead, Some(msg), now);
                return false;
            }
        }
        let entry = self.jobs.get(id).expect("checked");
        if entry.deps_done.len() >= deps.len() {
            if at_once {
                self.push_ready(id.clone());
            } else {
                self.release(id.clone(), now);
            }
            return true;
        }
        false
    }

    /// A job's dependencies are done: queue it, or schedule it if it has a
    /// time of its own.
    pub(super) fn release(&mut self, id: JobId, now: u64) {
        let due = self
            .jobs
            .get(&id)
            .map_or(0, |e| due_time(&e.info.record, now));
        if due > now {
            self.schedule(id, due);
        } else {
            self.push_ready(id);
        }
    }
}

pub(super) fn due_time(record: &JobRecord, now: u64) -> u64 {
    let after_delay = now + record.delay_ms;
    record
        .run_at_ms
        .map_or(after_delay, |at| at.max(after_delay))
}

/// What a claim does with a job it met.
pub(super) enum Admit {
    /// Hand it out.
    Go,
    /// Parked on a full running cap.
    Parked,
    /// Rate-limited: due again at this time (ms), its token reserved.
    Later(u64),
}

/// The rate-limit state: named limiters and each bucket's next token time.
#[derive(Debug, Default)]
pub(super) struct Rates {
    pub(super) limiters: BTreeMap<String, crate::rate::Rate>,
    pub(super) tat: FxHashMap<String, f64>,
    /// The same buckets metering the hand-outs only (see the Redis claim).
    pub(super) released: FxHashMap<String, f64>,
}

/// Decides whether a job about to be claimed may run: every running cap of
/// it (its record's and its queue's) must have a free slot, else it is
/// parked on the full one (still queued); then its rate bucket must have
/// a token, else its token is reserved and it is due again when that
/// token is. A job that may run takes its slots and its token. Takes the
/// state's fields apart, so that a claim can call it while it holds a
/// ready list.
pub(super) fn acquire(
    jobs: &mut FxHashMap<JobId, Entry>,
    limits: &mut BTreeMap<String, Limit>,
    queue_caps: &BTreeMap<String, u32>,
    rates: &mut Rates,
    id: &JobId,
    now: u64,
) -> Admit {
    let r = &jobs[id].info.record;
    let mut caps = r.running_caps();
    if let Some(&n) = queue_caps.get(&r.queue) {
        caps.push((format!("q:{}", r.queue), n));
    }
    let bucket = r.rate_bucket();
    if caps.is_empty() && bucket.is_none() {
        return Admit::Go;
    }
    for (name, cap) in &caps {
        let l = limits.entry(name.clone()).or_default();
        l.cap = *cap;
        if l.holders.len() >= *cap as usize {
            l.parked.push_back(id.clone());
            l.held_once = true;
            jobs.get_mut(id).expect("exists").parked_on = Some(name.clone());
            return Admit::Parked;
        }
    }
    if let Some((name, source)) = bucket {
        let rate = match source {
            Ok(limiter) => rates.limiters.get(&limiter).copied(),
            Err(rate) => Some(rate),
        };
        let e = jobs.get_mut(id).expect("exists");
        if let Some(rate) = rate {
            let now_f = now as f64;
            // A job whose token was reserved takes no other.
            if e.reserved.is_none() {
                match crate::rate::gcra(&rate, rates.tat.get(&name).copied(), now_f) {
                    Ok(tat) => {
                        rates.tat.insert(name.clone(), tat);
                    }
                    Err((due, tat)) => {
                        rates.tat.insert(name, tat);
                        e.reserved = Some(due);
                        return Admit::Later(due.ceil() as u64);
                    }
                }
            }
            // Every hand-out passes the rate on the hand-outs themselves:
            // reserved jobs claimed late are spread out again.
            match crate::rate::gcra(&rate, rates.released.get(&name).copied(), now_f) {
                Ok(tat) => {
                    rates.released.insert(name, tat);
                    e.reserved = None;
                }
                Err((due, _)) => {
                    e.reserved.get_or_insert(due);
                    return Admit::Later(due.ceil() as u64);
                }
            }
        }
    }
    for (name, _) in &caps {
        limits
            .get_mut(name)
            .expect("made above")
            .holders
            .insert(id.clone());
    }
    let e = jobs.get_mut(id).expect("exists");
    e.slots = caps.into_iter().map(|(n, _)| n).collect();
    e.parked_on = None;
    Admit::Go
}
