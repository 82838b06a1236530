//! The registry of live worker processes.

use std::time::Duration;

use super::BoxFuture;
use crate::error::Result;
use crate::inspect::WorkerInfo;

/// The registry of live workers: each pool registers itself with a time to
/// live and renews it with its heartbeats, so a pool that dies drops out on
/// its own. Entries are for `ork workers` and the dashboard; no delivery
/// guarantee depends on them.
pub trait WorkerRegistry: Send + Sync {
    /// Records a worker's heartbeat under its
    /// [`WorkerInfo::key`]; the entry lives for `ttl`.
    fn register_worker<'a>(
        &'a self,
        info: &'a WorkerInfo,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<()>>;

    /// Removes a worker's entry (clean shutdown), by its
    /// [`WorkerInfo::key`].
    fn unregister_worker<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>>;

    /// The workers whose entry has not expired.
    fn workers(&self) -> BoxFuture<'_, Result<Vec<WorkerInfo>>>;
}
