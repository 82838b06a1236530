//! Typed inputs of workflow nodes: a value, another node's output, the
//! outputs of several nodes, or an item of a run-time list.

use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;

use crate::error::TaskError;
use crate::node::{InputSpec, NodeRef};

/// Something that can feed an argument of type `T` in a workflow: a value of
/// type `T`, a [`Node<T>`], a [`Group<T>`](super::Group) or [`All<T>`] for `Vec<T>`, a [`Fallible<T>`] for
/// `Result<T, TaskError>`, or the [`Item<T>`] of a map.
#[diagnostic::on_unimplemented(
    message = "`{Self}` can't feed a task argument of type `{T}`",
    label = "this input does not produce a `{T}`",
    note = "a `Node<X>` feeds an argument of type `X`; a `Group<X>`, or `flow.all([..])` of `Node<X>`s, feeds a `Vec<X>`"
)]
pub trait IntoInput<T> {
    /// The erased input (used by the generated `task::flow(..)` constructor).
    #[doc(hidden)]
    fn into_input(self) -> InputSpec;
}

impl<T: Serialize + Send + Sync + 'static> IntoInput<T> for T {
    fn into_input(self) -> InputSpec {
        InputSpec::Value(Box::new(self))
    }
}

/// A node of a workflow whose task returns `T`. Pass it where a task
/// argument of type `T` is expected to feed that output in.
pub struct Node<T> {
    pub(crate) node: NodeRef,
    _output: PhantomData<fn() -> T>,
}

impl<T> Node<T> {
    pub(crate) fn new(node: NodeRef) -> Self {
        Node {
            node,
            _output: PhantomData,
        }
    }

    /// The node's position in its workflow (its job id is `<workflow id>.<index>`).
    pub fn index(&self) -> usize {
        self.node.index
    }
}

impl<T> Clone for Node<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Node<T> {}

impl<T> fmt::Debug for Node<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node({})", self.node.index)
    }
}

impl<T> IntoInput<T> for Node<T> {
    fn into_input(self) -> InputSpec {
        InputSpec::Output(self.node)
    }
}

/// A node marked `allow_failure`: its dependants run even when it fails, and
/// receive `Result<T, TaskError>`.
pub struct Fallible<T> {
    pub(crate) node: NodeRef,
    _output: PhantomData<fn() -> T>,
}

impl<T> Fallible<T> {
    pub(crate) fn new(node: NodeRef) -> Self {
        Fallible {
            node,
            _output: PhantomData,
        }
    }

    /// The node's position in its workflow.
    pub fn index(&self) -> usize {
        self.node.index
    }
}

impl<T> Clone for Fallible<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Fallible<T> {}

impl<T> fmt::Debug for Fallible<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fallible({})", self.node.index)
    }
}

impl<T> IntoInput<Result<T, TaskError>> for Fallible<T> {
    fn into_input(self) -> InputSpec {
        InputSpec::OutputOrError(self.node)
    }
}

/// The outputs of several nodes, in order, as a `Vec<T>` (fan-in).
pub struct All<T> {
    pub(crate) nodes: Vec<NodeRef>,
    _output: PhantomData<fn() -> T>,
}

impl<T> All<T> {
    pub(crate) fn new(nodes: Vec<NodeRef>) -> Self {
        All {
            nodes,
            _output: PhantomData,
        }
    }
}

impl<T> fmt::Debug for All<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "All({} nodes)", self.nodes.len())
    }
}

impl<T> IntoInput<Vec<T>> for All<T> {
    fn into_input(self) -> InputSpec {
        InputSpec::All(self.nodes)
    }
}

/// One item of the list a `map` fans out over (known at run time).
pub struct Item<T> {
    _item: PhantomData<fn() -> T>,
}

impl<T> Item<T> {
    pub(crate) fn new() -> Self {
        Item { _item: PhantomData }
    }
}

impl<T> fmt::Debug for Item<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Item")
    }
}

impl<T> IntoInput<T> for Item<T> {
    fn into_input(self) -> InputSpec {
        InputSpec::Item
    }
}
