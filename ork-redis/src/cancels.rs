//! Pushed cancel requests: the subscriber behind
//! [`JobStore::cancel_requests`](ork_core::backend::JobStore::cancel_requests).
//!
//! `cancel.lua` publishes the id of every running job whose cancellation
//! it requests on its shard's channel (`{ns}:cancels`, `{ns:i}:cancels`).
//! Each feed holds one subscriber connection to every shard's channel and
//! relays the ids. When the connection
//! is lost (a Redis restart), the relay subscribes again with a growing
//! pause; meanwhile heartbeats carry every request, so a lost subscription
//! delays cancellations without losing any.

use std::time::Duration;

use futures_core::Stream;
use ork_core::backend::CancelRequests;
use ork_core::job::JobId;
use ork_core::{Error, Result};
use redis::aio::PubSubStream;
use redis::Client;
use tokio::sync::mpsc;

use crate::conn::CONNECT_TIMEOUT;

/// The longest pause between two attempts to subscribe again.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Subscribes to `channels` (one per shard) and returns the feed of ids
/// published on them.
///
/// # Errors
/// The first subscription failed (later ones are retried by the feed).
pub(crate) async fn open(client: Client, channels: Vec<String>) -> Result<CancelRequests> {
    let stream = match subscribe(&client, &channels).await {
        Ok(stream) => stream,
        Err(Refused::NoPermission(e)) => {
            tracing::warn!(
                error = %e,
                "this Redis user may not subscribe to {channels:?}: cancellations arrive with heartbeats only"
            );
            return Ok(CancelRequests::never());
        }
        Err(Refused::Other(e)) => return Err(e),
    };
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(relay(client, channels, stream, tx));
    Ok(CancelRequests::new(rx))
}

/// Why a subscription failed.
enum Refused {
    /// The user lacks the command or the channel (ACL).
    NoPermission(redis::RedisError),
    /// Anything else (the server is unreachable, say).
    Other(Error),
}

async fn subscribe(client: &Client, channels: &[String]) -> Result<PubSubStream, Refused> {
    let attempt = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channels).await?;
        Ok::<_, redis::RedisError>(pubsub.into_on_message())
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm) => {
            Err(Refused::NoPermission(e))
        }
        Ok(Err(e)) => Err(Refused::Other(Error::backend_caused_by(
            format!(
                "could not subscribe to cancel requests: {}",
                crate::error::what_failed(&e)
            ),
            crate::error::is_transient(&e),
            e,
        ))),
        Err(_) => Err(Refused::Other(Error::backend(format!(
            "could not subscribe to cancel requests within {CONNECT_TIMEOUT:?}"
        )))),
    }
}

/// Relays published ids until the feed is dropped, subscribing again
/// whenever the connection is lost.
async fn relay(
    client: Client,
    channels: Vec<String>,
    first: PubSubStream,
    tx: mpsc::Sender<JobId>,
) {
    let mut stream = Some(first);
    let mut failures = 0u32;
    loop {
        if let Some(mut s) = stream.take() {
            loop {
                let msg = tokio::select! {
                    _ = tx.closed() => return,
                    msg = std::future::poll_fn(|cx| Pin::new(&mut s).poll_next(cx)) => msg,
                };
                let Some(msg) = msg else { break };
                let Ok(id) = msg.get_payload::<String>() else {
                    continue;
                };
                if tx.send(JobId::from(id)).await.is_err() {
                    return;
                }
            }
            tracing::warn!(
                "lost the subscription to cancel requests; they arrive with heartbeats until it is back"
            );
        }
        failures += 1;
        let pause = (Duration::from_millis(50) * 2u32.pow(failures.min(7))).min(MAX_PAUSE);
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(pause) => {}
        }
        match subscribe(&client, &channels).await {
            Ok(s) => {
                tracing::info!("subscribed to cancel requests again");
                failures = 0;
                stream = Some(s);
            }
            Err(Refused::NoPermission(e)) => {
                tracing::warn!(error = %e, "may no longer subscribe to cancel requests");
                return;
            }
            Err(Refused::Other(e)) => {
                tracing::debug!(error = %e, "subscribing to cancel requests failed");
            }
        }
    }
}
