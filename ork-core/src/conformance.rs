//! The backend conformance suite: one set of checks every [`Backend`] must
//! pass, run against the memory engine and Redis alike.
//!
//! Each check takes a fresh, empty backend. Use the
//! [`backend_conformance!`](crate::backend_conformance) macro to turn them
//! into tests:
//!
//! ```ignore
//! ork_core::backend_conformance!(async { MyBackend::connect().await });
//! ```
//!
//! The checks run on real time with short delays (tens of milliseconds), so
//! they work against a real server; they assert what happened, never how
//! fast.

#![allow(missing_docs)]

use std::time::Duration;

use crate::backend::{Backend, ClaimRequest, Claimed, Enqueued, Finish, LeaseStatus, Outcome};
use crate::error::Error;
use crate::inspect::{CancelOutcome, JobQuery, WorkerInfo};
use crate::job::{JobId, JobRecord, JobState};

mod audit;
mod flow;
mod schedule;
mod signals;
mod steps;

pub use audit::audit_trail;
pub use flow::{
    pause_queue, pause_resume_wakes, pause_task, rate_limiters, rate_limits, running_cap_keys,
    running_cap_queue, running_cap_task,
};
pub use schedule::{schedule_fire, schedule_pause, schedule_storage};
pub use signals::{park_and_wake, signal_log};
pub use steps::{step_fencing, step_lifetime, step_storage};

const LEASE: Duration = Duration::from_secs(30);

fn record(task: &str, queue: &str) -> JobRecord {
    let mut r = JobRecord::new(task, vec![1, 2, 3]);
    r.queue = queue.to_owned();
    r
}

fn req(queues: &[&str], max: usize) -> ClaimRequest {
    ClaimRequest::new(
        "w1",
        queues.iter().map(|q| q.to_string()).collect(),
        max,
        LEASE,
    )
}

async fn claim(b: &dyn Backend, queues: &[&str], max: usize) -> Vec<Claimed> {
    b.claim(&req(queues, max)).await.expect("claim")
}

async fn state(b: &dyn Backend, id: &JobId) -> JobState {
    b.jobs(std::slice::from_ref(id)).await.expect("jobs")[0]
        .as_ref()
        .expect("job exists")
        .state
}

async fn finish(b: &dyn Backend, c: &Claimed, outcome: Outcome) -> bool {
    let batch = [Finish {
        lease: c.lease.clone(),
        outcome,
    }];
    b.finish(&batch).await.expect("finish")[0]
}

async fn enqueue_one(b: &dyn Backend, r: JobRecord) -> Enqueued {
    b.enqueue(vec![r]).await.expect("enqueue").remove(0)
}

/// Enqueue, claim, succeed: the result is stored and waiters see it.
pub async fn round_trip(b: impl Backend) {
    let r = record("t", "q");
    let id = r.id.clone();
    assert_eq!(
        enqueue_one(&b, r.clone()).await,
        Enqueued::Created(id.clone())
    );
    assert_eq!(state(&b, &id).await, JobState::Queued);
    let got = claim(&b, &["q"], 10).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].record, r);
    assert_eq!(got[0].attempt, 1);
    assert_eq!(state(&b, &id).await, JobState::Running);
    assert!(
        claim(&b, &["q"], 10).await.is_empty(),
        "a running job is not handed out twice"
    );
    assert!(
        finish(
            &b,
            &got[0],
            Outcome::Succeeded {
                result: b"ok".to_vec()
            }
        )
        .await
    );
    let info = b.wait(&id, Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(info.state, JobState::Succeeded);
    assert_eq!(info.result.as_deref(), Some(&b"ok"[..]));
    assert_eq!(info.attempts, 1);
    assert!(info.finished_at_ms.is_some());
    assert!(b.jobs(&[JobId::from("nope")]).await.unwrap()[0].is_none());
}

/// A second enqueue with the same id writes nothing.
pub async fn idempotent_by_id(b: impl Backend) {
    let r = record("t", "q");
    let id = r.id.clone();
    enqueue_one(&b, r.clone()).await;
    let mut again = r.clone();
    again.payload = vec![9];
    assert_eq!(enqueue_one(&b, again).await, Enqueued::Existing(id));
    let got = claim(&b, &["q"], 10).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].record.payload, vec![1, 2, 3]);
}

