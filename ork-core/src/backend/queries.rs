//! Queries: what operators and the client read.

use std::time::Duration;

use super::BoxFuture;
use crate::error::Result;
use crate::inspect::{JobQuery, MemoryUsage, QueueCounts};
use crate::job::{JobId, JobInfo};

/// Queries: reading jobs and queues. Nothing here changes a job.
pub trait Queries: Send + Sync {
    /// Looks jobs up by id; `None` for unknown or expired ones.
    fn jobs<'a>(&'a self, ids: &'a [JobId]) -> BoxFuture<'a, Result<Vec<Option<JobInfo>>>>;

    /// Waits until the job is terminal, up to `timeout`, and returns it as it
    /// then is (`None` if unknown). The default looks the job up every 20 ms
    /// through [`jobs`](Self::jobs); engines that can be told when a job
    /// ends do better.
    fn wait<'a>(
        &'a self,
        id: &'a JobId,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<JobInfo>>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let info = self.jobs(std::slice::from_ref(id)).await?.pop().flatten();
                match info {
                    Some(info)
                        if !info.state.is_terminal() && tokio::time::Instant::now() < deadline => {}
                    other => return Ok(other),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    }

    /// Lists jobs, oldest first.
    fn list<'a>(&'a self, query: &'a JobQuery) -> BoxFuture<'a, Result<Vec<JobInfo>>>;

    /// Counts per queue and state.
    fn counts(&self) -> BoxFuture<'_, Result<Vec<QueueCounts>>>;

    /// The storage server's memory use against its limit, for `ork status`,
    /// the dashboard and metrics. `None` where the engine has no such limit
    /// (the default, and the memory engine).
    fn memory(&self) -> BoxFuture<'_, Result<Option<MemoryUsage>>> {
        Box::pin(async { Ok(None) })
    }
}
