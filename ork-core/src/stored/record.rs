//! The stored job record.
//!
//! Format 2 tags, each with its default (what an absent field reads as):
//!
//! | tag | field | value | default |
//! |----:|-------|-------|---------|
//! | 1 | `task` | UTF-8 | empty |
//! | 2 | `queue` | UTF-8 | `default` |
//! | 3 | `payload` | bytes | empty |
//! | 4 | `codec` | varint, the codec's tag | 0 (bincode) |
//! | 5 | `priority` | varint | 0 |
//! | 6 | `retries` | varint | 0 |
//! | 7 | `backoff` | bincode `Backoff` | exponential from 1 s, at most 1 h, jitter |
//! | 8 | `timeout_ms` | varint | 0 |
//! | 9 | `result_ttl_ms` | varint | 86,400,000 (a day) |
//! | 10 | `unique` | UTF-8 | none |
//! | 11 | `delay_ms` | varint | 0 |
//! | 12 | `run_at_ms` | varint | none |
//! | 13 | `deps` | bincode `Vec<JobId>` | empty |
//! | 14 | `allow_failure` | flag | false |
//! | 15 | `workflow` | UTF-8 | none |
//! | 16 | `parent` | UTF-8 | none |
//! | 17 | `inputs` | bincode `Vec<ArgSpec>` | empty |
//! | 18 | `max_running` | varint | none |
//! | 19 | `concurrency_key` | UTF-8 | none |
//! | 20 | `key_limit` | varint | none (1) |
//! | 21 | `rate` | bincode `Rate` | none |
//! | 22 | `limiter` | UTF-8 | none |
//! | 23 | `rate_key` | UTF-8 | none |
//!
//! The id is not stored (engines keep it in the key); the idempotency key
//! is kept beside the record. The Redis engine's `lua/lib.lua` finds the
//! payload (tag 3) to drop it from a succeeded job's record.

use serde::Deserialize;

use super::{header, newer, small, text, uint, value, Fields, Writer, FORMAT};
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::job::{ArgSpec, JobId, JobRecord};
use crate::retry::Backoff;

const TASK: u8 = 1;
const QUEUE: u8 = 2;
const PAYLOAD: u8 = 3;
const CODEC: u8 = 4;
const PRIORITY: u8 = 5;
const RETRIES: u8 = 6;
const BACKOFF: u8 = 7;
const TIMEOUT: u8 = 8;
const RESULT_TTL: u8 = 9;
const UNIQUE: u8 = 10;
const DELAY: u8 = 11;
const RUN_AT: u8 = 12;
const DEPS: u8 = 13;
const ALLOW_FAILURE: u8 = 14;
const WORKFLOW: u8 = 15;
const PARENT: u8 = 16;
const INPUTS: u8 = 17;
const MAX_RUNNING: u8 = 18;
const CONCURRENCY_KEY: u8 = 19;
const KEY_LIMIT: u8 = 20;
const RATE: u8 = 21;
const LIMITER: u8 = 22;
const RATE_KEY: u8 = 23;

/// The format's defaults, fixed for good (not ork's current defaults).
const DEFAULT_QUEUE: &str = "default";
const DEFAULT_RESULT_TTL_MS: u64 = 86_400_000;
const DEFAULT_BACKOFF: Backoff = Backoff::Exponential {
    base_ms: 1_000,
    max_ms: 3_600_000,
    jitter: true,
};

/// A record with every field at the format's default, and an empty id.
fn defaults() -> JobRecord {
    JobRecord {
        id: JobId::from(""),
        task: String::new(),
        queue: DEFAULT_QUEUE.to_owned(),
        payload: Vec::new(),
        codec: Codec::Bincode,
        priority: 0,
        retries: 0,
        backoff: DEFAULT_BACKOFF,
        timeout_ms: 0,
        result_ttl_ms: DEFAULT_RESULT_TTL_MS,
        unique: None,
        delay_ms: 0,
        run_at_ms: None,
        deps: Vec::new(),
        allow_failure: false,
        workflow: None,
        parent: None,
        inputs: Vec::new(),
        idempotency_key: None,
        max_running: None,
        concurrency_key: None,
        key_limit: None,
        rate: None,
        limiter: None,
        rate_key: None,
    }
}

/// A job record's stored form, without its id (engines keep the id in the
/// key) or its idempotency key (kept beside the record).
///
/// # Errors
/// Only if bincode can't encode a value (it can for every record).
pub fn encode_record(r: &JobRecord) -> Result<Vec<u8>> {
    let mut w = Writer::new(FORMAT, 8 + r.task.len() + r.payload.len());
    write_fields(&mut w, r)?;
    Ok(w.finish())
}

