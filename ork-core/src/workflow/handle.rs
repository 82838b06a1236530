//! Handles to submitted workflows.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Node, Produces, WorkflowMeta};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::handle::JobHandle;
use crate::job::{JobId, JobInfo, JobState};

/// Where a workflow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WorkflowState {
    /// Nodes are still waiting or running.
    Running,
    /// Every node succeeded (or failed with `allow_failure`).
    Succeeded,
    /// A node failed for good; its dependants will not run.
    Failed,
    /// Cancelled: nothing of it runs any more.
    Cancelled,
    /// Cancelled, but some of its work (a node, or a node's run-time
    /// children) still runs: it has been asked to stop and will.
    Cancelling,
}

impl WorkflowState {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowState::Running => "running",
            WorkflowState::Succeeded => "succeeded",
            WorkflowState::Failed => "failed",
            WorkflowState::Cancelled => "cancelled",
            WorkflowState::Cancelling => "cancelling",
        }
    }

    /// Whether nothing more will happen.
    pub fn is_terminal(self) -> bool {
        !matches!(self, WorkflowState::Running | WorkflowState::Cancelling)
    }
}

impl fmt::Display for WorkflowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One node of a workflow as it is now.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeStatus {
    /// Its position.
    pub index: usize,
    /// Its task.
    pub task: String,
    /// The nodes it waits for.
    pub deps: Vec<usize>,
    /// Its job (`None` if the record expired).
    pub job: Option<JobInfo>,
    /// Whether its failure lets dependants run.
    pub allow_failure: bool,
}

impl NodeStatus {
    /// Whether it is a `flow.map` node: its items are its run-time
    /// children, created when it runs. Known from its job (`false` once
    /// the record expired).
    pub fn is_map(&self) -> bool {
        self.job
            .as_ref()
            .is_some_and(|j| j.record.task == super::map::MAP_TASK)
    }

    /// The node's job state (`None` if the record expired).
    pub fn state(&self) -> Option<JobState> {
        self.job.as_ref().map(|j| j.state)
    }
}

/// The state of a workflow from its nodes' states.
pub fn state_of(nodes: &[NodeStatus]) -> WorkflowState {
    let failed = nodes
        .iter()
        .any(|n| !n.allow_failure && n.state() == Some(JobState::Dead));
    if failed {
        return WorkflowState::Failed;
    }
    if nodes.iter().any(|n| n.state() == Some(JobState::Cancelled)) {
        return WorkflowState::Cancelled;
    }
    if nodes
        .iter()
        .any(|n| n.state().is_some_and(|s| !s.is_terminal()))
    {
        return WorkflowState::Running;
    }
    WorkflowState::Succeeded
}

/// A handle to a submitted workflow: its nodes' states and outputs, wait,
/// cancel, retry.
#[derive(Clone)]
pub struct WorkflowHandle {
    meta: Arc<WorkflowMeta>,
    backend: Arc<dyn Backend>,
}

impl fmt::Debug for WorkflowHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkflowHandle")
            .field("id", &self.meta.id)
            .field("name", &self.meta.name)
            .finish()
    }
}

impl WorkflowHandle {
    pub(crate) fn new(meta: WorkflowMeta, backend: Arc<dyn Backend>) -> Self {
        WorkflowHandle {
            meta: Arc::new(meta),
            backend,
        }
    }

    /// The workflow's id.
    pub fn id(&self) -> &JobId {
        &self.meta.id
    }

    /// Its stored description.
    pub fn meta(&self) -> &WorkflowMeta {
        &self.meta
    }

    /// Every node's state, attempts, error and output, now.
    pub async fn nodes(&self) -> Result<Vec<NodeStatus>> {
        let infos = self.backend.jobs(&self.meta.node_ids()).await?;
        Ok(self
            .meta
            .nodes
            .iter()
            .zip(infos)
            .enumerate()
            .map(|(index, (m, job))| NodeStatus {
                index,
                task: m.task.clone(),
                deps: m.deps.clone(),
                job,
                allow_failure: m.allow_failure,
            })
            .collect())
    }