/// A unique key is held while the job is not finished, then released.
pub async fn unique_keys(b: impl Backend) {
    let mut first = record("t", "q");
    first.unique = Some("k".into());
    let first_id = first.id.clone();
    enqueue_one(&b, first).await;
    let mut second = record("t", "q");
    second.unique = Some("k".into());
    assert_eq!(
        enqueue_one(&b, second).await,
        Enqueued::Existing(first_id.clone())
    );
    let got = claim(&b, &["q"], 10).await;
    assert_eq!(got.len(), 1);
    let mut third = record("t", "q");
    third.unique = Some("k".into());
    assert_eq!(enqueue_one(&b, third).await, Enqueued::Existing(first_id));
    finish(&b, &got[0], Outcome::Succeeded { result: vec![] }).await;
    let mut fourth = record("t", "q");
    fourth.unique = Some("k".into());
    let fourth_id = fourth.id.clone();
    assert_eq!(enqueue_one(&b, fourth).await, Enqueued::Created(fourth_id));
}

/// Queues in the order asked, higher priority first, then FIFO.
pub async fn order_and_priority(b: impl Backend) {
    let mut recs = Vec::new();
    for (queue, prio) in [
        ("low", 9),
        ("high", 0),
        ("high", 5),
        ("high", 0),
        ("high", 5),
    ] {
        let mut r = record("t", queue);
        r.priority = prio;
        recs.push(r);
    }
    let ids: Vec<JobId> = recs.iter().map(|r| r.id.clone()).collect();
    b.enqueue(recs).await.unwrap();
    let mut order = Vec::new();
    for _ in 0..5 {
        let got = claim(&b, &["high", "low"], 1).await;
        assert_eq!(got.len(), 1);
        order.push(got[0].record.id.clone());
    }
    assert_eq!(
        order,
        vec![
            ids[2].clone(),
            ids[4].clone(),
            ids[1].clone(),
            ids[3].clone(),
            ids[0].clone()
        ]
    );
    // A batch claim follows the same order.
    let mut recs = Vec::new();
    for prio in [1, 3, 2] {
        let mut r = record("t", "q");
        r.priority = prio;
        recs.push(r);
    }
    let prios: Vec<u8> = {
        b.enqueue(recs).await.unwrap();
        claim(&b, &["q"], 10)
            .await
            .iter()
            .map(|c| c.record.priority)
            .collect()
    };
    assert_eq!(prios, vec![3, 2, 1]);
}

