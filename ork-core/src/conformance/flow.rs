//! Conformance: pausing queues and tasks ([`FlowControl`](crate::backend::FlowControl)).

use std::time::Duration;

use super::{claim, enqueue_one, record, req, state};
use crate::backend::{Backend, ClaimRequest, Outcome, PauseTarget, Paused};
use crate::error::Error;
use crate::inspect::{CancelOutcome, JobQuery};
use crate::job::{JobId, JobRecord, JobState};
use crate::rate::Rate;

fn ids(claimed: &[crate::backend::Claimed]) -> Vec<JobId> {
    claimed.iter().map(|c| c.lease.id.clone()).collect()
}

async fn queued_in(b: &dyn Backend, queue: &str) -> u64 {
    b.counts()
        .await
        .expect("counts")
        .into_iter()
        .find(|c| c.queue == queue)
        .map_or(0, |c| c.queued)
}

/// A paused queue hands out nothing, its jobs stay queued and counted,
/// other queues go on; resuming hands them out in their order.
pub async fn pause_queue(b: impl Backend) {
    let q = PauseTarget::Queue("q".to_owned());
    assert!(b.set_paused(&q, true).await.unwrap());
    assert!(!b.set_paused(&q, true).await.unwrap(), "already paused");
    let mut held = Vec::new();
    for _ in 0..3 {
        let r = record("t", "q");
        held.push(r.id.clone());
        enqueue_one(&b, r).await;
    }
    let other = record("t", "other");
    let other_id = other.id.clone();
    enqueue_one(&b, other).await;

    let got = claim(&b, &["q", "other"], 10).await;
    assert_eq!(ids(&got), vec![other_id], "only the running queue");
    assert!(claim(&b, &["q"], 10).await.is_empty());
    for id in &held {
        assert_eq!(state(&b, id).await, JobState::Queued);
    }
    assert_eq!(queued_in(&b, "q").await, 3);
    assert_eq!(b.paused().await.unwrap(), vec![Paused::new(q.clone(), 3)]);

    assert!(b.set_paused(&q, false).await.unwrap());
    assert!(!b.set_paused(&q, false).await.unwrap(), "already running");
    assert!(b.paused().await.unwrap().is_empty());
    assert_eq!(ids(&claim(&b, &["q"], 10).await), held);
}

