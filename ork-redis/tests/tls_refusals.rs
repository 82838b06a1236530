//! TLS refusals: a client that does not trust the server's certificate,
//! or speaks the wrong protocol on a port, is refused promptly (the round
//! trips over TLS with the right CA are in `transport.rs`).

use std::time::Duration;

use ork_core::Error;
use ork_redis::testing::RedisServer;
use ork_redis::RedisBackend;

/// Building must fail, and promptly: one connection timeout at most, not
/// a minute of retries.
async fn refused(builder: &ork_redis::RedisBackendBuilder) -> String {
    let built = tokio::time::timeout(Duration::from_secs(8), builder.build())
        .await
        .expect("refused within 8 s");
    match built {
        Ok(b) => panic!("connected: {b:?}"),
        Err(e @ Error::Backend { .. }) => {
            // The message and the Redis error behind it.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
        Err(e) => panic!("not a backend error: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ca_and_wrong_protocols_are_refused() {
    let (server, stranger) = tokio::task::spawn_blocking(|| {
        (
            RedisServer::builder().tls(true).start(),
            // Only for its CA: a private CA that did not sign `server`.
            RedisServer::builder().tls(true).start(),
        )
    })
    .await
    .unwrap();
    let tls_url = server.tls_url().unwrap();
    let wrong_ca = stranger.ca_pem().unwrap();
    assert_ne!(wrong_ca, server.ca_pem().unwrap());

    let msg = refused(RedisBackend::builder(tls_url.as_str()).tls_root_cert(wrong_ca)).await;
    assert!(msg.to_lowercase().contains("certificate"), "{msg}");
    // The system's roots don't know the private CA either.
    refused(&RedisBackend::builder(tls_url.as_str())).await;
    // Plain text on the TLS port.
    let plain_on_tls = format!("redis://127.0.0.1:{}", server.tls_port().unwrap());
    refused(&RedisBackend::builder(plain_on_tls)).await;
    // TLS on the plain-text port, with the right CA.
    let tls_on_plain = format!("rediss://localhost:{}", server.port());
    refused(RedisBackend::builder(tls_on_plain).tls_root_cert(server.ca_pem().unwrap())).await;
    // The right CA on the right port connects.
    let b = RedisBackend::builder(tls_url.as_str())
        .tls_root_cert(server.ca_pem().unwrap())
        .build()
        .await
        .unwrap();
    ork_core::conformance::round_trip(b).await;
}