/// A delayed job is scheduled until due, then claimed once.
pub async fn delayed_jobs(b: impl Backend) {
    let mut r = record("t", "q");
    r.delay_ms = 300;
    let id = r.id.clone();
    enqueue_one(&b, r).await;
    assert_eq!(state(&b, &id).await, JobState::Scheduled);
    assert!(
        claim(&b, &["q"], 10).await.is_empty(),
        "not before its time"
    );
    let got = b
        .claim(&req(&["q"], 10).wait(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(
        got.len(),
        1,
        "a blocking claim wakes when the delay is over"
    );
    assert_eq!(got[0].record.id, id);
    let now = b.now_ms().await.unwrap();
    let info = b.jobs(std::slice::from_ref(&id)).await.unwrap()[0]
        .clone()
        .unwrap();
    assert!(
        info.enqueued_at_ms + 300 <= now + 5,
        "claimed no earlier than the delay"
    );
    // A run-at time in the past runs at once.
    let mut r = record("t", "q");
    r.run_at_ms = Some(1);
    enqueue_one(&b, r).await;
    assert_eq!(claim(&b, &["q"], 10).await.len(), 1);
}

/// A blocking claim wakes up when work arrives.
pub async fn blocking_claim_wakes(b: impl Backend) {
    let b = std::sync::Arc::new(b);
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move {
            b.claim(&req(&["q"], 10).wait(Duration::from_secs(20)))
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = record("t", "q");
    let id = r.id.clone();
    enqueue_one(b.as_ref(), r).await;
    let got = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the blocked claim returned once work arrived")
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].record.id, id);
}

/// A retry outcome schedules the next attempt after its delay.
pub async fn retry_outcome(b: impl Backend) {
    let r = record("t", "q");
    let id = r.id.clone();
    enqueue_one(&b, r).await;
    let got = claim(&b, &["q"], 1).await;
    let retry = Outcome::Retry {
        delay: Duration::from_millis(200),
        error: "boom".into(),
    };
    assert!(finish(&b, &got[0], retry).await);
    let info = b.jobs(std::slice::from_ref(&id)).await.unwrap()[0]
        .clone()
        .unwrap();
    assert_eq!(info.state, JobState::Scheduled);
    assert_eq!(info.error.as_deref(), Some("boom"));
    assert!(
        claim(&b, &["q"], 1).await.is_empty(),
        "not before the backoff"
    );
    let again = b
        .claim(&req(&["q"], 1).wait(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, 2);
    assert!(again[0].lease.fence > got[0].lease.fence);
}

/// A holder whose lease ran out, and was reaped, but whose job nobody
/// claimed again is still the job's holder: its late heartbeat takes the
/// job back, and its late finish counts. A slow acknowledgement never makes
/// a finished body run again.
pub async fn late_ack_after_reap(b: impl Backend) {
    let short = ClaimRequest::new("w1", vec!["q".into()], 1, Duration::from_millis(100));
    // A late finish.
    let r = record("t", "q");
    let id = r.id.clone();
    enqueue_one(&b, r).await;
    let held = b.claim(&short).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(b.reap().await.unwrap(), 1);
    assert_eq!(state(&b, &id).await, JobState::Queued);
    assert!(
        finish(
            &b,
            &held,
            Outcome::Succeeded {
                result: b"late".to_vec()
            }
        )
        .await,
        "a finish after the reap, before any new claim, counts"
    );
    let info = b.jobs(std::slice::from_ref(&id)).await.unwrap()[0]
        .clone()
        .unwrap();
    assert_eq!(info.state, JobState::Succeeded);
    assert_eq!(info.attempts, 1);
    assert_eq!(info.result.as_deref(), Some(&b"late"[..]));
    assert!(claim(&b, &["q"], 1).await.is_empty(), "nothing left to run");

    // A late heartbeat, then the finish.
    let r = record("t", "q");
    let id = r.id.clone();
    enqueue_one(&b, r).await;
    let held = b.claim(&short).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(b.reap().await.unwrap(), 1);
    assert_eq!(
        b.heartbeat(std::slice::from_ref(&held.lease), LEASE)
            .await
            .unwrap(),
        vec![LeaseStatus::Held]
    );
    assert_eq!(state(&b, &id).await, JobState::Running);
    assert!(
        claim(&b, &["q"], 1).await.is_empty(),
        "taken back, not queued"
    );
    assert!(finish(&b, &held, Outcome::Succeeded { result: vec![] }).await);
    assert_eq!(state(&b, &id).await, JobState::Succeeded);

    // Once claimed again, the old holder is stale.
    let r = record("t", "q");
    enqueue_one(&b, r).await;
    let old = b.claim(&short).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(b.reap().await.unwrap(), 1);
    let new = claim(&b, &["q"], 1).await.remove(0);
    assert!(!finish(&b, &old, Outcome::Succeeded { result: vec![] }).await);
    assert_eq!(
        b.heartbeat(std::slice::from_ref(&old.lease), LEASE)
            .await
            .unwrap(),
        vec![LeaseStatus::Lost]
    );
    assert!(finish(&b, &new, Outcome::Succeeded { result: vec![] }).await);
}

/// A stale lease can neither finish nor extend; the newer attempt's result stands.
pub async fn fencing(b: impl Backend) {
    let r = record("t", "q");
    let id = r.id.clone();
    enqueue_one(&b, r).await;
    let short = ClaimRequest::new("w1", vec!["q".into()], 1, Duration::from_millis(100));
    let old = b.claim(&short).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(b.reap().await.unwrap(), 1);
    assert_eq!(state(&b, &id).await, JobState::Queued);
    let new = claim(&b, &["q"], 1).await.remove(0);
    assert_eq!(
        new.attempt, 1,
        "an attempt that lost its lease does not count"
    );
    assert_eq!(new.lost, 1);
    assert!(new.lease.fence > old.lease.fence);
    assert_eq!(
        b.heartbeat(std::slice::from_ref(&old.lease), LEASE)
            .await
            .unwrap(),
        vec![LeaseStatus::Lost]
    );
    assert!(
        finish(
            &b,
            &new,
            Outcome::Succeeded {
                result: b"new".to_vec()
            }
        )
        .await
    );
    assert!(
        !finish(
            &b,
            &old,
            Outcome::Succeeded {
                result: b"old".to_vec()
            }
        )
        .await
    );
    assert!(!finish(&b, &old, Outcome::Dead { error: "x".into() }).await);
    let info = b.jobs(std::slice::from_ref(&id)).await.unwrap()[0]
        .clone()
        .unwrap();
    assert_eq!(info.state, JobState::Succeeded);
    assert_eq!(info.result.as_deref(), Some(&b"new"[..]));
}

/// Heartbeats keep a lease alive past its first length.
pub async fn heartbeat_extends(b: impl Backend) {
    enqueue_one(&b, record("t", "q")).await;
    let lease = Duration::from_millis(300);
    let c = b
        .claim(&ClaimRequest::new("w1", vec!["q".into()], 1, lease))
        .await
        .unwrap()
        .remove(0);
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            b.heartbeat(std::slice::from_ref(&c.lease), lease)
                .await
                .unwrap(),
            vec![LeaseStatus::Held]
        );
        assert_eq!(b.reap().await.unwrap(), 0);
    }
    assert!(finish(&b, &c, Outcome::Succeeded { result: vec![] }).await);
}

