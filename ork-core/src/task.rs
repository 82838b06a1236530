//! Tasks: what `#[ork::task]` generates, and the registry of tasks a worker knows.

use std::future::Future;
use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};

use crate::backend::BoxFuture;
use crate::codec::Codec;
use crate::context::Context;
use crate::error::TaskError;
use crate::retry::Backoff;

/// A task: a function the workers can run by name.
///
/// Implemented by `#[ork::task]` on a type named like the function; not meant
/// to be implemented by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an ork task",
    label = "not a task",
    note = "put `#[ork::task]` on the function that defines it"
)]
pub trait Task: Send + Sync + 'static {
    /// The arguments, as a tuple.
    type Args: ArgsTuple + Serialize + DeserializeOwned + Send + 'static;
    /// What a successful run returns.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// The task's options, name included.
    const OPTIONS: TaskOptions;
    /// Runs the task.
    fn run(ctx: Context, args: Self::Args) -> BoxFuture<'static, Result<Self::Output, TaskError>>;
}

/// A task's options, fixed at compile time by `#[ork::task(...)]`. Every
/// setter is a `const fn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskOptions {
    /// The registered name (default: module path and function name).
    pub name: &'static str,
    /// The default queue.
    pub queue: &'static str,
    /// How many times a failed attempt is retried.
    pub retries: u32,
    /// The delay between attempts.
    pub backoff: Backoff,
    /// The most one attempt may take.
    pub timeout: Option<Duration>,
    /// Default priority, 0 to 9 (higher first).
    pub priority: u8,
    /// How long results are kept (`None`: the engine's default).
    pub result_ttl: Option<Duration>,
    /// The most runs of this task at once in one worker process.
    pub concurrency: Option<usize>,
    /// A plain `fn`: runs on the blocking thread pool.
    pub blocking: bool,
    /// A cron expression (with seconds) for a periodic task.
    pub cron: Option<&'static str>,
    /// An interval for a periodic task.
    pub every: Option<Duration>,
    /// The most attempts running at once across the fleet.
    pub max_running: Option<u32>,
    /// The most jobs of one concurrency key running at once (default 1).
    pub key_limit: Option<u32>,
    /// A rate limit of this task across the fleet.
    pub rate: Option<crate::rate::Rate>,
    /// A named rate limiter this task takes its tokens from.
    pub limiter: Option<&'static str>,
}

impl TaskOptions {
    /// Defaults for a task of this name.
    pub const fn new(name: &'static str) -> Self {
        TaskOptions {
            name,
            queue: crate::DEFAULT_QUEUE,
            retries: 0,
            backoff: Backoff::Exponential {
                base_ms: 1_000,
                max_ms: 3_600_000,
                jitter: true,
            },
            timeout: None,
            priority: 0,
            result_ttl: None,
            concurrency: None,
            blocking: false,
            cron: None,
            every: None,
            max_running: None,
            key_limit: None,
            rate: None,
            limiter: None,
        }
    }

    /// Limits how often this task starts across the fleet.
    pub const fn rate(mut self, rate: crate::rate::Rate) -> Self {
        self.rate = Some(rate);
        self
    }

    /// Takes this task's tokens from a named limiter (see
    /// [`Ork::limiter`](crate::Ork::limiter)).
    pub const fn limiter(mut self, name: &'static str) -> Self {
        self.limiter = Some(name);
        self
    }

    /// Caps the attempts of this task running at once across the fleet.
    pub const fn max_running(mut self, n: u32) -> Self {
        self.max_running = Some(n);
        self
    }

    /// Sets how many jobs of one concurrency key may run at once.
    pub const fn key_limit(mut self, n: u32) -> Self {
        self.key_limit = Some(n);
        self
    }

    /// Sets the queue.
    pub const fn queue(mut self, queue: &'static str) -> Self {
        self.queue = queue;
        self
    }

    /// Sets the retries.
    pub const fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Sets the backoff.
    pub const fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the timeout.
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the priority.
    pub const fn priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the result TTL.
    pub const fn result_ttl(mut self, ttl: Duration) -> Self {
        self.result_ttl = Some(ttl);
        self
    }

    /// Caps the runs at once per worker process.
    pub const fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n);
        self
    }

    /// Marks the task as blocking (a plain `fn`).
    pub const fn blocking(mut self) -> Self {
        self.blocking = true;
        self
    }

    /// Makes the task periodic on a cron expression.
    pub const fn cron(mut self, expr: &'static str) -> Self {
        self.cron = Some(expr);
        self
    }

    /// Makes the task periodic on an interval.
    pub const fn every(mut self, interval: Duration) -> Self {
        self.every = Some(interval);
        self
    }
}

