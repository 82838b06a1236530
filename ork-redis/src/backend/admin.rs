//! Operations around jobs: lists, counts, purge, the worker registry,
//! workflow descriptions, schedules, the server clock.

use std::time::Duration;

use crate::scripts::Call;
use ork_core::backend::StoredSchedule;
use ork_core::job::{JobId, JobInfo};
use ork_core::{Error, Result};
use ork_core::{JobQuery, QueueCounts, WorkerInfo};
use redis::Value;

use super::Inner;
use crate::record::{bytes_of, expect_array, int_of, state_code, text_of};
use crate::scripts;

impl Inner {
    pub(super) fn schedule_script(&self, mode: &str, name: &str) -> Call {
        let mut inv = self.script(&scripts::SCHEDULE);
        inv.key(self.keys.schedules())
            .key(self.keys.schedule(name))
            .arg(mode)
            .arg(name);
        inv
    }

    pub(super) async fn schedule_op(
        &self,
        mode: &str,
        name: &str,
        value: Option<Vec<u8>>,
    ) -> Result<bool> {
        let mut inv = self.schedule_script(mode, name);
        if let Some(v) = value {
            inv.arg(v);
        }
        Ok(int_of(&self.run(&inv).await?) == Some(1))
    }

    pub(super) async fn schedules(&self) -> Result<Vec<StoredSchedule>> {
        let mut inv = self.script(&scripts::SCHEDULE);
        inv.key(self.keys.schedules()).arg("list");
        let reply = expect_array(self.run(&inv).await?, "schedules")?;
        let text = text_of;
        Ok(reply
            .chunks(5)
            .filter_map(|row| {
                let [name, def, through, last, paused] = row else {
                    return None;
                };
                let last = text(last);
                Some(StoredSchedule::new(
                    text(name),
                    bytes_of(def).unwrap_or_default(),
                    int_of(through).unwrap_or(0).max(0) as u64,
                    (!last.is_empty()).then(|| JobId::from(last)),
                    text(paused) == "1",
                ))
            })
            .collect())
    }

    pub(super) async fn list(&self, query: &JobQuery) -> Result<Vec<JobInfo>> {
        let mut inv = self.script(&scripts::LIST);
        inv.arg(query.queue.as_deref().unwrap_or(""))
            .arg(query.state.map_or("", state_code))
            .arg(query.offset)
            .arg(query.effective_limit());
        let ids: Vec<JobId> = expect_array(self.run(&inv).await?, "list")?
            .iter()
            .filter_map(bytes_of)
            .map(|b| JobId::from(String::from_utf8_lossy(&b).into_owned()))
            .collect();
        Ok(self.lookup(&ids).await?.into_iter().flatten().collect())
    }

    pub(super) fn workflow_script(&self) -> Call {
        let mut inv = self.script(&scripts::WORKFLOW);
        inv.key(self.keys.workflows())
            .key(self.keys.workflows_seq());
        inv
    }

    pub(super) async fn put_workflow(&self, id: &JobId, meta: Vec<u8>) -> Result<()> {
        let mut inv = self.workflow_script();
        inv.arg("put").arg(id.as_str()).arg(meta);
        self.run(&inv).await.map(drop)
    }

    pub(super) async fn workflow(&self, id: &JobId) -> Result<Option<Vec<u8>>> {
        let mut inv = self.workflow_script();
        inv.arg("get").arg(id.as_str());
        Ok(bytes_of(&self.run(&inv).await?))
    }

    pub(super) async fn workflow_ids(&self, offset: usize, limit: usize) -> Result<Vec<JobId>> {
        let mut inv = self.workflow_script();
        inv.arg("ids").arg(offset).arg(limit);
        Ok(expect_array(self.run(&inv).await?, "workflow ids")?
            .iter()
            .filter_map(bytes_of)
            .map(|b| JobId::from(String::from_utf8_lossy(&b).into_owned()))
            .collect())
    }

    pub(super) async fn purge(&self, queue: &str) -> Result<u64> {
        let mut inv = self.script(&scripts::PURGE);
        inv.key(self.keys.unique())
            .key(self.keys.waiting(queue))
            .key(self.keys.scheduled(queue))
            .key(self.keys.cancelled(queue));
        for p in crate::keys::PRIORITIES_DESC {
            inv.key(self.keys.ready(queue, p));
        }
        inv.arg(queue);
        Ok(int_of(&self.run(&inv).await?).unwrap_or(0).max(0) as u64)
    }

    pub(super) async fn counts(&self) -> Result<Vec<QueueCounts>> {
        let inv = self.script(&scripts::COUNTS);
        let reply = expect_array(self.run(&inv).await?, "counts")?;
        let mut out = Vec::new();
        for row in reply.chunks(8) {
            let [q, w, s, qd, r, o, d, c] = row else {
                break;
            };
            let n = |v: &Value| int_of(v).unwrap_or(0).max(0) as u64;
            let mut counts =
                QueueCounts::new(String::from_utf8_lossy(&bytes_of(q).unwrap_or_default()));
            counts.waiting = n(w);
            counts.scheduled = n(s);
            counts.queued = n(qd);
            counts.running = n(r);
            counts.succeeded = n(o);
            counts.dead = n(d);
            counts.cancelled = n(c);
            out.push(counts);
        }
        Ok(out)
    }

    pub(super) fn workers_script(&self) -> Call {
        let mut inv = self.script(&scripts::WORKERS);
        inv.key(self.keys.workers()).key(self.keys.workers_expiry());
        inv
    }

    pub(super) async fn register_worker(&self, info: &WorkerInfo, ttl: Duration) -> Result<()> {
        let json = serde_json::to_string(info).map_err(|e| Error::Codec(e.to_string()))?;
        let mut inv = self.workers_script();
        inv.arg("register")
            .arg(info.key())
            .arg(json)
            .arg(ttl.as_millis().max(1) as u64);
        self.run(&inv).await.map(drop)
    }

    pub(super) async fn unregister_worker(&self, key: &str) -> Result<()> {
        let mut inv = self.workers_script();
        inv.arg("unregister").arg(key);
        self.run(&inv).await.map(drop)
    }

    pub(super) async fn workers(&self) -> Result<Vec<WorkerInfo>> {
        let mut inv = self.workers_script();
        inv.arg("list");
        let reply = expect_array(self.run(&inv).await?, "workers")?;
        let mut out: Vec<WorkerInfo> = reply
            .iter()
            .filter_map(bytes_of)
            .filter_map(|entry| {
                let split = entry.iter().position(|&b| b == b'|')?;
                let seen = std::str::from_utf8(&entry[..split]).ok()?.parse().ok()?;
                let mut info: WorkerInfo = serde_json::from_slice(&entry[split + 1..]).ok()?;
                info.last_seen_ms = seen;
                Some(info)
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.id, a.started_at_ms, &a.instance).cmp(&(&b.id, b.started_at_ms, &b.instance))
        });
        Ok(out)
    }

    /// The clock of the namespace's server (on a cluster, the node of its
    /// slot: the one whose clock the scripts read).
    pub(super) async fn now_ms(&self) -> Result<u64> {
        let inv = self.script(&scripts::TIME);
        let reply = expect_array(self.run(&inv).await?, "time")?;
        let part = |i: usize| reply.get(i).and_then(int_of).unwrap_or(0).max(0) as u64;
        Ok(part(0) * 1000 + part(1) / 1000)
    }
}