/// Handing a job back does not count the attempt.
pub async fn release(b: impl Backend) {
    let r = record("t", "q");
    enqueue_one(&b, r).await;
    let c = claim(&b, &["q"], 1).await.remove(0);
    assert!(finish(&b, &c, Outcome::Released).await);
    let again = claim(&b, &["q"], 1).await.remove(0);
    assert_eq!(again.attempt, 1);
}

/// Cancel: before start it is final; while running it is a request.
pub async fn cancel(b: impl Backend) {
    let r = record("t", "q");
    let id = r.id.clone();
    enqueue_one(&b, r).await;
    assert_eq!(b.cancel(&id).await.unwrap(), CancelOutcome::Cancelled);
    assert_eq!(state(&b, &id).await, JobState::Cancelled);
    assert!(claim(&b, &["q"], 10).await.is_empty());
    let info = b.wait(&id, Duration::from_secs(1)).await.unwrap().unwrap();
    assert_eq!(info.state, JobState::Cancelled);

    let mut delayed = record("t", "q");
    delayed.delay_ms = 100;
    let delayed_id = delayed.id.clone();
    enqueue_one(&b, delayed).await;
    assert_eq!(
        b.cancel(&delayed_id).await.unwrap(),
        CancelOutcome::Cancelled
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        claim(&b, &["q"], 10).await.is_empty(),
        "a cancelled delayed job never runs"
    );

    let r = record("t", "q");
    let id = r.id.clone();
    enqueue_one(&b, r).await;
    let c = claim(&b, &["q"], 1).await.remove(0);
    assert_eq!(b.cancel(&id).await.unwrap(), CancelOutcome::Requested);
    assert_eq!(
        b.heartbeat(std::slice::from_ref(&c.lease), LEASE)
            .await
            .unwrap(),
        vec![LeaseStatus::CancelRequested]
    );
    assert!(finish(&b, &c, Outcome::Cancelled).await);
    assert_eq!(
        b.cancel(&id).await.unwrap(),
        CancelOutcome::AlreadyFinished(JobState::Cancelled)
    );
    assert!(matches!(
        b.cancel(&JobId::from("missing")).await,
        Err(Error::UnknownJob(_))
    ));
}

/// Dead letters are listed with their error and can be retried.
pub async fn dead_letters(b: impl Backend) {
    let r = record("t", "q");
    let id = r.id.clone();
    enqueue_one(&b, r).await;
    let c = claim(&b, &["q"], 1).await.remove(0);
    assert!(
        finish(
            &b,
            &c,
            Outcome::Dead {
                error: "bad input".into()
            }
        )
        .await
    );
    let dead = b.list(&JobQuery::state(JobState::Dead)).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].record.id, id);
    assert_eq!(dead[0].error.as_deref(), Some("bad input"));
    assert!(b
        .list(&JobQuery::state(JobState::Dead).queue("other"))
        .await
        .unwrap()
        .is_empty());
    assert!(b.retry(&id).await.unwrap());
    assert!(
        !b.retry(&id).await.unwrap(),
        "only dead or cancelled jobs are retried"
    );
    let again = claim(&b, &["q"], 1).await.remove(0);
    assert_eq!(again.attempt, 1);
    assert!(b
        .list(&JobQuery::state(JobState::Dead))
        .await
        .unwrap()
        .is_empty());
}

/// Purge removes what has not started, and counts are per queue and state.
pub async fn purge_and_counts(b: impl Backend) {
    let recs: Vec<JobRecord> = (0..3).map(|_| record("t", "a")).collect();
    b.enqueue(recs).await.unwrap();
    let mut later = record("t", "a");
    later.delay_ms = 60_000;
    enqueue_one(&b, later).await;
    enqueue_one(&b, record("t", "b")).await;
    let running = claim(&b, &["b"], 1).await;
    assert_eq!(running.len(), 1);
    let counts = b.counts().await.unwrap();
    let a = counts
        .iter()
        .find(|c| c.queue == "a")
        .expect("queue a counted");
    assert_eq!((a.queued, a.scheduled, a.running), (3, 1, 0));
    let bq = counts
        .iter()
        .find(|c| c.queue == "b")
        .expect("queue b counted");
    assert_eq!((bq.queued, bq.running), (0, 1));
    assert_eq!(b.purge("a").await.unwrap(), 4);
    assert!(claim(&b, &["a"], 10).await.is_empty());
    let counts = b.counts().await.unwrap();
    let a = counts
        .iter()
        .find(|c| c.queue == "a")
        .cloned()
        .unwrap_or_default();
    assert_eq!((a.queued, a.scheduled), (0, 0));
}

