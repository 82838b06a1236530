//! Conformance checks of the schedule methods.

use std::time::Duration;

use crate::backend::{Backend, Enqueued, FireTicks, StoredSchedule};
use crate::job::{JobId, JobRecord, JobState};

use super::{claim, state};

fn tick(name: &str, at: u64) -> JobRecord {
    let mut r = JobRecord::new("periodic", vec![4, 2]);
    r.queue = "ticks".to_owned();
    r.id = JobId::from(format!("{name}@{at}"));
    r
}

async fn stored(b: &dyn Backend, name: &str) -> Option<StoredSchedule> {
    b.schedules()
        .await
        .expect("schedules")
        .into_iter()
        .find(|s| s.name == name)
}

/// Schedules are stored by name, listed by name, replaced without losing
/// their state, and deleted.
pub async fn schedule_storage(b: impl Backend) {
    assert!(b.schedules().await.unwrap().is_empty());
    let before = b.now_ms().await.unwrap();
    assert!(b.put_schedule("b", b"two".to_vec()).await.unwrap());
    assert!(b.put_schedule("a:x@y", b"one".to_vec()).await.unwrap());
    let after = b.now_ms().await.unwrap();
    let all = b.schedules().await.unwrap();
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a:x@y", "b"]);
    let s = &all[1];
    assert_eq!(s.definition, b"two");
    assert!(!s.paused);
    assert_eq!(s.last_job, None);
    assert!(
        (before..=after).contains(&s.through_ms),
        "a new schedule is processed through the backend's now"
    );
    // Fire once, then replace the definition: the state stays.
    let t = s.through_ms + 1000;
    let fired = b
        .fire(FireTicks::new("b", s.through_ms, t, vec![tick("b", t)]))
        .await
        .unwrap();
    assert!(fired.is_some());
    b.pause_schedule("b", true).await.unwrap();
    assert!(!b.put_schedule("b", b"three".to_vec()).await.unwrap());
    let s = stored(&b, "b").await.unwrap();
    assert_eq!(s.definition, b"three");
    assert_eq!(s.through_ms, t);
    assert_eq!(s.last_job, Some(JobId::from(format!("b@{t}"))));
    assert!(s.paused, "replacing a definition keeps the pause");
    assert!(b.delete_schedule("b").await.unwrap());
    assert!(!b.delete_schedule("b").await.unwrap());
    assert!(stored(&b, "b").await.is_none());
    assert!(!b.pause_schedule("b", true).await.unwrap());
    assert!(!b.pause_schedule("b", false).await.unwrap());
    // The job it fired is an ordinary job.
    assert_eq!(
        state(&b, &JobId::from(format!("b@{t}"))).await,
        JobState::Queued
    );
}

/// `fire` is a compare-and-set on the processed-through instant, and
/// enqueues like `enqueue` (ids are a second guard).
pub async fn schedule_fire(b: impl Backend) {
    b.put_schedule("s", b"def".to_vec()).await.unwrap();
    let t0 = stored(&b, "s").await.unwrap().through_ms;
    let (t1, t2) = (t0 + 1000, t0 + 2000);
    let out = b
        .fire(FireTicks::new(
            "s",
            t0,
            t2,
            vec![tick("s", t1), tick("s", t2)],
        ))
        .await
        .unwrap()
        .expect("the first fire wins");
    assert_eq!(
        out,
        vec![
            Enqueued::Created(JobId::from(format!("s@{t1}"))),
            Enqueued::Created(JobId::from(format!("s@{t2}")))
        ]
    );
    // A second scheduler that read the same state loses, and writes nothing.
    let t3 = t0 + 3000;
    let lost = b
        .fire(FireTicks::new("s", t0, t3, vec![tick("s", t3)]))
        .await
        .unwrap();
    assert_eq!(lost, None);
    let s = stored(&b, "s").await.unwrap();
    assert_eq!(s.through_ms, t2);
    assert_eq!(s.last_job, Some(JobId::from(format!("s@{t2}"))));
    assert!(b.jobs(&[JobId::from(format!("s@{t3}"))]).await.unwrap()[0].is_none());
    // Firing no job moves the instant and keeps the last job.
    let out = b.fire(FireTicks::new("s", t2, t3, vec![])).await.unwrap();
    assert_eq!(out, Some(vec![]));
    let s = stored(&b, "s").await.unwrap();
    assert_eq!(
        (s.through_ms, s.last_job.clone()),
        (t3, Some(JobId::from(format!("s@{t2}"))))
    );
    // A tick's id already taken is not enqueued twice.
    let again = b
        .fire(FireTicks::new("s", t3, t3 + 1, vec![tick("s", t2)]))
        .await
        .unwrap();
    assert_eq!(
        again,
        Some(vec![Enqueued::Existing(JobId::from(format!("s@{t2}")))])
    );
    // The jobs are claimable in order, as enqueued.
    let got = claim(&b, &["ticks"], 10).await;
    let ids: Vec<String> = got.iter().map(|c| c.record.id.to_string()).collect();
    assert_eq!(ids, [format!("s@{t1}"), format!("s@{t2}")]);
    assert_eq!(got[0].record.payload, vec![4, 2]);
    // Unknown schedules can't fire.
    assert_eq!(
        b.fire(FireTicks::new("nope", 0, 1, vec![tick("nope", 1)]))
            .await
            .unwrap(),
        None
    );
    assert!(b.jobs(&[JobId::from("nope@1")]).await.unwrap()[0].is_none());
}

/// A paused schedule can't fire; resuming skips the pause.
pub async fn schedule_pause(b: impl Backend) {
    b.put_schedule("p", b"def".to_vec()).await.unwrap();
    let t0 = stored(&b, "p").await.unwrap().through_ms;
    assert!(b.pause_schedule("p", true).await.unwrap());
    assert!(stored(&b, "p").await.unwrap().paused);
    let refused = b
        .fire(FireTicks::new("p", t0, t0 + 10, vec![tick("p", t0 + 10)]))
        .await
        .unwrap();
    assert_eq!(refused, None);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let before_resume = b.now_ms().await.unwrap();
    assert!(b.pause_schedule("p", false).await.unwrap());
    let s = stored(&b, "p").await.unwrap();
    assert!(!s.paused);
    assert!(
        s.through_ms >= before_resume,
        "resuming moves the processed-through instant to now"
    );
    // Resuming a schedule that is not paused changes nothing.
    let t = s.through_ms;
    assert!(b.pause_schedule("p", false).await.unwrap());
    assert_eq!(stored(&b, "p").await.unwrap().through_ms, t);
    assert!(b
        .fire(FireTicks::new("p", t, t + 5, vec![]))
        .await
        .unwrap()
        .is_some());
}
