//! What the client does with schedules: store, list.

use super::{check_name, tick_of, LastRun, Schedule, ScheduleDef, ScheduleInfo};
use crate::backend::Backend;
use crate::error::Result;
use crate::job::{JobId, JobRecord};

/// How many upcoming fire times a listing shows.
const UPCOMING: usize = 3;

/// Stores a schedule with the job of its ticks (both checked first).
pub(crate) async fn put(
    backend: &dyn Backend,
    name: &str,
    schedule: Schedule,
    record: JobRecord,
) -> Result<bool> {
    check_name(name)?;
    schedule.validate()?;
    let def = ScheduleDef::new(schedule, record);
    backend.put_schedule(name, def.encode()?).await
}

/// Every schedule, with its next fire times and last run. A definition
/// that can't be decoded is left out (and logged).
pub(crate) async fn list(backend: &dyn Backend) -> Result<Vec<ScheduleInfo>> {
    let stored = backend.schedules().await?;
    let now = backend.now_ms().await?;
    let last_jobs: Vec<JobId> = stored.iter().filter_map(|s| s.last_job.clone()).collect();
    let mut states = backend.jobs(&last_jobs).await?.into_iter();
    let mut out = Vec::with_capacity(stored.len());
    for s in stored {
        let state = match &s.last_job {
            Some(_) => states.next().flatten().map(|info| info.state),
            None => None,
        };
        let def = match ScheduleDef::decode(&s.definition) {
            Ok(def) => def,
            Err(e) => {
                tracing::warn!(schedule = %s.name, error = %e, "undecodable schedule left out");
                continue;
            }
        };
        let next_ms = if s.paused {
            Vec::new()
        } else {
            def.schedule.upcoming_ms(s.through_ms.max(now), UPCOMING)
        };
        let last_run = s.last_job.map(|job| LastRun {
            tick_ms: tick_of(&job).unwrap_or(0),
            job,
            state,
        });
        out.push(ScheduleInfo {
            name: s.name,
            task: def.template.task.clone(),
            queue: def.template.queue.clone(),
            schedule: def.schedule,
            paused: s.paused,
            next_ms,
            last_run,
            through_ms: s.through_ms,
        });
    }
    Ok(out)
}