/// A paused task's jobs are set aside (still queued, listed and counted)
/// while the other jobs of their queue are handed out; resuming puts them
/// back first, in their order. A held job that is cancelled stays so.
pub async fn pause_task(b: impl Backend) {
    let t = PauseTarget::Task("a".to_owned());
    assert!(b.set_paused(&t, true).await.unwrap());
    let mut a = Vec::new();
    let mut others = Vec::new();
    for i in 0..6 {
        let r = record(if i % 2 == 0 { "a" } else { "b" }, "q");
        if i % 2 == 0 { &mut a } else { &mut others }.push(r.id.clone());
        enqueue_one(&b, r).await;
    }
    assert_eq!(ids(&claim(&b, &["q"], 10).await), others);
    assert!(claim(&b, &["q"], 10).await.is_empty());
    for id in &a {
        assert_eq!(state(&b, id).await, JobState::Queued);
    }
    assert_eq!(queued_in(&b, "q").await, 3);
    let listed = b
        .list(&JobQuery::state(JobState::Queued).queue("q"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 3, "held jobs are listed as queued");
    assert_eq!(b.paused().await.unwrap(), vec![Paused::new(t.clone(), 3)]);

    // A held job cancelled is not handed out after the resume.
    assert_eq!(b.cancel(&a[1]).await.unwrap(), CancelOutcome::Cancelled);
    assert_eq!(queued_in(&b, "q").await, 2);

    // Jobs enqueued after the set-aside ones come after them on resume.
    let late = record("b", "q");
    let late_id = late.id.clone();
    enqueue_one(&b, late).await;
    assert!(b.set_paused(&t, false).await.unwrap());
    assert!(!b.set_paused(&t, false).await.unwrap());
    let got = ids(&claim(&b, &["q"], 10).await);
    assert_eq!(got, vec![a[0].clone(), a[2].clone(), late_id]);
    assert_eq!(state(&b, &a[1]).await, JobState::Cancelled);
}

/// A claimer blocked on a paused queue gets its job when the queue is
/// resumed; names are checked.
pub async fn pause_resume_wakes(b: impl Backend) {
    let q = PauseTarget::Queue("q".to_owned());
    b.set_paused(&q, true).await.unwrap();
    let r = record("t", "q");
    let id = r.id.clone();
    enqueue_one(&b, r).await;
    let b = std::sync::Arc::new(b);
    let claimer = {
        let b = b.clone();
        tokio::spawn(async move {
            b.claim(&req(&["q"], 1).wait(Duration::from_secs(20)))
                .await
                .expect("claim")
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(b.set_paused(&q, false).await.unwrap());
    let got = claimer.await.unwrap();
    assert_eq!(ids(&got), vec![id]);

    for bad in [
        PauseTarget::Queue(String::new()),
        PauseTarget::Task("a\nb".to_owned()),
    ] {
        assert!(matches!(
            b.set_paused(&bad, true).await,
            Err(Error::Invalid(_))
        ));
    }
    assert!(b.paused().await.unwrap().is_empty());
}

fn capped(
    task: &str,
    max_running: Option<u32>,
    key: Option<&str>,
    limit: Option<u32>,
) -> JobRecord {
    let mut r = record(task, "q");
    r.max_running = max_running;
    r.concurrency_key = key.map(str::to_owned);
    r.key_limit = limit;
    r
}

async fn enqueue_all(b: &dyn Backend, records: Vec<JobRecord>) -> Vec<JobId> {
    let ids = records.iter().map(|r| r.id.clone()).collect();
    b.enqueue(records).await.expect("enqueue");
    ids
}

async fn caps(b: &dyn Backend) -> Vec<(String, u32, u64, u64)> {
    b.running_caps()
        .await
        .expect("caps")
        .into_iter()
        .map(|c| (c.name, c.cap, c.running, c.held))
        .collect()
}

/// A task's `max_running` across claims: the jobs past the cap are held
/// (still queued) while others of the queue are handed out; whatever ends
/// an attempt (success, retry, a hand-back, a reaped lease) gives its slot
/// back to the next held job, in order.
pub async fn running_cap_task(b: impl Backend) {
    let ok = || Outcome::Succeeded { result: vec![] };
    let t = enqueue_all(
        &b,
        (0..4).map(|_| capped("t", Some(2), None, None)).collect(),
    )
    .await;
    let free = enqueue_all(&b, vec![record("u", "q")]).await;
    let got = claim(&b, &["q"], 10).await;
    assert_eq!(ids(&got), vec![t[0].clone(), t[1].clone(), free[0].clone()]);
    assert_eq!(state(&b, &t[2]).await, JobState::Queued);
    assert_eq!(queued_in(&b, "q").await, 2, "held jobs count as queued");
    assert_eq!(caps(&b).await, vec![("task t".to_owned(), 2, 2, 2)]);
    assert!(claim(&b, &["q"], 10).await.is_empty());

    // A success frees a slot: the first held job comes next.
    assert!(super::finish(&b, &got[0], ok()).await);
    let t2 = claim(&b, &["q"], 10).await;
    assert_eq!(ids(&t2), vec![t[2].clone()]);
    // A retry frees it.
    let retry = Outcome::Retry {
        delay: Duration::from_secs(3600),
        error: "again".into(),
    };
    assert!(super::finish(&b, &got[1], retry).await);
    let t3 = claim(&b, &["q"], 10).await;
    assert_eq!(ids(&t3), vec![t[3].clone()]);
    // A hand-back frees it (and the job queues again).
    assert!(super::finish(&b, &t2[0], Outcome::Released).await);
    let t2 = claim(&b, &["q"], 10).await;
    assert_eq!(ids(&t2), vec![t[2].clone()]);
    // A cancelled attempt frees it.
    assert!(super::finish(&b, &t3[0], Outcome::Cancelled).await);

    // A lost lease frees it too (the worker died): reaped, the slot is back.
    let late = enqueue_all(
        &b,
        (0..2).map(|_| capped("t", Some(2), None, None)).collect(),
    )
    .await;
    let short = ClaimRequest::new("w1", vec!["q".into()], 10, Duration::from_millis(50));
    let leased = b.claim(&short).await.unwrap();
    assert_eq!(ids(&leased), vec![late[0].clone()]);
    assert!(claim(&b, &["q"], 10).await.is_empty(), "both slots held");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(b.reap().await.unwrap(), 1);
    let after = claim(&b, &["q"], 10).await;
    assert_eq!(ids(&after), vec![late[1].clone()], "a slot came back");
    assert_eq!(caps(&b).await, vec![("task t".to_owned(), 2, 2, 1)]);
    for c in [&t2[0], &after[0]] {
        assert!(super::finish(&b, c, ok()).await);
    }
    let last = claim(&b, &["q"], 10).await;
    assert_eq!(ids(&last), vec![late[0].clone()]);
    assert!(super::finish(&b, &last[0], ok()).await);
    assert!(caps(&b).await.is_empty(), "no slot leaked");
}

/// Concurrency keys: one running job per key by default, `key_limit` per
/// key otherwise; a cancelled held job is not handed out.
pub async fn running_cap_keys(b: impl Backend) {
    let a = enqueue_all(
        &b,
        (0..3).map(|_| capped("t", None, Some("a"), None)).collect(),
    )
    .await;
    let c = enqueue_all(
        &b,
        (0..3)
            .map(|_| capped("t", None, Some("c"), Some(2)))
            .collect(),
    )
    .await;
    let got = claim(&b, &["q"], 10).await;
    assert_eq!(ids(&got), vec![a[0].clone(), c[0].clone(), c[1].clone()]);
    assert_eq!(
        caps(&b).await,
        vec![("key a".to_owned(), 1, 1, 2), ("key c".to_owned(), 2, 2, 1)]
    );
    assert_eq!(b.cancel(&a[1]).await.unwrap(), CancelOutcome::Cancelled);
    assert!(super::finish(&b, &got[0], Outcome::Succeeded { result: vec![] }).await);
    let next = claim(&b, &["q"], 10).await;
    assert_eq!(
        ids(&next),
        vec![a[2].clone()],
        "the cancelled one is skipped"
    );
    assert!(super::finish(&b, &got[1], Outcome::Dead { error: "x".into() }).await);
    let next = claim(&b, &["q"], 10).await;
    assert_eq!(ids(&next), vec![c[2].clone()]);
}

/// A queue's cap, stored by the engine: set, raised (held jobs move on),
/// removed; a cap of 0 is refused.
pub async fn running_cap_queue(b: impl Backend) {
    b.set_queue_cap("q", Some(1)).await.unwrap();
    let jobs = enqueue_all(&b, (0..4).map(|_| record("t", "q")).collect()).await;
    let got = claim(&b, &["q"], 10).await;
    assert_eq!(ids(&got), vec![jobs[0].clone()]);
    assert_eq!(caps(&b).await, vec![("queue q".to_owned(), 1, 1, 3)]);
    b.set_queue_cap("q", Some(2)).await.unwrap();
    assert_eq!(ids(&claim(&b, &["q"], 10).await), vec![jobs[1].clone()]);
    b.set_queue_cap("q", None).await.unwrap();
    assert_eq!(
        ids(&claim(&b, &["q"], 10).await),
        vec![jobs[2].clone(), jobs[3].clone()]
    );
    assert!(matches!(
        b.set_queue_cap("q", Some(0)).await,
        Err(Error::Invalid(_))
    ));
}

fn rated(task: &str, rate: Option<Rate>, limiter: Option<&str>, key: Option<&str>) -> JobRecord {
    let mut r = record(task, "q");
    r.rate = rate;
    r.limiter = limiter.map(str::to_owned);
    r.rate_key = key.map(str::to_owned);
    r
}

async fn due_at(b: &dyn Backend, id: &JobId) -> Option<u64> {
    b.jobs(std::slice::from_ref(id)).await.unwrap()[0]
        .as_ref()
        .and_then(|i| i.due_at_ms)
}

/// A task's rate: a burst at once, then the rest scheduled each at its own
/// reserved token's time (one interval apart, no polling), running then
/// without another token; per rate key, each key its own bucket.
pub async fn rate_limits(b: impl Backend) {
    let slow = Rate::new(1, Duration::from_secs(10)).burst(2);
    let jobs = enqueue_all(
        &b,
        (0..4).map(|_| rated("t", Some(slow), None, None)).collect(),
    )
    .await;
    let other = enqueue_all(&b, vec![record("u", "q")]).await;
    let got = claim(&b, &["q"], 10).await;
    assert_eq!(
        ids(&got),
        vec![jobs[0].clone(), jobs[1].clone(), other[0].clone()]
    );
    assert_eq!(state(&b, &jobs[2]).await, JobState::Scheduled);
    assert_eq!(state(&b, &jobs[3]).await, JobState::Scheduled);
    let (d2, d3) = (
        due_at(&b, &jobs[2]).await.unwrap(),
        due_at(&b, &jobs[3]).await.unwrap(),
    );
    assert!(
        (9_999..=10_001).contains(&(d3 - d2)),
        "one interval apart: {d2} {d3}"
    );
    assert!(claim(&b, &["q"], 10).await.is_empty());

    // Per key: each key its own bucket (burst 1 here).
    let per_key = Rate::new(1, Duration::from_secs(10));
    let keyed = enqueue_all(
        &b,
        ["a", "a", "b"]
            .iter()
            .map(|k| rated("k", Some(per_key), None, Some(k)))
            .collect(),
    )
    .await;
    let got = claim(&b, &["q"], 10).await;
    assert_eq!(ids(&got), vec![keyed[0].clone(), keyed[2].clone()]);
    assert_eq!(state(&b, &keyed[1]).await, JobState::Scheduled);

    // A reserved token: the job runs at its time without taking another.
    let quick = Rate::new(1, Duration::from_millis(300));
    let pair = enqueue_all(
        &b,
        (0..2)
            .map(|_| rated("p", Some(quick), None, None))
            .collect(),
    )
    .await;
    let first = claim(&b, &["p-none", "q"], 10).await;
    assert_eq!(ids(&first), vec![pair[0].clone()]);
    let later = b
        .claim(&req(&["q"], 10).wait(Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(ids(&later), vec![pair[1].clone()]);
}

/// Named limiters, stored by the engine: shared by the tasks that name
/// them; one not defined does not limit; a bad name is refused.
pub async fn rate_limiters(b: impl Backend) {
    let stripe = Rate::new(1, Duration::from_secs(10));
    b.set_limiter("stripe", Some(stripe)).await.unwrap();
    assert_eq!(
        b.limiters().await.unwrap(),
        vec![("stripe".to_owned(), stripe)]
    );
    let jobs = enqueue_all(
        &b,
        vec![
            rated("a", None, Some("stripe"), None),
            rated("b", None, Some("stripe"), None),
            rated("c", None, Some("undefined"), None),
            rated("c", None, Some("undefined"), None),
        ],
    )
    .await;
    let got = claim(&b, &["q"], 10).await;
    assert_eq!(
        ids(&got),
        vec![jobs[0].clone(), jobs[2].clone(), jobs[3].clone()]
    );
    assert_eq!(state(&b, &jobs[1]).await, JobState::Scheduled);
    b.set_limiter("stripe", None).await.unwrap();
    assert!(b.limiters().await.unwrap().is_empty());
    assert!(matches!(
        b.set_limiter("", Some(stripe)).await,
        Err(Error::Invalid(_))
    ));
}