    /// The workflow's state now. A cancelled workflow is
    /// [`Cancelling`](WorkflowState::Cancelling) while any of its nodes, or
    /// of their run-time children and descendants, still runs.
    pub async fn state(&self) -> Result<WorkflowState> {
        let nodes = self.nodes().await?;
        let state = state_of(&nodes);
        if state == WorkflowState::Cancelled {
            let busy = nodes
                .iter()
                .any(|n| n.state().is_some_and(|s| !s.is_terminal()));
            if busy || self.unfinished_descendant().await?.is_some() {
                return Ok(WorkflowState::Cancelling);
            }
        }
        Ok(state)
    }

    /// The run-time children of node `index`: the items of a map node, the
    /// sub-tasks its task spawned, the nodes of the workflow it was replaced
    /// with. Children whose record expired are left out.
    pub async fn children(&self, index: usize) -> Result<Vec<JobInfo>> {
        let ids = self.backend.children(&self.meta.node_id(index)).await?;
        Ok(self
            .backend
            .jobs(&ids)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    /// A run-time descendant of any node that is not finished, if any.
    async fn unfinished_descendant(&self) -> Result<Option<JobId>> {
        let mut frontier = self.meta.node_ids();
        let mut seen: std::collections::HashSet<JobId> = frontier.iter().cloned().collect();
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for id in &frontier {
                for child in self.backend.children(id).await? {
                    if seen.insert(child.clone()) {
                        next.push(child);
                    }
                }
            }
            let infos = self.backend.jobs(&next).await?;
            if let Some(info) = infos.into_iter().flatten().find(|i| !i.state.is_terminal()) {
                return Ok(Some(info.record.id));
            }
            frontier = next;
        }
        Ok(None)
    }

    /// A typed handle to one node's job.
    pub fn node<T: DeserializeOwned>(&self, node: Node<T>) -> JobHandle<T> {
        JobHandle::new(self.meta.node_id(node.index()), self.backend.clone())
    }

    /// Waits for a node and returns its typed output; for a
    /// [`Group`](super::Group), its members' outputs in order, as a `Vec`.
    pub async fn output<P: Produces>(&self, of: P) -> Result<P::Output> {
        of.wait(self).await
    }

    /// Waits until every node is finished (or can't run any more) and
    /// returns the final state.
    pub async fn wait(&self) -> Result<WorkflowState> {
        let ids = self.meta.node_ids();
        loop {
            let infos = self.backend.jobs(&ids).await?;
            match ids
                .iter()
                .zip(&infos)
                .find(|(_, i)| i.as_ref().is_some_and(|i| !i.state.is_terminal()))
            {
                Some((id, _)) => {
                    self.backend.wait(id, Duration::from_secs(1)).await?;
                }
                None => {
                    // A cancelled workflow is done once its run-time work is.
                    if state_of(&self.nodes().await?) != WorkflowState::Cancelled {
                        return self.state().await;
                    }
                    match self.unfinished_descendant().await? {
                        Some(id) => {
                            self.backend.wait(&id, Duration::from_secs(1)).await?;
                        }
                        None => return self.state().await,
                    }
                }
            }
        }
    }

    /// Cancels the workflow: nodes not started never run; running tasks see
    /// the cancellation through their `Context`. It reaches the nodes'
    /// run-time children and their descendants too (map items, sub-tasks,
    /// replacement workflows). The workflow is
    /// [`Cancelling`](WorkflowState::Cancelling) until nothing of it runs,
    /// then [`Cancelled`](WorkflowState::Cancelled).
    pub async fn cancel(&self) -> Result<()> {
        for id in self.meta.node_ids().iter().rev() {
            match self.backend.cancel(id).await {
                Ok(_) | Err(Error::UnknownJob(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Re-runs a failed workflow: failed nodes run again and the nodes that
    /// depend on them wait for them; finished nodes keep their outputs.
    /// Returns how many nodes were revived.
    pub async fn retry(&self) -> Result<usize> {
        let infos = self.backend.jobs(&self.meta.node_ids()).await?;
        let mut revived = 0;
        // In node order, so a dependant is revived after what it waits for.
        for info in infos.into_iter().flatten() {
            if matches!(info.state, JobState::Dead | JobState::Cancelled)
                && self.backend.retry(&info.record.id).await?
            {
                revived += 1;
            }
        }
        Ok(revived)
    }
}
