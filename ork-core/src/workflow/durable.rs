//! Workflow nodes that sleep or wait for a signal: built-in tasks that
//! park like `ctx.sleep` and `ctx.wait_for` do, so a waiting node holds no
//! worker.

use std::time::Duration;

use super::input::Node;
use super::Workflow;
use crate::backend::BoxFuture;
use crate::call::Call;
use crate::codec::Codec;
use crate::context::Context;
use crate::durable::millis;
use crate::error::TaskError;
use crate::task::{RunError, TaskEntry, TaskOptions};

/// The built-in task of [`Workflow::sleep`] nodes.
pub(crate) const SLEEP_TASK: &str = "ork::sleep";
/// The built-in task of [`Workflow::wait_for`] nodes.
pub(crate) const WAIT_TASK: &str = "ork::wait_for";

static SLEEP_OPTIONS: TaskOptions = TaskOptions::new(SLEEP_TASK);
static WAIT_OPTIONS: TaskOptions = TaskOptions::new(WAIT_TASK);

fn split_none(_: usize, _: Codec, _: &[u8]) -> crate::Result<Vec<Vec<u8>>> {
    Err(crate::Error::Invalid(
        "this built-in task takes no list".into(),
    ))
}

inventory::submit! {
    TaskEntry { options: SLEEP_OPTIONS, run: run_sleep, split: split_none }
}

inventory::submit! {
    TaskEntry { options: WAIT_OPTIONS, run: run_wait, split: split_none }
}

impl Workflow {
    /// A node that completes `d` after it starts (once the nodes it is
    /// ordered after, with [`add_after`](Self::add_after) or a
    /// [`chain`](Self::chain), have succeeded). It holds no worker while
    /// it sleeps (a durable sleep: see `Context::sleep`).
    pub fn sleep(&mut self, d: Duration) -> Node<()> {
        self.add(Call::builtin(&SLEEP_OPTIONS, (millis(d),)))
    }

    /// A node whose output is the first signal sent to `key`
    /// ([`Ork::signal`](crate::Ork::signal), `ork signal KEY JSON`, the
    /// dashboard), once it starts: a human approval, a webhook's event.
    /// It holds no worker while it waits (a durable wait: see
    /// `Context::wait_for`, whose rules it follows: a signal sent before
    /// the node starts, within the signal's retention, is received too).
    /// Past `timeout` without a signal, the node fails (and, unless
    /// [`allow_failure`](Self::allow_failure), the workflow with it).
    ///
    /// The signal's value is the node's output as sent, so it must be
    /// sent in the workflow's codec: the command and the dashboard send
    /// JSON, so submit a workflow they signal from an `Ork` built
    /// `.with_codec(Codec::Json)`. A signal in another codec fails the
    /// node with a message saying so.
    pub fn wait_for<T>(&mut self, key: impl Into<String>, timeout: Duration) -> Node<T> {
        self.add(Call::builtin(&WAIT_OPTIONS, (key.into(), millis(timeout))))
    }
}

fn run_sleep(
    ctx: Context,
    codec: Codec,
    payload: Vec<u8>,
) -> BoxFuture<'static, Result<Vec<u8>, RunError>> {
    Box::pin(async move {
        let (ms,): (u64,) = codec
            .decode(&payload)
            .map_err(|e| RunError::Decode(format!("undecodable sleep node: {e}")))?;
        ctx.sleep(Duration::from_millis(ms))
            .await
            .map_err(|e| RunError::Task(TaskError::new(e.to_string())))?;
        codec
            .encode(&())
            .map_err(|e| RunError::Encode(e.to_string()))
    })
}

fn run_wait(
    ctx: Context,
    codec: Codec,
    payload: Vec<u8>,
) -> BoxFuture<'static, Result<Vec<u8>, RunError>> {
    Box::pin(async move {
        let (key, ms): (String, u64) = codec
            .decode(&payload)
            .map_err(|e| RunError::Decode(format!("undecodable wait node: {e}")))?;
        let got = ctx
            .wait_raw(&key, Duration::from_millis(ms))
            .await
            .map_err(|e| RunError::Task(TaskError::new(e.to_string())))?;
        let Some((_, value)) = got else {
            return Err(RunError::Task(TaskError::new(format!(
                "no signal `{key}` within {:?}",
                Duration::from_millis(ms)
            ))));
        };
        match value.split_first() {
            Some((tag, bytes)) if *tag == codec.tag() => Ok(bytes.to_vec()),
            Some((tag, _)) => {
                let sent = Codec::from_tag(*tag)
                    .map_or_else(|_| format!("codec {tag}"), |c| format!("{c:?}"));
                Err(RunError::Decode(format!(
                    "the signal `{key}` was sent in {sent}, and this workflow is in {codec:?}: \
                     send it in the workflow's codec (the command and the dashboard send \
                     JSON: submit the workflow from an Ork built with `.with_codec(Codec::Json)`)",
                )))
            }
            None => Err(RunError::Decode(format!("the signal `{key}` is empty"))),
        }
    })
}
