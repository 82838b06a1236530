//! Catching a panic inside a task's future, so a panicking task fails its
//! attempt instead of taking the worker down. futures-util's
//! `catch_unwind` does the work, without a box of its own: the task's
//! future is already boxed by the registry.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::future::CatchUnwind;
use futures_util::FutureExt as _;

/// A future that yields `Err(payload)` if polling the inner one panicked.
pub(crate) type Caught<F> = CatchUnwind<AssertUnwindSafe<F>>;

/// Wraps a future so a panic while polling it becomes an `Err`. The
/// attempt's state is dropped with it, so no broken invariant outlives it.
pub(crate) fn catch<F: Future>(inner: F) -> Caught<F> {
    AssertUnwindSafe(inner).catch_unwind()
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
