//! Typed calls: a task plus its arguments plus per-call options.

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::codec::{Codec, EncodeArgs};
use crate::error::{Error, Result};
use crate::job::{ArgSpec, JobId, JobRecord};
use crate::node::{InputSpec, NodeRef};
use crate::task::{Task, TaskOptions};

/// A call of a task with its arguments, ready to enqueue; `T` is the task's
/// output. Built by the generated constructor: `add::call(1, 2)`.
///
/// Per-call options override the task's: `add::call(1, 2).delay(d).priority(9)`.
#[must_use = "a call does nothing until it is enqueued"]
pub struct Call<T> {
    options: &'static TaskOptions,
    args: Args,
    overrides: CallOptions,
    _output: PhantomData<fn() -> T>,
}

/// The arguments of a call: all known now, or some read from workflow nodes.
enum Args {
    Encoded(Box<dyn EncodeArgs>),
    Inputs(Vec<InputSpec>),
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
    idempotency_key: Option<String>,
    idempotency_ttl: Option<Duration>,
    concurrency_key: Option<String>,
    key_limit: Option<u32>,
    rate_key: Option<String>,
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
            args: Args::Encoded(Box::new(args)),
            overrides: CallOptions::default(),
            _output: PhantomData,
        }
    }

    /// A call of task `K` whose arguments may read workflow nodes (used by
    /// the generated `task::flow(..)` constructor).
    #[doc(hidden)]
    pub fn from_inputs<K>(inputs: Vec<InputSpec>) -> Self
    where
        K: Task<Output = T>,
    {
        Call {
            options: &K::OPTIONS,
            args: Args::Inputs(inputs),
            overrides: CallOptions::default(),
            _output: PhantomData,
        }
    }

    /// A call of a built-in task (`ork::...`) with these arguments, whose
    /// output is `T` (workflow sleep and wait nodes).
    pub(crate) fn builtin(options: &'static TaskOptions, args: impl EncodeArgs + 'static) -> Self {
        Call {
            options,
            args: Args::Encoded(Box::new(args)),
            overrides: CallOptions::default(),
            _output: PhantomData,
        }
    }

    /// The same call with its output type forgotten (workflow nodes).
    pub(crate) fn erase(self) -> Call<()> {
        Call {
            options: self.options,
            args: self.args,
            overrides: self.overrides,
            _output: PhantomData,
        }
    }

    /// Rewrites the workflow nodes the arguments read (nested workflows).
    pub(crate) fn remap_nodes(&mut self, f: &dyn Fn(&mut NodeRef)) {
        if let Args::Inputs(inputs) = &mut self.args {
            for input in inputs {
                input.remap(f);
            }
        }
    }

    /// The workflow nodes the arguments read.
    pub(crate) fn node_refs(&self) -> Vec<NodeRef> {
        match &self.args {
            Args::Encoded(_) => Vec::new(),
            Args::Inputs(inputs) => inputs.iter().flat_map(InputSpec::nodes).collect(),
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

    /// An idempotency key: enqueueing another call with the same key, while
    /// this job is unfinished or up to [`DEFAULT_IDEMPOTENCY_TTL`] (24 h)
    /// after it ended, returns this job (and so its result) instead of
    /// making a new one. Unlike [`unique`](Self::unique), the key outlives
    /// the job: a producer that retries an enqueue whose reply it lost gets
    /// the first job, even if that job has already run.
    ///
    /// The job's record and result are kept at least as long as the key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.overrides.idempotency_key = Some(key.into());
        self
    }

    /// How long the [idempotency key](Self::idempotency_key) is kept after
    /// the job ends (default [`DEFAULT_IDEMPOTENCY_TTL`]).
    pub fn idempotency_ttl(mut self, ttl: Duration) -> Self {
        self.overrides.idempotency_ttl = Some(ttl);
        self
    }

    /// A concurrency key: at most one job with this key (or the
    /// [`key_limit`](Self::key_limit)) runs at once across the fleet; the
    /// others stay queued, held until a running one ends. Keys are any
    /// text, e.g. a customer id. See [`FlowControl`](crate::backend::FlowControl).
    pub fn concurrency_key(mut self, key: impl Into<String>) -> Self {
        self.overrides.concurrency_key = Some(key.into());
        self
    }

    /// How many jobs of this call's [concurrency key](Self::concurrency_key)
    /// may run at once (default: the task's `key_limit`, else 1). Every job
    /// of a key should carry the same limit: a claim judges each job by its
    /// own.
    pub fn key_limit(mut self, n: u32) -> Self {
        self.overrides.key_limit = Some(n);
        self
    }

    /// A rate key: the task's rate limit (its `rate`, or its `limiter`)
    /// applies per key, each key with a bucket of its own, e.g. per
    /// customer. A task without a rate limit refuses it at enqueue.
    pub fn rate_key(mut self, key: impl Into<String>) -> Self {
        self.overrides.rate_key = Some(key.into());
        self
    }

    /// Turns the call into the record a backend stores.
    ///
    /// # Errors
    /// A codec error, or arguments that read workflow nodes (such a call
    /// belongs in a [`Workflow`](crate::workflow::Workflow)).
    pub fn into_record(self, codec: Codec) -> Result<JobRecord> {
        self.into_record_with(codec, &|_| None)
    }

    /// Like [`into_record`](Self::into_record), resolving workflow nodes to
    /// their job ids with `resolve`.
    pub(crate) fn into_record_with(
        self,
        codec: Codec,
        resolve: &dyn Fn(NodeRef) -> Option<JobId>,
    ) -> Result<JobRecord> {
        let name = self.options.name;
        let unresolved = || {
            Error::Invalid(format!(
                "a call of `{name}` reads the output of a workflow node: add it to that Workflow"
            ))
        };
        let (payload, inputs) = match &self.args {
            Args::Encoded(args) => (args.encode(codec)?, Vec::new()),
            Args::Inputs(specs) => {
                let mut inputs = Vec::with_capacity(specs.len());
                for spec in specs {
                    inputs.push(match spec {
                        InputSpec::Value(v) => ArgSpec::Value(v.encode(codec)?),
                        InputSpec::Output(n) => {
                            ArgSpec::Output(resolve(*n).ok_or_else(unresolved)?)
                        }
                        InputSpec::OutputOrError(n) => {
                            ArgSpec::OutputOrError(resolve(*n).ok_or_else(unresolved)?)
                        }
                        InputSpec::All(ns) => ArgSpec::All(
                            ns.iter()
                                .map(|n| resolve(*n).ok_or_else(unresolved))
                                .collect::<Result<_>>()?,
                        ),
                        InputSpec::Item => ArgSpec::Item,
                    });
                }
                if inputs.iter().all(|i| matches!(i, ArgSpec::Value(_))) {
                    let parts: Vec<&[u8]> = inputs
                        .iter()
                        .map(|i| match i {
                            ArgSpec::Value(v) => v.as_slice(),
                            _ => unreachable!("checked: values only"),
                        })
                        .collect();
                    (codec.tuple(&parts), Vec::new())
                } else {
                    (Vec::new(), inputs)
                }
            }
        };
        if let Some(key) = &self.overrides.concurrency_key {
            check_cap_key(key)?;
        }
        if let Some(key) = &self.overrides.rate_key {
            check_cap_key(key)?;
            if self.options.rate.is_none() && self.options.limiter.is_none() {
                return Err(Error::Invalid(format!(
                    "a call of `{}` has a rate key, but the task has no rate limit (`rate` or `limiter`)",
                    self.options.name
                )));
            }
        }
        if self.overrides.key_limit == Some(0) || self.options.max_running == Some(0) {
            return Err(Error::Invalid(format!(
                "a call of `{name}`: a running cap (key_limit, max_running) of 0 would never run",
                name = self.options.name
            )));
        }
        let mut record = record_of(self.options, self.overrides, payload, codec);
        record.inputs = inputs;
        Ok(record)
    }
}

