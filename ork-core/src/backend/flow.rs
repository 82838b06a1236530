//! Flow control: pausing queues and tasks across the fleet.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::BoxFuture;
use crate::error::{Error, Result};

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
}

/// Why a job that is ready to run (queued, or scheduled) is held back by a
/// pause, given what is paused: `"paused: queue emails"`, `"paused: task
/// send_welcome"`; `None` when nothing holds it.
pub fn held_reason(info: &crate::job::JobInfo, paused: &[Paused]) -> Option<String> {
    use crate::job::JobState;
    if !matches!(info.state, JobState::Queued | JobState::Scheduled) {
        return None;
    }
    let r = &info.record;
    paused
        .iter()
        .find(|p| match &p.target {
            PauseTarget::Queue(q) => *q == r.queue,
            PauseTarget::Task(t) => *t == r.task,
        })
        .map(|p| format!("paused: {}", p.target))
}
