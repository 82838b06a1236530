//! The client: enqueue calls, look jobs up, build workers.

use std::fmt;
use std::sync::Arc;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::backend::{Backend, CapUse, PauseTarget, Paused};
use crate::call::Call;
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::handle::JobHandle;
use crate::inspect::{CancelOutcome, JobQuery, QueueCounts, WorkerInfo};
use crate::job::{JobId, JobInfo, JobState};
use crate::rate::Rate;
use crate::schedule::{Schedule, ScheduleInfo, Scheduler};
use crate::worker::Worker;
use crate::workflow::{Workflow, WorkflowHandle, WorkflowMeta};
use crate::MemoryBackend;

/// The entry point: a handle to an engine (memory or Redis). Cheap to clone;
/// share one per process.
#[derive(Clone)]
pub struct Ork {
    backend: Arc<dyn Backend>,
    codec: Codec,
}

impl fmt::Debug for Ork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ork")
            .field("backend", &self.backend)
            .field("codec", &self.codec)
            .finish()
    }
}

impl Ork {
    /// An in-process engine: nothing to install, the same semantics as Redis.
    /// Jobs live as long as the process.
    pub fn memory() -> Self {
        Ork::with_backend(MemoryBackend::new())
    }

    /// A client on any backend.
    pub fn with_backend(backend: impl Backend) -> Self {
        Ork::from_arc(Arc::new(backend))
    }

    /// A client on a shared backend.
    pub fn from_arc(backend: Arc<dyn Backend>) -> Self {
        Ork {
            backend,
            codec: Codec::default(),
        }
    }

    /// Encodes arguments of calls enqueued from now on with `codec`
    /// (workers read any codec).
    pub fn with_codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// The engine.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The codec new calls are encoded with.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Enqueues a call; the handle gives its typed result.
    ///
    /// With `.unique(key)`, if a job with that key is queued or running, no
    /// job is added and the handle is that job's.
    pub async fn enqueue<T: DeserializeOwned>(&self, call: Call<T>) -> Result<JobHandle<T>> {
        let record = call.into_record(self.codec)?;
        let out = self.backend.enqueue(vec![record]).await?;
        let id = out
            .into_iter()
            .next()
            .map(|e| e.id().clone())
            .expect("one outcome per record");
        Ok(JobHandle::new(id, self.backend.clone()))
    }

    /// Enqueues many calls in one batch (one round trip on Redis).
    pub async fn enqueue_many<T: DeserializeOwned>(
        &self,
        calls: impl IntoIterator<Item = Call<T>>,
    ) -> Result<Vec<JobHandle<T>>> {
        let records = calls
            .into_iter()
            .map(|c| c.into_record(self.codec))
            .collect::<Result<Vec<_>>>()?;
        let out = self.backend.enqueue(records).await?;
        Ok(out
            .into_iter()
            .map(|e| JobHandle::new(e.id().clone(), self.backend.clone()))
            .collect())
    }

    /// A handle to an existing job, from its id (the output type is the
    /// caller's word).
    pub fn handle<T: DeserializeOwned>(&self, id: impl Into<JobId>) -> JobHandle<T> {
        JobHandle::new(id.into(), self.backend.clone())
    }

    /// A worker pool builder on this engine.
    pub fn worker(&self) -> Worker {
        Worker::new(self.backend.clone())
    }

    /// Everything known about a job, or `None`.
    ///
    /// Like every method here that names a job, it takes the id as a
    /// [`JobId`], a `&JobId` or a string.
    pub async fn job(&self, id: impl Into<JobId>) -> Result<Option<JobInfo>> {
        let id = id.into();
        Ok(self
            .backend
            .jobs(std::slice::from_ref(&id))
            .await?
            .pop()
            .flatten())
    }

    /// Lists jobs.
    pub async fn list(&self, query: &JobQuery) -> Result<Vec<JobInfo>> {
        self.backend.list(query).await
    }

    /// The dead letters (jobs that failed for good), oldest first, up to `limit`.
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<JobInfo>> {
        self.backend
            .list(&JobQuery::state(JobState::Dead).page(0, limit))
            .await
    }

