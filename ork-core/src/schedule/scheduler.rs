//! The scheduler: fires the due ticks of every stored schedule.
//!
//! Each round reads the schedules, then the backend's clock `now`. For a
//! schedule processed through `t` with a tick in `(t, now]`, it picks the
//! ticks to fire by the missed-tick policy and makes one atomic
//! [`ScheduleStore::fire`]: "if still processed through `t`, now through `now`,
//! and enqueue these". Of several schedulers reading the same `t`, one
//! wins and the others change nothing; the intervals `(t, now]` of
//! successive wins never overlap, so each tick is decided once. The tick's
//! job id, `<schedule>@<tick ms>`, guards a second time.
//!
//! Then it sleeps until the next tick of any schedule, at most
//! [`MAX_SLEEP`], so new schedules are picked up within a second. How long
//! that is comes from the backend's clock read in the round, plus the
//! local clock's progress since: a local clock off by any constant amount
//! changes nothing.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::clock::{Clock, SystemClock};
use super::{tick_job_id, Schedule, ScheduleDef};
use crate::backend::{Backend, Enqueued, FireTicks, StoredSchedule};
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::job::JobRecord;
use crate::task::TaskEntry;

/// The longest a scheduler sleeps between rounds.
pub const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Woken this much after a tick's time, so the round finds it due.
const SLACK: Duration = Duration::from_millis(2);

/// Fires the due ticks of every schedule stored in a backend. Every worker
/// pool runs one; [`Ork::scheduler`](crate::Ork::scheduler) makes one to run
/// alone.
pub struct Scheduler {
    backend: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
    /// Periodic tasks whose schedules are stored when the loop starts.
    tasks: Vec<TaskEntry>,
    /// Schedules already reported as undecodable.
    warned: Mutex<HashSet<String>>,
    /// `false`: the loop only stores the tasks' schedules, then ends.
    fires: bool,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("backend", &self.backend)
            .field("clock", &self.clock)
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

/// What one round did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Round {
    /// The backend's clock when the round read it (Unix ms).
    pub now_ms: u64,
    /// The next tick of any unpaused schedule, after `now_ms`.
    pub next_ms: Option<u64>,
    /// The schedules this round moved forward (it won their compare-and-set).
    pub fired: Vec<Fired>,
    /// The local clock when `now_ms` was read.
    local_ms: u64,
}

/// One schedule moved forward by a round.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fired {
    /// The schedule.
    pub schedule: String,
    /// The ticks whose jobs were enqueued, oldest first.
    pub ticks: Vec<u64>,
    /// The schedule is now processed through this instant.
    pub through_ms: u64,
}

