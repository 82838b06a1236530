//! TLS, and Redis Cluster: smoke tests through the shared conformance
//! checks (the process-level suites are elsewhere).

use ork_core::conformance;
use ork_redis::testing::{RedisCluster, RedisServer};
use ork_redis::RedisBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca() {
    let server = tokio::task::spawn_blocking(|| RedisServer::builder().tls(true).start())
        .await
        .unwrap();
    let url = server.tls_url().unwrap();
    assert!(url.starts_with("rediss://"));
    let connect = || async {
        RedisBackend::builder(url.as_str())
            .tls_root_cert(server.ca_pem().unwrap())
            .build()
            .await
            .unwrap()
    };
    conformance::round_trip(connect().await).await;
    conformance::blocking_claim_wakes(connect().await).await;
    conformance::delayed_jobs(connect().await).await;
    // Without the CA, the server's certificate is not trusted.
    assert!(RedisBackend::connect(&url).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_runs_the_scripts() {
    let cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .unwrap();
    let urls = cluster.urls();
    let connect = |ns: &'static str| {
        let urls = urls.clone();
        async move {
            RedisBackend::builder(urls[0].as_str())
                .cluster(urls[1..].to_vec())
                .namespace(ns)
                .build()
                .await
                .unwrap()
        }
    };
    conformance::round_trip(connect("a").await).await;
    conformance::deps_release_once(connect("b").await).await;
    conformance::blocking_claim_wakes(connect("c").await).await;
    conformance::delayed_jobs(connect("d").await).await;
    conformance::fencing(connect("e").await).await;
    conformance::purge_and_counts(connect("f").await).await;
    conformance::workers(connect("g").await).await;
}
