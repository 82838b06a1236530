//! A job's life: enqueue, claim, heartbeat, finish, lookups, cancel, retry,
//! and the scheduler's fire step (an enqueue behind a compare-and-set).

use std::task::Poll;
use std::time::Duration;

use crate::scripts::Call;
use ork_core::backend::{
    ClaimRequest, Claimed, Enqueued, Finish, FireTicks, Lease, LeaseStatus, Outcome,
};
use ork_core::job::{ArgSpec, JobId, JobInfo, JobRecord, JobState};
use ork_core::CancelOutcome;
use ork_core::{Error, Result};
use redis::Value;

use super::Inner;
use crate::error::{refusal_of, Refusal};
use crate::record::{
    array_of, bytes_of, decode_record, encode_record, expect_array, info_from_fields, int_of,
    state_from_code, unreadable,
};
use crate::scripts;

/// Records per enqueue script call (a larger batch takes several calls,
/// each atomic per record, pipelined).
const ENQUEUE_CHUNK: usize = 250;
/// Entries per finish, heartbeat or lookup script call.
const BATCH_CHUNK: usize = 500;

impl Inner {
    /// One claim script call: (claimed jobs, ms until the next scheduled job
    /// of these queues is due when nothing was claimed).
    pub(crate) async fn claim_once(
        &self,
        req: &ClaimRequest,
    ) -> Result<(Vec<Claimed>, Option<u64>)> {
        let inv = self.claim_invocation(req);
        let reply = self.run(&inv).await?;
        self.claimed_of(reply).await
    }

    /// The claim script's invocation for a request.
    pub(crate) fn claim_invocation(&self, req: &ClaimRequest) -> Call {
        let mut inv = self.script(&scripts::CLAIM);
        for q in &req.queues {
            for p in crate::keys::PRIORITIES_DESC {
                inv.key(self.keys.ready(q, p));
            }
            inv.key(self.keys.scheduled(q))
                .key(self.keys.running(q))
                .key(self.keys.wake(q));
        }
        inv.arg(req.max)
            .arg(req.lease.as_millis().max(1) as u64)
            .arg(&req.queues);
        inv
    }

    /// Decodes the claim script's reply; records that can't be decoded are
    /// dead-lettered here.
    pub(crate) async fn claimed_of(&self, reply: Value) -> Result<(Vec<Claimed>, Option<u64>)> {
        let mut items = expect_array(reply, "claim")?.into_iter();
        let next_due = items
            .next()
            .and_then(|v| int_of(&v))
            .and_then(|d| u64::try_from(d).ok());
        let mut claimed = Vec::with_capacity(items.len() / 5);
        let mut undecodable = Vec::new();
        while let (Some(id), Some(blob), Some(attempt), Some(lost), Some(fence)) = (
            items.next(),
            items.next(),
            items.next(),
            items.next(),
            items.next(),
        ) {
            let id = String::from_utf8_lossy(&bytes_of(&id).unwrap_or_default()).into_owned();
            let lease = Lease {
                id: JobId::from(id.clone()),
                fence: int_of(&fence).unwrap_or(0) as u64,
            };
            let blob = bytes_of(&blob).unwrap_or_default();
            match decode_record(&id, &blob) {
                Ok(record) => claimed.push(Claimed::new(
                    record,
                    int_of(&attempt).unwrap_or(1) as u32,
                    int_of(&lost).unwrap_or(0) as u32,
                    lease,
                )),
                Err(e) => {
                    tracing::error!(job_id = %id, error = %e, "undecodable job record: dead-lettered");
                    undecodable.push(Finish {
                        lease,
                        outcome: Outcome::Dead {
                            error: format!("undecodable job record: {e}"),
                        },
                    });
                }
            }
        }
        if !undecodable.is_empty() {
            self.finish(&undecodable).await?;
        }
        Ok((claimed, next_due))
    }

