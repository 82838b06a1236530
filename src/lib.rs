#![doc = include_str!("../README.md")]

// Everything the API is made of, item by item; `ork-core` is an
// implementation crate, and this list is the public surface.

// Tasks, jobs and the client.
#[doc(inline)]
pub use ork_core::{
    Backend, Backoff, Call, CancelOutcome, CancellationToken, Codec, Context, DurationExt, Error,
    JobHandle, JobId, JobInfo, JobQuery, JobState, MemoryBackend, MemoryUsage, Ork, QueueCounts,
    Rate, Result, StateMap, StepOptions, Task, TaskError, TaskOptions, Worker, WorkerHandle,
    WorkerInfo,
};

// Workflows: the builder, node handles, and what a submitted one reports.
#[doc(inline)]
pub use ork_core::workflow::{
    Fallible, Group, Node, NodeStatus, Workflow, WorkflowHandle, WorkflowState,
};

// Periodic tasks: `Schedule::cron(..)`, `Schedule::every(..)`, the
// missed-tick policy and listings.
#[doc(inline)]
pub use ork_core::schedule::{LastRun, Missed, Schedule, ScheduleInfo};

/// Marks an `async fn` (or a plain `fn`) as a task. See the crate docs.
#[doc(inline)]
pub use ork_macros::task;

// The Redis engine: `RedisBackend` and its builder, and `RedisExt`
// for `Ork::redis(url).await?`.
#[cfg(feature = "redis")]
#[doc(inline)]
pub use ork_redis::{RedisBackend, RedisBackendBuilder, RedisExt};

/// The storage contract, for writing an engine of your own or a wrapper
/// around one; see [`Backend`] and its parts.
pub mod backend {
    #[doc(inline)]
    pub use ork_core::backend::{
        Admin, AuditEntry, Backend, BoxFuture, CancelRequests, ClaimRequest, Claimed, Enqueued,
        Finish, FireTicks, JobStore, Lease, LeaseStatus, Outcome, Queries, ScheduleStore,
        StepStore, StoredSchedule, StoredSteps, WorkerRegistry, WorkflowStore, AUDIT_LIMIT,
        CHECKPOINT,
    };
    pub use ork_core::backend::{CapUse, FlowControl, PauseTarget, Paused};
    #[doc(inline)]
    pub use ork_core::backend::{Signal, SignalStore, SIGNAL_RETENTION};
    #[doc(inline)]
    pub use ork_core::job::JobRecord;
}

/// Workflows, by module: the same items as at the crate root, with the
/// input markers a node's argument can be.
pub mod workflow {
    #[doc(inline)]
    pub use ork_core::workflow::{
        All, Dependency, Fallible, Group, Item, Member, Node, NodeStatus, Produces, Step, Steps,
        Workflow, WorkflowHandle, WorkflowState,
    };
}

/// Schedulers' clocks, and the id a tick's job gets.
pub mod schedule {
    #[doc(inline)]
    pub use ork_core::schedule::{tick_job_id, Clock, OffsetClock, SystemClock};
}

/// The duration grammar ork reads everywhere (attributes, the command):
/// `30s`, `5m`, `1h30m`, `500ms`, `2d`.
pub mod time {
    #[doc(inline)]
    pub use ork_core::time::parse_duration;
}

/// Prometheus metrics: the text `/metrics` serves, and the numbers behind it.
pub mod metrics {
    #[doc(inline)]
    pub use ork_core::metrics::{local, prometheus_client, register, render, snapshot, Snapshot};
}

/// The web dashboard as an axum `Router` to mount in your own server:
/// `app.nest("/admin/jobs", ork::dashboard::router(ork.clone()))`, or
/// [`Dashboard`](dashboard::Dashboard) for actions, auth and a title.
#[cfg(feature = "dashboard")]
pub mod dashboard {
    #[doc(inline)]
    pub use ork_dashboard::{router, Actor, Dashboard};
}

/// The names most programs need: `use ork::prelude::*;`.
pub mod prelude {
    #[doc(no_inline)]
    pub use ork_core::schedule::Missed;
    #[doc(no_inline)]
    pub use ork_core::workflow::WorkflowState;
    #[doc(no_inline)]
    pub use ork_core::{
        Call, CancelOutcome, Context, DurationExt, JobHandle, JobState, Node, Ork, Schedule,
        StepOptions, Workflow,
    };
    #[cfg(feature = "redis")]
    #[doc(no_inline)]
    pub use ork_redis::{RedisBackend, RedisExt};
}

/// Used by the code `#[ork::task]` generates; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use ork_core::__private::inventory;
    pub use ork_core::backend::BoxFuture;
    pub use ork_core::checks;
    pub use ork_core::task::TaskEntry;
    pub use ork_core::workflow::IntoInput;
    pub use ork_core::{Backoff, Call, Context, Rate, Task, TaskError, TaskOptions};
    pub use std::time::Duration;
}
