//! The feed of cancel requests a backend pushes to worker pools.

use std::fmt;

use tokio::sync::mpsc;

use crate::job::JobId;

/// Ids of jobs whose cancellation was just requested, pushed by the backend
/// as it happens (see [`JobStore::cancel_requests`](super::JobStore::cancel_requests)).
///
/// A pool matches each id against the jobs it runs and stops the one it
/// finds at once, instead of at its next heartbeat. The feed is a hint: an
/// id may be missed (a lost connection), and heartbeats still report every
/// request, so nothing depends on it but speed.
pub struct CancelRequests {
    rx: Option<mpsc::Receiver<JobId>>,
}

impl fmt::Debug for CancelRequests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelRequests")
            .field("pushed", &self.rx.is_some())
            .finish()
    }
}

impl CancelRequests {
    /// A feed that reads ids from `rx` (for backends outside this crate).
    /// It ends when every sender is dropped.
    pub fn new(rx: mpsc::Receiver<JobId>) -> Self {
        CancelRequests { rx: Some(rx) }
    }

    /// A feed that never yields: for engines that don't push cancellations
    /// (heartbeats carry them).
    pub fn never() -> Self {
        CancelRequests { rx: None }
    }

    /// The next id; `None` once the feed has ended. A feed made by
    /// [`never`](Self::never) waits forever.
    pub async fn next(&mut self) -> Option<JobId> {
        match &mut self.rx {
            Some(rx) => rx.recv().await,
            None => std::future::pending().await,
        }
    }
}
