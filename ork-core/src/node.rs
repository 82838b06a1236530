//! Where a call's arguments come from before a workflow is submitted: a
//! value known now, or the outputs of workflow nodes, named by position.
//!
//! This sits below both calls and workflows: a [`Call`](crate::Call) keeps
//! its arguments as [`InputSpec`]s, and a workflow resolves the
//! [`NodeRef`]s in them to job ids when it is submitted.

use std::fmt;

use crate::codec::EncodeArgs;

/// A node of a workflow under construction, by its position.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeRef {
    pub(crate) builder: u64,
    pub(crate) index: usize,
}

/// Where one argument of a call comes from, before submit.
#[doc(hidden)]
pub enum InputSpec {
    /// A value known now.
    Value(Box<dyn EncodeArgs>),
    /// A node's output.
    Output(NodeRef),
    /// A node's output or its error (`Result<T, TaskError>`).
    OutputOrError(NodeRef),
    /// The outputs of several nodes (`Vec<T>`).
    All(Vec<NodeRef>),
    /// The item of a `map` (filled in at run time).
    Item,
}

impl fmt::Debug for InputSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputSpec::Value(_) => f.write_str("Value(..)"),
            InputSpec::Output(n) => write!(f, "Output({})", n.index),
            InputSpec::OutputOrError(n) => write!(f, "OutputOrError({})", n.index),
            InputSpec::All(ns) => write!(f, "All({} nodes)", ns.len()),
            InputSpec::Item => f.write_str("Item"),
        }
    }
}

impl InputSpec {
    /// The nodes this input reads.
    pub(crate) fn nodes(&self) -> Vec<NodeRef> {
        match self {
            InputSpec::Output(n) | InputSpec::OutputOrError(n) => vec![*n],
            InputSpec::All(ns) => ns.clone(),
            InputSpec::Value(_) | InputSpec::Item => Vec::new(),
        }
    }

    /// Rewrites the nodes this input reads (nested workflows).
    pub(crate) fn remap(&mut self, f: &dyn Fn(&mut NodeRef)) {
        match self {
            InputSpec::Output(n) | InputSpec::OutputOrError(n) => f(n),
            InputSpec::All(ns) => ns.iter_mut().for_each(f),
            InputSpec::Value(_) | InputSpec::Item => {}
        }
    }
}