/// Why a type-erased run did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunError {
    /// The payload could not be decoded into the task's arguments: retrying
    /// will not help.
    Decode(String),
    /// The task returned an error.
    Task(TaskError),
    /// The output could not be encoded.
    Encode(String),
}

/// The type-erased runner of a task.
pub type RunFn = fn(Context, Codec, Vec<u8>) -> BoxFuture<'static, Result<Vec<u8>, RunError>>;

/// Splits the encoding of a `Vec` of argument number `n`'s type into the
/// encodings of its items (how a workflow `map` fans a list out).
pub type SplitFn = fn(usize, Codec, &[u8]) -> crate::Result<Vec<Vec<u8>>>;

/// A task's argument tuple (up to 12 arguments).
#[diagnostic::on_unimplemented(
    message = "a task takes at most 12 arguments",
    label = "too many arguments"
)]
pub trait ArgsTuple {
    /// See [`SplitFn`].
    fn split(position: usize, codec: Codec, list: &[u8]) -> crate::Result<Vec<Vec<u8>>>;
}

macro_rules! args_tuple {
    ($($n:tt $t:ident),*) => {
        impl<$($t: Serialize + DeserializeOwned),*> ArgsTuple for ($($t,)*) {
            #[allow(unused_variables)]
            fn split(position: usize, codec: Codec, list: &[u8]) -> crate::Result<Vec<Vec<u8>>> {
                match position {
                    $($n => codec.split_seq::<$t>(list),)*
                    _ => Err(crate::Error::Invalid(format!("no argument at position {position}"))),
                }
            }
        }
    };
}

args_tuple!();
args_tuple!(0 A);
args_tuple!(0 A, 1 B);
args_tuple!(0 A, 1 B, 2 C);
args_tuple!(0 A, 1 B, 2 C, 3 D);
args_tuple!(0 A, 1 B, 2 C, 3 D, 4 E);
args_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F);
args_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G);
args_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H);
args_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I);
args_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J);
args_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K);
args_tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L);

/// A task as the registry keeps it: its options and a type-erased runner.
#[derive(Debug, Clone, Copy)]
pub struct TaskEntry {
    /// The task's options, name included.
    pub options: TaskOptions,
    /// Decodes the payload, runs the task, encodes the output.
    pub run: RunFn,
    /// Splits lists of an argument's type into items.
    pub split: SplitFn,
}

impl TaskEntry {
    /// The entry for a task type.
    pub const fn of<T: Task>() -> TaskEntry {
        TaskEntry {
            options: T::OPTIONS,
            run: run_erased::<T>,
            split: <T::Args as ArgsTuple>::split,
        }
    }

    /// The task's name.
    pub fn name(&self) -> &'static str {
        self.options.name
    }
}

fn run_erased<T: Task>(
    ctx: Context,
    codec: Codec,
    payload: Vec<u8>,
) -> BoxFuture<'static, Result<Vec<u8>, RunError>> {
    let args = match codec.decode::<T::Args>(&payload) {
        Ok(args) => args,
        Err(e) => {
            let msg = format!("undecodable payload for task `{}`: {e}", T::OPTIONS.name);
            return Box::pin(std::future::ready(Err(RunError::Decode(msg))));
        }
    };
    let fut = T::run(ctx, args);
    Box::pin(async move {
        let output = fut.await.map_err(RunError::Task)?;
        codec
            .encode(&output)
            .map_err(|e| RunError::Encode(e.to_string()))
    })
}

inventory::collect!(TaskEntry);

/// Every task linked into this binary (registered by `#[ork::task]`).
pub fn registered() -> impl Iterator<Item = &'static TaskEntry> {
    inventory::iter::<TaskEntry>.into_iter()
}

/// The tasks a worker pool serves, as its tasks' contexts see them (kept
/// in the pool's state map under this private type).
#[derive(Debug)]
pub(crate) struct PoolTasks(pub(crate) std::collections::HashMap<&'static str, TaskEntry>);

/// The task named `name` as a running task's pool knows it, else as linked
/// into the binary.
pub(crate) fn find_for(ctx: &crate::context::Context, name: &str) -> Option<TaskEntry> {
    ctx.try_state::<PoolTasks>()
        .and_then(|t| t.0.get(name).copied())
        .or_else(|| find(name).copied())
}

/// The registered task with this name, if linked into the binary.
pub fn find(name: &str) -> Option<&'static TaskEntry> {
    registered().find(|e| e.name() == name)
}

/// Runs a blocking closure on the blocking thread pool; a panic inside it
/// resumes in the caller, where the worker records it.
pub fn run_blocking<F, T>(f: F) -> impl Future<Output = T> + Send + 'static
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let handle = tokio::task::spawn_blocking(f);
    async move {
        match handle.await {
            Ok(v) => v,
            Err(e) => match e.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(e) => panic!("blocking task did not finish: {e}"),
            },
        }
    }
}
