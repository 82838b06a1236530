//! Flow control: paused queues and tasks, running caps (`flow.lua`, and
//! `claim.lua`, `finish.lua`, `reap.lua` where they are enforced).
//!
//! The flow settings (`{ns}:flow`: paused queues and tasks, queue caps)
//! are read by the claim script of the same key prefix, so each prefix
//! holds its own copy: a namespace split into several prefixes writes them
//! to each (the `Inner` methods here act on one). A queue's cap is split
//! evenly: each prefix allows `ceil(N / prefixes)` ([`Inner::shard_count`]).
//! A task's cap and rate, a named limiter and a key's slots and bucket
//! live whole in one prefix: the jobs that use them are placed there.

use ork_core::backend::{
    check_limiter_name, check_queue_cap, BoxFuture, CapUse, FlowControl, PauseTarget, Paused,
};
use ork_core::Rate;
use ork_core::Result;
use redis::Value;

use super::{Inner, RedisBackend};
use crate::record::{expect_array, int_of, text_of};
use crate::scripts;

fn kind_code(target: &PauseTarget) -> &'static str {
    match target {
        PauseTarget::Queue(_) => "q",
        PauseTarget::Task(_) => "t",
    }
}

impl Inner {
    /// Pauses or resumes one target under this prefix.
    pub(crate) async fn set_paused(&self, target: &PauseTarget, paused: bool) -> Result<bool> {
        target.check()?;
        let mut inv = self.script(&scripts::FLOW);
        inv.key(self.keys.flow())
            .arg("set")
            .arg(kind_code(target))
            .arg(target.name())
            .arg(if paused { "1" } else { "0" });
        Ok(int_of(&self.run(&inv).await?) == Some(1))
    }

    /// How many key prefixes (shards) the namespace is split into: a task's
    /// or a queue's running cap is split evenly across them.
    pub(crate) fn shard_count(&self) -> u32 {
        self.settings.shards.max(1)
    }

    /// Sets or removes a queue's running cap under this prefix (its share
    /// of the cap, see [`shard_count`](Self::shard_count)).
    pub(crate) async fn set_queue_cap(&self, queue: &str, cap: Option<u32>) -> Result<()> {
        check_queue_cap(queue, cap)?;
        let mut inv = self.script(&scripts::FLOW);
        inv.key(self.keys.flow())
            .arg("cap")
            .arg(queue)
            .arg(cap.map_or_else(String::new, |n| n.div_ceil(self.shard_count()).to_string()));
        self.run(&inv).await?;
        Ok(())
    }

    /// The running caps in use under this prefix.
    pub(crate) async fn running_caps(&self) -> Result<Vec<CapUse>> {
        let mut inv = self.script(&scripts::FLOW);
        inv.key(self.keys.flow()).arg("caps");
        let reply = expect_array(self.run(&inv).await?, "running caps")?;
        let n = |v: &Value| int_of(v).unwrap_or(0).max(0) as u64;
        Ok(reply
            .chunks(4)
            .filter_map(|row| {
                let [name, cap, running, parked] = row else {
                    return None;
                };
                let name = text_of(name);
                Some(CapUse::new(&name, n(cap) as u32, n(running), n(parked)))
            })
            .collect())
    }

    /// Defines or deletes a named limiter under this prefix (every shard
    /// holds the whole definition: the jobs using a limiter are placed in
    /// the limiter's shard).
    pub(crate) async fn set_limiter(&self, name: &str, rate: Option<Rate>) -> Result<()> {
        check_limiter_name(name)?;
        let mut inv = self.script(&scripts::FLOW);
        inv.key(self.keys.flow())
            .arg("limiter")
            .arg(name)
            .arg(rate.map_or_else(String::new, |r| super::jobs::rate_spec(&r)));
        self.run(&inv).await?;
        Ok(())
    }

    /// The named limiters under this prefix.
    pub(crate) async fn limiters(&self) -> Result<Vec<(String, Rate)>> {
        let mut inv = self.script(&scripts::FLOW);
        inv.key(self.keys.flow()).arg("limiters");
        let reply = expect_array(self.run(&inv).await?, "limiters")?;
        let text = text_of;
        Ok(reply
            .chunks(2)
            .filter_map(|row| {
                let [name, def] = row else {
                    return None;
                };
                let def = text(def);
                let mut parts = def.split('\t').map(|p| p.parse::<u64>().ok());
                let (Some(Some(count)), Some(Some(period_ms)), Some(Some(burst))) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return None;
                };
                let rate = Rate::try_new(count as u32, std::time::Duration::from_millis(period_ms))
                    .ok()?
                    .burst(burst as u32);
                Some((text(name), rate))
            })
            .collect())
    }

    /// The paused targets under this prefix.
    pub(crate) async fn paused(&self) -> Result<Vec<Paused>> {
        let mut inv = self.script(&scripts::FLOW);
        inv.key(self.keys.flow()).arg("list");
        let reply = expect_array(self.run(&inv).await?, "paused")?;
        let text = text_of;
        Ok(reply
            .chunks(3)
            .filter_map(|row| {
                let [kind, name, held] = row else {
                    return None;
                };
                let target = match text(kind).as_str() {
                    "q" => PauseTarget::Queue(text(name)),
                    _ => PauseTarget::Task(text(name)),
                };
                Some(Paused::new(target, int_of(held).unwrap_or(0).max(0) as u64))
            })
            .collect())
    }
}

// Flow settings are copied into every shard (each shard's claim script
// reads its own copy); reads add up the shards' use.
impl FlowControl for RedisBackend {
    fn set_paused<'a>(
        &'a self,
        target: &'a PauseTarget,
        paused: bool,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let changed = self.each_shard(|s| s.set_paused(target, paused)).await?;
            Ok(changed.into_iter().any(|c| c))
        })
    }

    fn paused(&self) -> BoxFuture<'_, Result<Vec<Paused>>> {
        Box::pin(async move {
            let mut all: Vec<Paused> = Vec::new();
            for p in self.each_shard(|s| s.paused()).await?.into_iter().flatten() {
                match all.iter_mut().find(|q| q.target == p.target) {
                    Some(q) => q.held += p.held,
                    None => all.push(p),
                }
            }
            Ok(all)
        })
    }

    fn set_queue_cap<'a>(&'a self, queue: &'a str, cap: Option<u32>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.each_shard(|s| s.set_queue_cap(queue, cap)).await?;
            Ok(())
        })
    }

    fn running_caps(&self) -> BoxFuture<'_, Result<Vec<CapUse>>> {
        Box::pin(async move {
            // A queue's cap is split over the shards: its shares add up to
            // the cap (a task's or a key's cap lives in one shard).
            let mut all: Vec<CapUse> = Vec::new();
            for c in self
                .each_shard(|s| s.running_caps())
                .await?
                .into_iter()
                .flatten()
            {
                match all.iter_mut().find(|d| d.name == c.name) {
                    Some(d) => {
                        d.cap += c.cap;
                        d.running += c.running;
                        d.held += c.held;
                    }
                    None => all.push(c),
                }
            }
            Ok(all)
        })
    }

    fn set_limiter<'a>(&'a self, name: &'a str, rate: Option<Rate>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.each_shard(|s| s.set_limiter(name, rate)).await?;
            Ok(())
        })
    }

    fn limiters(&self) -> BoxFuture<'_, Result<Vec<(String, Rate)>>> {
        Box::pin(self.router.home().limiters())
    }
}