    pub(crate) async fn finish(&self, batch: &[Finish]) -> Result<Vec<bool>> {
        let mut out = Vec::with_capacity(batch.len());
        for chunk in batch.chunks(BATCH_CHUNK) {
            let fill = |mut inv: Call| {
                inv.key(self.keys.unique());
                for Finish { lease, outcome } in chunk {
                    inv.arg(lease.id.as_str()).arg(lease.fence);
                    match outcome {
                        Outcome::Succeeded { result } => {
                            inv.arg("ok").arg(result.as_slice()).arg("")
                        }
                        Outcome::Retry { delay, error } => inv
                            .arg("retry")
                            .arg(delay.as_millis() as u64)
                            .arg(error.as_str()),
                        Outcome::Dead { error } => inv.arg("dead").arg(error.as_str()).arg(""),
                        Outcome::Cancelled => inv.arg("cancel").arg("").arg(""),
                        Outcome::Park { until_ms, reason } => {
                            inv.arg("park").arg(*until_ms).arg(reason.as_str())
                        }
                        // Released, and any outcome added later: handed back.
                        _ => inv.arg("release").arg("").arg(""),
                    };
                }
                inv
            };
            let inv = fill(self.script(&scripts::FINISH));
            let reply = match self.invoke_acked(&inv).await {
                Ok((reply, wait)) => {
                    self.check_acked(wait.as_ref(), "finish")?;
                    reply
                }
                // Redis is full, and refused the finish before it wrote
                // anything: the variant for a full Redis records it all the
                // same, dropping results that don't fit in the memory the
                // finish frees (src/scripts.rs).
                Err(e) if refusal_of(&e) == Some(Refusal::OutOfMemory) => {
                    tracing::debug!("Redis is full: finishing with the allow-oom script");
                    self.run_acked(&fill(self.script_full(&scripts::FINISH)), "finish")
                        .await?
                }
                Err(e) => return Err(super::backend_error(e)),
            };
            let reply = expect_array(reply, "finish")?;
            out.extend(reply.iter().map(|v| int_of(v) == Some(1)));
        }
        Ok(out)
    }

    /// Looks jobs up: their hashes, read with pipelined `HGETALL`s (a lookup
    /// changes nothing, so it needs no script, and a plain command costs
    /// Redis a fraction of a script call). A scheduled job is read again
    /// through `jobs.lua`, which adds its due time in the same atomic step.
    pub(crate) async fn lookup(&self, ids: &[JobId]) -> Result<Vec<Option<JobInfo>>> {
        let mut out = Vec::with_capacity(ids.len());
        let mut scheduled = Vec::new();
        for chunk in ids.chunks(BATCH_CHUNK) {
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for id in chunk {
                pipe.cmd("HGETALL").arg(self.keys.job(id.as_str()));
            }
            let mut conn = self.pool.get();
            let replies: Vec<Value> = pipe
                .query_async(&mut conn)
                .await
                .map_err(super::backend_error)?;
            for (id, reply) in chunk.iter().zip(replies) {
                let info = match reply {
                    Value::ServerError(e) => Some(unreadable(id.as_str(), &e.to_string())),
                    Value::Map(pairs) => info_from_fields(
                        id.as_str(),
                        pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
                    ),
                    other => info_from_fields(id.as_str(), array_of(other)),
                };
                if info
                    .as_ref()
                    .is_some_and(|i| i.state == JobState::Scheduled)
                {
                    scheduled.push(out.len());
                }
                out.push(info);
            }
        }
        for chunk in scheduled.chunks(BATCH_CHUNK) {
            let mut inv = self.script(&scripts::JOBS);
            for &at in chunk {
                inv.arg(ids[at].as_str());
            }
            let reply = expect_array(self.run(&inv).await?, "jobs")?;
            for (&at, fields) in chunk.iter().zip(reply) {
                out[at] = info_from_fields(ids[at].as_str(), array_of(fields));
            }
        }
        Ok(out)
    }

    pub(super) fn check_payloads(&self, jobs: &[JobRecord]) -> Result<()> {
        let limit = self.settings.payload_limit;
        match jobs.iter().map(payload_size).find(|&size| size > limit) {
            Some(size) => Err(Error::PayloadTooLarge { size, limit }),
            None => Ok(()),
        }
    }

