#![doc = include_str!("../README.md")]

#[doc(inline)]
pub use ork_core::{
    backend, codec, job, metrics, retry, workflow, Backend, Backoff, Call, CancellationToken,
    Codec, Context, DurationExt, Error, JobHandle, JobId, JobInfo, JobState, MemoryBackend, Node,
    Ork, Result, StateMap, Task, TaskError, TaskOptions, Worker, WorkerHandle, Workflow,
    WorkflowHandle, WorkflowState,
};

// Periodic tasks: `Schedule::cron(..)`, `Schedule::every(..)`, the
// missed-tick policy, listings; the `schedule` module has the scheduler.
#[doc(inline)]
pub use ork_core::{schedule, Missed, Schedule, ScheduleInfo};

/// Marks an `async fn` (or a plain `fn`) as a task. See the crate docs.
#[doc(inline)]
pub use ork_macros::task;

// The Redis engine: `RedisBackend` and its builder, and `RedisExt`
// for `Ork::redis(url).await?`.
#[cfg(feature = "redis")]
#[doc(inline)]
pub use ork_redis::{RedisBackend, RedisBackendBuilder, RedisExt};

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
    pub use ork_core::{Context, DurationExt, JobHandle, Node, Ork, Schedule, Workflow};
    #[cfg(feature = "redis")]
    #[doc(no_inline)]
    pub use ork_redis::RedisExt;
}

/// Used by the code `#[ork::task]` generates; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use ork_core::__private::inventory;
    pub use ork_core::backend::BoxFuture;
    pub use ork_core::checks;
    pub use ork_core::task::TaskEntry;
    pub use ork_core::workflow::IntoInput;
    pub use ork_core::{Backoff, Call, Context, Task, TaskError, TaskOptions};
    pub use std::time::Duration;
}
