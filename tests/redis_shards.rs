//! Sharded namespaces on one redis-server: the workflow shapes on four
//! shards, and a namespace whose shard count is raised from 1 to 4 while
//! it holds work. Each test runs its own server.

mod common;

use std::time::Duration;

use ork::prelude::*;
use ork::{JobId, JobState, WorkflowState};
use ork_redis::RedisBackend;
use redis::aio::MultiplexedConnection;

mod four_shards {
    use super::common;

    crate::workflow_shapes!(async {
        ork::Ork::with_backend(ork_redis::testing::sharded_backend(4).await)
    });
}

/// The test's own execution log: a list of `<job id>` per run of a task
/// body (outside the namespace's keys).
#[derive(Clone)]
struct Ran(MultiplexedConnection);

impl Ran {
    async fn record(&self, ctx: &Context) {
        let mut conn = self.0.clone();
        let _: i64 = redis::cmd("RPUSH")
            .arg("reshard:ran")
            .arg(ctx.job_id().as_str())
            .query_async(&mut conn)
            .await
            .expect("record the run");
    }
}

#[ork::task(queue = "reshard")]
async fn note(ctx: Context, i: u64) -> ork::Result<u64> {
    ctx.state::<Ran>().record(&ctx).await;
    Ok(i)
}

/// `Σ i` over `n` sub-tasks spawned at run time.
#[ork::task(queue = "reshard")]
async fn fan(ctx: Context, n: u64) -> ork::Result<u64> {
    ctx.state::<Ran>().record(&ctx).await;
    let parts = ctx.map(0..n, note::call).await?;
    Ok(parts.iter().sum())
}

async fn sharded(url: &str, shards: usize) -> Ork {
    let backend = RedisBackend::builder(url)
        .namespace("reshard")
        .shards(shards)
        .build()
        .await
        .expect("connect");
    Ork::with_backend(backend)
}

/// Jobs enqueued while the namespace had one shard (plain, keyed, delayed,
/// parents that spawn sub-tasks, a chain) are all run, once each, by a
/// worker built with four shards, next to jobs enqueued with four shards;
/// lookups, counts and listings see both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raising_the_shard_count_strands_nothing() {
    const PLAIN: u64 = 200;
    let server = tokio::task::spawn_blocking(ork_redis::testing::RedisServer::start)
        .await
        .unwrap();
    let url = server.url();
    let one = sharded(&url, 1).await;
    let mut old: Vec<JobId> = Vec::new();
    for h in one.enqueue_many((0..PLAIN).map(note::call)).await.unwrap() {
        old.push(h.id().clone());
    }
    for k in 0..10u64 {
        let call = note::call(1000 + k).unique(format!("key-{k}"));
        old.push(one.enqueue(call).await.unwrap().id().clone());
    }
    old.push(
        one.enqueue(note::call(2000).delay(Duration::from_millis(300)))
            .await
            .unwrap()
            .id()
            .clone(),
    );
    let parents: Vec<JobId> = {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(one.enqueue(fan::call(4)).await.unwrap().id().clone());
        }
        ids
    };
    let mut flow = Workflow::new("reshard-chain");
    let first = flow.add(note::call(3000));
    let _second = flow.add_after(fan::call(2), [first]);
    let run = one.submit(flow).await.unwrap();

    let four = sharded(&url, 4).await;
    // The namespace remembers its count: a client that does not say (the
    // `ork` command, the dashboard) or asks for fewer gets every shard.
    for asked in [None, Some(1), Some(2)] {
        let mut b = RedisBackend::builder(url.as_str());
        b.namespace("reshard");
        if let Some(n) = asked {
            b.shards(n);
        }
        assert_eq!(b.build().await.unwrap().shards(), 4, "{asked:?}");
    }
    // Before any worker: the four-shard client sees every job.
    let infos = four.backend().jobs(&old).await.unwrap();
    assert!(infos.iter().all(Option::is_some), "every job is found");
    let fresh: Vec<JobId> = four
        .enqueue_many((0..PLAIN).map(|i| note::call(10_000 + i)))
        .await
        .unwrap()
        .iter()
        .map(|h| h.id().clone())
        .collect();

    let conn = server.connection().await;
    let worker = four
        .worker()
        .queues(["reshard"])
        .concurrency(16)
        .state(Ran(conn.clone()))
        .start()
        .unwrap();
    for p in &parents {
        let h = four.handle::<u64>(p.clone());
        assert_eq!(h.result().await.unwrap(), 6, "0 + 1 + 2 + 3");
    }
    assert_eq!(run.wait().await.unwrap(), WorkflowState::Succeeded);
    let all: Vec<JobId> = old.iter().chain(&fresh).cloned().collect();
    for id in &all {
        let info = four
            .backend()
            .wait(id, Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(info.state, JobState::Succeeded, "{id}");
    }
    worker.shutdown().await;

    // Every job ran once: 2 × 200 plain, 10 keyed, 1 delayed, 3 parents
    // with 4 children each, a chain of 2 whose second spawns 2.
    let mut conn = conn;
    let ran: Vec<String> = redis::cmd("LRANGE")
        .arg("reshard:ran")
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let expected = 2 * PLAIN as usize + 10 + 1 + 3 * (1 + 4) + 2 + 2;
    assert_eq!(ran.len(), expected);
    let distinct: std::collections::HashSet<&String> = ran.iter().collect();
    assert_eq!(distinct.len(), expected, "no job ran twice");
    let succeeded: u64 = four
        .counts()
        .await
        .unwrap()
        .iter()
        .map(|c| c.succeeded)
        .sum();
    assert_eq!(succeeded, expected as u64);
    // The sub-tasks of the parents enqueued with one shard stayed in
    // shard 0, with their parents.
    let children = four.backend().children(&parents[0]).await.unwrap();
    assert_eq!(children.len(), 4);
    let mut raw = server.connection().await;
    for c in &children {
        let there: bool = redis::cmd("EXISTS")
            .arg(format!("{{reshard}}:job:{c}"))
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!(there, "{c} is in shard 0");
    }
}