/// Workers register with a TTL and can be listed; two runs of a pool
/// under one id have an entry each.
pub async fn workers(b: impl Backend) {
    let info = WorkerInfo {
        id: "w-1".into(),
        instance: "0000000a".into(),
        host: "h".into(),
        pid: 7,
        queues: vec!["q".into()],
        concurrency: 4,
        started_at_ms: 1,
        last_seen_ms: 0,
        running: 2,
        processed: 10,
    };
    b.register_worker(&info, Duration::from_secs(30))
        .await
        .unwrap();
    let listed = b.workers().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, "w-1");
    assert_eq!(listed[0].processed, 10);
    assert!(listed[0].last_seen_ms > 0);
    // A heartbeat of the same run replaces its entry.
    b.register_worker(&info, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(b.workers().await.unwrap().len(), 1);
    // Another run under the same id is listed beside it.
    let twin = WorkerInfo {
        instance: "0000000b".into(),
        started_at_ms: 2,
        ..info.clone()
    };
    b.register_worker(&twin, Duration::from_secs(30))
        .await
        .unwrap();
    let listed = b.workers().await.unwrap();
    let runs: Vec<(&str, &str)> = listed
        .iter()
        .map(|w| (w.id.as_str(), w.instance.as_str()))
        .collect();
    assert_eq!(runs, [("w-1", "0000000a"), ("w-1", "0000000b")]);
    b.unregister_worker(&info.key()).await.unwrap();
    let listed = b.workers().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].instance, "0000000b");
    b.unregister_worker(&twin.key()).await.unwrap();
    assert!(b.workers().await.unwrap().is_empty());
}

/// A job with dependencies is queued exactly once, when all have succeeded,
/// however often their completions arrive.
pub async fn deps_release_once(b: impl Backend) {
    let a = record("t", "q");
    let bb = record("t", "q");
    let mut join = record("t", "q");
    join.deps = vec![a.id.clone(), bb.id.clone()];
    let join_id = join.id.clone();
    b.enqueue(vec![a, bb, join]).await.unwrap();
    assert_eq!(state(&b, &join_id).await, JobState::Waiting);
    let got = claim(&b, &["q"], 10).await;
    assert_eq!(got.len(), 2, "the join waits");
    assert!(finish(&b, &got[0], Outcome::Succeeded { result: vec![] }).await);
    assert!(!finish(&b, &got[0], Outcome::Succeeded { result: vec![] }).await);
    assert_eq!(state(&b, &join_id).await, JobState::Waiting);
    let batch = [
        Finish {
            lease: got[1].lease.clone(),
            outcome: Outcome::Succeeded { result: vec![] },
        },
        Finish {
            lease: got[1].lease.clone(),
            outcome: Outcome::Succeeded { result: vec![] },
        },
    ];
    assert_eq!(b.finish(&batch).await.unwrap(), vec![true, false]);
    let joins = claim(&b, &["q"], 10).await;
    assert_eq!(joins.len(), 1);
    assert_eq!(joins[0].record.id, join_id);
    assert!(
        claim(&b, &["q"], 10).await.is_empty(),
        "the join fired once"
    );

    // A dependant enqueued after its dependency finished is queued at once.
    let mut late = record("t", "q");
    late.deps = vec![got[0].record.id.clone()];
    let late_id = late.id.clone();
    enqueue_one(&b, late).await;
    assert_eq!(state(&b, &late_id).await, JobState::Queued);
}

/// A failed dependency fails its dependants, unless it allows failure.
pub async fn deps_failure(b: impl Backend) {
    let a = record("t", "q");
    let mut tolerant = record("t", "q");
    tolerant.allow_failure = true;
    let mut strict_dep = record("t", "q");
    strict_dep.deps = vec![a.id.clone()];
    let mut chained = record("t", "q");
    chained.deps = vec![strict_dep.id.clone()];
    let mut lenient = record("t", "q");
    lenient.deps = vec![tolerant.id.clone()];
    let (a_id, strict_id, chained_id, lenient_id) = (
        a.id.clone(),
        strict_dep.id.clone(),
        chained.id.clone(),
        lenient.id.clone(),
    );
    b.enqueue(vec![a, tolerant, strict_dep, chained, lenient])
        .await
        .unwrap();
    let got = claim(&b, &["q"], 10).await;
    assert_eq!(got.len(), 2);
    for c in &got {
        assert!(
            finish(
                &b,
                c,
                Outcome::Dead {
                    error: "kaput".into()
                }
            )
            .await
        );
    }
    let infos = b
        .jobs(&[strict_id.clone(), chained_id.clone(), lenient_id.clone()])
        .await
        .unwrap();
    let strict = infos[0].clone().unwrap();
    assert_eq!(strict.state, JobState::Dead);
    let msg = strict.error.unwrap();
    assert!(
        msg.contains(a_id.as_str()) && msg.contains("kaput"),
        "{msg}"
    );
    assert_eq!(
        infos[1].clone().unwrap().state,
        JobState::Dead,
        "failure cascades"
    );
    assert_eq!(infos[2].clone().unwrap().state, JobState::Queued);

    // Cancelling a dependency cancels its dependants.
    let x = record("t", "q2");
    let mut y = record("t", "q2");
    y.deps = vec![x.id.clone()];
    let (x_id, y_id) = (x.id.clone(), y.id.clone());
    b.enqueue(vec![x, y]).await.unwrap();
    b.cancel(&x_id).await.unwrap();
    assert_eq!(state(&b, &y_id).await, JobState::Cancelled);
}

