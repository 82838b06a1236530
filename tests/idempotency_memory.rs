//! Idempotency keys as a user sees them, on the memory engine and tokio's
//! paused clock: the key outlives the job, unlike a unique key, and frees
//! up when its window is over.

use std::time::Duration;

use ork::prelude::*;

#[ork::task(result_ttl = "1m")]
async fn add(x: i64, y: i64) -> ork::Result<i64> {
    Ok(x + y)
}

#[tokio::test(start_paused = true)]
async fn a_retry_within_the_window_gets_the_first_job_and_its_result() {
    let ork = Ork::memory();
    let worker = ork.worker().start().unwrap();
    let key = || add::call(1, 1).idempotency_key("sum:1");
    let first = ork.enqueue(key()).await.unwrap();
    assert_eq!(first.result().await.unwrap(), 2);

    // Another call under the same key, after the first one ran: the first
    // job, and its result.
    let again = ork
        .enqueue(add::call(5, 5).idempotency_key("sum:1"))
        .await
        .unwrap();
    assert_eq!(again.id(), first.id());
    assert_eq!(again.result().await.unwrap(), 2);
    // A unique key, by contrast, is free once its job ended.
    let u1 = ork.enqueue(add::call(1, 1).unique("u")).await.unwrap();
    u1.result().await.unwrap();
    let u2 = ork.enqueue(add::call(1, 1).unique("u")).await.unwrap();
    assert_ne!(u1.id(), u2.id());

    // The default window is 24 h, though the task keeps results 1 min.
    tokio::time::advance(Duration::from_secs(23 * 3600)).await;
    assert_eq!(ork.enqueue(key()).await.unwrap().id(), first.id());
    tokio::time::advance(Duration::from_secs(2 * 3600)).await;
    let later = ork.enqueue(key()).await.unwrap();
    assert_ne!(later.id(), first.id(), "the window is over");
    assert_eq!(later.result().await.unwrap(), 2);
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_window_is_set_per_call() {
    let ork = Ork::memory();
    let worker = ork.worker().start().unwrap();
    let call = || {
        add::call(2, 2)
            .idempotency_key("sum:2")
            .idempotency_ttl(Duration::from_secs(2 * 3600))
    };
    let first = ork.enqueue(call()).await.unwrap();
    assert_eq!(first.result().await.unwrap(), 4);
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(ork.enqueue(call()).await.unwrap().id(), first.id());
    tokio::time::advance(Duration::from_secs(2 * 3600)).await;
    assert_ne!(ork.enqueue(call()).await.unwrap().id(), first.id());
    worker.shutdown().await;
}