/// A task without arguments as a record, known only by its options: what
/// each tick of a periodic task enqueues.
pub(crate) fn periodic_record(options: &TaskOptions, codec: Codec) -> Result<JobRecord> {
    Ok(record_of(
        options,
        CallOptions::default(),
        codec.encode(&())?,
        codec,
    ))
}

/// Checks a concurrency key: not empty, at most 512 bytes, no control
/// characters.
///
/// # Errors
/// [`Error::Invalid`] saying what is wrong.
pub fn check_cap_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 512 || key.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "concurrency key {key:?}: it must be 1 to 512 bytes, without control characters"
        )));
    }
    Ok(())
}

/// How long an idempotency key is kept after its job ends, by default.
pub const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// A record from the task's options and the call's.
fn record_of(o: &TaskOptions, c: CallOptions, payload: Vec<u8>, codec: Codec) -> JobRecord {
    let result_ttl = o.result_ttl.unwrap_or(crate::DEFAULT_RESULT_TTL);
    // The key lives as long as the job's record: keep the record (and
    // its result) for the key's whole window.
    let result_ttl = match &c.idempotency_key {
        Some(_) => result_ttl.max(c.idempotency_ttl.unwrap_or(DEFAULT_IDEMPOTENCY_TTL)),
        None => result_ttl,
    };
    JobRecord {
        id: c.id.unwrap_or_default(),
        task: o.name.to_owned(),
        queue: c.queue.unwrap_or_else(|| o.queue.to_owned()),
        payload,
        codec,
        priority: c.priority.unwrap_or(o.priority).min(9),
        retries: c.retries.unwrap_or(o.retries),
        backoff: o.backoff,
        timeout_ms: c.timeout.or(o.timeout).map_or(0, |d| d.as_millis() as u64),
        result_ttl_ms: result_ttl.as_millis() as u64,
        unique: c.unique,
        delay_ms: c.delay.map_or(0, |d| d.as_millis() as u64),
        run_at_ms: c.at.map(|t| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
        }),
        deps: Vec::new(),
        allow_failure: false,
        workflow: None,
        parent: None,
        inputs: Vec::new(),
        idempotency_key: c.idempotency_key,
        max_running: o.max_running,
        concurrency_key: c.concurrency_key,
        key_limit: c.key_limit.or(o.key_limit),
        rate: o.rate,
        limiter: o.limiter.map(str::to_owned),
        rate_key: c.rate_key,
    }
}