/// Progress of a running attempt is visible; a stale lease's is ignored.
pub async fn progress(b: impl Backend) {
    let r = record("t", "q");
    let id = r.id.clone();
    enqueue_one(&b, r).await;
    let c = claim(&b, &["q"], 1).await.remove(0);
    b.progress(&c.lease, 40).await.unwrap();
    let info = b.jobs(std::slice::from_ref(&id)).await.unwrap()[0]
        .clone()
        .unwrap();
    assert_eq!(info.progress, 40);
    let mut stale = c.lease.clone();
    stale.fence += 100;
    b.progress(&stale, 90).await.unwrap();
    let info = b.jobs(std::slice::from_ref(&id)).await.unwrap()[0]
        .clone()
        .unwrap();
    assert_eq!(info.progress, 40);
}

/// A join that already fired does not fire again when one of its inputs
/// completes a second time (a tolerated failure retried by hand).
pub async fn join_fires_once_after_input_rerun(b: impl Backend) {
    let mut a = record("t", "q");
    a.allow_failure = true;
    let mut join = record("t", "q");
    join.deps = vec![a.id.clone()];
    let (a_id, join_id) = (a.id.clone(), join.id.clone());
    b.enqueue(vec![a, join]).await.unwrap();
    let c = claim(&b, &["q"], 10).await.remove(0);
    assert!(
        finish(
            &b,
            &c,
            Outcome::Dead {
                error: "tolerated".into()
            }
        )
        .await
    );
    assert_eq!(state(&b, &join_id).await, JobState::Queued);
    assert!(b.retry(&a_id).await.unwrap());
    let got = claim(&b, &["q"], 10).await;
    assert_eq!(got.len(), 2, "the join and the retried input");
    let input = got.iter().find(|c| c.record.id == a_id).unwrap();
    assert!(finish(&b, input, Outcome::Succeeded { result: vec![] }).await);
    assert!(
        claim(&b, &["q"], 10).await.is_empty(),
        "the join did not fire again"
    );
}

/// A retried job runs at once, whatever delay it was enqueued with; a
/// dependant cancelled with its dependency says which one.
pub async fn retry_runs_at_once(b: impl Backend) {
    let mut later = record("t", "q");
    later.delay_ms = 3_600_000;
    let mut after = record("t", "q");
    after.deps = vec![later.id.clone()];
    let (later_id, after_id) = (later.id.clone(), after.id.clone());
    b.enqueue(vec![later, after]).await.unwrap();
    assert_eq!(b.cancel(&later_id).await.unwrap(), CancelOutcome::Cancelled);
    let info = b.jobs(std::slice::from_ref(&after_id)).await.unwrap()[0]
        .clone()
        .unwrap();
    assert_eq!(info.state, JobState::Cancelled);
    let msg = info.error.unwrap_or_default();
    assert!(msg.contains(later_id.as_str()), "{msg}");
    assert!(b.retry(&later_id).await.unwrap());
    assert_eq!(state(&b, &later_id).await, JobState::Queued);
    assert_eq!(claim(&b, &["q"], 1).await.len(), 1);
}

/// A retried job with dependencies waits again for those not succeeded,
/// and fails again at once if one of them is still dead.
pub async fn retry_with_deps(b: impl Backend) {
    let a = record("t", "q");
    let mut dependant = record("t", "q");
    dependant.deps = vec![a.id.clone()];
    let (a_id, d_id) = (a.id.clone(), dependant.id.clone());
    b.enqueue(vec![a, dependant]).await.unwrap();
    let c = claim(&b, &["q"], 10).await.remove(0);
    assert!(
        finish(
            &b,
            &c,
            Outcome::Dead {
                error: "first".into()
            }
        )
        .await
    );
    assert_eq!(state(&b, &d_id).await, JobState::Dead);
    // Still-dead dependency: the dependant dies again, naming it.
    assert!(b.retry(&d_id).await.unwrap());
    assert_eq!(state(&b, &d_id).await, JobState::Dead);
    // Dependency first, then the dependant: it waits, then runs.
    assert!(b.retry(&a_id).await.unwrap());
    assert!(b.retry(&d_id).await.unwrap());
    assert_eq!(state(&b, &d_id).await, JobState::Waiting);
    let c = claim(&b, &["q"], 10).await;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].record.id, a_id);
    assert!(finish(&b, &c[0], Outcome::Succeeded { result: vec![] }).await);
    let next = claim(&b, &["q"], 10).await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].record.id, d_id);
}

