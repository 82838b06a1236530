//! What the workflow builder accepts besides calls: things to wait for,
//! chain steps, chord header members, and things with an output to await.
//! Nodes, fallible nodes and groups implement them, so a group goes
//! wherever a node does.

use serde::de::DeserializeOwned;

use super::group::Group;
use super::input::{Fallible, Node};
use super::{NodeKind, Workflow, WorkflowHandle};
use crate::backend::BoxFuture;
use crate::call::Call;
use crate::error::Result;
use crate::node::NodeRef;

mod sealed {
    /// Only ork's workflow types take part.
    pub trait Sealed {}
}

impl<T> sealed::Sealed for Call<T> {}
impl<T> sealed::Sealed for Node<T> {}
impl<T> sealed::Sealed for Fallible<T> {}
impl<T> sealed::Sealed for Group<T> {}
impl<T> sealed::Sealed for &Group<T> {}

/// Something a node can be ordered after with
/// [`add_after`](Workflow::add_after): a [`Node`], a [`Fallible`] node, or a
/// [`Group`] (every member of it).
pub trait Dependency: sealed::Sealed {
    /// The nodes to wait for.
    #[doc(hidden)]
    fn nodes(&self) -> Vec<NodeRef>;
}

impl<T> Dependency for Node<T> {
    fn nodes(&self) -> Vec<NodeRef> {
        vec![self.node]
    }
}

impl<T> Dependency for Fallible<T> {
    fn nodes(&self) -> Vec<NodeRef> {
        vec![self.node]
    }
}

impl<T> Dependency for Group<T> {
    fn nodes(&self) -> Vec<NodeRef> {
        self.refs()
    }
}

/// One step of a [`chain`](Workflow::chain): a call (the chain adds it), or
/// a node or a group already in the workflow (the chain orders it after the
/// step before, so it must have been added after that step).
pub trait Step: sealed::Sealed {
    /// The step as part of the workflow: a `Node<T>` for a call or a node,
    /// the `Group<T>` for a group.
    type Placed;

    /// Puts the step after `after`; returns it and what the next step waits
    /// for (nothing for an empty group).
    #[doc(hidden)]
    fn place(self, flow: &mut Workflow, after: &[NodeRef]) -> (Self::Placed, Vec<NodeRef>);
}

impl<T> Step for Call<T> {
    type Placed = Node<T>;

    fn place(self, flow: &mut Workflow, after: &[NodeRef]) -> (Node<T>, Vec<NodeRef>) {
        let node = flow.push(NodeKind::Call(self.erase()), after.to_vec());
        (Node::new(node), vec![node])
    }
}

impl<T> Step for Node<T> {
    type Placed = Node<T>;

    fn place(self, flow: &mut Workflow, after: &[NodeRef]) -> (Node<T>, Vec<NodeRef>) {
        flow.order_after(self.node, after);
        (self, vec![self.node])
    }
}

impl<T> Step for Group<T> {
    type Placed = Group<T>;

    fn place(self, flow: &mut Workflow, after: &[NodeRef]) -> (Group<T>, Vec<NodeRef>) {
        let members = self.refs();
        for member in &members {
            flow.order_after(*member, after);
        }
        (self, members)
    }
}

/// The steps of a [`chain`](Workflow::chain): a tuple of steps of any kinds,
/// `(group1, group2, task3::call(..))`, or an array or `Vec` of steps of one
/// kind.
pub trait Steps {
    /// What the chain returns: its last step as part of the workflow (an
    /// `Option` for an array or a `Vec`, which may be empty).
    type Last;

    /// Adds and orders the steps.
    #[doc(hidden)]
    fn place_all(self, flow: &mut Workflow) -> Self::Last;
}

/// Places `step` after `after`; returns it and what the next step waits for
/// (`after` again past an empty group, so order carries over it).
fn next<S: Step>(flow: &mut Workflow, step: S, after: Vec<NodeRef>) -> (S::Placed, Vec<NodeRef>) {
    let (placed, refs) = step.place(flow, &after);
    (placed, if refs.is_empty() { after } else { refs })
}

