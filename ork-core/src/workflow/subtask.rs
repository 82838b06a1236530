//! Sub-tasks: calls spawned by a running task and awaited durably.
//!
//! A child's id is its parent's id plus its position (`parent.0`,
//! `parent.1`, ...), and enqueue is idempotent by id: a parent re-run after a
//! crash spawns the same ids, finds the children it already made (and their
//! results) and spawns nothing twice. Spawn children in the same order on
//! every run. While a parent waits for children it gives its worker slot
//! back, so a small pool can run a parent that fans out widely.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{submit_under, Node, Workflow};
use crate::backend::{Backend, Enqueued};
use crate::call::Call;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::handle::JobHandle;
use crate::job::{JobId, JobInfo, JobRecord, JobState};

/// How long one wait for a child lasts before the parent checks again.
const WAIT_SLICE: Duration = Duration::from_millis(500);

impl Context {
    fn require_backend(&self) -> Result<&std::sync::Arc<dyn Backend>> {
        self.backend().ok_or_else(|| {
            Error::Invalid("sub-tasks need a running worker (this context is detached)".into())
        })
    }

    /// Enqueues `call` as a child of this job; await it with [`join`](Self::join).
    pub async fn spawn<T: DeserializeOwned>(&self, call: Call<T>) -> Result<JobHandle<T>> {
        let record = call.into_record(self.codec())?;
        let mut ids = self.spawn_records(vec![record]).await?;
        Ok(JobHandle::new(
            ids.remove(0),
            self.require_backend()?.clone(),
        ))
    }

    /// Enqueues child records (ids assigned here), reviving children that
    /// failed on an earlier run of this parent.
    pub(crate) async fn spawn_records(&self, mut records: Vec<JobRecord>) -> Result<Vec<JobId>> {
        let backend = self.require_backend()?;
        for record in &mut records {
            record.id = self.job_id().child(self.next_child());
            record.parent = Some(self.job_id().clone());
        }
        let outcomes = backend.enqueue(records).await?;
        let existing: Vec<JobId> = outcomes
            .iter()
            .filter_map(|o| match o {
                Enqueued::Existing(id) => Some(id.clone()),
                _ => None,
            })
            .collect();
        if !existing.is_empty() {
            for (id, info) in existing.iter().zip(backend.jobs(&existing).await?) {
                if info.is_some_and(|i| matches!(i.state, JobState::Dead | JobState::Cancelled)) {
                    backend.retry(id).await?;
                }
            }
        }
        Ok(outcomes.into_iter().map(|o| o.id().clone()).collect())
    }

    /// Waits for children and returns their results in order. The first
    /// failed child fails the join with its message.
    pub async fn join<T: DeserializeOwned>(&self, handles: Vec<JobHandle<T>>) -> Result<Vec<T>> {
        let ids: Vec<JobId> = handles.iter().map(|h| h.id().clone()).collect();
        let infos = self.wait_all(&ids).await?;
        infos.into_iter().map(decode_child).collect()
    }

    /// Spawns one child per item and waits for all of them: `ctx.map(urls, |u| fetch::call(u))`.
    pub async fn map<I, T, F>(&self, items: impl IntoIterator<Item = I>, mut f: F) -> Result<Vec<T>>
    where
        T: DeserializeOwned,
        F: FnMut(I) -> Call<T>,
    {
        let records = items
            .into_iter()
            .map(|item| f(item).into_record(self.codec()))
            .collect::<Result<Vec<_>>>()?;
        let ids = self.spawn_records(records).await?;
        let infos = self.wait_all(&ids).await?;
        infos.into_iter().map(decode_child).collect()
    }