/// Workflow descriptions are stored, replaced by id, and listed newest first.
pub async fn workflow_storage(b: impl Backend) {
    let (w1, w2) = (JobId::new(), JobId::new());
    assert!(b.workflow(&w1).await.unwrap().is_none());
    b.put_workflow(&w1, b"one".to_vec()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    b.put_workflow(&w2, b"two".to_vec()).await.unwrap();
    b.put_workflow(&w1, b"one again".to_vec()).await.unwrap();
    assert_eq!(
        b.workflow(&w1).await.unwrap().as_deref(),
        Some(&b"one again"[..])
    );
    let ids = b.workflow_ids(0, 10).await.unwrap();
    assert_eq!(ids, vec![w2.clone(), w1.clone()]);
    assert_eq!(b.workflow_ids(1, 10).await.unwrap(), vec![w1]);
}

/// Cancelling a job reaches its run-time children and their descendants
/// in the same step: those not started end cancelled (with their waiting
/// dependants), running ones get a cancel request; nothing of it is handed
/// out afterwards. `children` lists what was enqueued with a parent.
pub async fn cancel_reaches_children(b: impl Backend) {
    let parent = record("t", "q");
    let pid = parent.id.clone();
    enqueue_one(&b, parent).await;
    let p = claim(&b, &["q"], 1).await.remove(0);

    let child = |n: usize, of: &JobId| {
        let mut r = record("t", "q");
        r.id = of.child(n);
        r.parent = Some(of.clone());
        r
    };
    // c0 runs (and has a child of its own), c1 is queued, c2 waits for c1
    // (a replacement workflow's node), c3 is delayed.
    let c0 = child(0, &pid);
    let c1 = child(1, &pid);
    let mut c2 = child(2, &pid);
    c2.deps = vec![c1.id.clone()];
    let mut c3 = child(3, &pid);
    c3.delay_ms = 60_000;
    enqueue_one(&b, c0.clone()).await;
    let running = claim(&b, &["q"], 1).await.remove(0);
    assert_eq!(running.lease.id, c0.id);
    let g = child(0, &c0.id);
    b.enqueue(vec![c1.clone(), c2.clone(), c3.clone(), g.clone()])
        .await
        .unwrap();

    let mut kids = b.children(&pid).await.unwrap();
    kids.sort();
    assert_eq!(
        kids,
        vec![c0.id.clone(), c1.id.clone(), c2.id.clone(), c3.id.clone()]
    );
    assert_eq!(b.children(&c0.id).await.unwrap(), vec![g.id.clone()]);
    assert!(b.children(&c1.id).await.unwrap().is_empty());

    assert_eq!(b.cancel(&pid).await.unwrap(), CancelOutcome::Requested);
    for id in [&c1.id, &c2.id, &c3.id, &g.id] {
        assert_eq!(state(&b, id).await, JobState::Cancelled, "{id}");
    }
    assert_eq!(state(&b, &c0.id).await, JobState::Running);
    assert_eq!(
        b.heartbeat(&[p.lease.clone(), running.lease.clone()], LEASE)
            .await
            .unwrap(),
        vec![LeaseStatus::CancelRequested, LeaseStatus::CancelRequested]
    );
    assert!(
        claim(&b, &["q"], 10).await.is_empty(),
        "nothing of a cancelled parent is handed out"
    );

    // A child enqueued by a parent being cancelled, or cancelled, is
    // cancelled at once (a map that spawns its items as the cancel lands).
    let late = child(4, &pid);
    enqueue_one(&b, late.clone()).await;
    assert_eq!(state(&b, &late.id).await, JobState::Cancelled);
    assert!(finish(&b, &p, Outcome::Cancelled).await);
    let later = child(5, &pid);
    enqueue_one(&b, later.clone()).await;
    assert_eq!(state(&b, &later.id).await, JobState::Cancelled);
    assert!(claim(&b, &["q"], 10).await.is_empty());
    // Cancelling it again still reaches what runs below it.
    assert_eq!(
        b.cancel(&pid).await.unwrap(),
        CancelOutcome::AlreadyFinished(JobState::Cancelled)
    );
    // A job that succeeded is left alone.

    let done = record("t", "q");
    let did = done.id.clone();
    enqueue_one(&b, done).await;
    let d = claim(&b, &["q"], 1).await.remove(0);
    let kept = child(0, &did);
    enqueue_one(&b, kept.clone()).await;
    assert!(finish(&b, &d, Outcome::Succeeded { result: vec![] }).await);
    assert_eq!(
        b.cancel(&did).await.unwrap(),
        CancelOutcome::AlreadyFinished(JobState::Succeeded)
    );
    assert_eq!(state(&b, &kept.id).await, JobState::Queued);
}

/// A cancel request for a running job (or a running descendant) is pushed
/// on [`JobStore::cancel_requests`] as it happens. Not in
/// [`backend_conformance!`](crate::backend_conformance): the default feed
/// never yields, and engines may lack it in some setups (a Redis user
/// without the channel's permission); call it where the feed is promised.
pub async fn cancel_pushed(b: impl Backend) {
    let mut feed = b.cancel_requests().await.expect("open the feed");
    let parent = record("t", "q");
    let pid = parent.id.clone();
    enqueue_one(&b, parent).await;
    claim(&b, &["q"], 1).await;
    let mut child = record("t", "q");
    child.id = pid.child(0);
    child.parent = Some(pid.clone());
    let cid = child.id.clone();
    enqueue_one(&b, child).await;
    claim(&b, &["q"], 1).await;
    let queued = record("t", "q");
    let qid = queued.id.clone();
    enqueue_one(&b, queued).await;
    assert_eq!(b.cancel(&qid).await.unwrap(), CancelOutcome::Cancelled);

    assert_eq!(b.cancel(&pid).await.unwrap(), CancelOutcome::Requested);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let next = tokio::time::timeout(Duration::from_secs(5), feed.next())
            .await
            .expect("pushed within 5 s")
            .expect("the feed is open");
        seen.push(next);
    }
    seen.sort();
    assert_eq!(seen, vec![pid, cid], "only running jobs are pushed");
}

