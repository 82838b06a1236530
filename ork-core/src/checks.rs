//! Compile-time checks used by the code `#[ork::task]` generates, so that
//! misuse is reported at the user's own tokens.
//!
//! The macro can't see whether a type implements a trait; it names these
//! types and calls these functions with spans at the user's tokens instead
//! (an argument's type, the output type, the function's name), and the
//! marker traits carry `#[diagnostic::on_unimplemented]` messages that say
//! what a task needs. Not a public API.

use std::fmt::Display;
use std::future::Future;
use std::marker::PhantomData;

use serde::{de::DeserializeOwned, Serialize};

use crate::backend::BoxFuture;
use crate::error::TaskError;
use crate::task::run_blocking;

/// A type a task can take as an argument: it travels through the queue.
#[diagnostic::on_unimplemented(
    message = "task argument `{Self}` must implement serde::Serialize and serde::Deserialize",
    label = "not Serialize + Deserialize",
    note = "a task's arguments are encoded into the job and decoded by the worker: derive `serde::Serialize` and `serde::Deserialize` for `{Self}`, or pass a type that has them"
)]
pub trait TaskArg {}

#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> TaskArg for T {}

/// A type a task can return: it is stored as the job's result.
#[diagnostic::on_unimplemented(
    message = "task output `{Self}` must implement serde::Serialize and serde::Deserialize",
    label = "not Serialize + Deserialize",
    note = "a task's output is encoded into the job's result and decoded by whoever awaits it: derive `serde::Serialize` and `serde::Deserialize` for `{Self}`, or return a type that has them"
)]
pub trait TaskOutput {}

#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> TaskOutput for T {}

/// An error a task can return: its message becomes the job's error.
#[diagnostic::on_unimplemented(
    message = "task error `{Self}` must implement std::fmt::Display",
    label = "not Display",
    note = "a failed task's error is recorded as its message: implement `Display` for `{Self}` (or return `anyhow::Result` / `ork::Result`)"
)]
pub trait TaskFailure {
    /// The error as the job records it.
    fn to_task_error(&self) -> TaskError;
}

#[diagnostic::do_not_recommend]
impl<E: Display + ?Sized> TaskFailure for E {
    fn to_task_error(&self) -> TaskError {
        TaskError::from_display(self)
    }
}

/// Well-formed only if `T` can be a task argument: the macro writes a
/// function taking an `Arg<T>` per argument, spanned at the type.
#[derive(Debug)]
pub struct Arg<T: TaskArg + Send + Sync>(PhantomData<T>);

/// Well-formed only if `T` can be a task output.
#[derive(Debug)]
pub struct Output<T: TaskOutput + Send>(PhantomData<T>);

/// Turns a task's error into a [`TaskError`]. The macro names this function
/// at the error type in the return type, where an error that isn't
/// `Display` is reported.
pub fn failure<E: TaskFailure>(error: E) -> TaskError {
    error.to_task_error()
}

/// The future of an `async fn` task, boxed, with its error turned into a
/// [`TaskError`] by `to_error` ([`failure`]). The `Send` bound is a check: a
/// future that isn't `Send` is reported at the call, which the macro spans at
/// the function's name.
pub fn task_future<F, T, E>(
    future: F,
    to_error: fn(E) -> TaskError,
) -> BoxFuture<'static, Result<T, TaskError>>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    E: 'static,
{
    Box::pin(async move { future.await.map_err(to_error) })
}

/// A plain `fn` task, run on the blocking pool when first polled, with its
/// error turned into a [`TaskError`] on that thread (so the error type need
/// not be `Send`).
pub fn blocking_task<F, T, E>(
    f: F,
    to_error: fn(E) -> TaskError,
) -> BoxFuture<'static, Result<T, TaskError>>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: 'static,
{
    Box::pin(async move { run_blocking(move || f().map_err(to_error)).await })
}