    /// Replaces this task's work with a workflow and returns `output`'s
    /// result, which becomes this task's own: the nodes after this one wait
    /// for work made at run time. Durable like sub-tasks.
    pub async fn replace<T: DeserializeOwned>(&self, flow: Workflow, output: Node<T>) -> Result<T> {
        let backend = self.require_backend()?.clone();
        let id = JobId::from(format!("{}.w{}", self.job_id(), self.next_child()));
        let meta = submit_under(
            backend.as_ref(),
            self.codec(),
            flow,
            id,
            Some(self.job_id()),
        )
        .await?;
        let node = meta.node_id(output.index());
        let info = self.wait_all(std::slice::from_ref(&node)).await?.remove(0);
        decode_child(info)
    }

    /// Waits (slot given back) until every job in `ids` is finished.
    pub(crate) async fn wait_all(&self, ids: &[JobId]) -> Result<Vec<JobInfo>> {
        let backend = self.require_backend()?.clone();
        self.release_slot();
        let result = async {
            loop {
                let infos = backend.jobs(ids).await?;
                let pending = ids
                    .iter()
                    .zip(&infos)
                    .find(|(_, info)| info.as_ref().is_some_and(|i| !i.state.is_terminal()));
                match pending {
                    None if self.cancelled_here(backend.as_ref(), &infos).await? => {
                        // The children were cancelled with this job, whose
                        // own cancel is on its way to this worker: end as
                        // cancelled, not failed by a cancelled child.
                        self.cancellation().cancelled().await;
                        return Err(Error::Cancelled(self.job_id().clone()));
                    }
                    None => {
                        return ids
                            .iter()
                            .zip(infos)
                            .map(|(id, info)| info.ok_or_else(|| Error::UnknownJob(id.clone())))
                            .collect();
                    }
                    Some((id, _)) => {
                        tokio::select! {
                            _ = self.cancellation().cancelled() => {
                                // The cancel reached the children too: the
                                // parent ends once they have, so that it
                                // reads cancelled only when none runs.
                                settle(backend.as_ref(), ids).await;
                                return Err(Error::Cancelled(self.job_id().clone()));
                            }
                            r = backend.wait(id, WAIT_SLICE) => { r?; }
                        }
                    }
                }
            }
        }
        .await;
        self.reacquire_slot().await;
        result
    }
}

/// Waits until none of `ids` runs (a lookup error ends the wait early: the
/// parent is being cancelled either way).
async fn settle(backend: &dyn Backend, ids: &[JobId]) {
    loop {
        let Ok(infos) = backend.jobs(ids).await else {
            return;
        };
        let running = ids
            .iter()
            .zip(&infos)
            .find(|(_, i)| i.as_ref().is_some_and(|i| !i.state.is_terminal()));
        match running {
            Some((id, _)) => {
                if backend.wait(id, WAIT_SLICE).await.is_err() {
                    return;
                }
            }
            None => return,
        }
    }
}

impl Context {
    /// Whether a child in `infos` was cancelled and this job's own
    /// cancellation is requested.
    async fn cancelled_here(
        &self,
        backend: &dyn Backend,
        infos: &[Option<JobInfo>],
    ) -> Result<bool> {
        if self.cancellation().is_cancelled() {
            return Ok(true);
        }
        let child_cancelled = infos
            .iter()
            .flatten()
            .any(|i| i.state == JobState::Cancelled);
        if !child_cancelled {
            return Ok(false);
        }
        let me = backend.jobs(std::slice::from_ref(self.job_id())).await?;
        Ok(me
            .into_iter()
            .flatten()
            .any(|i| i.cancel_requested && !i.state.is_terminal()))
    }
}

fn decode_child<T: DeserializeOwned>(info: JobInfo) -> Result<T> {
    let id = info.record.id.clone();
    match info.state {
        JobState::Succeeded => info
            .record
            .codec
            .decode(info.result.as_deref().unwrap_or_default()),
        JobState::Cancelled => Err(Error::Cancelled(id)),
        _ => Err(Error::JobFailed {
            message: format!(
                "{} failed: {}",
                info.record.task,
                info.error.unwrap_or_else(|| "no message".into())
            ),
            id,
        }),
    }
}
