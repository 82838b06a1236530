//! Typed handles to enqueued jobs.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::inspect::CancelOutcome;
use crate::job::{JobId, JobInfo, JobState};

/// A handle to an enqueued job whose task returns `T`.
///
/// Cheap to clone; can be rebuilt later from the id with
/// [`Ork::handle`](crate::Ork::handle).
pub struct JobHandle<T> {
    id: JobId,
    backend: Arc<dyn Backend>,
    _output: PhantomData<fn() -> T>,
}

impl<T> Clone for JobHandle<T> {
    fn clone(&self) -> Self {
        JobHandle {
            id: self.id.clone(),
            backend: self.backend.clone(),
            _output: PhantomData,
        }
    }
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle").field("id", &self.id).finish()
    }
}

/// How long one wait on the backend lasts before it is renewed.
const WAIT_SLICE: Duration = Duration::from_secs(5);

impl<T: DeserializeOwned> JobHandle<T> {
    pub(crate) fn new(id: JobId, backend: Arc<dyn Backend>) -> Self {
        JobHandle {
            id,
            backend,
            _output: PhantomData,
        }
    }

    /// The job's id.
    pub fn id(&self) -> &JobId {
        &self.id
    }

    /// The job's state now.
    pub async fn status(&self) -> Result<JobState> {
        Ok(self.info().await?.state)
    }

    /// Everything known about the job now.
    pub async fn info(&self) -> Result<JobInfo> {
        let ids = std::slice::from_ref(&self.id);
        self.backend
            .jobs(ids)
            .await?
            .pop()
            .flatten()
            .ok_or_else(|| Error::UnknownJob(self.id.clone()))
    }

    /// Waits for the job to finish and returns its typed result.
    ///
    /// A job that failed for good returns [`Error::JobFailed`] with the
    /// task's message; a cancelled one [`Error::Cancelled`].
    pub async fn result(&self) -> Result<T> {
        loop {
            let info = self.wait_slice(WAIT_SLICE).await?;
            if info.state.is_terminal() {
                return self.decode(info);
            }
        }
    }

    /// Like [`result`](Self::result), giving up with [`Error::Timeout`] after `timeout`.
    pub async fn result_timeout(&self, timeout: Duration) -> Result<T> {
        let info = self.wait_slice(timeout).await?;
        if info.state.is_terminal() {
            self.decode(info)
        } else {
            Err(Error::Timeout(format!(
                "job {} still {} after {timeout:?}",
                self.id, info.state
            )))
        }
    }

    /// Cancels the job if it has not started; a running job is asked to stop.
    /// Its run-time children (sub-tasks, map items, replacement workflows)
    /// and their descendants are cancelled the same way.
    pub async fn cancel(&self) -> Result<CancelOutcome> {
        self.backend.cancel(&self.id).await
    }

    /// The job's run-time children, as they are now: what it spawned, and
    /// the nodes of the workflows it was replaced with. Children whose
    /// record expired are left out.
    pub async fn children(&self) -> Result<Vec<JobInfo>> {
        let ids = self.backend.children(&self.id).await?;
        Ok(self
            .backend
            .jobs(&ids)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    async fn wait_slice(&self, timeout: Duration) -> Result<JobInfo> {
        self.backend
            .wait(&self.id, timeout)
            .await?
            .ok_or_else(|| Error::UnknownJob(self.id.clone()))
    }

    fn decode(&self, info: JobInfo) -> Result<T> {
        match info.state {
            JobState::Succeeded => match (info.result, info.error) {
                // A backend that could not keep the result (Redis out of
                // memory when the job finished) says so in the error.
                (None, Some(why)) if why.starts_with("result dropped") => {
                    Err(Error::Codec(format!(
                        "job {} succeeded, but its result was not kept: {why}",
                        self.id
                    )))
                }
                (bytes, _) => info.record.codec.decode(&bytes.unwrap_or_default()),
            },
            JobState::Cancelled => Err(Error::Cancelled(self.id.clone())),
            _ => Err(Error::JobFailed {
                id: self.id.clone(),
                message: info.error.unwrap_or_else(|| "failed".to_owned()),
            }),
        }
    }
}
