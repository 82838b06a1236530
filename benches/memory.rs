//! No-op tasks through one worker pool on the memory engine.
//!
//! `cargo bench --bench memory`; criterion reports the throughput in tasks/s
//! ("thrpt", elements per second).

#![allow(missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ork::prelude::*;
use tokio::sync::Notify;

const BATCH: usize = 20_000;

#[derive(Default)]
struct Done {
    count: AtomicUsize,
    target: AtomicUsize,
    notify: Notify,
}

/// A no-op whose result nobody reads: kept one second, not a day.
#[ork::task(result_ttl = "1s")]
async fn noop(ctx: Context) -> ork::Result<()> {
    let done = ctx.state::<Arc<Done>>();
    if done.count.fetch_add(1, Ordering::Relaxed) + 1 == done.target.load(Ordering::Relaxed) {
        done.notify.notify_one();
    }
    Ok(())
}

fn drain(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ork = Ork::memory();
    let done = Arc::new(Done::default());
    let worker = rt.block_on(async {
        ork.worker()
            .concurrency(256)
            .claim_batch(256)
            .state(done.clone())
            .start()
            .expect("worker")
    });

    let mut group = c.benchmark_group("memory");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function("noop_tasks_one_pool", |b| {
        b.to_async(&rt).iter(|| async {
            done.count.store(0, Ordering::SeqCst);
            done.target.store(BATCH, Ordering::SeqCst);
            let notified = done.notify.notified();
            ork.enqueue_many((0..BATCH).map(|_| noop::call()))
                .await
                .expect("enqueue");
            notified.await;
        });
    });
    group.bench_function("enqueue_many", |b| {
        b.to_async(&rt).iter(|| async {
            let calls = (0..BATCH).map(|_| noop::call().queue("unserved"));
            ork.enqueue_many(calls).await.expect("enqueue");
        });
    });
    group.finish();
    rt.block_on(worker.shutdown());
}

criterion_group!(benches, drain);
criterion_main!(benches);
