//! The backend conformance suite of ork-core, against a real redis-server
//! (one per test, started by `ork_redis::testing`).

ork_core::backend_conformance!(ork_redis::testing::backend());

/// Redis pushes cancel requests on the namespace's channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_pushed() {
    ork_core::conformance::cancel_pushed(ork_redis::testing::backend().await).await;
}
