//! Conformance: durable steps and checkpoints ([`StepStore`](crate::backend::StepStore)).

use std::time::Duration;

use super::{claim, enqueue_one, finish, record};
use crate::backend::{Backend, Outcome, CHECKPOINT};
use crate::job::JobId;

async fn sorted_steps(b: &dyn Backend, id: &JobId) -> Vec<(String, Vec<u8>)> {
    let mut steps = b.steps(id).await.expect("steps");
    steps.sort();
    steps
}

fn pair(name: &str, output: &[u8]) -> (String, Vec<u8>) {
    (name.to_owned(), output.to_vec())
}

/// Steps are stored under the job and their name, replaced by a later
/// write of the same name, and read back all at once.
pub async fn step_storage(b: impl Backend) {
    let r = record("t", "q");
    let id = r.id.clone();
    enqueue_one(&b, r).await;
    assert!(b.steps(&id).await.unwrap().is_empty());
    let c = claim(&b, &["q"], 1).await.remove(0);
    assert!(b.put_step(&c.lease, "charge", b"\"ch_1\"").await.unwrap());
    assert!(b.put_step(&c.lease, "ship", &[0, 1, 2, 255]).await.unwrap());
    assert!(b.put_step(&c.lease, CHECKPOINT, b"1").await.unwrap());
    assert!(b.put_step(&c.lease, CHECKPOINT, b"2").await.unwrap());
    assert_eq!(
        sorted_steps(&b, &id).await,
        vec![
            pair(CHECKPOINT, b"2"),
            pair("charge", b"\"ch_1\""),
            pair("ship", &[0, 1, 2, 255]),
        ]
    );
    // Another job's steps are its own.
    let other = record("t", "q");
    let oid = other.id.clone();
    enqueue_one(&b, other).await;
    assert!(b.steps(&oid).await.unwrap().is_empty());
    assert!(b.steps(&JobId::from("nope")).await.unwrap().is_empty());
}

/// Only the job's current attempt writes: a lease from an earlier delivery,
/// a job that is not running, a finished job and an unknown one refuse.
pub async fn step_fencing(b: impl Backend) {
    let r = record("t", "q");
    let id = r.id.clone();
    enqueue_one(&b, r).await;
    let first = claim(&b, &["q"], 1).await.remove(0);
    assert!(b.put_step(&first.lease, "a", b"1").await.unwrap());
    // Handed back: the job is queued, and the old lease writes nothing.
    assert!(finish(&b, &first, Outcome::Released).await);
    assert!(!b.put_step(&first.lease, "b", b"1").await.unwrap());
    let second = claim(&b, &["q"], 1).await.remove(0);
    assert!(second.lease.fence > first.lease.fence);
    assert!(!b.put_step(&first.lease, "b", b"stale").await.unwrap());
    let mut forged = second.lease.clone();
    forged.fence += 1;
    assert!(!b.put_step(&forged, "b", b"forged").await.unwrap());
    assert!(b.put_step(&second.lease, "b", b"2").await.unwrap());
    assert!(
        finish(
            &b,
            &second,
            Outcome::Succeeded {
                result: b"ok".to_vec()
            }
        )
        .await
    );
    assert!(!b.put_step(&second.lease, "c", b"late").await.unwrap());
    assert_eq!(
        sorted_steps(&b, &id).await,
        vec![pair("a", b"1"), pair("b", b"2")]
    );
    let mut unknown = second.lease.clone();
    unknown.id = JobId::from("nope");
    assert!(!b.put_step(&unknown, "a", b"1").await.unwrap());
    assert!(b.steps(&unknown.id).await.unwrap().is_empty());
}

/// Steps outlive attempts: a retry and a hand retry of a dead job find
/// them. A finished job keeps them for its result TTL, and they are gone
/// with its record.
pub async fn step_lifetime(b: impl Backend) {
    let mut r = record("t", "q");
    r.result_ttl_ms = 300;
    let id = r.id.clone();
    enqueue_one(&b, r).await;
    let c = claim(&b, &["q"], 1).await.remove(0);
    assert!(b.put_step(&c.lease, "a", b"1").await.unwrap());
    let retry = Outcome::Retry {
        delay: Duration::ZERO,
        error: "boom".into(),
    };
    assert!(finish(&b, &c, retry).await);
    assert_eq!(sorted_steps(&b, &id).await, vec![pair("a", b"1")]);
    let c = claim(&b, &["q"], 1).await.remove(0);
    assert_eq!(c.attempt, 2);
    assert!(b.put_step(&c.lease, "b", b"2").await.unwrap());
    let dead = Outcome::Dead {
        error: "for good".into(),
    };
    assert!(finish(&b, &c, dead).await);
    assert_eq!(sorted_steps(&b, &id).await.len(), 2);
    assert!(b.retry(&id).await.unwrap());
    let c = claim(&b, &["q"], 1).await.remove(0);
    assert_eq!(sorted_steps(&b, &id).await.len(), 2);
    let done = Outcome::Succeeded {
        result: b"ok".to_vec(),
    };
    assert!(finish(&b, &c, done).await);
    assert_eq!(
        sorted_steps(&b, &id).await,
        vec![pair("a", b"1"), pair("b", b"2")],
        "kept after success, for the result TTL"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let gone = b.jobs(std::slice::from_ref(&id)).await.unwrap()[0].is_none();
        if gone {
            assert!(
                b.steps(&id).await.unwrap().is_empty(),
                "steps go with the job's record"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the record outlived its result TTL"
        );
    }
}
