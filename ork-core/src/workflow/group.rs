//! Groups: calls that run in parallel, as one value whose output is the
//! list of theirs.
//!
//! A group is its member nodes, added one after another. Read as an input
//! or awaited with `run.output(..)`, it is read member by member; ordered
//! after, it waits for every member. Only where its list must be one output
//! of its own (a member of a chord's header) is a fan-in node added: the
//! built-in task [`GROUP_TASK`], which lists its members' outputs.

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use super::input::{IntoInput, Node};
use crate::backend::BoxFuture;
use crate::codec::Codec;
use crate::context::Context;
use crate::error::Result;
use crate::job::{JobId, JobRecord};
use crate::node::{InputSpec, NodeRef};
use crate::task::{RunError, TaskEntry, TaskOptions};

/// The name of the built-in task that lists a group's outputs.
pub(crate) const GROUP_TASK: &str = "ork::group";

/// Calls of a workflow that run in parallel, made by
/// [`Workflow::group`](super::Workflow::group); its output is theirs, in
/// order, as a `Vec<T>`.
///
/// A group goes where a node goes: as an argument of type `Vec<T>`, in
/// `add_after`, as a step of [`chain`](super::Workflow::chain), as a member
/// of a [`chord`](super::Workflow::chord)'s header, and in
/// [`run.output(..)`](super::WorkflowHandle::output). Iterating it gives its
/// member nodes.
pub struct Group<T> {
    pub(crate) builder: u64,
    pub(crate) first: usize,
    pub(crate) len: usize,
    _output: PhantomData<fn() -> T>,
}

impl<T> Group<T> {
    pub(crate) fn new(builder: u64, first: usize, len: usize) -> Self {
        Group {
            builder,
            first,
            len,
            _output: PhantomData,
        }
    }

    /// How many members it has.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no member (its output is an empty list).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its members, in order.
    pub fn members(&self) -> impl Iterator<Item = Node<T>> {
        let builder = self.builder;
        (self.first..self.first + self.len).map(move |index| Node::new(NodeRef { builder, index }))
    }

    /// Its members as references.
    pub(crate) fn refs(&self) -> Vec<NodeRef> {
        self.members().map(|n| n.node).collect()
    }
}

impl<T> Clone for Group<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Group<T> {}

impl<T> fmt::Debug for Group<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Group({}..{})", self.first, self.first + self.len)
    }
}

impl<T> IntoIterator for Group<T> {
    type Item = Node<T>;
    type IntoIter = std::vec::IntoIter<Node<T>>;

    fn into_iter(self) -> Self::IntoIter {
        self.members().collect::<Vec<_>>().into_iter()
    }
}

impl<T> IntoInput<Vec<T>> for Group<T> {
    fn into_input(self) -> InputSpec {
        InputSpec::All(self.refs())
    }
}

impl<T> IntoInput<Vec<T>> for &Group<T> {
    fn into_input(self) -> InputSpec {
        InputSpec::All(self.refs())
    }
}

/// What a group's fan-in node stores: its members, in order.
#[derive(Debug, Serialize, Deserialize)]
struct GroupSpec {
    members: Vec<JobId>,
}

/// The record of a fan-in node over `members`, in their first member's
/// queue (a pool serving the members serves it too).
pub(crate) fn record(
    members: Vec<JobId>,
    codec: Codec,
    first: Option<&JobRecord>,
) -> Result<JobRecord> {
    let payload = codec.encode(&GroupSpec { members })?;
    let mut record = JobRecord::new(GROUP_TASK, payload);
    record.codec = codec;
    if let Some(first) = first {
        record.queue = first.queue.clone();
        record.priority = first.priority;
    }
    Ok(record)
}

fn split_none(_: usize, _: Codec, _: &[u8]) -> Result<Vec<Vec<u8>>> {
    Err(crate::Error::Invalid("the group task takes no list".into()))
}

inventory::submit! {
    TaskEntry { options: TaskOptions::new(GROUP_TASK), run: run_group, split: split_none }
}

/// Lists the members' outputs (they have all succeeded: they are its deps).
fn run_group(
    ctx: Context,
    codec: Codec,
    payload: Vec<u8>,
) -> BoxFuture<'static, Result<Vec<u8>, RunError>> {
    Box::pin(async move {
        let spec: GroupSpec = codec
            .decode(&payload)
            .map_err(|e| RunError::Decode(format!("undecodable group node: {e}")))?;
        let backend = ctx
            .backend()
            .ok_or_else(|| RunError::Decode("a group node runs only in a worker".into()))?
            .clone();
        let outputs = super::assemble::outputs(backend.as_ref(), &spec.members)
            .await
            .map_err(RunError::Decode)?;
        let refs: Vec<&[u8]> = outputs.iter().map(Vec::as_slice).collect();
        Ok(codec.seq(&refs))
    })
}
