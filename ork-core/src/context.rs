//! The Context a task may take as its first parameter.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, BoxFuture, Lease};
use crate::codec::Codec;
use crate::job::JobId;
use crate::step::StepState;

/// The app's state, by type (given to the worker with `.state(x)`).
#[derive(Default, Clone)]
pub struct StateMap {
    map: HashMap<TypeId, Entry>,
}

#[derive(Clone)]
struct Entry {
    value: Arc<dyn Any + Send + Sync>,
    /// The type's name, to say what a pool was given; `None` for ork's own
    /// entries, which are not the app's.
    name: Option<&'static str>,
}

impl fmt::Debug for StateMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMap")
            .field("types", &self.type_names())
            .finish_non_exhaustive()
    }
}

impl StateMap {
    /// Adds (or replaces) the value of type `T`.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.put(value, Some(std::any::type_name::<T>()));
    }

    /// Adds ork's own value of type `T`, left out of [`type_names`](Self::type_names).
    pub(crate) fn insert_internal<T: Send + Sync + 'static>(&mut self, value: T) {
        self.put(value, None);
    }

    fn put<T: Send + Sync + 'static>(&mut self, value: T, name: Option<&'static str>) {
        let value = Arc::new(value);
        self.map.insert(TypeId::of::<T>(), Entry { value, name });
    }

    /// The value of type `T`, if one was given.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.map.get(&TypeId::of::<T>())?.value.downcast_ref()
    }

    /// The names of the types given, sorted.
    pub fn type_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.map.values().filter_map(|e| e.name).collect();
        names.sort_unstable();
        names
    }
}

/// What a running task knows about its job, and what it can do.
///
/// Take it as the first parameter of a task: `async fn f(ctx: Context, ..)`.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

/// The worker slot an attempt occupies; given back while the task waits for
/// its sub-tasks, so parents can't starve their children of workers.
pub(crate) trait Slot: Send + Sync {
    /// Frees the slot (no-op if already free).
    fn release(&self);
    /// Takes a slot again (waits for one).
    fn reacquire(&self) -> BoxFuture<'_, ()>;
}

struct Inner {
    job_id: JobId,
    workflow: Option<JobId>,
    spawned: AtomicUsize,
    slot: Option<Arc<dyn Slot>>,
    task: &'static str,
    attempt: u32,
    codec: Codec,
    cancel: CancellationToken,
    state: Arc<StateMap>,
    runtime: Option<(Arc<dyn Backend>, Lease)>,
    steps: StepState,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("job_id", &self.inner.job_id)
            .field("task", &self.inner.task)
            .field("attempt", &self.inner.attempt)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context for a claimed job (built by the worker).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn for_attempt(
        task: &'static str,
        attempt: u32,
        codec: Codec,
        cancel: CancellationToken,
        state: Arc<StateMap>,
        backend: Arc<dyn Backend>,
        lease: Lease,
        workflow: Option<JobId>,
        slot: Arc<dyn Slot>,
    ) -> Self {
        Context {
            inner: Arc::new(Inner {
                job_id: lease.id.clone(),
                workflow,
                spawned: AtomicUsize::new(0),
                slot: Some(slot),
                task,
                attempt,
                codec,
                cancel,
                state,
                runtime: Some((backend, lease)),
                steps: StepState::default(),
            }),
        }
    }

    /// A context outside any worker, to call a task function directly (in a
    /// unit test, say). Progress goes nowhere; `state` has what is given here.
    pub fn detached(state: StateMap) -> Self {
        Context {
            inner: Arc::new(Inner {
                job_id: JobId::new(),
                workflow: None,
                spawned: AtomicUsize::new(0),
                slot: None,
                task: "detached",
                attempt: 1,
                codec: Codec::default(),
                cancel: CancellationToken::new(),
                state: Arc::new(state),
                runtime: None,
                steps: StepState::default(),
            }),
        }
    }

    /// This job's id.
    pub fn job_id(&self) -> &JobId {
        &self.inner.job_id
    }

