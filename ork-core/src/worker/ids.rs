//! Duplicate worker ids: a pool that starts under an id another live pool
//! holds gets a warning.
//!
//! Two pools with one id overwrite each other's entry in the worker
//! listing, so `ork workers` and the dashboard show one where two run. The
//! check is a look at [`WorkerRegistry::workers`] when a pool starts, before it
//! registers itself; it never stops the pool.

use std::time::Duration;

use crate::backend::Backend;
use crate::inspect::WorkerInfo;

/// How long the start of a pool waits for the look at the listing.
const CHECK_LIMIT: Duration = Duration::from_secs(2);

/// Who is starting: the pool's id, host and process.
#[derive(Debug, Clone)]
pub(crate) struct Starting {
    pub(crate) id: String,
    pub(crate) host: String,
    pub(crate) pid: u32,
    /// When this pool started (Unix ms): an entry of this host and process
    /// that started then or later is this pool's own.
    pub(crate) started_at_ms: u64,
}

impl Starting {
    /// This process, starting a pool named `id` on `host` now.
    pub(crate) fn now(id: &str, host: &str) -> Starting {
        Starting {
            id: id.to_owned(),
            host: host.to_owned(),
            pid: std::process::id(),
            started_at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }
    }

    /// Whether a listed entry is another pool under this id: a different
    /// host or process, or one of this process started before this pool.
    fn is_other(&self, w: &WorkerInfo) -> bool {
        w.id == self.id
            && (w.host != self.host || w.pid != self.pid || w.started_at_ms < self.started_at_ms)
    }
}

/// Looks for another live pool registered under the starting pool's id,
/// and warns, naming the id, when there is one. Returns that pool's entry.
/// A listing that fails or takes too long is skipped (logged at debug):
/// the pool starts all the same.
pub(crate) async fn warn_if_taken(backend: &dyn Backend, me: &Starting) -> Option<WorkerInfo> {
    let workers = match tokio::time::timeout(CHECK_LIMIT, backend.workers()).await {
        Ok(Ok(workers)) => workers,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "could not list workers to check the worker id");
            return None;
        }
        Err(_) => {
            tracing::debug!("listing workers to check the worker id took too long");
            return None;
        }
    };
    let other = workers.into_iter().find(|w| me.is_other(w))?;
    tracing::warn!(
        worker = %me.id,
        other_host = %other.host,
        other_pid = other.pid,
        other_started_at_ms = other.started_at_ms,
        "another live worker pool has the id {:?}: give each pool its own id (`Worker::id`), \
         or the worker listing shows them as one",
        me.id
    );
    Some(other)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{warn_if_taken, Starting};

    use crate::backend::WorkerRegistry;
    use crate::inspect::WorkerInfo;
    use crate::MemoryBackend;

    fn entry(id: &str, host: &str, pid: u32, started_at_ms: u64) -> WorkerInfo {
        WorkerInfo {
            id: id.to_owned(),
            host: host.to_owned(),
            pid,
            queues: vec!["default".to_owned()],
            concurrency: 1,
            started_at_ms,
            last_seen_ms: 0,
            running: 0,
            processed: 0,
        }
    }

    #[tokio::test]
    async fn another_live_pool_with_the_id_is_found() {
        let backend = MemoryBackend::new();
        let me = Starting::now("pool-a", "host-1");
        let ttl = Duration::from_secs(30);
        // Different ids, and this pool's own entry: no duplicate.
        backend
            .register_worker(&entry("pool-b", "host-2", 7, 1), ttl)
            .await
            .unwrap();
        backend
            .register_worker(&entry("pool-a", "host-1", me.pid, me.started_at_ms), ttl)
            .await
            .unwrap();
        assert_eq!(warn_if_taken(&backend, &me).await, None);
        // The same id on another host.
        let other = entry("pool-a", "host-2", me.pid, me.started_at_ms);
        backend.register_worker(&other, ttl).await.unwrap();
        let found = warn_if_taken(&backend, &me).await.expect("a duplicate");
        assert_eq!((found.host.as_str(), found.pid), ("host-2", me.pid));
        // An earlier pool of this very process.
        let earlier = entry("pool-a", "host-1", me.pid, me.started_at_ms - 1);
        backend.register_worker(&earlier, ttl).await.unwrap();
        let found = warn_if_taken(&backend, &me).await.expect("a duplicate");
        assert_eq!(found.started_at_ms, me.started_at_ms - 1);
    }
}