impl Scheduler {
    /// A scheduler on a backend, sleeping by the system clock.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Scheduler {
            backend,
            clock: Arc::new(SystemClock::new()),
            tasks: Vec::new(),
            warned: Mutex::new(HashSet::new()),
            fires: true,
        }
    }

    /// Makes [`run`](Self::run) store the tasks' schedules and end, firing
    /// nothing (a pool built with `.scheduler(false)`).
    pub(crate) fn store_only(mut self) -> Self {
        self.fires = false;
        self
    }

    /// Sleeps by this clock (tests give one that is off).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Stores the schedules of these periodic tasks (those with `cron` or
    /// `every` in their options; others are ignored) when the loop starts.
    pub fn tasks(mut self, tasks: impl IntoIterator<Item = TaskEntry>) -> Self {
        self.tasks.extend(
            tasks
                .into_iter()
                .filter(|t| t.options.cron.is_some() || t.options.every.is_some()),
        );
        self
    }

    /// Runs rounds until `stop` is cancelled. Backend errors are logged and
    /// retried with a growing pause.
    pub async fn run(self, stop: CancellationToken) {
        let mut registered = self.tasks.is_empty();
        let mut failures = 0u32;
        loop {
            let step = match registered {
                false => self.register().await.map(|()| {
                    registered = true;
                    None
                }),
                true if !self.fires => return,
                true => self.round().await.map(Some),
            };
            let pause = match step {
                Ok(Some(round)) => {
                    failures = 0;
                    self.pause_after(&round)
                }
                Ok(None) => Duration::ZERO,
                Err(e) => {
                    failures += 1;
                    let pause = Duration::from_millis(50 * 2u64.pow(failures.min(7)));
                    tracing::warn!(error = %e, retry_in = ?pause, "scheduler round failed");
                    pause
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One round: fires what is due now. See the module docs.
    ///
    /// # Errors
    /// A backend error reading the schedules or the clock. An error firing
    /// one schedule is logged and the others are still served.
    pub async fn round(&self) -> Result<Round> {
        let stored = self.backend.schedules().await?;
        let before = self.clock.now_ms();
        let now = self.backend.now_ms().await?;
        let local_ms = before / 2 + self.clock.now_ms() / 2;
        let mut round = Round {
            now_ms: now,
            next_ms: None,
            fired: Vec::new(),
            local_ms,
        };
        for s in &stored {
            if s.paused {
                continue;
            }
            let def = match ScheduleDef::decode(&s.definition) {
                Ok(def) => def,
                Err(e) => {
                    if self
                        .warned
                        .lock()
                        .expect("warned lock")
                        .insert(s.name.clone())
                    {
                        tracing::error!(schedule = %s.name, error = %e, "schedule not fired");
                    }
                    continue;
                }
            };
            let schedule = &def.schedule;
            let first = schedule.next_after_ms(s.through_ms);
            let next = if first.is_some_and(|t| t <= now) {
                match self.fire(s, &def, now).await {
                    Ok(Some(fired)) => round.fired.push(fired),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(schedule = %s.name, error = %e, "firing ticks failed");
                    }
                }
                schedule.next_after_ms(now)
            } else {
                first
            };
            round.next_ms = match (round.next_ms, next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(round)
    }

    /// Fires the due ticks of one schedule; `None` if another scheduler
    /// did first (or it was paused or deleted meanwhile).
    async fn fire(&self, s: &StoredSchedule, def: &ScheduleDef, now: u64) -> Result<Option<Fired>> {
        let mut ticks = def.schedule.due_ms(s.through_ms, now);
        if def.schedule.skip_if_running && ticks.len() > 1 {
            // Runs enqueued together would overlap: the newest only.
            ticks.drain(..ticks.len() - 1);
        }
        if !ticks.is_empty() && def.schedule.skip_if_running {
            if let Some(prev) = &s.last_job {
                let info = self.backend.jobs(std::slice::from_ref(prev)).await?;
                if let Some(Some(info)) = info.first() {
                    if !info.state.is_terminal() {
                        tracing::info!(schedule = %s.name, previous = %prev, skipped = ticks.len(), "previous run unfinished: tick skipped");
                        ticks.clear();
                    }
                }
            }
        }
        let jobs = ticks.iter().map(|&t| def.record(&s.name, t)).collect();
        let step = FireTicks::new(s.name.clone(), s.through_ms, now, jobs);
        let Some(outcomes) = self.backend.fire(step).await? else {
            return Ok(None);
        };
        let mut fired = Vec::with_capacity(ticks.len());
        for (&tick, outcome) in ticks.iter().zip(outcomes) {
            match outcome {
                Enqueued::Created(id) => {
                    tracing::debug!(schedule = %s.name, tick, job_id = %id, "tick fired");
                    fired.push(tick);
                }
                Enqueued::Existing(id) if id == tick_job_id(&s.name, tick) => {
                    tracing::warn!(schedule = %s.name, tick, job_id = %id, "tick already enqueued");
                }
                Enqueued::Existing(id) => {
                    tracing::info!(schedule = %s.name, tick, holder = %id, "tick not enqueued: its unique key is held");
                }
            }
        }
        Ok(Some(Fired {
            schedule: s.name.clone(),
            ticks: fired,
            through_ms: now,
        }))
    }

    /// How long to sleep after a round: until the next tick, at most
    /// [`MAX_SLEEP`] after the round.
    fn pause_after(&self, round: &Round) -> Duration {
        let cap = round.now_ms + MAX_SLEEP.as_millis() as u64;
        let target = round.next_ms.map_or(cap, |n| n.min(cap));
        let elapsed = self.clock.now_ms().saturating_sub(round.local_ms);
        let backend_now = round.now_ms + elapsed;
        Duration::from_millis(target.saturating_sub(backend_now)) + SLACK
    }

    /// Checks that every periodic task given with [`tasks`](Self::tasks)
    /// can be scheduled, without touching the backend, so that a pool
    /// refuses to start rather than log and carry on.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first task that can't be scheduled.
    pub(crate) fn check(&self) -> Result<()> {
        for task in &self.tasks {
            plan(task)?;
        }
        Ok(())
    }

    /// Stores the schedules of the periodic tasks given with
    /// [`tasks`](Self::tasks).
    async fn register(&self) -> Result<()> {
        for task in &self.tasks {
            match plan(task) {
                Ok(Some((schedule, record))) => {
                    let name = task.options.name;
                    super::store::put(self.backend.as_ref(), name, schedule, record).await?;
                }
                Ok(None) => {}
                // A pool checked this before it started; a scheduler run
                // alone reports it here.
                Err(e) => tracing::error!(error = %e, "periodic task not scheduled"),
            }
        }
        Ok(())
    }
}

/// The schedule of a periodic task and the job each tick enqueues; `None`
/// for a task that isn't periodic.
fn plan(task: &TaskEntry) -> Result<Option<(Schedule, JobRecord)>> {
    let o = &task.options;
    let schedule = match (o.cron, o.every) {
        (Some(expr), _) => Schedule::cron(expr),
        (None, Some(every)) => Ok(Schedule::every(every)),
        (None, None) => return Ok(None),
    };
    schedule
        .and_then(|s| {
            s.validate()?;
            Ok(Some((
                s,
                crate::call::periodic_record(o, Codec::default())?,
            )))
        })
        .map_err(|e| {
            let why = match e {
                Error::Invalid(why) => why,
                other => other.to_string(),
            };
            Error::Invalid(format!(
                "periodic task `{}` can't be scheduled: {why}",
                o.name
            ))
        })
}
