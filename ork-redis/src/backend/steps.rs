//! Durable steps: fields `S:<name>` of the job hash (see the crate docs,
//! "Durable steps").

use ork_core::backend::{BoxFuture, Lease, StepStore, StoredSteps};
use ork_core::job::JobId;
use ork_core::Result;
use redis::Value;

use super::{Inner, RedisBackend};
use crate::record::{array_of, bytes_of, int_of};
use crate::scripts;

/// The start of the job hash fields that hold steps (`STEP_PREFIX` in
/// `lua/lib.lua`).
const STEP_PREFIX: &[u8] = b"S:";

impl Inner {
    async fn put_step(&self, lease: &Lease, name: &str, output: &[u8]) -> Result<bool> {
        let mut inv = self.script(&scripts::STEP);
        inv.arg(lease.id.as_str())
            .arg(lease.fence)
            .arg(name)
            .arg(output);
        // The task goes on as if the step were stored: with replicated
        // acknowledgements, it is on the replicas too.
        let reply = self.run_acked(&inv, "step").await?;
        Ok(int_of(&reply) == Some(1))
    }

    async fn steps(&self, id: &JobId) -> Result<StoredSteps> {
        let mut conn = self.pool.get();
        let reply: Value = redis::cmd("HGETALL")
            .arg(self.keys.job(id.as_str()))
            .query_async(&mut conn)
            .await
            .map_err(super::backend_error)?;
        let pairs: Vec<(Value, Value)> = match reply {
            Value::Map(pairs) => pairs,
            other => {
                let mut it = array_of(other).into_iter();
                std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
            }
        };
        Ok(pairs
            .into_iter()
            .filter_map(|(k, v)| {
                let name = bytes_of(&k)?.strip_prefix(STEP_PREFIX)?.to_vec();
                Some((String::from_utf8(name).ok()?, bytes_of(&v)?))
            })
            .collect())
    }
}

impl StepStore for RedisBackend {
    fn put_step<'a>(
        &'a self,
        lease: &'a Lease,
        name: &'a str,
        output: &'a [u8],
    ) -> BoxFuture<'a, Result<bool>> {
        let shard = self.router.shard(self.router.for_job(lease.id.as_str()));
        Box::pin(shard.put_step(lease, name, output))
    }

    fn steps<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<StoredSteps>> {
        // Read by the job's own attempt, whose shard the claim noted.
        let shard = self.router.shard(self.router.for_job(id.as_str()));
        Box::pin(shard.steps(id))
    }
}
