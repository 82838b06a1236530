//! [`ServedBackend`]: a backend that owns the server it talks to.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ork_core::backend::{
    Admin, JobStore, Queries, ScheduleStore, SignalStore, StepStore, WorkerRegistry, WorkflowStore,
};
use ork_core::backend::{
    BoxFuture, ClaimRequest, Claimed, Enqueued, Finish, FireTicks, Lease, LeaseStatus, Signal,
    StoredSchedule, StoredSteps,
};
use ork_core::backend::{CapUse, FlowControl, PauseTarget, Paused};
use ork_core::job::{JobId, JobInfo, JobRecord};
use ork_core::{Backend, Result};
use ork_core::{CancelOutcome, JobQuery, QueueCounts, WorkerInfo};

use super::RedisServer;
use crate::RedisBackend;

/// A [`RedisBackend`] on its own [`RedisServer`], which lives as long as
/// the backend (and its clones): for suites that take a fresh backend per
/// test, such as `ork_core::backend_conformance!`.
#[derive(Debug, Clone)]
pub struct ServedBackend {
    backend: RedisBackend,
    server: Arc<RedisServer>,
}

impl ServedBackend {
    /// Wraps a backend with the server it uses.
    pub fn new(backend: RedisBackend, server: Arc<RedisServer>) -> Self {
        ServedBackend { backend, server }
    }

    /// The server.
    pub fn server(&self) -> &Arc<RedisServer> {
        &self.server
    }
}

impl Deref for ServedBackend {
    type Target = RedisBackend;

    fn deref(&self) -> &RedisBackend {
        &self.backend
    }
}

/// A fresh server and a backend on it (in a namespace of its own).
///
/// # Panics
/// When the server does not start or the backend can't connect.
pub async fn backend() -> ServedBackend {
    sharded_backend(1).await
}

/// A fresh server and a backend on it whose namespace (its own) is spread
/// over `shards` shards.
///
/// # Panics
/// When the server does not start or the backend can't connect.
pub async fn sharded_backend(shards: usize) -> ServedBackend {
    static N: AtomicU64 = AtomicU64::new(0);
    let server = Arc::new(
        tokio::task::spawn_blocking(RedisServer::start)
            .await
            .expect("start"),
    );
    let backend = RedisBackend::builder(server.url())
        .namespace(format!("test{}", N.fetch_add(1, Ordering::Relaxed)))
        .shards(shards)
        .build()
        .await
        .expect("connect to the test server");
    ServedBackend::new(backend, server)
}

impl JobStore for ServedBackend {
    fn now_ms(&self) -> BoxFuture<'_, Result<u64>> {
        self.backend.now_ms()
    }

    fn enqueue(&self, jobs: Vec<JobRecord>) -> BoxFuture<'_, Result<Vec<Enqueued>>> {
        self.backend.enqueue(jobs)
    }

    fn claim<'a>(&'a self, req: &'a ClaimRequest) -> BoxFuture<'a, Result<Vec<Claimed>>> {
        self.backend.claim(req)
    }

    fn heartbeat<'a>(
        &'a self,
        leases: &'a [Lease],
        lease: Duration,
    ) -> BoxFuture<'a, Result<Vec<LeaseStatus>>> {
        self.backend.heartbeat(leases, lease)
    }

    fn finish<'a>(&'a self, batch: &'a [Finish]) -> BoxFuture<'a, Result<Vec<bool>>> {
        self.backend.finish(batch)
    }

    fn reap(&self) -> BoxFuture<'_, Result<usize>> {
        self.backend.reap()
    }

    fn progress<'a>(&'a self, lease: &'a Lease, percent: u8) -> BoxFuture<'a, Result<()>> {
        self.backend.progress(lease, percent)
    }

    fn cancel<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<CancelOutcome>> {
        self.backend.cancel(id)
    }

    fn children<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<Vec<JobId>>> {
        self.backend.children(id)
    }

    fn cancel_requests(&self) -> BoxFuture<'_, Result<ork_core::backend::CancelRequests>> {
        self.backend.cancel_requests()
    }
}

impl Queries for ServedBackend {
    fn jobs<'a>(&'a self, ids: &'a [JobId]) -> BoxFuture<'a, Result<Vec<Option<JobInfo>>>> {
        self.backend.jobs(ids)
    }

    fn wait<'a>(
        &'a self,
        id: &'a JobId,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Option<JobInfo>>> {
        self.backend.wait(id, timeout)
    }

    fn list<'a>(&'a self, query: &'a JobQuery) -> BoxFuture<'a, Result<Vec<JobInfo>>> {
        self.backend.list(query)
    }

    fn counts(&self) -> BoxFuture<'_, Result<Vec<QueueCounts>>> {
        self.backend.counts()
    }

    fn memory(&self) -> BoxFuture<'_, Result<Option<ork_core::MemoryUsage>>> {
        self.backend.memory()
    }
}

