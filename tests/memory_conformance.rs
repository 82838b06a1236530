//! The backend conformance suite against the memory engine.

ork_core::backend_conformance!(async { ork::MemoryBackend::new() });

/// The memory engine pushes cancel requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_pushed() {
    ork_core::conformance::cancel_pushed(ork::MemoryBackend::new()).await;
}
