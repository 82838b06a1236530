//! What backends store for schedules (see the schedule methods of
//! [`ScheduleStore`]).

use super::{BoxFuture, Enqueued};
use crate::error::Result;
use crate::job::{JobId, JobRecord};

/// A schedule as a backend stores it: an opaque definition (the engine's
/// business, see [`crate::schedule`]) and the state the backend keeps for it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredSchedule {
    /// The schedule's name.
    pub name: String,
    /// Its definition, as given to [`put_schedule`](ScheduleStore::put_schedule).
    pub definition: Vec<u8>,
    /// Every tick up to this instant (Unix ms, backend clock) has been dealt
    /// with: the compare-and-set value of [`fire`](ScheduleStore::fire).
    pub through_ms: u64,
    /// The id of the last job a [`fire`](ScheduleStore::fire) enqueued.
    pub last_job: Option<JobId>,
    /// Paused: [`fire`](ScheduleStore::fire) is refused.
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

/// One step of a scheduler, for [`ScheduleStore::fire`]:
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

/// Periodic schedules: definitions (opaque bytes) with their state, and
/// the compare-and-set that fires ticks, so each tick is fired exactly once
/// across a fleet of schedulers.
pub trait ScheduleStore: Send + Sync {
    /// Stores a schedule's definition (opaque bytes) under `name`. A
    /// schedule of that name keeps its state (paused or not, processed
    /// through, last job): only its definition is replaced. A new schedule
    /// starts unpaused and processed through the backend's now, so no tick
    /// from before it existed is fired. Returns whether it is new.
    fn put_schedule<'a>(
        &'a self,
        name: &'a str,
        definition: Vec<u8>,
    ) -> BoxFuture<'a, Result<bool>>;

    /// Deletes a schedule and its state; a [`fire`](Self::fire) for it is
    /// refused from then on. Returns whether it existed.
    fn delete_schedule<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>>;

    /// Pauses (`true`) or resumes (`false`) a schedule. While paused, every
    /// [`fire`](Self::fire) for it is refused. Resuming a paused schedule
    /// moves its processed-through instant up to the backend's now, so ticks
    /// that fell in the pause are never fired (resuming one that is not
    /// paused changes nothing). Returns whether the schedule exists.
    fn pause_schedule<'a>(&'a self, name: &'a str, paused: bool) -> BoxFuture<'a, Result<bool>>;

    /// Every schedule, by name.
    fn schedules(&self) -> BoxFuture<'_, Result<Vec<StoredSchedule>>>;

    /// The scheduler's atomic step, a compare-and-set: if the schedule
    /// exists, is not paused, and is processed through exactly
    /// `expected_through_ms`, then it becomes processed through
    /// `through_ms`, its last job becomes the last of `jobs` (when there are
    /// any), and `jobs` are enqueued with the semantics of
    /// [`enqueue`](super::JobStore::enqueue) (so a tick's deterministic id is a second
    /// guard). Otherwise nothing changes and the result is `None`.
    fn fire(&self, ticks: FireTicks) -> BoxFuture<'_, Result<Option<Vec<Enqueued>>>>;
}
