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

/// Slack granted to the server beyond a wait we time ourselves.
const SERVER_SLACK: Duration = Duration::from_secs(1);

pub(crate) async fn claim(inner: &Inner, req: &ClaimRequest) -> Result<Vec<Claimed>> {
    if req.max == 0 || req.queues.is_empty() {
        return Ok(Vec::new());
    }
    let deadline = Instant::now() + req.wait;
    loop {
        let (claimed, next_due) = inner.claim_once(req).await?;
        if !claimed.is_empty() {
            return Ok(claimed);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(claimed);
        }
        let left = deadline - now;
        let (bound, precise) = match next_due {
            Some(ms) if Duration::from_millis(ms) < left => (Duration::from_millis(ms), true),
            _ => (left, false),
        };
        // A job due now (or garbage dead-lettered): claim again at once.
        if bound.is_zero() {
            continue;
        }
        wait_for_work(inner, req, bound, precise).await?;
    }
}

/// Blocks until a wake token arrives on one of the queues, or `bound`
/// passes. `precise`: time the bound here rather than on the server.
async fn wait_for_work(
    inner: &Inner,
    req: &ClaimRequest,
    bound: Duration,
    precise: bool,
) -> Result<()> {
    let mut guard = inner.blocking.checkout().await?;
    if block(inner, guard.conn(), req, bound, precise).await? {
        guard.mark_clean();
    }
    Ok(())
}

/// The wait itself; `Ok(true)` when the connection answered everything
/// asked and can be reused.
async fn block(
    inner: &Inner,
    conn: &mut BlockingConn,
    req: &ClaimRequest,
    bound: Duration,
    precise: bool,
) -> Result<bool> {
    let server_timeout = if precise { bound + SERVER_SLACK } else { bound };
    let mut cmd = redis::cmd("BZPOPMIN");
    for q in &req.queues {
        cmd.arg(inner.keys.wake(q));
    }
    cmd.arg(format!("{:.3}", server_timeout.as_secs_f64().max(0.001)));
    let client_id = conn.client_id;
    let pop = conn.conn.query(&cmd);
    tokio::pin!(pop);
    let first: Option<redis::RedisResult<Value>> = if precise {
        tokio::select! {
            r = &mut pop => Some(r),
            _ = sleep(bound) => None,
        }
    } else {
        // The server ends the wait; the client-side limit only catches a
        // connection that went silent.
        match timeout(server_timeout + SERVER_SLACK * 5, &mut pop).await {
            Ok(r) => Some(r),
            Err(_) => return Err(Error::Backend("blocking wait got no answer".to_owned())),
        }
    };
    match first {
        Some(Ok(_)) => Ok(true),
        Some(Err(e)) => Err(backend_error(e)),
        None => {
            // Our timer fired first: end the server-side wait.
            let Some(id) = client_id else {
                return Ok(false); // the connection is closed instead
            };
            let mut shared = inner.pool.get();
            let unblocked: redis::RedisResult<i64> = redis::cmd("CLIENT")
                .arg("UNBLOCK")
                .arg(id)
                .query_async(&mut shared)
                .await;
            if unblocked.is_err() {
                return Ok(false); // (no permission, say) close it instead
            }
            Ok(matches!(
                timeout(SERVER_SLACK * 2, &mut pop).await,
                Ok(Ok(_))
            ))
        }
    }
}
