//! The blocking claim: no busy polling, no lost work when abandoned.
//!
//! A claim first runs `claim.lua`. When it hands out nothing and the caller
//! may wait, the claimer blocks on the wake keys of its queues (`BZPOPMIN`
//! on `{ns}:k:<queue>`, a dedicated connection) until a script that made
//! work ready adds the token, until the next scheduled job of these queues
//! is due, or until the caller's `wait` is over; then it runs the claim
//! script again.
//!
//! Only the script changes state, and it runs after the wait: a claim
//! future dropped while blocked has claimed nothing, and closing its
//! connection ends the server-side wait. At worst a wake token it took is
//! gone; other idle claimers then wake at their own deadline, and tokens
//! are only hints (work is never in the token).
//!
//! On a plain TCP connection (not TLS, not a cluster) whose user may send
//! `CLIENT UNBLOCK`, the claim script is sent in the same write as the wait
//! (pipelined): the server runs it as soon as the wait ends, which saves a
//! round trip between the wake and the claim. A wait abandoned there shuts
//! its socket down synchronously in the drop, so the server drops the wait
//! and the claim queued behind it before it reads anything sent later.
//! One instant is not covered: a future dropped after sending its wait but
//! before the server read it (microseconds). If work arrives in that
//! instant, the server may run the claim for the gone caller; those jobs
//! are not lost but leased, and come back when the lease runs out, like the
//! jobs of any claim whose reply never arrived (a claim script in flight
//! when its future is dropped, or a worker that died).
//!
//! Server-side timeouts of blocking commands are only as precise as the
//! server's `hz` (about 100 ms at the default 10), so a wait bounded by a
//! due time is timed here instead, and ended early with `CLIENT UNBLOCK`
//! from a shared connection (on a cluster: by closing the connection).

use std::time::Duration;

use ork_core::backend::{ClaimRequest, Claimed};
use ork_core::{Error, Result};
use redis::Value;
use tokio::time::{sleep, timeout, Instant};

use crate::backend::{backend_error, Inner};
use crate::conn::BlockingConn;
use crate::shards::{first_of, Router, ShardFuture};

/// Slack granted to the server beyond a wait we time ourselves.
const SERVER_SLACK: Duration = Duration::from_secs(1);

/// A claim over every shard of the namespace. One shard: [`claim`]. More:
/// each round asks the shards in turn for what is left of the batch,
/// starting one further than the last round (so a busy shard does not
/// starve the others; after a wait on a cluster, at the shard whose wait
/// ended), until the batch is full: with work in every shard,
/// a claim is one script call, as on one shard (asking every shard for a
/// part of the batch at once cost Redis a fifth more CPU per task, in
/// script calls). When a round finds nothing, the claimer blocks on the wake keys of
/// every shard at once (one `BZPOPMIN` naming them all on a single server;
/// on a cluster, whose blocking commands name keys of one slot, one wait
/// per shard on a connection of its own, the first to end ending the
/// others).
pub(crate) async fn claim_routed(router: &Router, req: &ClaimRequest) -> Result<Vec<Claimed>> {
    if router.count() == 1 {
        return claim(router.home(), req).await;
    }
    if req.max == 0 || req.queues.is_empty() {
        return Ok(Vec::new());
    }
    let deadline = Instant::now() + req.wait;
    let n = router.count();
    let mut ask = req.clone();
    // The shard whose wait ended last: the next round starts there.
    let mut woke: Option<usize> = None;
    loop {
        let start = woke.take().unwrap_or_else(|| router.next_start());
        let mut claimed = Vec::new();
        let mut next_due: Option<u64> = None;
        for k in 0..n {
            let rest = req.max - claimed.len();
            if rest == 0 {
                break;
            }
            let s = (start + k) % n;
            ask.max = rest;
            let (got, due) = router.shard(s).claim_once(&ask).await?;
            router.note_claimed(s, &got);
            claimed.extend(got);
            next_due = earliest(next_due, due);
        }
        if !claimed.is_empty() {
            return Ok(claimed);
        }
        let Some((bound, precise)) = wait_bound(deadline, next_due) else {
            return Ok(claimed);
        };
        if bound.is_zero() {
            continue;
        }
        woke = wait_for_any(router, req, bound, precise).await?;
    }
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Blocks until a wake token arrives on one of the queues of any shard, or
/// `bound` passes. Returns the shard whose wait ended first, where it is
/// known (on a cluster).
async fn wait_for_any(
    router: &Router,
    req: &ClaimRequest,
    bound: Duration,
    precise: bool,
) -> Result<Option<usize>> {
    let home = router.home();
    if !home.blocking.is_cluster() {
        // One server: one wait can name every shard's keys.
        let keys = router
            .all()
            .iter()
            .flat_map(|s| req.queues.iter().map(|q| s.keys.wake(q)))
            .collect();
        let mut guard = home.blocking.checkout().await?;
        let (_, clean) = block(home, guard.conn(), keys, None, bound, precise).await?;
        if clean {
            guard.mark_clean();
        }
        return Ok(None);
    }
    let waits = router
        .all()
        .iter()
        .map(|shard| -> ShardFuture<'_, Result<()>> {
            let keys = req.queues.iter().map(|q| shard.keys.wake(q)).collect();
            Box::pin(async move {
                let mut guard = shard.blocking.checkout().await?;
                let (_, clean) = block(shard, guard.conn(), keys, None, bound, precise).await?;
                if clean {
                    guard.mark_clean();
                }
                Ok(())
            })
        })
        .collect();
    // The first wait to end wins; the others are dropped, and their
    // connections closed (which ends their waits on the server).
    let (first, ended) = first_of(waits).await;
    ended.map(|()| Some(first))
}

