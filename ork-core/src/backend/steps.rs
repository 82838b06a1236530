//! Durable steps: the outputs of a job's finished steps, and its
//! checkpoint, kept with the job.

use super::{BoxFuture, Lease};
use crate::error::Result;
use crate::job::JobId;

/// The name a job's checkpoint is stored under (`ctx.checkpoint`): a step
/// name no task can use (step names starting with `@` are reserved).
pub const CHECKPOINT: &str = "@checkpoint";

/// A job's stored steps: `(name, output)` pairs.
pub type StoredSteps = Vec<(String, Vec<u8>)>;

/// The outputs of a job's durable steps (`ctx.step`) and its checkpoint
/// (`ctx.checkpoint`), each stored under the job and a name.
///
/// What is stored lives as long as the job's record: while the job is
/// unfinished, then for its result TTL once it has ended (dead jobs keep
/// theirs while their record is kept); a purge deletes it with the record.
/// Nothing here has a default body: an engine that can't keep steps must
/// not pretend it does, or a re-run would repeat work it reports done.
pub trait StepStore: Send + Sync {
    /// Stores `output` under the job of `lease` and `name`, replacing what
    /// was stored under that name. Fenced: only the job's current attempt
    /// (the lease's fence is the job's, and the job is running) may write;
    /// a stale lease writes nothing and yields `false`. A lease the reaper
    /// took back is stale here, even before the job is claimed again.
    fn put_step<'a>(
        &'a self,
        lease: &'a Lease,
        name: &'a str,
        output: &'a [u8],
    ) -> BoxFuture<'a, Result<bool>>;

    /// Every step stored for job `id`, as `(name, output)` pairs in no
    /// particular order (the checkpoint among them, under [`CHECKPOINT`]).
    /// Empty for an unknown job.
    fn steps<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<StoredSteps>>;
}
