//! How a schedule is stored: the opaque bytes a backend keeps.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{tick_job_id, Kind, Missed, Schedule};
use crate::error::{Error, Result};
use crate::job::{JobId, JobRecord};

/// The first byte of a stored definition: the layout's version.
const V1: u8 = 1;

/// A schedule and the job each of its ticks enqueues.
#[derive(Debug, Clone)]
pub(crate) struct ScheduleDef {
    pub(crate) schedule: Schedule,
    /// The job of every tick, but for its id.
    pub(crate) template: JobRecord,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    when: When,
    missed: Missed,
    grace_ms: u64,
    skip_if_running: bool,
    template: JobRecord,
}

#[derive(Serialize, Deserialize)]
enum When {
    Cron { expr: String, tz: Option<String> },
    Every { ms: u64 },
}

impl ScheduleDef {
    pub(crate) fn new(schedule: Schedule, mut template: JobRecord) -> Self {
        template.id = JobId::from(String::new());
        ScheduleDef { schedule, template }
    }

    /// A version byte, then the definition in bincode.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let s = &self.schedule;
        let when = match &s.kind {
            Kind::Cron { expr, .. } => When::Cron {
                expr: expr.clone(),
                tz: s.time_zone().map(str::to_owned),
            },
            Kind::Every(d) => When::Every {
                ms: d.as_millis() as u64,
            },
        };
        let stored = Stored {
            when,
            missed: s.missed,
            grace_ms: s.grace.as_millis() as u64,
            skip_if_running: s.skip_if_running,
            template: self.template.clone(),
        };
        let body = bincode::serde::encode_to_vec(&stored, bincode::config::standard())
            .map_err(|e| Error::Codec(e.to_string()))?;
        let mut out = Vec::with_capacity(body.len() + 1);
        out.push(V1);
        out.extend_from_slice(&body);
        Ok(out)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<ScheduleDef> {
        let Some((&V1, body)) = bytes.split_first() else {
            return Err(Error::Codec(
                "unknown schedule layout (written by a newer ork?)".to_owned(),
            ));
        };
        let (stored, _): (Stored, usize) =
            bincode::serde::decode_from_slice(body, bincode::config::standard())
                .map_err(|e| Error::Codec(format!("undecodable schedule: {e}")))?;
        let mut schedule = match stored.when {
            When::Cron { expr, tz } => {
                let s = Schedule::cron(&expr)?;
                match tz {
                    Some(tz) => s.tz(&tz),
                    None => s,
                }
            }
            When::Every { ms } => Schedule::every(Duration::from_millis(ms)),
        };
        schedule.missed = stored.missed;
        schedule.grace = Duration::from_millis(stored.grace_ms);
        schedule.skip_if_running = stored.skip_if_running;
        Ok(ScheduleDef {
            schedule,
            template: stored.template,
        })
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
    use super::*;

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
