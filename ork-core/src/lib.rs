//! The core of [ork](https://docs.rs/ork): tasks, calls and handles, the codec,
//! the worker pool, the [`Backend`] trait and the in-memory engine.
//!
//! This is an implementation crate: it makes no semver promises of its own.
//! Depend on the `ork` facade, whose re-exports are the public API; this
//! crate's version is pinned by it (`=x.y.z`), and anything here that the
//! facade does not re-export can change in any release.
//!
//! Layers only look down: errors and the codec; the job record; the
//! backend trait and the memory engine; tasks, calls and the context; the
//! worker pool; the client [`Ork`] on top.

pub mod backend;
pub mod call;
#[doc(hidden)]
pub mod checks;
pub mod client;
pub mod codec;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod context;
mod durable;
pub mod error;
pub mod handle;
pub mod inspect;
pub mod job;
pub mod metrics;
mod node;
pub mod rate;
pub mod retry;
pub mod schedule;
pub mod step;
pub mod stored;
pub mod task;
pub mod time;
pub mod worker;
pub mod workflow;

use std::time::Duration;

pub use backend::{memory::MemoryBackend, Backend};
pub use call::Call;
pub use client::Ork;
pub use codec::Codec;
pub use context::{Context, StateMap};
pub use error::{Error, Result, TaskError};
pub use handle::JobHandle;
pub use inspect::{CancelOutcome, JobQuery, MemoryUsage, QueueCounts, WorkerInfo};
pub use job::{ArgSpec, JobId, JobInfo, JobRecord, JobState};
pub use rate::Rate;
pub use retry::Backoff;
pub use schedule::{Missed, Schedule, ScheduleInfo};
pub use step::StepOptions;
pub use task::{Task, TaskEntry, TaskOptions};
pub use time::DurationExt;
pub use tokio_util::sync::CancellationToken;
pub use worker::{Worker, WorkerHandle};
pub use workflow::{Node, Workflow, WorkflowHandle, WorkflowState};

/// The queue of tasks that name none.
pub const DEFAULT_QUEUE: &str = "default";

/// How long results and finished jobs are kept when the task says nothing.
pub const DEFAULT_RESULT_TTL: Duration = Duration::from_secs(24 * 3600);

#[doc(hidden)]
pub mod __private {
    pub use inventory;
}
