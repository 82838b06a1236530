//! Behaviour of the Redis engine beyond the shared conformance suite: bad
//! input, limits, namespaces, cascades, blocking claims, the worker pool on
//! Redis. Each test runs its own redis-server.

use std::sync::Arc;
use std::time::Duration;

use ork_core::backend::{Admin, JobStore, Queries, WorkerRegistry};
use ork_core::backend::{ClaimRequest, Claimed, Enqueued, Finish, Outcome};
use ork_core::job::{JobId, JobRecord, JobState};
use ork_core::{Backend, Error};
use ork_core::{CancelOutcome, JobQuery};
use ork_redis::redis::AsyncCommands;
use ork_redis::testing::{backend, RedisServer, ServedBackend};
use ork_redis::RedisBackend;

const LEASE: Duration = Duration::from_secs(30);

fn record(queue: &str) -> JobRecord {
    let mut r = JobRecord::new("t", vec![1, 2, 3]);
    r.queue = queue.to_owned();
    r
}

async fn claim(b: &dyn Backend, queue: &str, max: usize) -> Vec<Claimed> {
    b.claim(&ClaimRequest::new("w", vec![queue.into()], max, LEASE))
        .await
        .unwrap()
}

async fn finish(b: &dyn Backend, c: &Claimed, outcome: Outcome) -> bool {
    let batch = [Finish {
        lease: c.lease.clone(),
        outcome,
    }];
    b.finish(&batch).await.unwrap()[0]
}

async fn info(b: &dyn Backend, id: &JobId) -> ork_core::JobInfo {
    b.jobs(std::slice::from_ref(id)).await.unwrap()[0]
        .clone()
        .expect("job exists")
}

#[tokio::test]
async fn payload_over_the_limit_writes_nothing() {
    let server = RedisServer::start();
    let b = RedisBackend::builder(server.url())
        .payload_limit(10)
        .build()
        .await
        .unwrap();
    let small = record("q");
    let mut big = record("q");
    big.payload = vec![0; 11];
    let err = b.enqueue(vec![small.clone(), big]).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::PayloadTooLarge {
                size: 11,
                limit: 10
            }
        ),
        "{err}"
    );
    assert!(
        b.jobs(std::slice::from_ref(&small.id)).await.unwrap()[0].is_none(),
        "the batch wrote nothing"
    );
    assert!(claim(&b, "q", 10).await.is_empty());
}

#[tokio::test]
async fn default_payload_limit_is_512_kib() {
    let b = backend().await;
    let mut ok = record("q");
    ok.payload = vec![7; 512 * 1024];
    b.enqueue(vec![ok]).await.unwrap();
    let mut big = record("q");
    big.payload = vec![7; 512 * 1024 + 1];
    assert!(matches!(
        b.enqueue(vec![big]).await,
        Err(Error::PayloadTooLarge { .. })
    ));
    assert_eq!(claim(&b, "q", 10).await[0].record.payload.len(), 512 * 1024);
}

