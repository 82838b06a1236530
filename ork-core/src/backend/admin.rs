//! Operator actions on jobs and queues, and the audit log of them.

use super::{AuditEntry, BoxFuture};
use crate::error::Result;
use crate::job::JobId;

/// Operator actions: retrying dead jobs, purging queues, and the audit log
/// that records who did what from the command or the dashboard.
pub trait Admin: Send + Sync {
    /// Queues a dead or cancelled job again with a fresh attempt count.
    /// A job with dependencies goes back to waiting for those that have not
    /// succeeded (and is queued at once if none is left). Returns `false` if
    /// the job is in another state.
    fn retry<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<bool>>;

    /// Deletes every job that is waiting, scheduled or queued in a queue.
    /// Returns how many.
    fn purge<'a>(&'a self, queue: &'a str) -> BoxFuture<'a, Result<u64>>;

    /// Records an operator action (see [`AuditEntry`]), keeping only the
    /// newest [`AUDIT_LIMIT`](super::AUDIT_LIMIT). The default keeps nothing: an engine without
    /// storage for it still works, with an empty [`audit_log`](Self::audit_log).
    fn record_audit<'a>(&'a self, entry: &'a AuditEntry) -> BoxFuture<'a, Result<()>> {
        let _ = entry;
        Box::pin(async { Ok(()) })
    }

    /// The recorded actions, newest first, at most `limit`.
    fn audit_log(&self, limit: usize) -> BoxFuture<'_, Result<Vec<AuditEntry>>> {
        let _ = limit;
        Box::pin(async { Ok(Vec::new()) })
    }
}