fn write_fields(w: &mut Writer, r: &JobRecord) -> Result<()> {
    if !r.task.is_empty() {
        w.raw(TASK, r.task.as_bytes());
    }
    if r.queue != DEFAULT_QUEUE {
        w.raw(QUEUE, r.queue.as_bytes());
    }
    if !r.payload.is_empty() {
        w.raw(PAYLOAD, &r.payload);
    }
    if r.codec.tag() != 0 {
        w.uint(CODEC, u64::from(r.codec.tag()));
    }
    if r.priority != 0 {
        w.uint(PRIORITY, u64::from(r.priority));
    }
    if r.retries != 0 {
        w.uint(RETRIES, u64::from(r.retries));
    }
    if r.backoff != DEFAULT_BACKOFF {
        w.value(BACKOFF, &r.backoff)?;
    }
    if r.timeout_ms != 0 {
        w.uint(TIMEOUT, r.timeout_ms);
    }
    if r.result_ttl_ms != DEFAULT_RESULT_TTL_MS {
        w.uint(RESULT_TTL, r.result_ttl_ms);
    }
    if let Some(u) = &r.unique {
        w.raw(UNIQUE, u.as_bytes());
    }
    if r.delay_ms != 0 {
        w.uint(DELAY, r.delay_ms);
    }
    if let Some(at) = r.run_at_ms {
        w.uint(RUN_AT, at);
    }
    if !r.deps.is_empty() {
        w.value(DEPS, &r.deps)?;
    }
    if r.allow_failure {
        w.flag(ALLOW_FAILURE);
    }
    if let Some(id) = &r.workflow {
        w.raw(WORKFLOW, id.as_str().as_bytes());
    }
    if let Some(id) = &r.parent {
        w.raw(PARENT, id.as_str().as_bytes());
    }
    if !r.inputs.is_empty() {
        w.value(INPUTS, &r.inputs)?;
    }
    if let Some(n) = r.max_running {
        w.uint(MAX_RUNNING, u64::from(n));
    }
    if let Some(k) = &r.concurrency_key {
        w.raw(CONCURRENCY_KEY, k.as_bytes());
    }
    if let Some(n) = r.key_limit {
        w.uint(KEY_LIMIT, u64::from(n));
    }
    if let Some(rate) = &r.rate {
        w.value(RATE, rate)?;
    }
    if let Some(l) = &r.limiter {
        w.raw(LIMITER, l.as_bytes());
    }
    if let Some(k) = &r.rate_key {
        w.raw(RATE_KEY, k.as_bytes());
    }
    Ok(())
}

/// Reads the stored form of job `id`'s record, of any format up to
/// [`FORMAT`].
///
/// # Errors
/// [`Error::Codec`] for bytes that are not a record, and for a record of a
/// newer format ("written by a newer ork (format N)").
pub fn decode_record(id: &str, bytes: &[u8]) -> Result<JobRecord> {
    let (format, body) = header(bytes, "record")?;
    let mut record = match format {
        1 => v1(body)?,
        2 => v2(body)?,
        f if f > FORMAT => return Err(newer(f)),
        f => return Err(Error::Codec(format!("unknown record format {f}"))),
    };
    record.id = JobId::from(id);
    Ok(record)
}

fn v2(body: &[u8]) -> Result<JobRecord> {
    let mut r = defaults();
    for field in Fields::new(body) {
        let (tag, v) = field?;
        match tag {
            TASK => r.task = text(v, "task")?,
            QUEUE => r.queue = text(v, "queue")?,
            PAYLOAD => r.payload = v.to_vec(),
            CODEC => r.codec = Codec::from_tag(small(v, "codec")?)?,
            PRIORITY => r.priority = small(v, "priority")?,
            RETRIES => r.retries = small(v, "retries")?,
            BACKOFF => r.backoff = value(v, "backoff")?,
            TIMEOUT => r.timeout_ms = uint(v, "timeout")?,
            RESULT_TTL => r.result_ttl_ms = uint(v, "result TTL")?,
            UNIQUE => r.unique = Some(text(v, "unique key")?),
            DELAY => r.delay_ms = uint(v, "delay")?,
            RUN_AT => r.run_at_ms = Some(uint(v, "run-at")?),
            DEPS => r.deps = value(v, "deps")?,
            ALLOW_FAILURE => r.allow_failure = true,
            WORKFLOW => r.workflow = Some(JobId::from(text(v, "workflow")?)),
            PARENT => r.parent = Some(JobId::from(text(v, "parent")?)),
            INPUTS => r.inputs = value(v, "inputs")?,
            MAX_RUNNING => r.max_running = Some(small(v, "max_running")?),
            CONCURRENCY_KEY => r.concurrency_key = Some(text(v, "concurrency key")?),
            KEY_LIMIT => r.key_limit = Some(small(v, "key limit")?),
            RATE => r.rate = Some(value(v, "rate")?),
            LIMITER => r.limiter = Some(text(v, "limiter")?),
            RATE_KEY => r.rate_key = Some(text(v, "rate key")?),
            // A field added later, in the same format: not needed to run
            // this record.
            _ => {}
        }
    }
    Ok(r)
}

/// Format 1: the record in positional bincode, id written empty. Frozen:
/// this is the layout as it was, whatever `JobRecord` becomes.
#[derive(Deserialize)]
pub(super) struct RecordV1 {
    _id: String,
    task: String,
    queue: String,
    payload: Vec<u8>,
    codec: Codec,
    priority: u8,
    retries: u32,
    backoff: Backoff,
    timeout_ms: u64,
    result_ttl_ms: u64,
    unique: Option<String>,
    delay_ms: u64,
    run_at_ms: Option<u64>,
    deps: Vec<JobId>,
    allow_failure: bool,
    workflow: Option<JobId>,
    parent: Option<JobId>,
    inputs: Vec<ArgSpec>,
}

impl From<RecordV1> for JobRecord {
    fn from(v: RecordV1) -> Self {
        JobRecord {
            id: JobId::from(""),
            task: v.task,
            queue: v.queue,
            payload: v.payload,
            codec: v.codec,
            priority: v.priority,
            retries: v.retries,
            backoff: v.backoff,
            timeout_ms: v.timeout_ms,
            result_ttl_ms: v.result_ttl_ms,
            unique: v.unique,
            delay_ms: v.delay_ms,
            run_at_ms: v.run_at_ms,
            deps: v.deps,
            allow_failure: v.allow_failure,
            workflow: v.workflow,
            parent: v.parent,
            inputs: v.inputs,
            idempotency_key: None,
            max_running: None,
            concurrency_key: None,
            key_limit: None,
            rate: None,
            limiter: None,
            rate_key: None,
        }
    }
}

fn v1(body: &[u8]) -> Result<JobRecord> {
    let record: RecordV1 = value(body, "format 1 record")?;
    Ok(record.into())
}
