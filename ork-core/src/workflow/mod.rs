//! Workflows: typed DAGs of task calls.
//!
//! A [`Workflow`] is built in code: each [`add`](Workflow::add) returns a
//! typed [`Node<T>`], and a node passed where a task argument of type `T` is
//! expected feeds its output into that argument (the compiler checks the
//! types). Nodes can only refer to nodes added before them, so a workflow is
//! acyclic by construction; [`Ork::submit`](crate::Ork::submit) checks it
//! again and stores it.
//!
//! ```ignore
//! let mut flow = Workflow::new("report");
//! let a = flow.add(fetch::call(url_a));                  // Node<Page>
//! let b = flow.add(fetch::call(url_b));
//! let merged = flow.add(merge::flow(flow.all([a, b])));  // Vec<Page> in
//! let urls = flow.add(list_urls::call(site));            // Node<Vec<Url>>
//! let each = flow.map(urls, |url| fetch::flow(url));     // Node<Vec<Page>>
//! let report = flow.add(render::flow(merged, each));
//! let run = ork.submit(flow).await?;
//! let pdf = run.output(report).await?;
//! ```
//!
//! Every node is a job whose id is `<workflow id>.<index>`; a node runs once
//! all the nodes it reads (or is ordered after) have succeeded.
//!
//! A [`Group<T>`] (calls run in parallel) is a value like a node whose
//! output is a `Vec<T>`: an input, a dependency, a chain step, a chord
//! header member, and an output to await. A group used as a chord header
//! member adds one node, the group's fan-in; otherwise a group is only its
//! members.

pub(crate) mod assemble;
mod canvas;
mod durable;
mod group;
mod handle;
mod input;
pub(crate) mod map;
mod meta;
mod parts;
mod subtask;

use std::collections::BTreeSet;

/// In the signatures the generated `task::flow(..)` calls
/// (`IntoInput::into_input`, `Call::from_inputs`), which never name them;
/// not a public API.
#[doc(hidden)]
pub use crate::node::{InputSpec, NodeRef};
pub use group::Group;
pub use handle::{state_of, NodeStatus, WorkflowHandle, WorkflowState};
pub use input::{All, Fallible, IntoInput, Item, Node};
pub use meta::{NodeMeta, WorkflowMeta};
pub use parts::{Dependency, Member, Produces, Step, Steps};

use crate::backend::Backend;
use crate::call::Call;
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::job::{JobId, JobRecord};

/// A workflow under construction. See the [module docs](self).
#[derive(Debug)]
pub struct Workflow {
    builder: u64,
    name: String,
    nodes: Vec<NodeEntry>,
    /// Mistakes found while building, reported by submit.
    errors: Vec<String>,
}

#[derive(Debug)]
struct NodeEntry {
    kind: NodeKind,
    after: Vec<NodeRef>,
    allow_failure: bool,
}

#[derive(Debug)]
enum NodeKind {
    Call(Call<()>),
    Map {
        list: NodeRef,
        template: Call<()>,
    },
    /// A group's fan-in: lists its members' outputs.
    Gather(Vec<NodeRef>),
}

impl NodeEntry {
    fn refs(&self) -> Vec<NodeRef> {
        let mut refs = self.after.clone();
        match &self.kind {
            NodeKind::Call(call) => refs.extend(call.node_refs()),
            NodeKind::Map { list, template } => {
                refs.push(*list);
                refs.extend(template.node_refs());
            }
            NodeKind::Gather(members) => refs.extend(members),
        }
        refs
    }

    fn task(&self) -> &'static str {
        match &self.kind {
            NodeKind::Call(call) => call.task_name(),
            NodeKind::Map { template, .. } => template.task_name(),
            NodeKind::Gather(_) => group::GROUP_TASK,
        }
    }
}

