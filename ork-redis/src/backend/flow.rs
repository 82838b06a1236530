//! Flow control: paused queues and tasks (`flow.lua`).
//!
//! The paused flags are read by the claim script of the same key prefix,
//! so each prefix holds its own copy of `{ns}:paused`: a namespace split
//! into several prefixes writes the flag to each of them (the `Inner`
//! methods here act on one).

use ork_core::backend::{BoxFuture, FlowControl, PauseTarget, Paused};
use ork_core::Result;
use redis::Value;

use super::{Inner, RedisBackend};
use crate::record::{bytes_of, expect_array, int_of};
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
        inv.key(self.keys.paused())
            .arg("set")
            .arg(kind_code(target))
            .arg(target.name())
            .arg(if paused { "1" } else { "0" });
        Ok(int_of(&self.run(&inv).await?) == Some(1))
    }

    /// The paused targets under this prefix.
    pub(crate) async fn paused(&self) -> Result<Vec<Paused>> {
        let mut inv = self.script(&scripts::FLOW);
        inv.key(self.keys.paused()).arg("list");
        let reply = expect_array(self.run(&inv).await?, "paused")?;
        let text =
            |v: &Value| String::from_utf8_lossy(&bytes_of(v).unwrap_or_default()).into_owned();
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

impl FlowControl for RedisBackend {
    fn set_paused<'a>(
        &'a self,
        target: &'a PauseTarget,
        paused: bool,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.inner.set_paused(target, paused))
    }

    fn paused(&self) -> BoxFuture<'_, Result<Vec<Paused>>> {
        Box::pin(self.inner.paused())
    }
}
