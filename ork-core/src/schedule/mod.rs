//! Periodic tasks: schedules, and the scheduler that fires their ticks.
//!
//! A [`Schedule`] says when (a cron expression with seconds, in a time zone,
//! or a fixed interval) and what to do with ticks missed while no scheduler
//! ran ([`Missed`]). A schedule is stored in the backend under a name with
//! the call to enqueue at each tick, by [`Ork::schedule`] at run time or,
//! for `#[ork::task(cron = "...")]` and `#[ork::task(every = "30s")]`, by
//! every worker pool when it starts.
//!
//! Every worker pool runs a [`Scheduler`] (unless built with
//! `.scheduler(false)`). Each tick is named by its schedule and its instant
//! and is claimed in the backend with one atomic step, so it is enqueued
//! exactly once however many schedulers run; the job it enqueues has the
//! id `<schedule>@<tick in Unix ms>`. Ticks are computed on the backend's
//! clock, never on a worker's.
//!
//! ```no_run
//! # use ork_core::{Ork, Call, Task, TaskOptions, Context, TaskError, backend::BoxFuture};
//! use ork_core::schedule::{Missed, Schedule};
//! # struct digest;
//! # impl Task for digest { type Args = (); type Output = ();
//! #   const OPTIONS: TaskOptions = TaskOptions::new("digest");
//! #   fn run(_: Context, _: ()) -> BoxFuture<'static, Result<(), TaskError>> { Box::pin(async { Ok(()) }) } }
//! # async fn demo(ork: Ork) -> ork_core::Result<()> {
//! let weekdays = Schedule::cron("0 0 8 * * Mon-Fri")?
//!     .tz("Europe/Paris")
//!     .missed(Missed::CatchUp(3));
//! ork.schedule("digest", weekdays, Call::<()>::new::<digest>(())).await?;
//! ork.pause("digest").await?;
//! for s in ork.schedules().await? {
//!     println!("{}: {} next at {:?}", s.name, s.schedule, s.next_ms);
//! }
//! # Ok(()) }
//! ```
//!
//! [`Ork::schedule`]: crate::Ork::schedule

mod clock;
pub mod cron;
mod def;
mod plan;
mod scheduler;
pub(crate) mod store;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::job::{JobId, JobState};
use crate::time::{from_unix_ms, to_unix_ms};

pub use clock::{Clock, OffsetClock, SystemClock};
pub(crate) use def::ScheduleDef;
pub use scheduler::{Fired, Round, Scheduler, MAX_SLEEP};

/// The shortest interval of [`Schedule::every`].
pub const MIN_INTERVAL: Duration = Duration::from_millis(ork_cron::MIN_INTERVAL_MS);

/// How late a tick may be fired before it counts as missed, by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// What to do with ticks that were missed, because no scheduler ran (or
/// they all ran late) when they were due.
///
/// A tick counts as missed when it is found more than the schedule's
/// [grace](Schedule::grace) after its time; ticks found within the grace
/// period are always fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Missed {
    /// Fire none of them.
    Skip,
    /// Fire one run for all of them: the newest missed tick (the default).
    #[default]
    FireOnce,
    /// Fire the newest missed ticks, at most this many, oldest first.
    CatchUp(u32),
}

/// When a periodic task runs: a cron expression (seconds first) in a time
/// zone, or a fixed interval; and what to do about missed ticks.
#[derive(Clone)]
pub struct Schedule {
    kind: Kind,
    zone: Option<Zone>,
    missed: Missed,
    grace: Duration,
    skip_if_running: bool,
}

#[derive(Clone)]
enum Kind {
    Cron { expr: String, cron: Arc<cron::Cron> },
    Every(Duration),
}

#[derive(Clone)]
struct Zone {
    name: String,
    /// `None`: no such zone (reported by [`Schedule::validate`]).
    tz: Option<TimeZone>,
}

impl Schedule {
    /// A cron schedule: six fields, seconds first (`"0 */15 * * * *"`), and
    /// an optional year; in UTC unless [`tz`](Self::tz) says otherwise. See
    /// the syntax and the daylight-saving rules in the [`cron` module](crate::schedule::cron).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming what is wrong with the expression.
    pub fn cron(expr: &str) -> Result<Schedule> {
        let cron = cron::Cron::parse(expr)
            .map_err(|e| Error::Invalid(format!("cron expression `{expr}`: {e}")))?;
        Ok(Schedule::new(Kind::Cron {
            expr: expr.trim().to_owned(),
            cron: Arc::new(cron),
        }))
    }