    /// Adds records to an invocation as `enqueue_records` (lib.lua) reads
    /// them: a count, then per record its id, blob, queue and the number of
    /// option pairs, then those pairs (only options that differ from the
    /// default, so a plain record is four arguments).
    pub(super) fn push_records(&self, inv: &mut Call, records: &mut [JobRecord]) -> Result<()> {
        inv.arg(records.len());
        for r in records.iter_mut() {
            let blob = encode_record(r)?;
            let ttl = match r.result_ttl_ms {
                t if t == 0 || t == self.settings.result_ttl_ms => None,
                t => Some(t),
            };
            let priority = r.priority.min(9);
            if let Some(key) = &r.concurrency_key {
                ork_core::call::check_cap_key(key)?;
            }
            // A task's capped or rate-limited jobs are placed in one shard
            // (see the crate docs, "Shards"), so its limits are not split.
            let caps = r.running_caps();
            if let Some(key) = &r.rate_key {
                ork_core::call::check_cap_key(key)?;
            }
            if let Some(l) = &r.limiter {
                ork_core::backend::check_limiter_name(l)?;
            }
            let bucket = r.rate_bucket().map(|(name, source)| match source {
                Ok(limiter) => format!("{name}\t@{limiter}"),
                Err(rate) => format!("{name}\t{}", rate_spec(&rate)),
            });
            let pairs = usize::from(priority != 0)
                + usize::from(r.unique.is_some())
                + usize::from(r.delay_ms != 0)
                + usize::from(r.run_at_ms.is_some())
                + usize::from(ttl.is_some())
                + usize::from(r.allow_failure)
                + usize::from(r.parent.is_some())
                + usize::from(r.idempotency_key.is_some())
                + usize::from(!caps.is_empty())
                + usize::from(bucket.is_some())
                + r.deps.len();
            inv.arg(r.id.as_str())
                .arg(blob)
                .arg(r.queue.as_str())
                .arg(pairs);
            if priority != 0 {
                inv.arg("p").arg(priority);
            }
            if let Some(u) = &r.unique {
                inv.arg("u").arg(u.as_str());
            }
            if r.delay_ms != 0 {
                inv.arg("dl").arg(r.delay_ms);
            }
            if let Some(at) = r.run_at_ms {
                inv.arg("ra").arg(at);
            }
            if let Some(ttl) = ttl {
                inv.arg("x").arg(ttl);
            }
            if r.allow_failure {
                inv.arg("af").arg("1");
            }
            for d in &r.deps {
                inv.arg("dep").arg(d.as_str());
            }
            if let Some(parent) = &r.parent {
                inv.arg("pa").arg(parent.as_str());
            }
            if let Some(key) = &r.idempotency_key {
                inv.arg("ik").arg(key.as_str());
            }
            if let Some(b) = &bucket {
                inv.arg("rl").arg(b.as_str());
            }
            if !caps.is_empty() {
                let lines: Vec<String> = caps.iter().map(|(n, c)| format!("{c}\t{n}")).collect();
                inv.arg("lm").arg(lines.join("\n"));
            }
        }
        Ok(())
    }

