//! Duplicate worker ids: a pool that starts under an id another live pool
//! holds gets a warning.
//!
//! Each run of a pool registers under its own key (id and instance, see
//! [`WorkerInfo::key`]), so `ork workers` and the dashboard list both; but
//! they share one name there and in the metrics. The check is a look at
//! [`WorkerRegistry::workers`] when a pool starts, before it registers itself; it
//! never stops the pool.

use std::time::Duration;

use crate::backend::Backend;
use crate::inspect::WorkerInfo;

/// How long the start of a pool waits for the look at the listing.
const CHECK_LIMIT: Duration = Duration::from_secs(2);

/// Who is starting: the pool's id and the instance of this run.
#[derive(Debug, Clone)]
pub(crate) struct Starting {
    pub(crate) id: String,
    pub(crate) instance: String,
}

impl Starting {
    /// A pool named `id` starting as `instance`.
    pub(crate) fn new(id: &str, instance: &str) -> Starting {
        Starting {
            id: id.to_owned(),
            instance: instance.to_owned(),
        }
    }

    /// Whether a listed entry is another pool run under this id.
    fn is_other(&self, w: &WorkerInfo) -> bool {
        w.id == self.id && w.instance != self.instance
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
        other_instance = %other.instance,
        "another live worker pool has the id {:?}: give each pool its own id (`Worker::id`); \
         the worker listing tells them apart only by host, pid and instance, and the metrics \
         not at all",
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

    fn entry(id: &str, instance: &str) -> WorkerInfo {
        WorkerInfo {
            id: id.to_owned(),
            instance: instance.to_owned(),
            host: "host-1".to_owned(),
            pid: 7,
            queues: vec!["default".to_owned()],
            concurrency: 1,
            started_at_ms: 1,
            last_seen_ms: 0,
            running: 0,
            processed: 0,
        }
    }

    #[tokio::test]
    async fn another_live_pool_with_the_id_is_found() {
        let backend = MemoryBackend::new();
        let me = Starting::new("pool-a", "0000000a");
        let ttl = Duration::from_secs(30);
        // Different ids, and this pool's own entry: no duplicate.
        for (id, instance) in [("pool-b", "0000000b"), ("pool-a", "0000000a")] {
            backend
                .register_worker(&entry(id, instance), ttl)
                .await
                .unwrap();
        }
        assert_eq!(warn_if_taken(&backend, &me).await, None);
        // Another run under the id: listed beside this one, and found.
        backend
            .register_worker(&entry("pool-a", "0000000c"), ttl)
            .await
            .unwrap();
        assert_eq!(backend.workers().await.unwrap().len(), 3);
        let found = warn_if_taken(&backend, &me).await.expect("a duplicate");
        assert_eq!(found.instance, "0000000c");
        // An entry of an ork without instances is another pool too.
        backend.unregister_worker("pool-a#0000000c").await.unwrap();
        backend
            .register_worker(&entry("pool-a", ""), ttl)
            .await
            .unwrap();
        let found = warn_if_taken(&backend, &me).await.expect("a duplicate");
        assert_eq!(found.instance, "");
    }
}