    /// A tick every `interval`, at whole multiples of it since the Unix
    /// epoch (every minute fires at :00), so every scheduler agrees on the
    /// ticks. At least [`MIN_INTERVAL`]; a shorter one is refused when the
    /// schedule is stored.
    pub fn every(interval: Duration) -> Schedule {
        Schedule::new(Kind::Every(interval))
    }

    fn new(kind: Kind) -> Schedule {
        Schedule {
            kind,
            zone: None,
            missed: Missed::default(),
            grace: DEFAULT_GRACE,
            skip_if_running: false,
        }
    }

    /// Reads the cron expression in this IANA time zone
    /// (`"Europe/Paris"`); an unknown zone is refused when the schedule is
    /// stored. Has no effect on [`every`](Self::every) schedules.
    pub fn tz(mut self, name: &str) -> Schedule {
        self.zone = Some(Zone {
            name: name.to_owned(),
            tz: TimeZone::get(name).ok(),
        });
        self
    }

    /// What to do with missed ticks (default: [`Missed::FireOnce`]).
    pub fn missed(mut self, policy: Missed) -> Schedule {
        self.missed = policy;
        self
    }

    /// How late a tick may be found and still be fired as on time
    /// (default [`DEFAULT_GRACE`]); later than that it is missed.
    pub fn grace(mut self, grace: Duration) -> Schedule {
        self.grace = grace;
        self
    }

    /// Skips a tick while the run of the previous fired tick is still
    /// queued, running or waiting to retry (default: off). Such a schedule
    /// also fires at most one of the ticks due at once (the newest), since
    /// runs enqueued together would overlap.
    pub fn skip_if_running(mut self, skip: bool) -> Schedule {
        self.skip_if_running = skip;
        self
    }

    /// The cron expression, for a cron schedule.
    pub fn expression(&self) -> Option<&str> {
        match &self.kind {
            Kind::Cron { expr, .. } => Some(expr),
            Kind::Every(_) => None,
        }
    }

    /// The interval, for an interval schedule.
    pub fn interval(&self) -> Option<Duration> {
        match self.kind {
            Kind::Every(d) => Some(d),
            Kind::Cron { .. } => None,
        }
    }

    /// The time zone's name, if one was set.
    pub fn time_zone(&self) -> Option<&str> {
        self.zone.as_ref().map(|z| z.name.as_str())
    }

    /// The missed-tick policy.
    pub fn missed_policy(&self) -> Missed {
        self.missed
    }

    /// The grace period.
    pub fn grace_period(&self) -> Duration {
        self.grace
    }

    /// Whether a tick is skipped while the previous run is unfinished.
    pub fn skips_if_running(&self) -> bool {
        self.skip_if_running
    }

    /// Checks what the constructors could not: the time zone exists, the
    /// interval is not too short.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying which.
    pub fn validate(&self) -> Result<()> {
        if let Some(Zone { name, tz: None }) = &self.zone {
            return Err(Error::Invalid(format!("unknown time zone `{name}`")));
        }
        if let Kind::Every(d) = self.kind {
            if d < MIN_INTERVAL {
                return Err(Error::Invalid(format!(
                    "an interval of {d:?} is too short: at least {MIN_INTERVAL:?}"
                )));
            }
        }
        Ok(())
    }