#[tokio::test]
async fn garbage_in_a_queue_is_dead_lettered_not_looped() {
    let b = backend().await;
    let mut conn = b.server().connection().await;
    let list = format!("{{{}}}:q:q:0", b.namespace());
    let _: () = conn.rpush(&list, &[0xffu8, 0x00, 0x13][..]).await.unwrap();
    let _: () = conn.rpush(&list, "no-such-job").await.unwrap();
    // A job key of the wrong type behind a queue entry.
    let _: () = conn
        .set(format!("{{{}}}:job:wrongtype", b.namespace()), "x")
        .await
        .unwrap();
    let _: () = conn.rpush(&list, "wrongtype").await.unwrap();
    // A job hash whose record can't be decoded.
    let _: () = conn
        .hset_multiple(
            format!("{{{}}}:job:badblob", b.namespace()),
            &[("d", "\x01garbage"), ("s", "q"), ("q", "q"), ("t", "1")],
        )
        .await
        .unwrap();
    let _: () = conn.rpush(&list, "badblob").await.unwrap();
    // A ready list of the wrong type is skipped; the queue's other
    // priorities are still served.
    let _: () = conn
        .set(format!("{{{}}}:q:q:5", b.namespace()), "not a list")
        .await
        .unwrap();
    let good = record("q");
    b.enqueue(vec![good.clone()]).await.unwrap();

    let got = claim(&b, "q", 10).await;
    assert_eq!(got.len(), 1, "only the real job reaches the worker");
    assert_eq!(got[0].record.id, good.id);
    assert!(
        claim(&b, "q", 10).await.is_empty(),
        "garbage is not handed out again"
    );
    let dead = b.list(&JobQuery::state(JobState::Dead)).await.unwrap();
    assert_eq!(dead.len(), 4, "{dead:?}");
    for d in &dead {
        let e = d.error.as_deref().unwrap_or_default();
        assert!(e.starts_with("undecodable job record"), "{e}");
    }
    let _: () = conn
        .del(format!("{{{}}}:q:q:5", b.namespace()))
        .await
        .unwrap();
    let counts = b.counts().await.unwrap();
    assert_eq!(counts.iter().map(|c| c.dead).sum::<u64>(), 4);
    // Retrying garbage dead-letters it again, without looping.
    let bad = JobId::from("badblob");
    assert!(b.retry(&bad).await.unwrap());
    assert!(claim(&b, "q", 10).await.is_empty());
    assert_eq!(info(&b, &bad).await.state, JobState::Dead);
}

#[tokio::test]
async fn two_namespaces_share_nothing() {
    let server = RedisServer::start();
    let a = RedisBackend::builder(server.url())
        .namespace("a")
        .build()
        .await
        .unwrap();
    let z = RedisBackend::builder(server.url())
        .namespace("z")
        .build()
        .await
        .unwrap();
    let mut r = record("q");
    r.unique = Some("k".into());
    let id = r.id.clone();
    a.enqueue(vec![r.clone()]).await.unwrap();
    assert!(z.jobs(std::slice::from_ref(&id)).await.unwrap()[0].is_none());
    assert!(claim(&z, "q", 10).await.is_empty());
    assert!(z.counts().await.unwrap().is_empty());
    let mut other = record("q");
    other.unique = Some("k".into());
    assert!(matches!(
        z.enqueue(vec![other]).await.unwrap()[0],
        Enqueued::Created(_)
    ));
    assert_eq!(z.purge("q").await.unwrap(), 1);
    assert_eq!(claim(&a, "q", 10).await.len(), 1);
    assert!(RedisBackend::builder(server.url())
        .namespace("bad{ns}")
        .build()
        .await
        .is_err());
}

#[tokio::test]
async fn unique_key_is_released_by_death_and_cancel_and_purge() {
    let b = backend().await;
    let uniq = |q: &str| {
        let mut r = record(q);
        r.unique = Some("k".into());
        r
    };
    let first = uniq("q");
    b.enqueue(vec![first.clone()]).await.unwrap();
    let c = claim(&b, "q", 1).await.remove(0);
    assert!(finish(&b, &c, Outcome::Dead { error: "x".into() }).await);
    let second = uniq("q");
    assert_eq!(
        b.enqueue(vec![second.clone()]).await.unwrap()[0],
        Enqueued::Created(second.id.clone())
    );
    assert_eq!(
        b.cancel(&second.id).await.unwrap(),
        CancelOutcome::Cancelled
    );
    let third = uniq("q");
    assert_eq!(
        b.enqueue(vec![third.clone()]).await.unwrap()[0],
        Enqueued::Created(third.id.clone())
    );
    assert_eq!(b.purge("q").await.unwrap(), 1);
    assert!(
        b.jobs(std::slice::from_ref(&third.id)).await.unwrap()[0].is_none(),
        "purged jobs are deleted"
    );
    let fourth = uniq("q");
    assert_eq!(
        b.enqueue(vec![fourth.clone()]).await.unwrap()[0],
        Enqueued::Created(fourth.id.clone())
    );
}