pub(crate) async fn claim(inner: &Inner, req: &ClaimRequest) -> Result<Vec<Claimed>> {
    if req.max == 0 || req.queues.is_empty() {
        return Ok(Vec::new());
    }
    let deadline = Instant::now() + req.wait;
    // The reply of a claim pipelined behind the last wait.
    let mut pending: Option<Value> = None;
    loop {
        let (claimed, next_due) = match pending.take() {
            Some(reply) => inner.claimed_of(reply).await?,
            None => inner.claim_once(req).await?,
        };
        if !claimed.is_empty() {
            return Ok(claimed);
        }
        let Some((bound, precise)) = wait_bound(deadline, next_due) else {
            return Ok(claimed);
        };
        // A job due now (or garbage dead-lettered): claim again at once.
        if bound.is_zero() {
            continue;
        }
        pending = wait_for_work(inner, req, bound, precise).await?;
    }
}

/// Blocks until a wake token arrives on one of the queues, or `bound`
/// passes. `precise`: time the bound here rather than on the server.
///
/// Where the connection allows it (see [`BlockingConn::pipelines`]), the
/// claim script is pipelined behind the wait: it runs the moment the wait
/// ends, without a round trip, and its reply is returned. An abandoned
/// wait shuts its socket down in the drop, so the server drops the claim
/// with the wait (the module docs tell the one instant this misses).
async fn wait_for_work(
    inner: &Inner,
    req: &ClaimRequest,
    bound: Duration,
    precise: bool,
) -> Result<Option<Value>> {
    let mut guard = inner.blocking.checkout().await?;
    let keys = req.queues.iter().map(|q| inner.keys.wake(q)).collect();
    let claim = guard
        .conn()
        .pipelines()
        .then(|| inner.claim_invocation(req));
    let (reply, clean) = block(inner, guard.conn(), keys, claim, bound, precise).await?;
    if clean {
        guard.mark_clean();
    }
    Ok(reply)
}

/// The wait (and the claim pipelined behind it): (the claim's reply,
/// whether the connection answered everything asked and can be reused).
/// `claim`: the claim script to pipeline behind the wait, if any.
async fn block(
    inner: &Inner,
    conn: &mut BlockingConn,
    wake_keys: Vec<String>,
    claim: Option<crate::scripts::Call>,
    bound: Duration,
    precise: bool,
) -> Result<(Option<Value>, bool)> {
    let server_timeout = if precise { bound + SERVER_SLACK } else { bound };
    let mut wait = redis::cmd("BZPOPMIN");
    for key in wake_keys {
        wait.arg(key);
    }
    wait.arg(format!("{:.3}", server_timeout.as_secs_f64().max(0.001)));
    let mut pipe = redis::pipe();
    pipe.add_command(wait).ignore();
    if let Some(claim) = claim {
        pipe.add_command(claim.cmd());
    }
    let client_id = conn.client_id;
    let pop = conn.conn.query_pipeline(&pipe);
    tokio::pin!(pop);
    let first = if precise {
        tokio::select! {
            r = &mut pop => Some(r),
            _ = sleep(bound) => None,
        }
    } else {
        // The server ends the wait; the client-side limit only catches a
        // connection that went silent.
        match timeout(server_timeout + SERVER_SLACK * 5, &mut pop).await {
            Ok(r) => Some(r),
            Err(_) => return Err(Error::backend("blocking wait got no answer")),
        }
    };
    let result = match first {
        Some(r) => r,
        None => {
            // Our timer fired first: end the server-side wait.
            let Some(id) = client_id else {
                return Ok((None, false)); // the connection is closed instead
            };
            let mut shared = inner.pool.get();
            let unblocked: redis::RedisResult<i64> = redis::cmd("CLIENT")
                .arg("UNBLOCK")
                .arg(id)
                .query_async(&mut shared)
                .await;
            if unblocked.is_err() {
                return Ok((None, false)); // (no permission, say) close it instead
            }
            match timeout(SERVER_SLACK * 2, &mut pop).await {
                Ok(r) => r,
                Err(_) => return Ok((None, false)),
            }
        }
    };
    match result {
        Ok(mut replies) => Ok((replies.pop(), true)),
        // The script cache was flushed: the next claim loads it again.
        Err(e) if crate::scripts::is_missing(&e) => Ok((None, false)),
        Err(e) => Err(backend_error(e)),
    }
}

/// How long an empty claim waits before it asks again: until the next
/// scheduled job is due (`true`: precise) or the claim's deadline
/// (`false`); `None` once the deadline has passed.
fn wait_bound(deadline: Instant, next_due: Option<u64>) -> Option<(Duration, bool)> {
    let left = deadline.checked_duration_since(Instant::now())?;
    if left.is_zero() {
        return None;
    }
    Some(match next_due {
        Some(ms) if Duration::from_millis(ms) < left => (Duration::from_millis(ms), true),
        _ => (left, false),
    })
}
