//! Signals and waking parked jobs (see the crate docs, "Durable sleeps and
//! waits"). The signal side (`signal.lua`, `listen.lua`, the waiters hash)
//! runs under the signal key's keys, the job side (`wake.lua`) under the
//! job's: each call goes to the key's shard
//! ([`RedisBackend::signal_shard`]) or the job's, never a script over both.

use std::time::Duration;

use ork_core::backend::{BoxFuture, Signal, SignalStore};
use ork_core::job::JobId;
use ork_core::{Error, Result};
use redis::Value;

use super::{Inner, RedisBackend};
use crate::record::{array_of, bytes_of, int_of};
use crate::scripts;

impl Inner {
    async fn put_signal(
        &self,
        key: &str,
        value: &[u8],
        retention: Duration,
    ) -> Result<(u64, Vec<JobId>)> {
        let retention_ms = u64::try_from(retention.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, 1 << 40);
        let keys = &self.keys;
        let mut inv = self.script_in(&scripts::SIGNAL, keys);
        inv.arg(key).arg(value).arg(retention_ms);
        let reply = array_of(self.run_acked(&inv, "signal").await?);
        let mut it = reply.into_iter();
        let seq = it.next().as_ref().and_then(int_of).unwrap_or(0);
        let jobs = it
            .next()
            .map(array_of)
            .unwrap_or_default()
            .iter()
            .filter_map(bytes_of)
            .filter_map(|b| String::from_utf8(b).ok())
            .map(JobId::from)
            .collect();
        Ok((seq.max(0) as u64, jobs))
    }

    async fn listen(
        &self,
        key: &str,
        after: u64,
        job: &JobId,
        until_ms: u64,
    ) -> Result<Option<Signal>> {
        let keys = &self.keys;
        let mut inv = self.script_in(&scripts::LISTEN, keys);
        inv.arg(key).arg(after).arg(job.as_str()).arg(until_ms);
        let reply = self.run_acked(&inv, "listen").await?;
        let Some(member) = bytes_of(&reply) else {
            return Ok(None);
        };
        let colon = member.iter().position(|&b| b == b':');
        let parsed = colon.and_then(|at| {
            let seq = std::str::from_utf8(&member[..at])
                .ok()?
                .parse::<u64>()
                .ok()?;
            Some(Signal::new(seq, member[at + 1..].to_vec()))
        });
        parsed.map(Some).ok_or_else(|| {
            Error::backend(format!(
                "signal `{key}`: a stored signal is not `<seq>:<value>`"
            ))
        })
    }

    async fn unlisten(&self, key: &str, job: &JobId) -> Result<()> {
        let mut conn = self.pool.get();
        let _: Value = redis::cmd("HDEL")
            .arg(self.keys.listeners(key))
            .arg(job.as_str())
            .query_async(&mut conn)
            .await
            .map_err(super::backend_error)?;
        Ok(())
    }

    async fn wake(&self, id: &JobId) -> Result<bool> {
        let mut inv = self.script(&scripts::WAKE);
        inv.arg(id.as_str());
        let reply = self.run_acked(&inv, "wake").await?;
        Ok(int_of(&reply).is_some_and(|n| n > 0))
    }
}

impl RedisBackend {
    /// The shard that holds signal `key`'s log and waiters: the key's own.
    fn signal_shard(&self, key: &str) -> &Inner {
        self.router.shard(self.router.for_key(key))
    }
}

impl SignalStore for RedisBackend {
    fn put_signal<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        retention: Duration,
    ) -> BoxFuture<'a, Result<(u64, Vec<JobId>)>> {
        Box::pin(self.signal_shard(key).put_signal(key, value, retention))
    }

    fn listen<'a>(
        &'a self,
        key: &'a str,
        after: u64,
        job: &'a JobId,
        until_ms: u64,
    ) -> BoxFuture<'a, Result<Option<Signal>>> {
        Box::pin(self.signal_shard(key).listen(key, after, job, until_ms))
    }

    fn unlisten<'a>(&'a self, key: &'a str, job: &'a JobId) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.signal_shard(key).unlisten(key, job))
    }

    fn wake<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { self.shard_of_job(id.as_str()).await?.wake(id).await })
    }
}