#[tokio::test]
async fn retry_delay_is_on_the_server_clock_and_visible() {
    let b = backend().await;
    let r = record("q");
    b.enqueue(vec![r.clone()]).await.unwrap();
    let c = claim(&b, "q", 1).await.remove(0);
    let before = b.now_ms().await.unwrap();
    let retry = Outcome::Retry {
        delay: Duration::from_secs(60),
        error: "later".into(),
    };
    assert!(finish(&b, &c, retry).await);
    let i = info(&b, &r.id).await;
    assert_eq!(i.state, JobState::Scheduled);
    let due = i.due_at_ms.expect("a scheduled job shows when it is due");
    assert!(
        due >= before + 60_000 && due < before + 61_000,
        "{due} vs {before}"
    );
    assert!(claim(&b, "q", 1).await.is_empty());
    let counts = b.counts().await.unwrap();
    assert_eq!(counts[0].scheduled, 1);
}

#[tokio::test]
async fn duplicate_completion_through_a_reaped_lease_fires_the_join_once() {
    let b = backend().await;
    let dep = record("q");
    let mut join = record("other");
    join.deps = vec![dep.id.clone(), dep.id.clone()]; // a repeated dep counts once
    b.enqueue(vec![dep.clone(), join.clone()]).await.unwrap();
    let short = ClaimRequest::new("w", vec!["q".into()], 1, Duration::from_millis(50));
    let first = b.claim(&short).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(b.reap().await.unwrap(), 1);
    let second = claim(&b, "q", 1).await.remove(0);
    assert_eq!(second.lost, 1);
    let ok = || Outcome::Succeeded { result: vec![] };
    assert!(finish(&b, &second, ok()).await);
    assert!(
        !finish(&b, &first, ok()).await,
        "the stale lease is refused"
    );
    assert!(
        !finish(&b, &second, ok()).await,
        "a repeated completion is refused"
    );
    let joins = claim(&b, "other", 10).await;
    assert_eq!(joins.len(), 1, "the join (in another queue) fired");
    assert!(claim(&b, "other", 10).await.is_empty(), "once");
}

#[tokio::test]
async fn unknown_and_finished_deps_at_enqueue() {
    let b = backend().await;
    let mut orphan = record("q");
    orphan.deps = vec![JobId::from("never-enqueued")];
    let done = record("q");
    b.enqueue(vec![orphan.clone(), done.clone()]).await.unwrap();
    let i = info(&b, &orphan.id).await;
    assert_eq!(i.state, JobState::Dead);
    assert_eq!(
        i.error.as_deref(),
        Some("dependency never-enqueued failed: unknown job")
    );
    let c = claim(&b, "q", 10).await;
    assert_eq!(c.len(), 1);
    assert!(finish(&b, &c[0], Outcome::Succeeded { result: vec![] }).await);
    let mut late = record("q");
    late.deps = vec![done.id.clone()];
    late.delay_ms = 60_000;
    b.enqueue(vec![late.clone()]).await.unwrap();
    assert_eq!(
        info(&b, &late.id).await.state,
        JobState::Scheduled,
        "released at once, then its own delay applies"
    );
}

#[tokio::test]
async fn cancelling_a_waiting_chain_and_retrying_a_dependant() {
    let b = backend().await;
    let a = record("q");
    let mut mid = record("q");
    mid.deps = vec![a.id.clone()];
    let mut tail = record("q");
    tail.deps = vec![mid.id.clone()];
    b.enqueue(vec![a.clone(), mid.clone(), tail.clone()])
        .await
        .unwrap();
    let c = claim(&b, "q", 10).await.remove(0);
    assert!(
        finish(
            &b,
            &c,
            Outcome::Dead {
                error: "kaput".into()
            }
        )
        .await
    );
    assert_eq!(info(&b, &mid.id).await.state, JobState::Dead);
    assert_eq!(info(&b, &tail.id).await.state, JobState::Dead);
    // Retrying the dependant while its dependency is dead: dead again.
    assert!(b.retry(&mid.id).await.unwrap());
    let again = info(&b, &mid.id).await;
    assert_eq!(again.state, JobState::Dead);
    assert!(again.error.unwrap().contains(a.id.as_str()));
    // Dependency first, then the dependant: it waits, and is released
    // (once) when the dependency succeeds.
    assert!(b.retry(&a.id).await.unwrap());
    assert!(b.retry(&mid.id).await.unwrap());
    assert_eq!(info(&b, &mid.id).await.state, JobState::Waiting);
    let c = claim(&b, "q", 10).await;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].record.id, a.id);
    assert!(finish(&b, &c[0], Outcome::Succeeded { result: vec![] }).await);
    let c = claim(&b, "q", 10).await;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].record.id, mid.id);
    // Cancelling a waiting job cancels what waits for it.
    let x = record("q2");
    let mut y = record("q2");
    y.deps = vec![x.id.clone()];
    let mut z = record("q2");
    z.deps = vec![y.id.clone()];
    b.enqueue(vec![x, y.clone(), z.clone()]).await.unwrap();
    assert_eq!(b.cancel(&y.id).await.unwrap(), CancelOutcome::Cancelled);
    let zi = info(&b, &z.id).await;
    assert_eq!(zi.state, JobState::Cancelled);
    assert!(zi.error.unwrap().contains(y.id.as_str()));
}

