//! The storage contract every engine implements.
//!
//! A backend supplies storage and atomicity; it never decides policy. Which
//! failure is retried, after how long, and what is dead-lettered is decided
//! by the worker (see [`crate::retry`]) and handed to the backend as an
//! [`Outcome`]. Each method is one atomic step: either all of it happens or
//! none of it does.
//!
//! The contract comes in parts, one per concern, each documented where it
//! is declared:
//!
//! | part | what it holds |
//! |---|---|
//! | [`JobStore`] | job life: enqueue, claim under a lease, heartbeat, finish, reap, cancel |
//! | [`Queries`] | reading jobs, listings, queue counts, memory use |
//! | [`Admin`] | operator actions (retry, purge) and their audit log |
//! | [`WorkerRegistry`] | the live worker processes |
//! | [`WorkflowStore`] | workflow descriptions |
//! | [`ScheduleStore`] | periodic schedules and the exactly-once tick step |
//! | [`StepStore`] | the outputs of durable steps and checkpoints, fenced |
//! | [`SignalStore`] | signals under keys, their waiters, and waking parked jobs |
//! | [`FlowControl`] | paused queues and tasks |
//!
//! [`Backend`] is all of them together, and is what the client holds. An
//! engine implements each part, then `impl Backend for MyEngine {}`.
//!
//! Every part is object-safe (methods return [`BoxFuture`]) so that the
//! client [`Ork`](crate::Ork) is one type whatever engine it runs on.
//! Methods of `dyn Backend` and of a generic `B: Backend` need no imports;
//! calling them on a concrete engine type needs its part in scope
//! (`use ork_core::backend::JobStore;`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::Result;

mod admin;
mod audit;
mod cancels;
mod flow;
mod jobs;
pub mod memory;
mod queries;
mod registry;
mod schedule;
mod signals;
mod steps;
mod workflows;

pub use admin::Admin;
pub use audit::{AuditEntry, AUDIT_LIMIT};
pub use cancels::CancelRequests;
pub use flow::{
    check_limiter_name, check_queue_cap, held_reason, CapUse, FlowControl, PauseTarget, Paused,
};
pub use jobs::{ClaimRequest, Claimed, Enqueued, Finish, JobStore, Lease, LeaseStatus, Outcome};
pub use queries::Queries;
pub use registry::WorkerRegistry;
pub use schedule::{FireTicks, ScheduleStore, StoredSchedule};
pub use signals::{Signal, SignalStore, SIGNAL_RETENTION};
pub use steps::{StepStore, StoredSteps, CHECKPOINT};
pub use workflows::WorkflowStore;

/// A boxed, `Send` future: what backend methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The storage engine under ork: every part of the contract (see the
/// module docs), plus what concerns the engine as a whole.
pub trait Backend:
    JobStore
    + Queries
    + Admin
    + WorkerRegistry
    + WorkflowStore
    + ScheduleStore
    + StepStore
    + SignalStore
    + FlowControl
    + fmt::Debug
    + 'static
{
    /// The same storage through connections of its own, driven by the
    /// runtime that awaits this. A worker renews its leases from a thread
    /// of its own, so that tasks that hog the worker's runtime can't starve
    /// the renewals; an engine whose I/O runs on tasks of the runtime it was
    /// built on returns such a copy. `None` (the default) means this handle
    /// works from any runtime as it is (the memory engine).
    fn standalone(&self) -> BoxFuture<'_, Result<Option<Arc<dyn Backend>>>> {
        Box::pin(async { Ok(None) })
    }
}