    /// Stores records in chunks of [`ENQUEUE_CHUNK`], each one script call.
    /// The chunks go out on one connection (so in order), each as soon as
    /// it is encoded: the server runs one while the next is being built.
    /// When a chunk fails, chunks sent after it may be stored all the same
    /// (each record still atomically); enqueue is idempotent by id, so the
    /// caller can send the whole batch again.
    pub(super) async fn enqueue(&self, mut jobs: Vec<JobRecord>) -> Result<Vec<Enqueued>> {
        self.check_payloads(&jobs)?;
        let conn = self.pool.get();
        let mut sent: Vec<(usize, Pending)> = Vec::new();
        for chunk in jobs.chunks_mut(ENQUEUE_CHUNK) {
            let mut inv = self.script(&scripts::ENQUEUE);
            inv.key(self.keys.unique());
            self.push_records(&mut inv, chunk)?;
            let mut pipe = redis::pipe();
            pipe.add_command(inv.cmd());
            if let Some((replicas, timeout_ms)) = self.settings.replicas {
                pipe.cmd("WAIT").arg(replicas).arg(timeout_ms);
            }
            let mut c = conn.clone();
            let mut reply: PendingReply =
                Box::pin(async move { pipe.query_async::<Vec<Value>>(&mut c).await });
            // Polled once, the request is on its way; it is read below.
            let ready = std::future::poll_fn(|cx| Poll::Ready(reply.as_mut().poll(cx))).await;
            sent.push((
                chunk.len(),
                match ready {
                    Poll::Ready(r) => Pending::Done(r),
                    Poll::Pending => Pending::Sent(reply),
                },
            ));
        }
        let mut out = Vec::with_capacity(jobs.len());
        let mut at = 0;
        // Every reply is read, so that a refusal can say how much of the
        // batch was stored.
        let mut refused: Option<redis::RedisError> = None;
        for (len, pending) in sent {
            let chunk = &mut jobs[at..at + len];
            at += len;
            let reply = match pending {
                Pending::Done(r) => r,
                Pending::Sent(f) => f.await,
            };
            let value = match reply {
                Ok(values) => {
                    let mut values = values.into_iter();
                    let value = values.next().unwrap_or(Value::Nil);
                    self.check_acked(values.next().as_ref(), "enqueue")?;
                    value
                }
                // The script cache was flushed (a restart or a failover,
                // say): nothing of this chunk was stored. Load the script
                // and send it again.
                Err(e) if crate::scripts::is_missing(&e) => {
                    let mut inv = self.script(&scripts::ENQUEUE);
                    inv.key(self.keys.unique());
                    self.push_records(&mut inv, chunk)?;
                    match self.invoke_acked(&inv).await {
                        Ok((v, wait)) => {
                            self.check_acked(wait.as_ref(), "enqueue")?;
                            v
                        }
                        Err(e) => {
                            refused.get_or_insert(e);
                            continue;
                        }
                    }
                }
                Err(e) => {
                    refused.get_or_insert(e);
                    continue;
                }
            };
            out.extend(enqueued_of(chunk, expect_array(value, "enqueue")?));
        }
        match refused {
            None => Ok(out),
            // Each chunk is one script: refused, it wrote nothing.
            Some(e) => Err(crate::error::error_while(
                e,
                &not_enqueued(out.len(), jobs.len()),
            )),
        }
    }

    pub(super) async fn fire(&self, mut ticks: FireTicks) -> Result<Option<Vec<Enqueued>>> {
        self.check_payloads(&ticks.jobs)?;
        let mut inv = self.script(&scripts::FIRE);
        inv.key(self.keys.unique())
            .key(self.keys.schedule(&ticks.schedule))
            .arg(ticks.expected_through_ms)
            .arg(ticks.through_ms);
        self.push_records(&mut inv, &mut ticks.jobs)?;
        let mut reply = expect_array(self.run(&inv).await?, "fire")?.into_iter();
        if reply.next().and_then(|v| int_of(&v)) != Some(1) {
            return Ok(None);
        }
        Ok(Some(enqueued_of(&ticks.jobs, reply.collect())))
    }

    pub(super) async fn heartbeat(
        &self,
        leases: &[Lease],
        lease: Duration,
    ) -> Result<Vec<LeaseStatus>> {
        let mut out = Vec::with_capacity(leases.len());
        for chunk in leases.chunks(BATCH_CHUNK) {
            let mut inv = self.script(&scripts::HEARTBEAT);
            inv.arg(lease.as_millis().max(1) as u64);
            for l in chunk {
                inv.arg(l.id.as_str()).arg(l.fence);
            }
            let reply = expect_array(self.run(&inv).await?, "heartbeat")?;
            out.extend(reply.iter().map(|v| match int_of(v) {
                Some(1) => LeaseStatus::Held,
                Some(2) => LeaseStatus::CancelRequested,
                _ => LeaseStatus::Lost,
            }));
        }
        Ok(out)
    }

