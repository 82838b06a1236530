//! Metrics: queue depths, recent rates and latencies, in Prometheus text.
//!
//! Two sources, rendered together by [`render`]:
//!
//! - **the engine**, read by [`snapshot`]: how many jobs each queue holds in
//!   each state, the live workers, and, estimated from the most recently
//!   finished jobs' timestamps, how many jobs finished per second over the
//!   last minute and how long they waited and ran. Any process with an
//!   [`Ork`] client can export these (the `ork dashboard` does, at `/metrics`).
//! - **this process's workers**: counters kept by every worker pool running
//!   in the process (attempts by outcome, a histogram of run times). They are
//!   real Prometheus counters, so `rate()` over them is exact.
//!   [`register`] adds them to an application's own [prometheus-client]
//!   registry, to be exported with its other metrics.
//!
//! Mount it in an axum app next to an embedded worker (any web framework
//! will do: [`render`] returns the text of the response):
//!
//! ```ignore
//! let metrics = ork.clone();
//! let app = axum::Router::new().route("/metrics", axum::routing::get(move || {
//!     let ork = metrics.clone();
//!     async move {
//!         match ork_core::metrics::render(&ork).await {
//!             Ok(text) => ([("content-type", "text/plain; version=0.0.4")], text).into_response(),
//!             Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
//!         }
//!     }
//! }));
//! let worker = ork.worker().start()?;
//! ```
//!
//! [`render`] costs a few Redis round trips per queue; scrape it every 15 s
//! or more, not every second. Without an engine at hand, [`local`] gives
//! this process's worker counters alone.
//!
//! The engine's part ([`snapshot`], [`Snapshot::to_prometheus`]) reads
//! through the client and is rendered by ork's own code; the counters are
//! a low module of their own that imports nothing from the worker or the
//! client, so the worker counts into it without depending on either.
//!
//! # Why prometheus-client
//!
//! The per-process counters are [prometheus-client] metrics (re-exported
//! as [`prometheus_client`]), not `metrics` facade calls. Both were
//! weighed:
//!
//! - ork must render its own counters at `/metrics` (the dashboard and
//!   [`render`] do) whatever the application exports. Through the `metrics`
//!   facade, the values live in whichever recorder the application
//!   installed, and ork can't read them back: it would need a recorder of
//!   its own (there is one global recorder, so it can't install one beside
//!   the user's) or a second copy of every count (`metrics-util`'s registry,
//!   plus a histogram renderer of ork's own). prometheus-client keeps the
//!   values in metric handles that ork owns and any number of registries
//!   share: ork's own for `/metrics`, and the application's through
//!   [`register`].
//! - It is one small dependency (`dtoa`, `itoa`, `parking_lot`, a derive),
//!   the Prometheus project's own client, and writes the Prometheus text
//!   format ork already serves.
//!
//! Counting an attempt takes no global mutex: a shared read lock on the
//! metric family (a write lock only the first time a label set is seen),
//! then atomics, and the run-time histogram's own lock for its (queue,
//! task) only.
//!
//! An application on the `metrics` facade can still scrape [`local`] or
//! the dashboard's `/metrics`, as from any Prometheus exporter.
//!
//! # Metrics
//!
//! | name | type | labels | what |
//! |------|------|--------|------|
//! | `ork_queue_jobs` | gauge | `queue`, `state` | jobs in the queue in that state (`succeeded` and `cancelled` count records not yet expired) |
//! | `ork_queue_finished_per_second` | gauge | `queue`, `outcome` (`succeeded`, `dead`) | jobs finished per second over the last 60 s, estimated from the newest finished jobs |
//! | `ork_queue_wait_seconds` | gauge | `queue`, `quantile` (0.5, 0.95, 1) | enqueue to start of the last attempt, of jobs that succeeded in the last 60 s (includes retries' backoff) |
//! | `ork_queue_run_seconds` | gauge | `queue`, `quantile` | start to end of the last attempt, same jobs |
//! | `ork_paused_held` | gauge | `kind` (`queue`, `task`), `name` | ready jobs a paused queue or task holds back (see [`FlowControl`](crate::backend::FlowControl)) |
//! | `ork_cap_running` | gauge | `cap` (`task <name>`, `key <key>`, `queue <name>`) | attempts holding a slot of a running cap that has held jobs back |
//! | `ork_cap_held` | gauge | `cap` | queued jobs held until one of its slots frees |
//! | `ork_workers` | gauge | | live workers (every process's) |
//! | `ork_worker_running` | gauge | `worker` | jobs a worker runs now (as of its last heartbeat; pools sharing an id add up, as below) |
//! | `ork_worker_concurrency` | gauge | `worker` | a worker's concurrency |
//! | `ork_worker_processed_total` | counter | `worker` | attempts a worker finished since it started |
//! | `ork_redis_memory_used_bytes` | gauge | | memory the storage server uses (engines that report it: Redis) |
//! | `ork_redis_memory_max_bytes` | gauge | | its `maxmemory`, when one is set |
//! | `ork_attempts_total` | counter | `queue`, `task`, `outcome` | attempts run by this process's workers, by how they ended: `succeeded`, `retried`, `dead`, `cancelled`, `released` (handed back at shutdown), `parked` (a durable sleep or wait), `lost` (lease lost) |
//! | `ork_attempt_duration_seconds` | histogram | `queue`, `task` | run time of this process's attempts that succeeded, were retried or died |
//! | `ork_task_blocked_total` | counter | `task` | times a task of this process kept its runtime thread (one poll) past the pool's blocking threshold |
//! | `ork_lease_expired_locally_total` | counter | | attempts this process stopped because their lease could not be renewed before its local deadline |
//!
//! The rate and latency estimates read the newest [`SAMPLE`] succeeded and
//! dead jobs of each queue (succeeded jobs are indexed by expiry, so with
//! mixed result TTLs "newest" is approximate); when every sampled job
//! finished within the window, the rate is extrapolated from the sample's
//! time span.
//!
//! [prometheus-client]: https://docs.rs/prometheus-client

pub(crate) mod counters;
mod snapshot;

pub use counters::{blocked_count, local, register};
pub use snapshot::{recent, snapshot, Quantiles, QueueStats, Recent, Snapshot, SAMPLE, WINDOW};

/// The prometheus-client crate the counters are kept in, for [`register`].
pub use prometheus_client;

use crate::client::Ork;
use crate::error::Result;
use snapshot::{cap_gauges, memory_gauges, paused_gauges};

/// The engine's metrics ([`snapshot`]) and this process's worker counters,
/// in Prometheus text format: what a `/metrics` endpoint returns.
pub async fn render(ork: &Ork) -> Result<String> {
    let mut out = snapshot(ork).await?.to_prometheus();
    paused_gauges(&mut out, &ork.paused().await?);
    cap_gauges(&mut out, &ork.running_caps().await?);
    match ork.backend().memory().await {
        Ok(Some(usage)) => memory_gauges(&mut out, &usage),
        Ok(None) => {}
        // The queue metrics still stand; say why these are missing.
        Err(e) => out.push_str(&format!(
            "# ork_redis_memory_used_bytes unavailable: {}\n",
            e.to_string().replace('\n', " ")
        )),
    }
    out.push_str(&local());
    Ok(out)
}
