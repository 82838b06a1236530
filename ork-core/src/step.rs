//! Durable steps and checkpoints: work a job does once, whatever the number
//! of times it runs.
//!
//! `ctx.step(name, body)` runs `body` the first time the job reaches it, and
//! stores its output (in the job's codec) under the job and `name`. When the
//! job runs again (a retry, a lost lease, a hand-back at shutdown), the step
//! returns the stored output and its body does not run. The write is fenced
//! by the attempt's lease: an attempt that is no longer the job's current
//! one records nothing, and its step call fails.
//!
//! `ctx.checkpoint(&state)` stores one value per job, replaced by every
//! call; `ctx.resume()` reads it back on a later run.
//!
//! A step whose stored output no longer decodes as the type asked for (its
//! name came to mean something else between deploys), a step name used
//! twice in one run, and a reserved name are errors that retrying can't
//! fix: the job is dead-lettered with the error, even if the task has
//! retries left.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::backend::CHECKPOINT;
use crate::context::Context;
use crate::error::{Error, Result};

/// How a step runs: [`Context::step_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepOptions {
    retries: u32,
    backoff: Duration,
}

impl Default for StepOptions {
    fn default() -> Self {
        StepOptions {
            retries: 0,
            backoff: Duration::from_millis(100),
        }
    }
}

impl StepOptions {
    /// A step whose body runs up to `n` more times when it returns an
    /// error, within the same attempt (see [`backoff`](Self::backoff)).
    pub fn retries(n: u32) -> Self {
        StepOptions {
            retries: n,
            ..StepOptions::default()
        }
    }

    /// The pause before the first retry of the body (100 ms unless set);
    /// it doubles with each retry, up to 5 s.
    pub fn backoff(mut self, first: Duration) -> Self {
        self.backoff = first;
        self
    }

    fn pause(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.min(16);
        self.backoff
            .saturating_mul(factor)
            .min(Duration::from_secs(5))
    }
}

/// What a context knows of its job's steps during one run.
#[derive(Default)]
pub(crate) struct StepState {
    /// The steps stored before this run, read at the first step call; then
    /// kept up to date with this run's writes.
    stored: tokio::sync::OnceCell<Mutex<HashMap<String, Vec<u8>>>>,
    /// Step names this run has used.
    used: Mutex<HashSet<String>>,
    /// Why this run can't succeed by retrying, if a step found out.
    fatal: Mutex<Option<String>>,
    /// This run's durable timers and waits.
    pub(crate) parking: crate::durable::Parking,
}

impl fmt::Debug for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepState").finish_non_exhaustive()
    }
}

impl StepState {
    /// The fatal step error of this run, if any.
    pub(crate) fn fatal(&self) -> Option<String> {
        self.fatal.lock().expect("step lock").clone()
    }
}

impl Context {
    /// Runs `body` once for this job, and returns its output.
    ///
    /// The output is stored (in the job's codec) under the job and `name`
    /// when the body succeeds. On a later run of the job (a retry, a lease
    /// lost by a dead worker, a hand-back at shutdown) the step returns the
    /// stored output and `body` does not run. `body` is a closure that
    /// makes the future: `ctx.step("charge", || async { .. })`.
    ///
    /// Errors:
    /// - `body`'s own error, as [`Error::Step`] (nothing is stored, and the
    ///   next run of the job runs the body again);
    /// - the attempt is no longer the job's current one (its lease was
    ///   lost): nothing is stored and the attempt should stop;
    /// - `name` was already used in this run, is empty or starts with `@`
    ///   (reserved), or its stored output does not decode as `T`: the job
    ///   is dead-lettered with this error, as retrying can't help.
    ///
    /// Outside a worker ([`Context::detached`]) the body runs and nothing
    /// is stored beyond the context.
    pub async fn step<T, E, F, Fut>(&self, name: &str, body: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        E: fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.step_with(name, StepOptions::default(), body).await
    }