fn place_list<S: Step>(
    flow: &mut Workflow,
    steps: impl IntoIterator<Item = S>,
) -> Option<S::Placed> {
    let mut after = Vec::new();
    let mut last = None;
    for step in steps {
        let (placed, refs) = next(flow, step, after);
        after = refs;
        last = Some(placed);
    }
    last
}

impl<S: Step, const N: usize> Steps for [S; N] {
    type Last = Option<S::Placed>;

    fn place_all(self, flow: &mut Workflow) -> Self::Last {
        place_list(flow, self)
    }
}

impl<S: Step> Steps for Vec<S> {
    type Last = Option<S::Placed>;

    fn place_all(self, flow: &mut Workflow) -> Self::Last {
        place_list(flow, self)
    }
}

macro_rules! steps_tuple {
    ($($s:ident)* ; $last:ident) => {
        impl<$($s: Step,)* $last: Step> Steps for ($($s,)* $last,) {
            type Last = $last::Placed;

            #[allow(non_snake_case)]
            fn place_all(self, flow: &mut Workflow) -> Self::Last {
                let ($($s,)* $last,) = self;
                let after: Vec<NodeRef> = Vec::new();
                $(let (_, after) = next(flow, $s, after);)*
                next(flow, $last, after).0
            }
        }
    };
}

steps_tuple!(; A);
steps_tuple!(A; B);
steps_tuple!(A B; C);
steps_tuple!(A B C; D);
steps_tuple!(A B C D; E);
steps_tuple!(A B C D E; F);
steps_tuple!(A B C D E F; G);
steps_tuple!(A B C D E F G; H);

/// One member of a [`chord`](Workflow::chord)'s header, whose output is one
/// item of the list the callback receives: a call (the chord adds it) or a
/// node, giving its `T`, or a group, giving its `Vec<T>`.
pub trait Member: sealed::Sealed {
    /// The member's output: one item of the callback's `Vec`.
    type Output;

    /// Adds the member if needed; returns the node whose output is its own.
    #[doc(hidden)]
    fn place(self, flow: &mut Workflow) -> NodeRef;
}

impl<T> Member for Call<T> {
    type Output = T;

    fn place(self, flow: &mut Workflow) -> NodeRef {
        flow.push(NodeKind::Call(self.erase()), Vec::new())
    }
}

impl<T> Member for Node<T> {
    type Output = T;

    fn place(self, _: &mut Workflow) -> NodeRef {
        self.node
    }
}

impl<T> Member for Group<T> {
    type Output = Vec<T>;

    fn place(self, flow: &mut Workflow) -> NodeRef {
        flow.push(NodeKind::Gather(self.refs()), Vec::new())
    }
}

/// Something of a submitted workflow whose output can be awaited with
/// [`run.output(..)`](WorkflowHandle::output): a [`Node`] (its `T`) or a
/// [`Group`] (its members' outputs, in order, as a `Vec<T>`).
pub trait Produces: sealed::Sealed {
    /// The output.
    type Output;

    /// Waits for the output.
    #[doc(hidden)]
    fn wait(self, run: &WorkflowHandle) -> BoxFuture<'_, Result<Self::Output>>;
}

impl<T: DeserializeOwned + Send + 'static> Produces for Node<T> {
    type Output = T;

    fn wait(self, run: &WorkflowHandle) -> BoxFuture<'_, Result<T>> {
        let job = run.node(self);
        Box::pin(async move { job.result().await })
    }
}

impl<T: DeserializeOwned + Send + 'static> Produces for Group<T> {
    type Output = Vec<T>;

    fn wait(self, run: &WorkflowHandle) -> BoxFuture<'_, Result<Vec<T>>> {
        let jobs: Vec<_> = self.members().map(|m| run.node(m)).collect();
        Box::pin(async move {
            let mut outputs = Vec::with_capacity(jobs.len());
            for job in jobs {
                outputs.push(job.result().await?);
            }
            Ok(outputs)
        })
    }
}

impl<T: DeserializeOwned + Send + 'static> Produces for &Group<T> {
    type Output = Vec<T>;

    fn wait(self, run: &WorkflowHandle) -> BoxFuture<'_, Result<Vec<T>>> {
        (*self).wait(run)
    }
}
