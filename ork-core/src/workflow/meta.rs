//! What is stored about a workflow besides its nodes' jobs.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::job::JobId;

/// A submitted workflow's description. Its nodes' states live in their jobs
/// (`<id>.<index>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkflowMeta {
    /// The workflow's id.
    pub id: JobId,
    /// Its name.
    pub name: String,
    /// When it was submitted (Unix ms, backend clock).
    pub created_at_ms: u64,
    /// Its nodes, by index.
    pub nodes: Vec<NodeMeta>,
}

/// One node of a stored workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NodeMeta {
    /// The task it runs (for a map node, the task run for each item).
    pub task: String,
    /// The nodes it waits for.
    pub deps: Vec<usize>,
    /// Whether its failure lets its dependants run.
    pub allow_failure: bool,
}

impl WorkflowMeta {
    /// The job id of node `index`.
    pub fn node_id(&self, index: usize) -> JobId {
        self.id.child(index)
    }

    /// Every node's job id, by index.
    pub fn node_ids(&self) -> Vec<JobId> {
        (0..self.nodes.len()).map(|i| self.node_id(i)).collect()
    }

    /// The stored form (see [`crate::stored`]), whatever the jobs' codec.
    pub fn encode(&self) -> Result<Vec<u8>> {
        crate::stored::encode_workflow(self)
    }

    /// Reads the stored form, of this ork's format or an older one.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        crate::stored::decode_workflow(bytes)
    }
}
