//! The stored schedule definition: when it fires, and the job of its ticks.
//!
//! Format 2 tags, each with its default:
//!
//! | tag | field | value | default |
//! |----:|-------|-------|---------|
//! | 1 | cron expression | UTF-8 | none (then tag 3 is required) |
//! | 2 | time zone | UTF-8 | none (UTC) |
//! | 3 | interval, ms | varint | none |
//! | 4 | missed-tick policy | bincode `Missed` | fire once |
//! | 5 | grace, ms | varint | 5,000 |
//! | 6 | skip if running | flag | false |
//! | 7 | the job of every tick | a stored job record (with its format byte) | a record with every field at its default |

use std::time::Duration;

use serde::Deserialize;

use super::record::RecordV1;
use super::{header, newer, text, uint, value, Fields, Writer, FORMAT};
use crate::error::{Error, Result};
use crate::job::JobRecord;
use crate::schedule::{Missed, Schedule};

const CRON: u8 = 1;
const TZ: u8 = 2;
const EVERY_MS: u8 = 3;
const MISSED: u8 = 4;
const GRACE_MS: u8 = 5;
const SKIP_IF_RUNNING: u8 = 6;
const TEMPLATE: u8 = 7;

/// The format's defaults, fixed for good.
const DEFAULT_MISSED: Missed = Missed::FireOnce;
const DEFAULT_GRACE_MS: u64 = 5_000;

/// A schedule's stored form, with the job each tick enqueues (stored
/// without its id).
///
/// # Errors
/// Only if bincode can't encode a value (it can for every schedule).
pub fn encode_schedule(schedule: &Schedule, template: &JobRecord) -> Result<Vec<u8>> {
    let record = super::encode_record(template)?;
    let mut w = Writer::new(FORMAT, 32 + record.len());
    if let Some(expr) = schedule.expression() {
        w.raw(CRON, expr.as_bytes());
        if let Some(tz) = schedule.time_zone() {
            w.raw(TZ, tz.as_bytes());
        }
    }
    if let Some(every) = schedule.interval() {
        w.uint(EVERY_MS, every.as_millis() as u64);
    }
    if schedule.missed_policy() != DEFAULT_MISSED {
        w.value(MISSED, &schedule.missed_policy())?;
    }
    let grace = schedule.grace_period().as_millis() as u64;
    if grace != DEFAULT_GRACE_MS {
        w.uint(GRACE_MS, grace);
    }
    if schedule.skips_if_running() {
        w.flag(SKIP_IF_RUNNING);
    }
    w.raw(TEMPLATE, &record);
    Ok(w.finish())
}

/// Reads a schedule's stored form, of any format up to [`FORMAT`]: the
/// schedule and the job of its ticks (with an empty id).
///
/// # Errors
/// [`Error::Codec`] for bytes that are not a schedule, and for a newer
/// format ("written by a newer ork (format N)"), of the schedule or of its
/// job; [`Error::Invalid`] for a cron expression this ork can't parse.
pub fn decode_schedule(bytes: &[u8]) -> Result<(Schedule, JobRecord)> {
    let (format, body) = header(bytes, "schedule")?;
    let stored = match format {
        1 => v1(body)?,
        2 => v2(body)?,
        f if f > FORMAT => return Err(newer(f)),
        f => return Err(Error::Codec(format!("unknown schedule format {f}"))),
    };
    let mut schedule = match (stored.cron, stored.every_ms) {
        (Some(expr), None) => {
            let s = Schedule::cron(&expr)?;
            match stored.tz {
                Some(tz) => s.tz(&tz),
                None => s,
            }
        }
        (None, Some(ms)) => Schedule::every(Duration::from_millis(ms)),
        _ => {
            return Err(Error::Codec(
                "a schedule needs one of a cron expression and an interval".to_owned(),
            ))
        }
    };
    schedule = schedule
        .missed(stored.missed)
        .grace(Duration::from_millis(stored.grace_ms))
        .skip_if_running(stored.skip_if_running);
    Ok((schedule, stored.template))
}

/// A stored schedule's fields, whatever the format.
struct Parts {
    cron: Option<String>,
    tz: Option<String>,
    every_ms: Option<u64>,
    missed: Missed,
    grace_ms: u64,
    skip_if_running: bool,
    template: JobRecord,
}

fn v2(body: &[u8]) -> Result<Parts> {
    let mut s = Parts {
        cron: None,
        tz: None,
        every_ms: None,
        missed: DEFAULT_MISSED,
        grace_ms: DEFAULT_GRACE_MS,
        skip_if_running: false,
        template: super::decode_record("", &[FORMAT])?,
    };
    for field in Fields::new(body) {
        let (tag, v) = field?;
        match tag {
            CRON => s.cron = Some(text(v, "cron expression")?),
            TZ => s.tz = Some(text(v, "time zone")?),
            EVERY_MS => s.every_ms = Some(uint(v, "interval")?),
            MISSED => s.missed = value(v, "missed-tick policy")?,
            GRACE_MS => s.grace_ms = uint(v, "grace")?,
            SKIP_IF_RUNNING => s.skip_if_running = true,
            TEMPLATE => s.template = super::decode_record("", v)?,
            // A field added later, in the same format.
            _ => {}
        }
    }
    Ok(s)
}

/// Format 1: positional bincode. Frozen, as it was.
#[derive(Deserialize)]
struct StoredV1 {
    when: WhenV1,
    missed: Missed,
    grace_ms: u64,
    skip_if_running: bool,
    template: RecordV1,
}

#[derive(Deserialize)]
enum WhenV1 {
    Cron { expr: String, tz: Option<String> },
    Every { ms: u64 },
}

fn v1(body: &[u8]) -> Result<Parts> {
    let s: StoredV1 = value(body, "format 1 schedule")?;
    let (cron, tz, every_ms) = match s.when {
        WhenV1::Cron { expr, tz } => (Some(expr), tz, None),
        WhenV1::Every { ms } => (None, None, Some(ms)),
    };
    Ok(Parts {
        cron,
        tz,
        every_ms,
        missed: s.missed,
        grace_ms: s.grace_ms,
        skip_if_running: s.skip_if_running,
        template: s.template.into(),
    })
}