    /// Polls the job until it is terminal. The pause between looks grows
    /// with the time waited (a tenth of it, from 1 ms up to 50 ms), so a
    /// job that ends is seen at most a tenth of its wait late, and a long
    /// wait costs Redis no more than 20 lookups a second (each a plain
    /// `HGETALL`, a fraction of a script call).
    pub(super) async fn wait(&self, id: &JobId, timeout: Duration) -> Result<Option<JobInfo>> {
        let start = tokio::time::Instant::now();
        let deadline = start + timeout;
        loop {
            let info = self.lookup(std::slice::from_ref(id)).await?.pop().flatten();
            match info {
                None => return Ok(None),
                Some(info) if info.state.is_terminal() => return Ok(Some(info)),
                Some(info) => {
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        return Ok(Some(info));
                    }
                    let pause = ((now - start) / 10)
                        .clamp(Duration::from_millis(1), Duration::from_millis(50));
                    tokio::time::sleep(pause.min(deadline - now)).await;
                }
            }
        }
    }

    pub(super) async fn cancel(&self, id: &JobId) -> Result<CancelOutcome> {
        let mut inv = self.script(&scripts::CANCEL);
        inv.key(self.keys.unique()).arg(id.as_str());
        let reply = expect_array(self.run(&inv).await?, "cancel")?;
        let code = reply.first().and_then(int_of).unwrap_or(0);
        let state = reply
            .get(1)
            .and_then(bytes_of)
            .and_then(|s| state_from_code(&s));
        Ok(match (code, state) {
            (1, _) => CancelOutcome::Cancelled,
            (2, _) => CancelOutcome::Requested,
            (3, Some(state)) => CancelOutcome::AlreadyFinished(state),
            _ => return Err(Error::UnknownJob(id.clone())),
        })
    }

    pub(super) async fn retry(&self, id: &JobId) -> Result<bool> {
        // The dependencies are in the record, which only Rust reads; they
        // never change, so reading them first is safe.
        let Some(info) = self.lookup(std::slice::from_ref(id)).await?.pop().flatten() else {
            return Err(Error::UnknownJob(id.clone()));
        };
        let mut inv = self.script(&scripts::RETRY);
        inv.key(self.keys.unique()).arg(id.as_str());
        for d in &info.record.deps {
            inv.arg(d.as_str());
        }
        match int_of(&self.run(&inv).await?).unwrap_or(0) {
            -1 => Err(Error::UnknownJob(id.clone())),
            n => Ok(n == 1),
        }
    }
}

/// The bytes of a record's arguments: its payload and, for a workflow
/// node, the values given at submit (its other arguments come from other
/// jobs' outputs, checked when those were stored).
fn payload_size(r: &JobRecord) -> usize {
    let values: usize = r
        .inputs
        .iter()
        .map(|i| match i {
            ArgSpec::Value(v) => v.len(),
            _ => 0,
        })
        .sum();
    r.payload.len() + values
}

/// What a refused enqueue did not do, for the error's message.
fn not_enqueued(stored: usize, total: usize) -> String {
    match (stored, total) {
        (_, 1) => "the job was not enqueued".to_owned(),
        (0, n) => format!("none of the {n} jobs was enqueued"),
        (k, n) => format!(
            "{k} of the {n} jobs were enqueued and the others were not (enqueue is idempotent \
             by id: the batch can be sent again)"
        ),
    }
}

/// A chunk's reply, read when its turn comes.
type PendingReply =
    std::pin::Pin<Box<dyn std::future::Future<Output = redis::RedisResult<Vec<Value>>> + Send>>;

/// A chunk sent: its reply already in, or on its way.
enum Pending {
    Done(redis::RedisResult<Vec<Value>>),
    Sent(PendingReply),
}

/// The enqueue reply: per record, 1 (created) or the id of the job that
/// stands for it.
fn enqueued_of(records: &[JobRecord], reply: Vec<Value>) -> Vec<Enqueued> {
    records
        .iter()
        .zip(reply)
        .map(|(r, v)| match v {
            Value::Int(1) => Enqueued::Created(r.id.clone()),
            other => {
                let id = bytes_of(&other).unwrap_or_default();
                Enqueued::Existing(JobId::from(String::from_utf8_lossy(&id).into_owned()))
            }
        })
        .collect()
}

/// A rate as the claim script reads it: `<count>\t<period ms>\t<burst>`.
pub(crate) fn rate_spec(rate: &ork_core::Rate) -> String {
    format!("{}\t{}\t{}", rate.count, rate.period_ms, rate.burst)
}
