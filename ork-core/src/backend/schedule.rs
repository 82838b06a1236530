//! What backends store for schedules (see the schedule methods of
//! [`Backend`](super::Backend)).

use crate::job::{JobId, JobRecord};

/// A schedule as a backend stores it: an opaque definition (the engine's
/// business, see [`crate::schedule`]) and the state the backend keeps for it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredSchedule {
    /// The schedule's name.
    pub name: String,
    /// Its definition, as given to [`put_schedule`](super::Backend::put_schedule).
    pub definition: Vec<u8>,
    /// Every tick up to this instant (Unix ms, backend clock) has been dealt
    /// with: the compare-and-set value of [`fire`](super::Backend::fire).
    pub through_ms: u64,
    /// The id of the last job a [`fire`](super::Backend::fire) enqueued.
    pub last_job: Option<JobId>,
    /// Paused: [`fire`](super::Backend::fire) is refused.
    pub paused: bool,
}

impl StoredSchedule {
    /// A stored schedule (for backends outside this crate).
    pub fn new(
        name: impl Into<String>,
        definition: Vec<u8>,
        through_ms: u64,
        last_job: Option<JobId>,
        paused: bool,
    ) -> Self {
        StoredSchedule {
            name: name.into(),
            definition,
            through_ms,
            last_job,
            paused,
        }
    }
}

/// One step of a scheduler, for [`Backend::fire`](super::Backend::fire):
/// "if `schedule` is still processed through `expected_through_ms`, it is
/// now processed through `through_ms`, and these are its jobs".
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FireTicks {
    /// The schedule's name.
    pub schedule: String,
    /// The processed-through instant the scheduler read.
    pub expected_through_ms: u64,
    /// The new processed-through instant (the backend time the scheduler
    /// planned for).
    pub through_ms: u64,
    /// The jobs of the ticks fired (possibly none), oldest first, with the
    /// deterministic ids of their ticks.
    pub jobs: Vec<JobRecord>,
}

impl FireTicks {
    /// A fire step.
    pub fn new(
        schedule: impl Into<String>,
        expected_through_ms: u64,
        through_ms: u64,
        jobs: Vec<JobRecord>,
    ) -> Self {
        FireTicks {
            schedule: schedule.into(),
            expected_through_ms,
            through_ms,
            jobs,
        }
    }
}
