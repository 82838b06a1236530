//! Typed calls: a task plus its arguments plus per-call options.

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::codec::Codec;
use crate::error::Result;
use crate::job::{JobId, JobRecord};
use crate::task::{Task, TaskOptions};

/// Arguments that can encode themselves with any codec (type erasure for
/// [`Call`]).
trait EncodeArgs: Send + Sync {
    fn encode(&self, codec: Codec) -> Result<Vec<u8>>;
}

impl<A: Serialize + Send + Sync> EncodeArgs for A {
    fn encode(&self, codec: Codec) -> Result<Vec<u8>> {
        codec.encode(self)
    }
}

/// A call of a task with its arguments, ready to enqueue; `T` is the task's
/// output. Built by the generated constructor: `add::call(1, 2)`.
///
/// Per-call options override the task's: `add::call(1, 2).delay(d).priority(9)`.
#[must_use = "a call does nothing until it is enqueued"]
pub struct Call<T> {
    options: &'static TaskOptions,
    args: Box<dyn EncodeArgs>,
    overrides: CallOptions,
    _output: PhantomData<fn() -> T>,
}

/// Options set on one call.
#[derive(Debug, Clone, Default)]
struct CallOptions {
    id: Option<JobId>,
    delay: Option<Duration>,
    at: Option<SystemTime>,
    priority: Option<u8>,
    queue: Option<String>,
    retries: Option<u32>,
    timeout: Option<Duration>,
    unique: Option<String>,
}

impl<T> fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("task", &self.options.name)
            .field("options", &self.overrides)
            .finish_non_exhaustive()
    }
}

impl<T> Call<T> {
    /// A call of task `K` with these arguments (used by generated code).
    pub fn new<K>(args: K::Args) -> Self
    where
        K: Task<Output = T>,
        K::Args: Sync,
    {
        Call {
            options: &K::OPTIONS,
            args: Box::new(args),
            overrides: CallOptions::default(),
            _output: PhantomData,
        }
    }

    /// The task's name.
    pub fn task_name(&self) -> &'static str {
        self.options.name
    }

    /// Runs no earlier than `delay` from now (on the backend's clock).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.overrides.delay = Some(delay);
        self
    }

    /// Runs no earlier than `at`.
    pub fn at(mut self, at: SystemTime) -> Self {
        self.overrides.at = Some(at);
        self
    }

    /// Priority within the queue, 0 to 9 (higher first; larger values count as 9).
    pub fn priority(mut self, priority: u8) -> Self {
        self.overrides.priority = Some(priority.min(9));
        self
    }

    /// The queue to wait in.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.overrides.queue = Some(queue.into());
        self
    }

    /// How many times a failed attempt is retried.
    pub fn retries(mut self, retries: u32) -> Self {
        self.overrides.retries = Some(retries);
        self
    }

    /// The most one attempt may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.overrides.timeout = Some(timeout);
        self
    }

    /// While a job with this key is queued or running, enqueueing another
    /// call with the same key returns that job instead.
    pub fn unique(mut self, key: impl Into<String>) -> Self {
        self.overrides.unique = Some(key.into());
        self
    }

    /// Uses this job id instead of a fresh one (enqueue is idempotent by id).
    pub fn id(mut self, id: JobId) -> Self {
        self.overrides.id = Some(id);
        self
    }

    /// Turns the call into the record a backend stores.
    pub fn into_record(self, codec: Codec) -> Result<JobRecord> {
        let payload = self.args.encode(codec)?;
        let o = self.options;
        let c = self.overrides;
        let mut record = JobRecord::new(o.name, payload);
        if let Some(id) = c.id {
            record.id = id;
        }
        record.codec = codec;
        record.queue = c.queue.unwrap_or_else(|| o.queue.to_owned());
        record.priority = c.priority.unwrap_or(o.priority).min(9);
        record.retries = c.retries.unwrap_or(o.retries);
        record.backoff = o.backoff;
        record.timeout_ms = c.timeout.or(o.timeout).map_or(0, |d| d.as_millis() as u64);
        if let Some(ttl) = o.result_ttl {
            record.result_ttl_ms = ttl.as_millis() as u64;
        }
        record.unique = c.unique;
        record.delay_ms = c.delay.map_or(0, |d| d.as_millis() as u64);
        record.run_at_ms = c.at.map(|t| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
        });
        Ok(record)
    }
}