    /// Queues a dead (or cancelled) job again, with a fresh attempt count.
    pub async fn retry(&self, id: impl Into<JobId>) -> Result<bool> {
        self.backend.retry(&id.into()).await
    }

    /// Cancels a job that has not started (or asks a running one to stop).
    pub async fn cancel(&self, id: impl Into<JobId>) -> Result<CancelOutcome> {
        self.backend.cancel(&id.into()).await
    }

    /// Sends `value` to the jobs waiting on signal `key`
    /// ([`Context::wait_for`](crate::Context::wait_for)), encoded with this
    /// client's codec, and keeps it under `key` for
    /// [`SIGNAL_RETENTION`](crate::backend::SIGNAL_RETENTION) so that a job
    /// that starts waiting later still receives it. Returns how many
    /// waiting jobs it woke.
    ///
    /// The signal is recorded first, then each waiter is woken: if this
    /// process dies in between, a waiter not woken still receives the
    /// signal, at its wait's timeout at the latest.
    pub async fn signal<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<usize> {
        self.signal_kept(key, value, crate::backend::SIGNAL_RETENTION)
            .await
    }

    /// [`signal`](Self::signal), kept under its key for `retention`.
    pub async fn signal_kept<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        retention: Duration,
    ) -> Result<usize> {
        if key.is_empty() {
            return Err(Error::Invalid("a signal key must not be empty".to_owned()));
        }
        let bytes = crate::durable::encode_signal(self.codec, value)?;
        let (_, waiters) = self.backend.put_signal(key, &bytes, retention).await?;
        let wakes = waiters.iter().map(|id| self.backend.wake(id));
        let woke = futures_util::future::try_join_all(wakes).await?;
        Ok(woke.into_iter().filter(|&w| w).count())
    }

    /// Deletes every job not yet started in `queue`; returns how many.
    pub async fn purge(&self, queue: &str) -> Result<u64> {
        self.backend.purge(queue).await
    }

    /// Pauses a queue across the fleet: no worker claims its jobs until
    /// [`resume_queue`](Self::resume_queue); they stay queued and visible,
    /// and attempts already running go on. Returns whether it was running
    /// (`false`: already paused). See [`FlowControl`](crate::backend::FlowControl).
    pub async fn pause_queue(&self, queue: &str) -> Result<bool> {
        let target = PauseTarget::Queue(queue.to_owned());
        self.backend.set_paused(&target, true).await
    }

    /// Resumes a paused queue. Returns whether it was paused.
    pub async fn resume_queue(&self, queue: &str) -> Result<bool> {
        let target = PauseTarget::Queue(queue.to_owned());
        self.backend.set_paused(&target, false).await
    }

    /// Pauses a task (by its registered name, e.g. `send_welcome`) in every
    /// queue across the fleet: its jobs are not claimed until
    /// [`resume_task`](Self::resume_task), and the other jobs of their
    /// queues go on. Returns whether it was running (`false`: already paused).
    pub async fn pause_task(&self, task: &str) -> Result<bool> {
        let target = PauseTarget::Task(task.to_owned());
        self.backend.set_paused(&target, true).await
    }

    /// Resumes a paused task: its held jobs go back to the front of their
    /// queues. Returns whether it was paused.
    pub async fn resume_task(&self, task: &str) -> Result<bool> {
        let target = PauseTarget::Task(task.to_owned());
        self.backend.set_paused(&target, false).await
    }

    /// Caps how many jobs of `queue` run at once across the fleet (`None`:
    /// no cap). Stored by the engine, so every worker process obeys it.
    /// See [`FlowControl`](crate::backend::FlowControl).
    pub async fn set_queue_cap(&self, queue: &str, cap: Option<u32>) -> Result<()> {
        self.backend.set_queue_cap(queue, cap).await
    }

    /// Defines (or redefines) a named rate limiter, shared by every task
    /// declared with `#[ork::task(limiter = "name")]`:
    /// `ork.limiter("stripe", Rate::per_second(25).burst(50))`. Stored by
    /// the engine, so every worker process obeys it.
    pub async fn limiter(&self, name: &str, rate: Rate) -> Result<()> {
        self.backend.set_limiter(name, Some(rate)).await
    }

    /// Deletes a named rate limiter: its tasks run unlimited.
    pub async fn remove_limiter(&self, name: &str) -> Result<()> {
        self.backend.set_limiter(name, None).await
    }

    /// The running caps in use: each with its cap, running and held jobs.
    pub async fn running_caps(&self) -> Result<Vec<CapUse>> {
        self.backend.running_caps().await
    }

    /// The paused queues and tasks, with the jobs each holds back.
    pub async fn paused(&self) -> Result<Vec<Paused>> {
        self.backend.paused().await
    }

    /// Counts per queue and state.
    pub async fn counts(&self) -> Result<Vec<QueueCounts>> {
        self.backend.counts().await
    }

    /// The live workers.
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>> {
        self.backend.workers().await
    }

    /// Submits a workflow: stores it and enqueues its nodes (in one batch).
    ///
    /// # Errors
    /// A workflow that is empty or reads nodes of another workflow is refused
    /// before anything is written.
    pub async fn submit(&self, flow: Workflow) -> Result<WorkflowHandle> {
        let meta =
            crate::workflow::submit(self.backend.as_ref(), self.codec, flow, JobId::new()).await?;
        Ok(WorkflowHandle::new(meta, self.backend.clone()))
    }

    /// A handle to a submitted workflow, from its id.
    pub async fn workflow(&self, id: impl Into<JobId>) -> Result<Option<WorkflowHandle>> {
        match self.backend.workflow(&id.into()).await? {
            Some(bytes) => Ok(Some(WorkflowHandle::new(
                WorkflowMeta::decode(&bytes)?,
                self.backend.clone(),
            ))),
            None => Ok(None),
        }
    }

    /// Workflows, newest first.
    pub async fn workflows(&self, offset: usize, limit: usize) -> Result<Vec<WorkflowHandle>> {
        let mut out = Vec::new();
        for id in self.backend.workflow_ids(offset, limit).await? {
            if let Some(h) = self.workflow(&id).await? {
                out.push(h);
            }
        }
        Ok(out)
    }

    /// Stores a periodic schedule: `call` is enqueued at each tick of
    /// `schedule`, by whichever worker pool's scheduler gets there first
    /// (exactly once per tick). A schedule of the same name is replaced,
    /// keeping its state (paused or not, ticks already dealt with).
    ///
    /// # Errors
    /// A name with whitespace (or empty, or over 200 characters), an unknown
    /// time zone, an interval under 100 ms, or a call that reads workflow
    /// nodes.
    pub async fn schedule<T>(&self, name: &str, schedule: Schedule, call: Call<T>) -> Result<()> {
        let record = call.into_record(self.codec)?;
        crate::schedule::store::put(self.backend.as_ref(), name, schedule, record).await?;
        Ok(())
    }

    /// Deletes a schedule. Returns whether it existed.
    pub async fn unschedule(&self, name: &str) -> Result<bool> {
        self.backend.delete_schedule(name).await
    }

    /// Pauses a schedule: its ticks are not fired until it is resumed.
    /// Returns whether it exists.
    pub async fn pause(&self, name: &str) -> Result<bool> {
        self.backend.pause_schedule(name, true).await
    }

    /// Resumes a paused schedule from now on: the ticks that fell in the
    /// pause are not fired. Returns whether it exists.
    pub async fn resume(&self, name: &str) -> Result<bool> {
        self.backend.pause_schedule(name, false).await
    }

    /// Every schedule, by name, with its next fire times and its last run.
    pub async fn schedules(&self) -> Result<Vec<ScheduleInfo>> {
        crate::schedule::store::list(self.backend.as_ref()).await
    }

    /// A scheduler to run outside a worker pool (every pool runs one
    /// already, unless built with `.scheduler(false)`).
    pub fn scheduler(&self) -> Scheduler {
        Scheduler::new(self.backend.clone())
    }
}