/// An idempotency key returns the job that holds it for as long as that
/// job's record is kept, finished or not; then it is free again.
pub async fn idempotency_keys(b: impl Backend) {
    let keyed = |key: &str| {
        let mut r = record("t", "q");
        r.idempotency_key = Some(key.to_owned());
        r
    };
    let first = keyed("order-7");
    let id = first.id.clone();
    assert_eq!(enqueue_one(&b, first).await, Enqueued::Created(id.clone()));
    let retry = keyed("order-7");
    assert_eq!(enqueue_one(&b, retry).await, Enqueued::Existing(id.clone()));
    let c = claim(&b, &["q"], 10).await;
    assert_eq!(c.len(), 1, "one job for one key");
    assert!(
        finish(
            &b,
            &c[0],
            Outcome::Succeeded {
                result: b"paid".to_vec()
            }
        )
        .await
    );
    // After the job ended, unlike a unique key.
    let late = keyed("order-7");
    assert_eq!(enqueue_one(&b, late).await, Enqueued::Existing(id.clone()));
    let info = b.jobs(std::slice::from_ref(&id)).await.unwrap()[0]
        .clone()
        .expect("kept");
    assert_eq!(info.result.as_deref(), Some(&b"paid"[..]));
    assert!(claim(&b, &["q"], 10).await.is_empty());

    // Another key is another job.
    let other = keyed("order-8");
    let oid = other.id.clone();
    assert_eq!(enqueue_one(&b, other).await, Enqueued::Created(oid));

    // The key goes with the record.
    let mut short = keyed("order-9");
    short.result_ttl_ms = 100;
    let sid = short.id.clone();
    enqueue_one(&b, short).await;
    let c = claim(&b, &["q"], 10).await;
    let mine = c.iter().find(|c| c.lease.id == sid).expect("claimed");
    assert!(finish(&b, mine, Outcome::Succeeded { result: vec![] }).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let again = keyed("order-9");
    let aid = again.id.clone();
    assert_eq!(enqueue_one(&b, again).await, Enqueued::Created(aid));
}

/// Generates one `#[tokio::test]` per conformance check, each on a fresh
/// backend made by `$make` (an expression evaluating to a future of a backend).
#[macro_export]
macro_rules! backend_conformance {
    ($make:expr) => {
        $crate::backend_conformance!(@tests $make;
            round_trip, idempotent_by_id, unique_keys, order_and_priority, delayed_jobs,
            blocking_claim_wakes, retry_outcome, fencing, late_ack_after_reap, heartbeat_extends, release, cancel,
            dead_letters, purge_and_counts, workers, deps_release_once, deps_failure, progress,
            retry_with_deps, workflow_storage, join_fires_once_after_input_rerun, retry_runs_at_once, schedule_storage, schedule_fire, schedule_pause,
            audit_trail, cancel_reaches_children, idempotency_keys, step_storage, step_fencing,
            step_lifetime, park_and_wake, signal_log, pause_queue, pause_task, pause_resume_wakes,
            running_cap_task, running_cap_keys, running_cap_queue, rate_limits, rate_limiters);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let backend = $make.await;
                $crate::conformance::$name(backend).await;
            }
        )*
    };
}
