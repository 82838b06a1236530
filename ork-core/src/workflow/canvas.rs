//! Celery's canvas in workflow terms: chain, group, chord.

use super::group::Group;
use super::input::{All, Node};
use super::parts::{Member, Steps};
use super::{NodeKind, Workflow};
use crate::call::Call;

impl Workflow {
    /// Celery's chain, as ordering: each step runs after the one before
    /// (after every member of a group). Steps are calls, which the chain
    /// adds, or nodes and groups already added (in chain order):
    /// `flow.chain((group1, group2, task3::call()))`, or an array of calls.
    /// Returns the last step (an `Option` for an array or a `Vec`). To pass
    /// outputs along, feed nodes and groups into `flow(..)` calls as well.
    pub fn chain<S: Steps>(&mut self, steps: S) -> S::Last {
        steps.place_all(self)
    }

    /// Celery's group: the calls run in parallel. The [`Group`] feeds an
    /// argument of type `Vec<T>`, and goes wherever a node goes.
    pub fn group<T>(&mut self, calls: impl IntoIterator<Item = Call<T>>) -> Group<T> {
        let first = self.nodes.len();
        for call in calls {
            self.push(NodeKind::Call(call.erase()), Vec::new());
        }
        Group::new(self.builder, first, self.nodes.len() - first)
    }

    /// Celery's chord: a header whose outputs feed one callback, as a
    /// `Vec` in header order. Its members are calls (the chord adds them),
    /// nodes, or groups, each giving one item (a group its `Vec<T>`); a
    /// group as the whole header gives its members' outputs.
    pub fn chord<M: Member, U>(
        &mut self,
        header: impl IntoIterator<Item = M>,
        callback: impl FnOnce(All<M::Output>) -> Call<U>,
    ) -> Node<U> {
        let members = header.into_iter().map(|m| m.place(self)).collect();
        let call = callback(All::new(members));
        self.add(call)
    }
}
