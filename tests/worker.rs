//! End-to-end behaviour of tasks, the client and the worker pool, on every
//! engine: the cases are in `common/worker.rs`, run here once per engine.
//!
//! No case is kept to one engine: what only tokio's paused clock can check
//! (exact backoff gaps, a delayed job looked at just before it is due) is
//! checked when a case runs on it, and a real clock checks that no wait
//! was shorter than asked.

mod common;

/// The memory engine, on tokio's paused clock: durations are checked
/// exactly, and the longest waits take no real time.
mod memory {
    crate::worker_behaviour!(
        Paused,
        #[tokio::test(start_paused = true)],
        async { ork::Ork::memory() }
    );
}

/// Redis, each test on a redis-server of its own, on the real clock.
mod redis {
    crate::worker_behaviour!(
        Real,
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)],
        async { ork::Ork::with_backend(ork_redis::testing::backend().await) }
    );
}
