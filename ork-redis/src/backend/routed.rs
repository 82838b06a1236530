//! The backend's operations over its shards: each goes to the shard that
//! holds what it touches ([`Router`]), or to every shard and merges the
//! answers.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use ork_core::backend::{Enqueued, Finish, FireTicks, Lease, LeaseStatus, StoredSchedule};
use ork_core::job::{JobId, JobInfo, JobRecord, JobState};
use ork_core::{CancelOutcome, Error, JobQuery, QueueCounts, Result};

use super::{backend_error, Inner, RedisBackend};
use crate::shards::{join_all, Router, ShardFuture};

/// Splits items by shard, keeping each item's position: per shard, the
/// positions and the items.
fn split<T>(
    router: &Router,
    items: impl IntoIterator<Item = T>,
    mut shard: impl FnMut(&T) -> usize,
) -> Vec<(Vec<usize>, Vec<T>)> {
    let mut groups: Vec<(Vec<usize>, Vec<T>)> = (0..router.count())
        .map(|_| (Vec::new(), Vec::new()))
        .collect();
    for (at, item) in items.into_iter().enumerate() {
        let s = shard(&item);
        groups[s].0.push(at);
        groups[s].1.push(item);
    }
    groups
}

/// Puts the per-shard answers back in the items' order.
fn merge<R>(len: usize, parts: Vec<(Vec<usize>, Vec<R>)>) -> Vec<R> {
    let mut out: Vec<Option<R>> = (0..len).map(|_| None).collect();
    for (positions, values) in parts {
        for (at, v) in positions.into_iter().zip(values) {
            out[at] = Some(v);
        }
    }
    out.into_iter().flatten().collect()
}

/// The shard of each record of a batch. Records linked by dependencies
/// go together (a job waits for its dependencies in their shard, which
/// records their completions): each group of linked records goes where a
/// dependency outside the batch lives, else where its first record is
/// placed. Others go by [`Router::for_record`].
fn placement(router: &Router, jobs: &[JobRecord]) -> Vec<usize> {
    let mut shards: Vec<usize> = jobs.iter().map(|j| router.for_record(j)).collect();
    if jobs.iter().all(|j| j.deps.is_empty()) {
        return shards;
    }
    let index: HashMap<&str, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.id.as_str(), i))
        .collect();
    // Union-find over the batch, by dependency.
    let mut parent: Vec<usize> = (0..jobs.len()).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut outside: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, j) in jobs.iter().enumerate() {
        for d in &j.deps {
            match index.get(d.as_str()) {
                Some(&k) => {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, k));
                    // The earlier record leads the group.
                    let (lead, other) = if a < b { (a, b) } else { (b, a) };
                    parent[other] = lead;
                }
                None => {
                    outside
                        .entry(i)
                        .or_insert_with(|| router.for_job(d.as_str()));
                }
            }
        }
    }
    let mut group_shard: HashMap<usize, usize> = HashMap::new();
    for (&i, &s) in &outside {
        let lead = find(&mut parent, i);
        group_shard.entry(lead).or_insert(s);
    }
    for i in 0..jobs.len() {
        let lead = find(&mut parent, i);
        shards[i] = *group_shard.entry(lead).or_insert(shards[lead]);
    }
    shards
}

