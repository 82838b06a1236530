//! Flow control: pausing queues and tasks across the fleet.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::BoxFuture;
use crate::error::{Error, Result};
use crate::rate::Rate;

/// What can be paused: a whole queue, or one task in every queue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PauseTarget {
    /// Every job of this queue.
    Queue(String),
    /// Every job of this task (by its registered name), whatever its queue.
    Task(String),
}

impl PauseTarget {
    /// The target's name (the queue's or the task's).
    pub fn name(&self) -> &str {
        match self {
            PauseTarget::Queue(n) | PauseTarget::Task(n) => n,
        }
    }

    /// `"queue"` or `"task"`.
    pub fn kind(&self) -> &'static str {
        match self {
            PauseTarget::Queue(_) => "queue",
            PauseTarget::Task(_) => "task",
        }
    }

    /// Checks the name: not empty, no control characters.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming what is wrong.
    pub fn check(&self) -> Result<()> {
        let name = self.name();
        if name.is_empty() {
            return Err(Error::Invalid(format!(
                "a {} to pause needs a name",
                self.kind()
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(Error::Invalid(format!(
                "{} name {name:?} has control characters",
                self.kind()
            )));
        }
        Ok(())
    }
}

/// Checks a queue's running cap: a named queue, and not 0 (nothing would
/// run; pause it instead).
///
/// # Errors
/// [`Error::Invalid`] naming what is wrong.
pub fn check_queue_cap(queue: &str, cap: Option<u32>) -> Result<()> {
    PauseTarget::Queue(queue.to_owned()).check()?;
    if cap == Some(0) {
        return Err(Error::Invalid(format!(
            "a running cap of 0 for queue {queue} would run nothing (pause it instead)"
        )));
    }
    Ok(())
}

impl fmt::Display for PauseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.name())
    }
}

/// A paused queue or task, as [`FlowControl::paused`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Paused {
    /// What is paused.
    pub target: PauseTarget,
    /// How many ready jobs it holds back now: the queued jobs of a paused
    /// queue; the jobs of a paused task that a claim has set aside (a
    /// paused task's jobs still behind others in their queue are not
    /// counted until a claim reaches them).
    pub held: u64,
}

impl Paused {
    /// A paused target (for engines outside this crate).
    pub fn new(target: PauseTarget, held: u64) -> Self {
        Paused { target, held }
    }
}

/// A running cap in use, as [`FlowControl::running_caps`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CapUse {
    /// The cap's name: `task <name>`, `key <key>` or `queue <name>`.
    pub name: String,
    /// The most attempts it lets run at once (as last seen by a claim).
    pub cap: u32,
    /// Attempts holding one of its slots now.
    pub running: u64,
    /// Queued jobs held until a slot frees.
    pub held: u64,
}

impl CapUse {
    /// A cap in use (for engines outside this crate), from its stored
    /// name (`t:<task>`, `k:<key>`, `q:<queue>`).
    pub fn new(stored: &str, cap: u32, running: u64, held: u64) -> Self {
        CapUse {
            name: cap_name(stored),
            cap,
            running,
            held,
        }
    }
}

/// A stored cap name (`t:<task>`, `k:<key>`, `q:<queue>`) as people read it.
fn cap_name(stored: &str) -> String {
    match stored.split_once(':') {
        Some(("t", n)) => format!("task {n}"),
        Some(("k", n)) => format!("key {n}"),
        Some(("q", n)) => format!("queue {n}"),
        _ => stored.to_owned(),
    }
}