#[tokio::test]
async fn counts_and_paged_lists() {
    let b = backend().await;
    let recs: Vec<JobRecord> = (0..5).map(|_| record("q")).collect();
    let ids: Vec<JobId> = recs.iter().map(|r| r.id.clone()).collect();
    b.enqueue(recs).await.unwrap();
    let page = |o, l| JobQuery::state(JobState::Queued).queue("q").page(o, l);
    let first: Vec<JobId> = b
        .list(&page(0, 2))
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.record.id)
        .collect();
    let rest: Vec<JobId> = b
        .list(&page(2, 10))
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.record.id)
        .collect();
    assert_eq!([first, rest].concat(), ids, "first in, first out, paged");
    let got = claim(&b, "q", 3).await;
    assert!(finish(&b, &got[0], Outcome::Succeeded { result: vec![1] }).await);
    assert!(finish(&b, &got[1], Outcome::Dead { error: "e".into() }).await);
    assert!(finish(&b, &got[2], Outcome::Cancelled).await);
    b.cancel(&ids[3]).await.unwrap();
    let c = b.counts().await.unwrap();
    assert_eq!(c.len(), 1);
    let c = &c[0];
    assert_eq!(
        (c.queued, c.running, c.succeeded, c.dead, c.cancelled),
        (1, 0, 1, 1, 2)
    );
    let all = b.list(&JobQuery::default()).await.unwrap();
    assert_eq!(all.len(), 5);
    let states: Vec<JobState> = all.iter().map(|i| i.state).collect();
    assert_eq!(
        states,
        [
            JobState::Queued,
            JobState::Succeeded,
            JobState::Dead,
            JobState::Cancelled,
            JobState::Cancelled
        ]
    );
}

