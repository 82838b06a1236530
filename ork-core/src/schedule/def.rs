//! How a schedule is stored: the opaque bytes a backend keeps.

use super::{tick_job_id, Schedule};
use crate::error::Result;
use crate::job::{JobId, JobRecord};

/// A schedule and the job each of its ticks enqueues.
#[derive(Debug, Clone)]
pub(crate) struct ScheduleDef {
    pub(crate) schedule: Schedule,
    /// The job of every tick, but for its id.
    pub(crate) template: JobRecord,
}

impl ScheduleDef {
    pub(crate) fn new(schedule: Schedule, mut template: JobRecord) -> Self {
        template.id = JobId::from(String::new());
        ScheduleDef { schedule, template }
    }

    /// The stored form (see [`crate::stored`]).
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        crate::stored::encode_schedule(&self.schedule, &self.template)
    }

    /// Reads the stored form, of this ork's format or an older one.
    pub(crate) fn decode(bytes: &[u8]) -> Result<ScheduleDef> {
        let (schedule, template) = crate::stored::decode_schedule(bytes)?;
        Ok(ScheduleDef { schedule, template })
    }

    /// The job of one tick.
    pub(crate) fn record(&self, name: &str, tick_ms: u64) -> JobRecord {
        let mut r = self.template.clone();
        r.id = tick_job_id(name, tick_ms);
        r
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::schedule::Missed;

    #[test]
    fn round_trips() {
        let s = Schedule::cron("0 30 2 * * *")
            .unwrap()
            .tz("Europe/Paris")
            .missed(Missed::CatchUp(4))
            .grace(Duration::from_millis(1500))
            .skip_if_running(true);
        let mut template = JobRecord::new("app::report", vec![7]);
        template.queue = "reports".into();
        let def = ScheduleDef::new(s.clone(), template);
        let back = ScheduleDef::decode(&def.encode().unwrap()).unwrap();
        assert_eq!(back.schedule, s);
        assert_eq!(back.template, def.template);
        let r = back.record("daily", 42);
        assert_eq!(r.id.as_str(), "daily@42");
        assert_eq!(r.queue, "reports");
        let every = ScheduleDef::new(Schedule::every(Duration::from_secs(30)), template_of());
        assert_eq!(
            ScheduleDef::decode(&every.encode().unwrap())
                .unwrap()
                .schedule,
            every.schedule
        );
        assert!(ScheduleDef::decode(&[9, 1, 2]).is_err());
        assert!(ScheduleDef::decode(&[]).is_err());
    }

    fn template_of() -> JobRecord {
        JobRecord::new("t", vec![])
    }
}