/// Runs `op` on each shard with its group of items, concurrently, and
/// puts the answers back in the items' order. Every shard runs; the first
/// error is returned.
async fn scatter<'a, T, R>(
    router: &'a Router,
    len: usize,
    groups: Vec<(Vec<usize>, Vec<T>)>,
    op: impl Fn(&'a Inner, Vec<T>) -> ShardFuture<'a, Result<Vec<R>>>,
) -> Result<Vec<R>> {
    let mut positions = Vec::new();
    let mut calls = Vec::new();
    for (s, (at, items)) in groups.into_iter().enumerate() {
        if !at.is_empty() {
            positions.push(at);
            calls.push(op(router.shard(s), items));
        }
    }
    let mut parts = Vec::with_capacity(positions.len());
    let mut failed = None;
    for (at, reply) in positions.into_iter().zip(join_all(calls).await) {
        match reply {
            Ok(values) => parts.push((at, values)),
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(merge(len, parts)),
    }
}

/// The life order of states in a listing (as `list.lua` walks them).
fn state_rank(state: JobState) -> u8 {
    match state {
        JobState::Waiting => 0,
        JobState::Scheduled => 1,
        JobState::Queued => 2,
        JobState::Running => 3,
        JobState::Succeeded => 4,
        JobState::Dead => 5,
        JobState::Cancelled => 6,
        _ => 7,
    }
}

impl RedisBackend {
    pub(super) async fn enqueue_routed(&self, jobs: Vec<JobRecord>) -> Result<Vec<Enqueued>> {
        let r = &self.router;
        if r.count() == 1 {
            return r.home().enqueue(jobs).await;
        }
        // A batch with a payload over the limit writes nothing, whichever
        // shards it spans.
        r.home().check_payloads(&jobs)?;
        let len = jobs.len();
        let placed = placement(r, &jobs);
        let mut at = placed.into_iter();
        let groups = split(r, jobs, |_| at.next().unwrap_or(0));
        // A shard that fails leaves the others' records stored; enqueue is
        // idempotent by id, so the whole batch can be sent again.
        scatter(r, len, groups, |s, recs| Box::pin(s.enqueue(recs))).await
    }

    pub(super) async fn heartbeat_routed(
        &self,
        leases: &[Lease],
        lease: Duration,
    ) -> Result<Vec<LeaseStatus>> {
        let r = &self.router;
        if r.count() == 1 {
            return r.home().heartbeat(leases, lease).await;
        }
        let groups = split(r, leases.iter().cloned(), |l| r.for_job(l.id.as_str()));
        scatter(r, leases.len(), groups, |s, ls| {
            Box::pin(async move { s.heartbeat(&ls, lease).await })
        })
        .await
    }

    pub(super) async fn finish_routed(&self, batch: &[Finish]) -> Result<Vec<bool>> {
        let r = &self.router;
        if r.count() == 1 {
            return r.home().finish(batch).await;
        }
        let groups = split(r, batch.iter().cloned(), |f| r.for_job(f.lease.id.as_str()));
        scatter(r, batch.len(), groups, |s, fs| {
            Box::pin(async move { s.finish(&fs).await })
        })
        .await
    }

    /// Every shard, concurrently: their answers in shard order.
    pub(super) async fn each_shard<'a, T, F>(
        &'a self,
        op: impl Fn(&'a Inner) -> F,
    ) -> Result<Vec<T>>
    where
        F: std::future::Future<Output = Result<T>> + Send + 'a,
    {
        let calls: Vec<ShardFuture<'a, Result<T>>> = self
            .router
            .all()
            .iter()
            .map(|s| -> ShardFuture<'a, Result<T>> { Box::pin(op(s)) })
            .collect();
        join_all(calls).await.into_iter().collect()
    }

    pub(super) async fn reap_routed(&self) -> Result<usize> {
        Ok(self.each_shard(|s| s.reap()).await?.into_iter().sum())
    }

    /// The shard that holds job `id`: where it is placed, else the first
    /// shard whose hash exists (a keyed job, a tick, a job stored before
    /// the shard count changed). `None`: no shard has it.
    pub(super) async fn locate(&self, id: &str) -> Result<Option<usize>> {
        let r = &self.router;
        let first = r.for_job(id);
        if r.count() == 1 {
            return Ok(Some(0));
        }
        for s in r.probe_order(first) {
            let shard = r.shard(s);
            let mut conn = shard.pool.get();
            let found: bool = redis::cmd("EXISTS")
                .arg(shard.keys.job(id))
                .query_async(&mut conn)
                .await
                .map_err(backend_error)?;
            if found {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// The shard to ask about job `id`: the one holding it, or where it
    /// would be placed.
    pub(super) async fn shard_of_job(&self, id: &str) -> Result<&Inner> {
        let at = match self.locate(id).await? {
            Some(at) => at,
            None => self.router.for_job(id),
        };
        Ok(self.router.shard(at))
    }

    pub(super) async fn lookup_routed(&self, ids: &[JobId]) -> Result<Vec<Option<JobInfo>>> {
        let r = &self.router;
        if r.count() == 1 {
            return r.home().lookup(ids).await;
        }
        let groups = split(r, ids.iter().cloned(), |id| r.for_job(id.as_str()));
        let mut parts = Vec::new();
        for (s, (at, group)) in groups.into_iter().enumerate() {
            if at.is_empty() {
                continue;
            }
            let mut found = r.shard(s).lookup(&group).await?;
            // Not where placed: a keyed job or one from before the shard
            // count changed; the other shards are asked.
            for (i, id) in group.iter().enumerate() {
                if found[i].is_none() {
                    for other in r.probe_order(s).skip(1) {
                        let mut there = r.shard(other).lookup(std::slice::from_ref(id)).await?;
                        if let Some(info) = there.pop().flatten() {
                            found[i] = Some(info);
                            break;
                        }
                    }
                }
            }
            parts.push((at, found));
        }
        Ok(merge(ids.len(), parts))
    }

    pub(super) async fn wait_routed(
        &self,
        id: &JobId,
        timeout: Duration,
    ) -> Result<Option<JobInfo>> {
        self.shard_of_job(id.as_str())
            .await?
            .wait(id, timeout)
            .await
    }

    pub(super) async fn cancel_routed(&self, id: &JobId) -> Result<CancelOutcome> {
        let r = &self.router;
        let mut last = None;
        for s in r.probe_order(r.for_job(id.as_str())) {
            match r.shard(s).cancel(id).await {
                Err(Error::UnknownJob(e)) => last = Some(Error::UnknownJob(e)),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| Error::UnknownJob(id.clone())))
    }

    pub(super) async fn retry_routed(&self, id: &JobId) -> Result<bool> {
        self.shard_of_job(id.as_str()).await?.retry(id).await
    }

    pub(super) async fn children_routed(&self, id: &JobId) -> Result<Vec<JobId>> {
        let shard = self.shard_of_job(id.as_str()).await?;
        let mut conn = shard.pool.get();
        let mut ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(shard.keys.children(id.as_str()))
            .query_async(&mut conn)
            .await
            .map_err(backend_error)?;
        ids.sort();
        Ok(ids.into_iter().map(JobId::from).collect())
    }

    /// Every shard's page from the start to the end of the one asked for,
    /// then merged: queues by name, states in life order, and within one
    /// state shard by shard (each in its own order).
    pub(super) async fn list_routed(&self, query: &JobQuery) -> Result<Vec<JobInfo>> {
        let r = &self.router;
        if r.count() == 1 {
            return r.home().list(query).await;
        }
        let limit = query.effective_limit();
        let mut wide = query.clone();
        wide.offset = 0;
        wide.limit = query.offset.saturating_add(limit);
        let wide = &wide;
        let mut all: Vec<JobInfo> = self
            .each_shard(|s| s.list(wide))
            .await?
            .into_iter()
            .flatten()
            .collect();
        // Stable: the shards' own order stays within a queue and state.
        all.sort_by(|a, b| {
            (a.record.queue.as_str(), state_rank(a.state))
                .cmp(&(b.record.queue.as_str(), state_rank(b.state)))
        });
        Ok(all.into_iter().skip(query.offset).take(limit).collect())
    }

    pub(super) async fn counts_routed(&self) -> Result<Vec<QueueCounts>> {
        let r = &self.router;
        if r.count() == 1 {
            return r.home().counts().await;
        }
        let mut by_queue: BTreeMap<String, QueueCounts> = BTreeMap::new();
        for counts in self.each_shard(|s| s.counts()).await?.into_iter().flatten() {
            by_queue
                .entry(counts.queue.clone())
                .or_insert_with(|| QueueCounts::new(counts.queue.clone()))
                .add(&counts);
        }
        Ok(by_queue.into_values().collect())
    }

    pub(super) async fn purge_routed(&self, queue: &str) -> Result<u64> {
        Ok(self.each_shard(|s| s.purge(queue)).await?.into_iter().sum())
    }

    /// The shard holding schedule `name`: where its name hashes, or the
    /// first shard that has it (one stored before the shard count changed).
    async fn schedule_shard(&self, name: &str) -> Result<&Inner> {
        let r = &self.router;
        let first = r.for_name(name);
        if r.count() > 1 {
            for s in r.probe_order(first) {
                let shard = r.shard(s);
                let mut conn = shard.pool.get();
                let found: bool = redis::cmd("EXISTS")
                    .arg(shard.keys.schedule(name))
                    .query_async(&mut conn)
                    .await
                    .map_err(backend_error)?;
                if found {
                    return Ok(shard);
                }
            }
        }
        Ok(r.shard(first))
    }

    pub(super) async fn schedule_op_routed(
        &self,
        mode: &str,
        name: &str,
        value: Option<Vec<u8>>,
    ) -> Result<bool> {
        self.schedule_shard(name)
            .await?
            .schedule_op(mode, name, value)
            .await
    }

    pub(super) async fn schedules_routed(&self) -> Result<Vec<StoredSchedule>> {
        let mut all: Vec<StoredSchedule> = self
            .each_shard(|s| s.schedules())
            .await?
            .into_iter()
            .flatten()
            .collect();
        if self.router.count() > 1 {
            all.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(all)
    }

    pub(super) async fn fire_routed(&self, ticks: FireTicks) -> Result<Option<Vec<Enqueued>>> {
        self.schedule_shard(&ticks.schedule)
            .await?
            .fire(ticks)
            .await
    }
}
