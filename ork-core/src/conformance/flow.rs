//! Conformance: pausing queues and tasks ([`FlowControl`](crate::backend::FlowControl)).

use std::time::Duration;

use super::{claim, enqueue_one, record, req, state};
use crate::backend::{Backend, PauseTarget, Paused};
use crate::error::Error;
use crate::inspect::{CancelOutcome, JobQuery};
use crate::job::{JobId, JobState};

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
