//! Conformance: parked jobs and signals ([`Outcome::Park`],
//! [`SignalStore`](crate::backend::SignalStore)).

use std::time::Duration;

use super::{claim, enqueue_one, finish, record, state};
use crate::backend::{Backend, Outcome};
use crate::job::{JobId, JobInfo, JobState};

async fn info(b: &dyn Backend, id: &JobId) -> JobInfo {
    b.jobs(std::slice::from_ref(id)).await.expect("jobs")[0]
        .clone()
        .expect("job exists")
}

fn park(until_ms: u64, reason: &str) -> Outcome {
    Outcome::Park {
        until_ms,
        reason: reason.to_owned(),
    }
}

/// A park schedules the job for its due time without using an attempt,
/// says why while it lasts, and is fenced; a wake makes a parked job
/// ready at once, and a job woken while it runs is not parked by its next
/// park.
pub async fn park_and_wake(b: impl Backend) {
    let r = record("t", "q");
    let id = r.id.clone();
    enqueue_one(&b, r).await;
    let c = claim(&b, &["q"], 1).await.remove(0);
    let later = b.now_ms().await.unwrap() + 60_000;
    assert!(finish(&b, &c, park(later, "signal `k`")).await);
    assert!(
        !finish(&b, &c, Outcome::Released).await,
        "fenced after a park"
    );
    let parked = info(&b, &id).await;
    assert_eq!(parked.state, JobState::Scheduled);
    assert_eq!(parked.parked.as_deref(), Some("signal `k`"));
    assert_eq!(parked.attempts, 0, "a park does not use an attempt");
    assert_eq!(parked.due_at_ms, Some(later));
    assert!(claim(&b, &["q"], 1).await.is_empty(), "parked until due");
    // A wake makes it ready.
    assert!(b.wake(&id).await.unwrap());
    assert_eq!(state(&b, &id).await, JobState::Queued);
    assert_eq!(info(&b, &id).await.parked, None);
    let c = claim(&b, &["q"], 1).await.remove(0);
    assert_eq!(c.attempt, 1);
    // Woken while running: the next park is refused, the job is ready.
    assert!(b.wake(&id).await.unwrap());
    assert!(finish(&b, &c, park(later, "signal `k`")).await);
    assert_eq!(state(&b, &id).await, JobState::Queued);
    let c = claim(&b, &["q"], 1).await.remove(0);
    assert_eq!(c.attempt, 1);
    // The flag was used up: this park holds, until its (near) due time.
    let soon = b.now_ms().await.unwrap() + 300;
    assert!(finish(&b, &c, park(soon, "sleep #1")).await);
    assert_eq!(state(&b, &id).await, JobState::Scheduled);
    assert!(claim(&b, &["q"], 1).await.is_empty());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let c = claim(&b, &["q"], 1).await.remove(0);
    assert_eq!(c.attempt, 1);
    // A retry is not a park: the reason is gone.
    let retry = Outcome::Retry {
        delay: Duration::from_secs(60),
        error: "boom".into(),
    };
    assert!(finish(&b, &c, retry).await);
    let retried = info(&b, &id).await;
    assert_eq!(retried.state, JobState::Scheduled);
    assert_eq!(retried.parked, None);
    assert!(!b.wake(&id).await.unwrap(), "a retry is not woken");
    // Neither is a job that ended, nor an unknown one.
    assert!(!b.wake(&JobId::from("nope")).await.unwrap());
}

/// Signals are kept under their key in order, each with a seq above the
/// last; a listener gets the first after its cursor or is registered, and
/// a signal takes the key's listeners once.
pub async fn signal_log(b: impl Backend) {
    let job = JobId::from("j1");
    let other = JobId::from("j2");
    let until = b.now_ms().await.unwrap() + 60_000;
    let keep = Duration::from_secs(60);
    // Sent before anyone listens: kept.
    let (s1, woken) = b.put_signal("k", b"one", keep).await.unwrap();
    assert!(woken.is_empty());
    let got = b.listen("k", 0, &job, until).await.unwrap().expect("kept");
    assert_eq!((got.seq, got.value.as_slice()), (s1, &b"one"[..]));
    // Past the cursor: registered.
    assert!(b.listen("k", s1, &job, until).await.unwrap().is_none());
    assert!(b.listen("k", s1, &other, until).await.unwrap().is_none());
    let (s2, mut woken) = b.put_signal("k", b"two", keep).await.unwrap();
    assert!(s2 > s1);
    woken.sort();
    assert_eq!(woken, vec![job.clone(), other.clone()]);
    // The listeners were taken: the next signal wakes nobody.
    let (s3, woken) = b.put_signal("k", b"three", keep).await.unwrap();
    assert!(s3 > s2);
    assert!(woken.is_empty());
    let got = b.listen("k", s1, &job, until).await.unwrap().expect("kept");
    assert_eq!((got.seq, got.value.as_slice()), (s2, &b"two"[..]));
    let got = b.listen("k", s2, &job, until).await.unwrap().expect("kept");
    assert_eq!(got.value, b"three");
    // Another key is another log; an unlisten forgets the listener.
    assert!(b.listen("k2", 0, &job, until).await.unwrap().is_none());
    b.unlisten("k2", &job).await.unwrap();
    let (_, woken) = b.put_signal("k2", b"x", keep).await.unwrap();
    assert!(woken.is_empty());
    // Past its retention a signal is gone, and seqs still grow.
    let (s4, _) = b
        .put_signal("short", b"brief", Duration::from_millis(200))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(b.listen("short", 0, &job, until).await.unwrap().is_none());
    let (s5, woken) = b.put_signal("short", b"again", keep).await.unwrap();
    assert!(s5 > s4);
    assert_eq!(woken, vec![job]);
}