    /// [`step`](Self::step), with options: `ctx.step_with("charge",
    /// StepOptions::retries(3), || async { .. })` runs the body up to 3 more
    /// times when it fails, with a short pause between runs, before the
    /// step fails.
    pub async fn step_with<T, E, F, Fut>(
        &self,
        name: &str,
        options: StepOptions,
        mut body: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        E: fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.claim_name(name)?;
        if let Some(bytes) = self.stored_step(name).await? {
            return self.codec().decode::<T>(&bytes).map_err(|e| {
                self.fatal(
                    name,
                    format!(
                        "its stored output does not decode as `{}` ({e}); \
                         did the step's name come to mean something else? \
                         Give a changed step a new name",
                        std::any::type_name::<T>()
                    ),
                )
            });
        }
        let mut retry = 0;
        let output = loop {
            match body().await {
                Ok(output) => break output,
                Err(e) if retry < options.retries => {
                    tracing::debug!(step = name, retry, error = %e, "step failed; retrying");
                    let pause = options.pause(retry);
                    retry += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = self.cancellation().cancelled() => {
                            return Err(step_error(name, format!(
                                "failed ({e:#}); not retried: the attempt is stopping"
                            )));
                        }
                    }
                }
                Err(e) => {
                    let runs = if retry == 0 {
                        String::new()
                    } else {
                        format!(" (after {} runs)", retry + 1)
                    };
                    return Err(step_error(name, format!("failed{runs}: {e:#}")));
                }
            }
        };
        let bytes = self.codec().encode(&output)?;
        if let Err(e) = self.codec().decode::<T>(&bytes) {
            return Err(self.fatal(
                name,
                format!(
                    "its output does not decode back as `{}` ({e}), so a re-run could not reuse it",
                    std::any::type_name::<T>()
                ),
            ));
        }
        self.store(name, bytes).await?;
        Ok(output)
    }

    /// Stores `state` as this job's checkpoint, replacing the previous one.
    /// A later run of the job (a retry, a lost lease, a hand-back at
    /// shutdown) reads it with [`resume`](Self::resume). Fenced like a
    /// step: an attempt that is no longer the job's current one stores
    /// nothing and gets an error.
    pub async fn checkpoint<S: Serialize>(&self, state: &S) -> Result<()> {
        let bytes = self.codec().encode(state)?;
        self.store(CHECKPOINT, bytes).await
    }

    /// The job's last checkpoint (see [`checkpoint`](Self::checkpoint)):
    /// `None` when none was stored. A checkpoint that does not decode as
    /// `S` is an error (the job is dead-lettered with it).
    pub async fn resume<S: DeserializeOwned>(&self) -> Result<Option<S>> {
        match self.stored_step(CHECKPOINT).await? {
            None => Ok(None),
            Some(bytes) => self.codec().decode::<S>(&bytes).map(Some).map_err(|e| {
                self.fatal(
                    CHECKPOINT,
                    format!(
                        "the checkpoint does not decode as `{}` ({e})",
                        std::any::type_name::<S>()
                    ),
                )
            }),
        }
    }

    /// Records `name` as used in this run: an error if it is not a valid
    /// step name or was used already.
    fn claim_name(&self, name: &str) -> Result<()> {
        if name.is_empty() || name.starts_with('@') {
            return Err(self.fatal(
                name,
                "step names must not be empty or start with `@` (reserved)".to_owned(),
            ));
        }
        let fresh = self
            .steps_state()
            .used
            .lock()
            .expect("step lock")
            .insert(name.to_owned());
        if fresh {
            Ok(())
        } else {
            Err(self.fatal(
                name,
                "this name was already used in this run: each step needs a name of its own"
                    .to_owned(),
            ))
        }
    }

    /// The steps stored for this job, read once per run.
    async fn stored(&self) -> Result<&Mutex<HashMap<String, Vec<u8>>>> {
        self.steps_state()
            .stored
            .get_or_try_init(|| async {
                let steps = match self.backend() {
                    Some(backend) => backend.steps(self.job_id()).await?,
                    None => Vec::new(),
                };
                Ok::<_, Error>(Mutex::new(steps.into_iter().collect()))
            })
            .await
    }

    pub(crate) async fn stored_step(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let stored = self.stored().await?;
        Ok(stored.lock().expect("step lock").get(name).cloned())
    }

    /// Writes a step's output, fenced by this attempt's lease.
    pub(crate) async fn store(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let stored = self.stored().await?;
        if let Some((backend, lease)) = self.runtime() {
            if !backend.put_step(lease, name, &bytes).await? {
                return Err(step_error(
                    name,
                    "not recorded: this attempt's lease is no longer current \
                     (the job was handed to another worker or has ended)",
                ));
            }
        }
        stored
            .lock()
            .expect("step lock")
            .insert(name.to_owned(), bytes);
        Ok(())
    }

    /// Records an error retrying can't fix, and returns it.
    pub(crate) fn fatal(&self, name: &str, message: String) -> Error {
        let e = step_error(name, message);
        let mut fatal = self.steps_state().fatal.lock().expect("step lock");
        fatal.get_or_insert_with(|| e.to_string());
        e
    }
}

fn step_error(name: &str, message: impl Into<String>) -> Error {
    Error::Step {
        step: name.to_owned(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StateMap;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_detached_context_runs_steps_and_refuses_duplicates() {
        let ctx = Context::detached(StateMap::default());
        let runs = AtomicU32::new(0);
        let out: u32 = ctx
            .step("a", || async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(7)
            })
            .await
            .unwrap();
        assert_eq!(out, 7);
        let again = ctx.step("a", || async { Ok::<_, Error>(8u32) }).await;
        let msg = again.unwrap_err().to_string();
        assert!(msg.contains("already used in this run"), "{msg}");
        assert!(ctx.steps_state().fatal().is_some());
        let reserved = ctx.step("@x", || async { Ok::<_, Error>(1u8) }).await;
        assert!(reserved.is_err());
        assert_eq!(ctx.resume::<u32>().await.unwrap(), None);
        ctx.checkpoint(&41u32).await.unwrap();
        assert_eq!(ctx.resume::<u32>().await.unwrap(), Some(41));
    }

    #[tokio::test(start_paused = true)]
    async fn step_with_retries_the_body() {
        let ctx = Context::detached(StateMap::default());
        let runs = AtomicU32::new(0);
        let out = ctx
            .step_with("flaky", StepOptions::retries(3), || async {
                if runs.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err("not yet")
                } else {
                    Ok("done".to_owned())
                }
            })
            .await
            .unwrap();
        assert_eq!(out, "done");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        let err = ctx
            .step_with("never", StepOptions::retries(1), || async {
                Err::<u8, _>("down")
            })
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(err, "step `never`: failed (after 2 runs): down");
        assert!(ctx.steps_state().fatal().is_none());
    }
}