impl Admin for ServedBackend {
    fn retry<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<bool>> {
        self.backend.retry(id)
    }

    fn purge<'a>(&'a self, queue: &'a str) -> BoxFuture<'a, Result<u64>> {
        self.backend.purge(queue)
    }

    fn record_audit<'a>(
        &'a self,
        entry: &'a ork_core::backend::AuditEntry,
    ) -> BoxFuture<'a, Result<()>> {
        self.backend.record_audit(entry)
    }

    fn audit_log(&self, limit: usize) -> BoxFuture<'_, Result<Vec<ork_core::backend::AuditEntry>>> {
        self.backend.audit_log(limit)
    }
}

impl WorkerRegistry for ServedBackend {
    fn register_worker<'a>(
        &'a self,
        info: &'a WorkerInfo,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<()>> {
        self.backend.register_worker(info, ttl)
    }

    fn unregister_worker<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        self.backend.unregister_worker(id)
    }

    fn workers(&self) -> BoxFuture<'_, Result<Vec<WorkerInfo>>> {
        self.backend.workers()
    }
}

impl WorkflowStore for ServedBackend {
    fn put_workflow<'a>(&'a self, id: &'a JobId, meta: Vec<u8>) -> BoxFuture<'a, Result<()>> {
        self.backend.put_workflow(id, meta)
    }

    fn workflow<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        self.backend.workflow(id)
    }

    fn workflow_ids(&self, offset: usize, limit: usize) -> BoxFuture<'_, Result<Vec<JobId>>> {
        self.backend.workflow_ids(offset, limit)
    }
}

impl ScheduleStore for ServedBackend {
    fn put_schedule<'a>(
        &'a self,
        name: &'a str,
        definition: Vec<u8>,
    ) -> BoxFuture<'a, Result<bool>> {
        self.backend.put_schedule(name, definition)
    }

    fn delete_schedule<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>> {
        self.backend.delete_schedule(name)
    }

    fn pause_schedule<'a>(&'a self, name: &'a str, paused: bool) -> BoxFuture<'a, Result<bool>> {
        self.backend.pause_schedule(name, paused)
    }

    fn schedules(&self) -> BoxFuture<'_, Result<Vec<StoredSchedule>>> {
        self.backend.schedules()
    }

    fn fire(&self, ticks: FireTicks) -> BoxFuture<'_, Result<Option<Vec<Enqueued>>>> {
        self.backend.fire(ticks)
    }
}

impl StepStore for ServedBackend {
    fn put_step<'a>(
        &'a self,
        lease: &'a Lease,
        name: &'a str,
        output: &'a [u8],
    ) -> BoxFuture<'a, Result<bool>> {
        self.backend.put_step(lease, name, output)
    }

    fn steps<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<StoredSteps>> {
        self.backend.steps(id)
    }
}

impl SignalStore for ServedBackend {
    fn put_signal<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        retention: std::time::Duration,
    ) -> BoxFuture<'a, Result<(u64, Vec<JobId>)>> {
        self.backend.put_signal(key, value, retention)
    }

    fn listen<'a>(
        &'a self,
        key: &'a str,
        after: u64,
        job: &'a JobId,
        until_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Signal>>> {
        self.backend.listen(key, after, job, until_ms)
    }

    fn unlisten<'a>(&'a self, key: &'a str, job: &'a JobId) -> BoxFuture<'a, Result<()>> {
        self.backend.unlisten(key, job)
    }

    fn wake<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<bool>> {
        self.backend.wake(id)
    }
}

impl FlowControl for ServedBackend {
    fn set_paused<'a>(
        &'a self,
        target: &'a PauseTarget,
        paused: bool,
    ) -> BoxFuture<'a, Result<bool>> {
        self.backend.set_paused(target, paused)
    }

    fn paused(&self) -> BoxFuture<'_, Result<Vec<Paused>>> {
        self.backend.paused()
    }

    fn set_queue_cap<'a>(&'a self, queue: &'a str, cap: Option<u32>) -> BoxFuture<'a, Result<()>> {
        self.backend.set_queue_cap(queue, cap)
    }

    fn running_caps(&self) -> BoxFuture<'_, Result<Vec<CapUse>>> {
        self.backend.running_caps()
    }

    fn set_limiter<'a>(
        &'a self,
        name: &'a str,
        rate: Option<ork_core::Rate>,
    ) -> BoxFuture<'a, Result<()>> {
        self.backend.set_limiter(name, rate)
    }

    fn limiters(&self) -> BoxFuture<'_, Result<Vec<(String, ork_core::Rate)>>> {
        self.backend.limiters()
    }
}

impl Backend for ServedBackend {
    fn standalone(&self) -> BoxFuture<'_, Result<Option<std::sync::Arc<dyn Backend>>>> {
        self.backend.standalone()
    }
}