/// Flow control: what may be claimed, decided where jobs are claimed, so
/// that it holds across every worker process of the fleet.
///
/// **Pause.** A paused queue hands out nothing: its jobs stay queued (and
/// scheduled jobs come due into it) until it is resumed. A paused task's
/// jobs are not handed out either: a claim that meets one sets it aside,
/// still queued, in a list of held jobs, and goes on with the next job of
/// the queue, so the jobs of other tasks are not held up; resuming the task
/// puts the held jobs back at the front of their queues, in the order they
/// were met. A job set aside runs no code and holds no slot. Pausing does
/// not stop attempts already running.
///
/// **Rate limits.** A job may take a token from a bucket (see
/// [`JobRecord::rate_bucket`](crate::JobRecord::rate_bucket)): its task's
/// rate, or a named limiter's ([`set_limiter`](Self::set_limiter)), per
/// rate key if it has one. A claim that meets a job whose bucket has no
/// token does not hand it out: it reserves the job's token (the next one
/// the bucket will have) and schedules the job for that time, so the job
/// holds no slot, and is not looked at again before its token is due
/// (no polling); at that time it runs without taking another. Running caps
/// are checked first, so a parked job reserves no token.
///
/// **Running caps.** A job may carry caps (see
/// [`JobRecord::running_caps`](crate::JobRecord::running_caps)): its task's
/// `max_running`, and its concurrency key's limit; its queue may have one
/// ([`set_queue_cap`](Self::set_queue_cap)). A claim hands a job out only
/// if every cap has a free slot, and takes one of each; when one is full
/// the job is parked on it, still queued, and the claim goes on with the
/// next job. Whatever ends the attempt gives the slots back: a finish of
/// any kind, or a reap of its expired lease (a crashed worker); a cancel
/// of a running job ends it through its finish. Each slot given back moves
/// one parked job of that cap to the front of its queue. The slots are the
/// ids of the jobs holding them, so giving one back twice is harmless and
/// none leaks.
pub trait FlowControl: Send + Sync {
    /// Pauses (`paused = true`) or resumes a queue or a task. Returns
    /// whether that changed anything (`false`: it was already so).
    /// Resuming wakes idle claimers.
    fn set_paused<'a>(
        &'a self,
        target: &'a PauseTarget,
        paused: bool,
    ) -> BoxFuture<'a, Result<bool>>;

    /// The paused queues and tasks, queues first, each by name.
    fn paused(&self) -> BoxFuture<'_, Result<Vec<Paused>>>;

    /// Sets (`Some`) or removes (`None`) the running cap of a queue: the
    /// most of its jobs running at once across the fleet. Jobs parked on a
    /// raised or removed cap are moved forward.
    fn set_queue_cap<'a>(&'a self, queue: &'a str, cap: Option<u32>) -> BoxFuture<'a, Result<()>>;

    /// The running caps with attempts running or jobs held, by name.
    fn running_caps(&self) -> BoxFuture<'_, Result<Vec<CapUse>>>;

    /// Defines (`Some`) or deletes a named rate limiter, stored by the
    /// engine so that every process sees it. A job naming a limiter that is
    /// not defined is not rate-limited.
    fn set_limiter<'a>(&'a self, name: &'a str, rate: Option<Rate>) -> BoxFuture<'a, Result<()>>;

    /// The named rate limiters, by name.
    fn limiters(&self) -> BoxFuture<'_, Result<Vec<(String, Rate)>>>;
}

/// Checks a limiter's name: 1 to 200 bytes, no control characters.
///
/// # Errors
/// [`Error::Invalid`] saying what is wrong.
pub fn check_limiter_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "limiter name {name:?}: it must be 1 to 200 bytes, without control characters"
        )));
    }
    Ok(())
}

/// Why a job that is ready to run (queued, or scheduled) is held back,
/// given what is paused and the running caps in use: `"paused: queue
/// emails"`, `"paused: task send_welcome"`, `"max_running 5 reached for
/// task send_welcome"`, `"limit 1 reached for key customer-7"`, `"cap 10
/// reached for queue emails"`, `"rate limited by limiter stripe: due at its
/// token's time"`; `None` when nothing holds it.
pub fn held_reason(
    info: &crate::job::JobInfo,
    paused: &[Paused],
    caps: &[CapUse],
) -> Option<String> {
    use crate::job::JobState;
    if !matches!(info.state, JobState::Queued | JobState::Scheduled) {
        return None;
    }
    let r = &info.record;
    if let Some(p) = paused.iter().find(|p| match &p.target {
        PauseTarget::Queue(q) => *q == r.queue,
        PauseTarget::Task(t) => *t == r.task,
    }) {
        return Some(format!("paused: {}", p.target));
    }
    // Scheduled with a rate bucket, and nothing else to wait for (no delay,
    // no run-at time, not a retry's backoff): waiting for its token.
    if info.state == JobState::Scheduled
        && r.delay_ms == 0
        && r.run_at_ms.is_none()
        && info.error.is_none()
    {
        if let Some((_, source)) = r.rate_bucket() {
            let by = match source {
                Ok(limiter) => format!("limiter {limiter}"),
                Err(rate) => format!("rate {rate} of task {}", r.task),
            };
            let per = r
                .rate_key
                .as_ref()
                .map(|k| format!(" (key {k})"))
                .unwrap_or_default();
            return Some(format!(
                "rate limited by {by}{per}: due at its token's time"
            ));
        }
    }
    let mut mine: Vec<String> = r
        .running_caps()
        .into_iter()
        .map(|(n, _)| cap_name(&n))
        .collect();
    mine.push(format!("queue {}", r.queue));
    caps.iter()
        .find(|c| c.running >= u64::from(c.cap) && mine.contains(&c.name))
        .map(|c| {
            let what = match c.name.split_once(' ') {
                Some(("task", _)) => "max_running",
                Some(("key", _)) => "limit",
                _ => "cap",
            };
            format!("{what} {} reached for {}", c.cap, c.name)
        })
}