    /// The first tick strictly after `after`, if any.
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        self.next_after_ms(to_unix_ms(after)).map(from_unix_ms)
    }

    /// The next `n` ticks strictly after `after` (fewer if the schedule
    /// ends).
    pub fn upcoming(&self, after: SystemTime, n: usize) -> Vec<SystemTime> {
        let ms = self.upcoming_ms(to_unix_ms(after), n);
        ms.into_iter().map(from_unix_ms).collect()
    }

    /// The first tick strictly after `after_ms` (Unix ms), if any.
    #[doc(hidden)]
    pub fn next_after_ms(&self, after_ms: u64) -> Option<u64> {
        match &self.kind {
            Kind::Every(d) => {
                let d = (d.as_millis() as u64).max(1);
                (after_ms / d).checked_add(1)?.checked_mul(d)
            }
            Kind::Cron { cron, .. } => {
                let tz = match &self.zone {
                    None => TimeZone::UTC,
                    Some(Zone { tz: Some(tz), .. }) => tz.clone(),
                    Some(Zone { tz: None, .. }) => return None,
                };
                let next = cron.next_after(&tz, i64::try_from(after_ms).ok()?)?;
                u64::try_from(next).ok()
            }
        }
    }

    /// The next `n` ticks strictly after `after_ms` (fewer if the schedule
    /// ends).
    #[doc(hidden)]
    pub fn upcoming_ms(&self, after_ms: u64, n: usize) -> Vec<u64> {
        let mut out = Vec::with_capacity(n);
        let mut t = after_ms;
        while out.len() < n {
            match self.next_after_ms(t) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }

    /// The ticks to fire for the interval `(through_ms, now_ms]`, oldest
    /// first, by the missed-tick policy. See [`Missed`].
    #[doc(hidden)]
    pub fn due_ms(&self, through_ms: u64, now_ms: u64) -> Vec<u64> {
        plan::due(self, through_ms, now_ms)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Cron { expr, .. } => {
                write!(f, "cron `{expr}`")?;
                if let Some(zone) = &self.zone {
                    write!(f, " in {}", zone.name)?;
                }
                Ok(())
            }
            Kind::Every(d) => write!(f, "every {d:?}"),
        }
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("when", &self.to_string())
            .field("missed", &self.missed)
            .field("grace", &self.grace)
            .field("skip_if_running", &self.skip_if_running)
            .finish()
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        let kind = match (&self.kind, &other.kind) {
            (Kind::Cron { expr: a, .. }, Kind::Cron { expr: b, .. }) => a == b,
            (Kind::Every(a), Kind::Every(b)) => a == b,
            _ => false,
        };
        kind && self.time_zone() == other.time_zone()
            && self.missed == other.missed
            && self.grace == other.grace
            && self.skip_if_running == other.skip_if_running
    }
}

/// A stored schedule, as [`Ork::schedules`](crate::Ork::schedules) lists it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ScheduleInfo {
    /// The schedule's name.
    pub name: String,
    /// When it fires.
    pub schedule: Schedule,
    /// The task each tick runs.
    pub task: String,
    /// The queue its jobs go to.
    pub queue: String,
    /// Paused: its ticks are not fired (and are not caught up on resume).
    pub paused: bool,
    /// Unix ms; see [`next`](Self::next).
    #[doc(hidden)]
    pub next_ms: Vec<u64>,
    /// The newest tick that was fired, if any (skipped ticks don't count).
    pub last_run: Option<LastRun>,
    /// Unix ms; see [`through`](Self::through).
    #[doc(hidden)]
    pub through_ms: u64,
}

impl ScheduleInfo {
    /// The next few fire times (on the backend's clock); empty while paused.
    pub fn next(&self) -> Vec<SystemTime> {
        self.next_ms.iter().copied().map(from_unix_ms).collect()
    }

    /// Every tick up to this instant has been dealt with.
    pub fn through(&self) -> SystemTime {
        from_unix_ms(self.through_ms)
    }
}

/// The newest fired tick of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LastRun {
    /// Unix ms; see [`tick`](Self::tick).
    #[doc(hidden)]
    pub tick_ms: u64,
    /// The job it enqueued (`<schedule>@<tick in Unix ms>`).
    pub job: JobId,
    /// That job's state, while its record exists.
    pub state: Option<JobState>,
}

impl LastRun {
    /// The tick's instant.
    pub fn tick(&self) -> SystemTime {
        from_unix_ms(self.tick_ms)
    }
}

/// The id of the job a tick enqueues: `<schedule>@<tick in Unix ms>`.
pub fn tick_job_id(schedule: &str, tick_ms: u64) -> JobId {
    JobId::from(format!("{schedule}@{tick_ms}"))
}

/// The tick instant in a tick's job id.
pub fn tick_of(job: &JobId) -> Option<u64> {
    job.as_str().rsplit_once('@')?.1.parse().ok()
}

/// Checks a schedule name: 1 to 200 characters, no whitespace or control
/// characters.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.chars().count() > 200
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::Invalid(format!(
            "`{name}` is not a schedule name: 1 to 200 characters, without spaces"
        )));
    }
    Ok(())
}
