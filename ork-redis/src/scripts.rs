//! The Lua scripts, each `lua/lib.lua` followed by its own file.

use std::sync::LazyLock;

use redis::Script;

macro_rules! scripts {
    ($($(#[$doc:meta])* $name:ident => $file:literal,)*) => {
        $(
            $(#[$doc])*
            pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
                Script::new(concat!(
                    include_str!("../lua/lib.lua"),
                    "\n-- ",
                    $file,
                    "\n",
                    include_str!(concat!("../lua/", $file)),
                ))
            });
        )*

        /// Every script, to load them all at build.
        pub(crate) fn all() -> Vec<&'static Script> {
            vec![$(&*$name),*]
        }
    };
}

scripts! {
    /// Stores job records.
    ENQUEUE => "enqueue.lua",
    /// Hands out ready jobs with leases.
    CLAIM => "claim.lua",
    /// Extends current leases.
    HEARTBEAT => "heartbeat.lua",
    /// Records the end of attempts.
    FINISH => "finish.lua",
    /// Requeues jobs whose lease expired.
    REAP => "reap.lua",
    /// Records progress.
    PROGRESS => "progress.lua",
    /// Looks jobs up.
    JOBS => "jobs.lua",
    /// Cancels a job.
    CANCEL => "cancel.lua",
    /// Queues a dead or cancelled job again.
    RETRY => "retry.lua",
    /// Deletes a queue's unstarted jobs.
    PURGE => "purge.lua",
    /// Counts jobs per queue and state.
    COUNTS => "counts.lua",
    /// Pages through job ids.
    LIST => "list.lua",
    /// The worker registry.
    WORKERS => "workers.lua",
    /// Workflow descriptions.
    WORKFLOW => "workflow.lua",
    /// The server clock.
    TIME => "time.lua",
    /// Periodic schedules.
    SCHEDULE => "schedule.lua",
    /// A scheduler step: compare-and-set plus enqueue.
    FIRE => "fire.lua",
}
