//! Stored workflow descriptions.

use super::BoxFuture;
use crate::error::Result;
use crate::job::JobId;

/// Workflow descriptions: opaque bytes (the core's stored format) under the
/// workflow's id, so any process can draw and follow a workflow it did not
/// submit. The nodes themselves are ordinary jobs in [`JobStore`](super::JobStore).
pub trait WorkflowStore: Send + Sync {
    /// Stores a workflow's description (opaque bytes), replacing any with
    /// the same id. Kept until deleted.
    fn put_workflow<'a>(&'a self, id: &'a JobId, meta: Vec<u8>) -> BoxFuture<'a, Result<()>>;

    /// A workflow's description, if stored.
    fn workflow<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;

    /// Workflow ids, newest first.
    fn workflow_ids(&self, offset: usize, limit: usize) -> BoxFuture<'_, Result<Vec<JobId>>>;
}