    /// The task's registered name.
    pub fn task_name(&self) -> &'static str {
        self.inner.task
    }

    /// This attempt's number, from 1.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// How many times this job has been handed to a worker, this time
    /// included: greater than [`attempt`](Self::attempt) when an earlier
    /// delivery lost its lease (its worker died, stalled or was cut off) or
    /// was handed back at a shutdown; neither counts as an attempt. 1
    /// outside a worker.
    pub fn delivery(&self) -> u64 {
        self.fence().max(1)
    }

    /// This attempt's fencing token: it grows with every delivery, and the
    /// backend refuses any write from an attempt whose token is not the
    /// job's current one. Pass it on to systems that can check it (a
    /// database row's version, a storage API's precondition), so a stale
    /// attempt can't overwrite a newer one's work there either. 0 outside a
    /// worker.
    pub fn fence(&self) -> u64 {
        self.inner
            .runtime
            .as_ref()
            .map_or(0, |(_, lease)| lease.fence)
    }

    /// The codec of this job's payload.
    pub fn codec(&self) -> Codec {
        self.inner.codec
    }

    /// Cancelled when the job is cancelled, times out, or the worker shuts
    /// down past its grace period. Long tasks should check it or select on
    /// [`CancellationToken::cancelled`].
    pub fn cancellation(&self) -> &CancellationToken {
        &self.inner.cancel
    }

    /// Whether the job was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Reports progress, 0 to 100 (shown by `ork` and the dashboard). Sent in
    /// the background; never fails the task.
    pub fn progress(&self, percent: u8) {
        let percent = percent.min(100);
        if let Some((backend, lease)) = &self.inner.runtime {
            let backend = backend.clone();
            let lease = lease.clone();
            tokio::spawn(async move {
                if let Err(e) = backend.progress(&lease, percent).await {
                    tracing::debug!(error = %e, "progress not recorded");
                }
            });
        }
    }

    /// The app's state of type `T`, as given to the worker with `.state(x)`.
    ///
    /// # Panics
    /// When the worker was given no state of this type: the panic fails the
    /// attempt with a message that names `T` and lists the types the worker
    /// was given (a common slip is `Arc<S>` given, `S` asked for, or the
    /// reverse). See [`Context::try_state`].
    pub fn state<T: Send + Sync + 'static>(&self) -> &T {
        match self.try_state::<T>() {
            Some(v) => v,
            None => panic!("{}", missing_state::<T>(&self.inner.state)),
        }
    }

    /// The app's state of type `T`, if the worker has one.
    pub fn try_state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.inner.state.get::<T>()
    }

    /// The workflow this job is a node of, if any.
    pub fn workflow_id(&self) -> Option<&JobId> {
        self.inner.workflow.as_ref()
    }

    /// The backend of this attempt; `None` outside a worker.
    pub(crate) fn backend(&self) -> Option<&Arc<dyn Backend>> {
        self.inner.runtime.as_ref().map(|(b, _)| b)
    }

    /// The backend and lease of this attempt; `None` outside a worker.
    pub(crate) fn runtime(&self) -> Option<&(Arc<dyn Backend>, Lease)> {
        self.inner.runtime.as_ref()
    }

    /// What this run knows of its durable steps.
    pub(crate) fn steps_state(&self) -> &StepState {
        &self.inner.steps
    }

    /// The next position for a child (sub-task or sub-workflow): children
    /// get ids from their parent's id and this position, so a re-run finds them.
    pub(crate) fn next_child(&self) -> usize {
        self.inner.spawned.fetch_add(1, Ordering::SeqCst)
    }

    /// Gives the worker slot back while waiting.
    pub(crate) fn release_slot(&self) {
        if let Some(slot) = &self.inner.slot {
            slot.release();
        }
    }

    /// Takes a worker slot again after waiting.
    pub(crate) async fn reacquire_slot(&self) {
        if let Some(slot) = &self.inner.slot {
            slot.reacquire().await;
        }
    }
}

/// Why `ctx.state::<T>()` found nothing: the type asked for and the types given.
fn missing_state<T>(given: &StateMap) -> String {
    let names = given.type_names();
    let given = if names.is_empty() {
        "it was given none".to_owned()
    } else {
        let listed: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        format!("it was given {}", listed.join(", "))
    };
    format!(
        "no state of type `{}` was given to the worker (call `.state(value)` on the worker builder); {given}",
        std::any::type_name::<T>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Db;

    #[test]
    fn a_missing_state_lists_the_types_given() {
        let mut given = StateMap::default();
        given.insert(Arc::new(Db));
        given.insert(42u32);
        given.insert_internal(String::from("ork's own"));
        let ctx = Context::detached(given);
        assert_eq!(ctx.state::<u32>(), &42);
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ctx.state::<Db>();
        }))
        .unwrap_err();
        let msg = panic.downcast_ref::<String>().unwrap();
        assert_eq!(
            msg,
            "no state of type `ork_core::context::tests::Db` was given to the worker \
             (call `.state(value)` on the worker builder); it was given \
             `alloc::sync::Arc<ork_core::context::tests::Db>`, `u32`"
        );
        let none = missing_state::<Db>(&StateMap::default());
        assert!(none.ends_with("; it was given none"), "{none}");
    }
}