impl Workflow {
    /// An empty workflow; the name is for people (listings, the dashboard).
    pub fn new(name: impl Into<String>) -> Self {
        Workflow {
            builder: fastrand::u64(..),
            name: name.into(),
            nodes: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// The workflow's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many nodes it has.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether it has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn push(&mut self, kind: NodeKind, after: Vec<NodeRef>) -> NodeRef {
        let node = NodeRef {
            builder: self.builder,
            index: self.nodes.len(),
        };
        self.nodes.push(NodeEntry {
            kind,
            after,
            allow_failure: false,
        });
        node
    }

    /// Orders the existing `node` after `after` as well.
    fn order_after(&mut self, node: NodeRef, after: &[NodeRef]) {
        match self.nodes.get_mut(node.index) {
            Some(entry) if node.builder == self.builder => entry.after.extend_from_slice(after),
            _ => self.errors.push(format!(
                "node {} of another workflow is ordered in this one",
                node.index
            )),
        }
    }

    /// Adds a call as a node. Its arguments may read other nodes (build it
    /// with the task's `flow(..)` constructor).
    pub fn add<T>(&mut self, call: Call<T>) -> Node<T> {
        Node::new(self.push(NodeKind::Call(call.erase()), Vec::new()))
    }

    /// Adds a call that runs only after `after` have succeeded, without
    /// reading their outputs: nodes, or groups (every member), as
    /// `[a, b]` or `[group]`.
    pub fn add_after<T, D>(&mut self, call: Call<T>, after: impl IntoIterator<Item = D>) -> Node<T>
    where
        D: Dependency,
    {
        let after = after.into_iter().flat_map(|d| d.nodes()).collect();
        Node::new(self.push(NodeKind::Call(call.erase()), after))
    }

    /// Lets `node` fail without failing the workflow: its dependants still
    /// run, and receive `Result<T, TaskError>` through the returned handle.
    pub fn allow_failure<T>(&mut self, node: Node<T>) -> Fallible<T> {
        if let Some(entry) = self.nodes.get_mut(node.node.index) {
            if node.node.builder == self.builder {
                entry.allow_failure = true;
            }
        }
        Fallible::new(node.node)
    }

    /// The outputs of `nodes`, in order, for an argument of type `Vec<T>` (fan-in).
    pub fn all<T>(&self, nodes: impl IntoIterator<Item = Node<T>>) -> All<T> {
        All::new(nodes.into_iter().map(|n| n.node).collect())
    }

    /// Fans out over a list known only at run time: one call per item of
    /// `list`'s output, built by `f` from the item; the node's output is the
    /// list of their outputs, in order. An empty list gives an empty output.
    pub fn map<I, U>(
        &mut self,
        list: Node<Vec<I>>,
        f: impl FnOnce(Item<I>) -> Call<U>,
    ) -> Node<Vec<U>> {
        let template = f(Item::new()).erase();
        Node::new(self.push(
            NodeKind::Map {
                list: list.node,
                template,
            },
            Vec::new(),
        ))
    }

    /// Adds a whole workflow as one node whose output is `output`'s: the
    /// nodes of `inner` join this workflow, and nodes after this one wait
    /// for `output`.
    pub fn add_flow<T>(&mut self, inner: Workflow, output: Node<T>) -> Node<T> {
        let offset = self.nodes.len();
        let (from, to) = (inner.builder, self.builder);
        let remap = |r: &mut NodeRef| {
            if r.builder == from {
                *r = NodeRef {
                    builder: to,
                    index: r.index + offset,
                };
            }
        };
        for mut entry in inner.nodes {
            entry.after.iter_mut().for_each(remap);
            match &mut entry.kind {
                NodeKind::Call(call) => call.remap_nodes(&remap),
                NodeKind::Map { list, template } => {
                    remap(list);
                    template.remap_nodes(&remap);
                }
                NodeKind::Gather(members) => members.iter_mut().for_each(remap),
            }
            self.nodes.push(entry);
        }
        let mut out = output.node;
        remap(&mut out);
        Node::new(out)
    }

    /// Checks the graph and turns it into job records and its description.
    pub(crate) fn into_records(
        self,
        id: &JobId,
        codec: Codec,
        now_ms: u64,
    ) -> Result<(WorkflowMeta, Vec<JobRecord>)> {
        if let Some(error) = self.errors.first() {
            return Err(Error::Invalid(error.clone()));
        }
        let builder = self.builder;
        let mut metas = Vec::with_capacity(self.nodes.len());
        let mut records = Vec::with_capacity(self.nodes.len());
        for (index, entry) in self.nodes.into_iter().enumerate() {
            let mut deps = BTreeSet::new();
            for r in entry.refs() {
                if r.builder != builder {
                    return Err(Error::Invalid(format!(
                        "node {index} ({}) reads a node of another workflow",
                        entry.task()
                    )));
                }
                if r.index >= index {
                    return Err(Error::Invalid(format!(
                        "node {index} ({}) depends on node {}, which is not before it (a cycle?)",
                        entry.task(),
                        r.index
                    )));
                }
                deps.insert(r.index);
            }
            let resolve = |r: NodeRef| (r.builder == builder).then(|| id.child(r.index));
            let task = entry.task().to_owned();
            let mut record = match entry.kind {
                NodeKind::Call(call) => call.into_record_with(codec, &resolve)?,
                NodeKind::Map { list, template } => {
                    let template = template.into_record_with(codec, &resolve)?;
                    map::record(id.child(list.index), template, codec)?
                }
                NodeKind::Gather(members) => {
                    let first = members.first().and_then(|m| records.get(m.index));
                    let ids = members.iter().map(|m| id.child(m.index)).collect();
                    group::record(ids, codec, first)?
                }
            };
            record.id = id.child(index);
            record.workflow = Some(id.clone());
            record.deps = deps.iter().map(|d| id.child(*d)).collect();
            record.allow_failure = entry.allow_failure;
            metas.push(NodeMeta {
                task,
                deps: deps.into_iter().collect(),
                allow_failure: entry.allow_failure,
            });
            records.push(record);
        }
        if records.is_empty() {
            return Err(Error::Invalid(format!(
                "workflow `{}` has no node",
                self.name
            )));
        }
        let meta = WorkflowMeta {
            id: id.clone(),
            name: self.name,
            created_at_ms: now_ms,
            nodes: metas,
        };
        Ok((meta, records))
    }
}

/// Enqueues a workflow's nodes (one batch) and stores its description;
/// idempotent by id. The nodes go first: a batch the backend refuses (a
/// payload over its limit) leaves no description behind, which would
/// read as a workflow with every node finished.
pub(crate) async fn submit(
    backend: &dyn Backend,
    codec: Codec,
    flow: Workflow,
    id: JobId,
) -> Result<WorkflowMeta> {
    submit_under(backend, codec, flow, id, None).await
}

/// Like [`submit`], with every node a run-time child of `parent` (a
/// replacement workflow), so that cancelling the parent reaches them.
pub(crate) async fn submit_under(
    backend: &dyn Backend,
    codec: Codec,
    flow: Workflow,
    id: JobId,
    parent: Option<&JobId>,
) -> Result<WorkflowMeta> {
    let now = backend.now_ms().await?;
    let (meta, mut records) = flow.into_records(&id, codec, now)?;
    if let Some(parent) = parent {
        for r in &mut records {
            r.parent = Some(parent.clone());
        }
    }
    let description = meta.encode()?;
    backend.enqueue(records).await?;
    backend.put_workflow(&meta.id, description).await?;
    Ok(meta)
}