#[tokio::test]
async fn results_expire_with_their_ttl() {
    let server = RedisServer::start();
    let b = RedisBackend::builder(server.url())
        .result_ttl(Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    let mut own = record("q");
    own.result_ttl_ms = 0; // the backend's default
    let mut long = record("q");
    long.result_ttl_ms = 60_000;
    b.enqueue(vec![own.clone(), long.clone()]).await.unwrap();
    for c in claim(&b, "q", 10).await {
        assert!(finish(&b, &c, Outcome::Succeeded { result: vec![] }).await);
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let found = b.jobs(&[own.id.clone(), long.id.clone()]).await.unwrap();
    assert!(found[0].is_none(), "expired");
    assert_eq!(found[1].as_ref().unwrap().state, JobState::Succeeded);
    assert_eq!(b.counts().await.unwrap()[0].succeeded, 1);
}

#[tokio::test]
async fn workers_expire() {
    let b = backend().await;
    let info: ork_core::WorkerInfo = serde_json::from_value(serde_json::json!({
        "id": "w", "host": "h", "pid": 1, "queues": ["q"], "concurrency": 1,
        "started_at_ms": 1, "last_seen_ms": 0, "running": 0, "processed": 0
    }))
    .unwrap();
    b.register_worker(&info, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(b.workers().await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(b.workers().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_dropped_blocking_claim_loses_nothing() {
    let b = Arc::new(backend().await);
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move {
            b.claim(
                &ClaimRequest::new("w", vec!["q".into()], 10, LEASE).wait(Duration::from_secs(30)),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    waiter.abort();
    let _ = waiter.await;
    let r = record("q");
    b.enqueue(vec![r.clone()]).await.unwrap();
    assert_eq!(info(b.as_ref(), &r.id).await.state, JobState::Queued);
    // A new blocking claim gets it, and the idle blocking connection set
    // did not keep the abandoned one.
    let got = b
        .claim(&ClaimRequest::new("w", vec!["q".into()], 10, LEASE).wait(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].record.id, r.id);
}

#[tokio::test]
async fn idle_claimers_all_wake_for_a_batch() {
    let b = Arc::new(backend().await);
    let claimers: Vec<_> = (0..3)
        .map(|_| {
            let b = b.clone();
            tokio::spawn(async move {
                b.claim(
                    &ClaimRequest::new("w", vec!["q".into()], 2, LEASE)
                        .wait(Duration::from_secs(20)),
                )
                .await
                .unwrap()
                .len()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.enqueue((0..6).map(|_| record("q")).collect())
        .await
        .unwrap();
    let mut total = 0;
    for c in claimers {
        total += tokio::time::timeout(Duration::from_secs(10), c)
            .await
            .expect("every idle claimer woke")
            .unwrap();
    }
    assert_eq!(total, 6);
}

#[tokio::test]
async fn acl_user_in_the_url() {
    let server = RedisServer::builder().acl_user("ork", "s3cret").start();
    assert!(server.url().contains("ork:s3cret@"));
    let b = RedisBackend::connect(&server.url()).await.unwrap();
    b.enqueue(vec![record("q")]).await.unwrap();
    assert_eq!(claim(&b, "q", 1).await.len(), 1);
    let anonymous = RedisBackend::connect(&format!("redis://127.0.0.1:{}", server.port())).await;
    assert!(anonymous.is_err(), "the default user is off");
}

#[tokio::test]
async fn a_retried_delayed_job_is_queued_at_once() {
    let b = backend().await;
    let mut later = record("q");
    later.delay_ms = 3_600_000;
    b.enqueue(vec![later.clone()]).await.unwrap();
    assert_eq!(b.cancel(&later.id).await.unwrap(), CancelOutcome::Cancelled);
    assert!(b.retry(&later.id).await.unwrap());
    assert_eq!(info(&b, &later.id).await.state, JobState::Queued);
    assert_eq!(claim(&b, "q", 1).await.len(), 1);
}

/// The keys of a namespace that match `pattern`, with their TTL in ms.
async fn ttls(b: &ServedBackend, pattern: &str) -> Vec<(String, i64)> {
    let mut conn = b.server().connection().await;
    let keys: Vec<String> = conn.keys(pattern).await.unwrap();
    let mut out = Vec::new();
    for k in keys {
        let ttl: i64 = conn.pttl(&k).await.unwrap();
        out.push((k, ttl));
    }
    out
}

#[tokio::test]
async fn a_finished_job_takes_its_idempotency_key_and_children_set_with_it() {
    let b = backend().await;
    for outcome in ["succeeded", "cancelled"] {
        let mut parent = record("q");
        parent.idempotency_key = Some(format!("pay-{outcome}"));
        parent.result_ttl_ms = 60_000;
        b.enqueue(vec![parent.clone()]).await.unwrap();
        let c = claim(&b, "q", 1).await.remove(0);
        let mut child = record("children");
        child.parent = Some(parent.id.clone());
        b.enqueue(vec![child]).await.unwrap();
        let end = match outcome {
            "succeeded" => Outcome::Succeeded { result: vec![] },
            _ => Outcome::Cancelled,
        };
        assert!(finish(&b, &c, end).await);

        let idem = ttls(&b, &format!("*:ik:pay-{outcome}")).await;
        let children = ttls(&b, &format!("*:ch:{}", parent.id)).await;
        assert_eq!(idem.len(), 1, "{outcome}: the key exists: {idem:?}");
        assert_eq!(children.len(), 1, "{outcome}: the set exists: {children:?}");
        for (key, ttl) in idem.iter().chain(&children) {
            assert!(
                (1..=60_000).contains(ttl),
                "{outcome}: {key} expires with the record (PTTL {ttl})"
            );
        }
    }
}
