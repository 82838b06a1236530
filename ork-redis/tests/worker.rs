//! The worker pool of ork-core running on Redis, end to end. The tasks are
//! written by hand (this crate does not depend on the macro).

use std::time::Duration;

use ork_core::backend::BoxFuture;
use ork_core::backend::{JobStore, Queries, WorkerRegistry};
use ork_core::job::{JobRecord, JobState};
use ork_core::JobQuery;
use ork_core::{Call, Codec, Context, Ork, Task, TaskError, TaskOptions};
use ork_redis::testing::backend;
use ork_redis::RedisExt;

struct Double;

impl Task for Double {
    type Args = (u64,);
    type Output = u64;
    const OPTIONS: TaskOptions = TaskOptions::new("double");
    fn run(_ctx: Context, (x,): (u64,)) -> BoxFuture<'static, Result<u64, TaskError>> {
        Box::pin(async move { Ok(x * 2) })
    }
}

struct Fails;

impl Task for Fails {
    type Args = ();
    type Output = ();
    const OPTIONS: TaskOptions = TaskOptions::new("fails");
    fn run(_ctx: Context, (): ()) -> BoxFuture<'static, Result<(), TaskError>> {
        Box::pin(async move { Err(TaskError::new("no luck")) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_runs_jobs_on_redis() {
    let b = backend().await;
    let ork = Ork::with_backend(b.clone());
    let worker = ork
        .worker()
        .task::<Double>()
        .task::<Fails>()
        .concurrency(16)
        .lease(Duration::from_secs(3))
        .start()
        .unwrap();
    let one = ork.enqueue(Call::new::<Double>((21,))).await.unwrap();
    assert_eq!(
        one.result_timeout(Duration::from_secs(10)).await.unwrap(),
        42
    );
    let many = ork
        .enqueue_many((0..300u64).map(|i| Call::new::<Double>((i,))))
        .await
        .unwrap();
    for (i, h) in many.iter().enumerate() {
        assert_eq!(
            h.result_timeout(Duration::from_secs(20)).await.unwrap(),
            2 * i as u64
        );
    }
    let failing = ork.enqueue(Call::new::<Fails>(())).await.unwrap();
    assert!(failing
        .result_timeout(Duration::from_secs(10))
        .await
        .is_err());
    // A job for a task nobody serves is dead-lettered by the worker.
    let stray = JobRecord::new("nobody-knows-me", Codec::Bincode.encode(&()).unwrap());
    let stray_id = stray.id.clone();
    b.enqueue(vec![stray]).await.unwrap();
    let info = b
        .wait(&stray_id, Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.state, JobState::Dead);
    assert!(info.error.unwrap().contains("unknown task"));
    // The pool shows up among the workers while it runs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while b.workers().await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker registered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An idle pool (blocked in a claim) shuts down promptly.
    tokio::time::timeout(Duration::from_secs(10), worker.shutdown())
        .await
        .expect("shutdown while blocked in a claim");
    let counts = b.counts().await.unwrap();
    let c = counts.iter().find(|c| c.queue == "default").unwrap();
    assert_eq!((c.succeeded, c.dead, c.queued, c.running), (301, 2, 0, 0));
    assert_eq!(
        b.list(&JobQuery::state(JobState::Dead))
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        b.workers().await.unwrap().is_empty(),
        "unregistered at shutdown"
    );
}

#[tokio::test]
async fn ork_redis_connects() {
    let b = backend().await;
    let ork = Ork::redis(&b.server().url()).await.unwrap();
    let h = ork.enqueue(Call::new::<Double>((1,))).await.unwrap();
    assert_eq!(h.status().await.unwrap(), JobState::Queued);
}
