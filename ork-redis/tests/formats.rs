//! Stored records of other ork versions in Redis: older formats still run,
//! newer ones are dead-lettered, never misread. Each test runs its own
//! redis-server.

use std::time::Duration;

use ork_core::backend::{ClaimRequest, Claimed, Finish, Outcome};
use ork_core::backend::{JobStore, Queries};
use ork_core::job::{JobId, JobRecord, JobState};
use ork_core::Backend;
use ork_core::JobQuery;
use ork_redis::redis::AsyncCommands;
use ork_redis::testing::{backend, ServedBackend};

const LEASE: Duration = Duration::from_secs(30);

/// Stores a job hash as an ork that wrote `blob` would have, queued.
async fn plant(b: &ServedBackend, id: &str, blob: &[u8]) {
    let mut conn = b.server().connection().await;
    let ns = b.namespace();
    let _: () = conn
        .hset_multiple(
            format!("{{{ns}}}:job:{id}"),
            &[
                ("d", blob),
                ("s", b"q".as_slice()),
                ("q", b"q".as_slice()),
                ("t", b"1".as_slice()),
            ],
        )
        .await
        .unwrap();
    let _: () = conn.rpush(format!("{{{ns}}}:q:q:0"), id).await.unwrap();
}

async fn stored_blob(b: &ServedBackend, id: &str) -> Vec<u8> {
    let mut conn = b.server().connection().await;
    conn.hget(format!("{{{}}}:job:{id}", b.namespace()), "d")
        .await
        .unwrap()
}

fn request(max: usize) -> ClaimRequest {
    ClaimRequest::new("w", vec!["q".into()], max, LEASE)
}

fn sample(id: &str) -> JobRecord {
    let mut r = JobRecord::new("app::send", vec![9, 8, 7, 6]);
    r.id = JobId::from(id);
    r.queue = "q".into();
    r.retries = 3;
    r.timeout_ms = 5_000;
    r.unique = None;
    r
}

#[tokio::test]
async fn a_record_of_a_newer_format_is_dead_lettered() {
    let b = backend().await;
    // Format 3: whatever its fields mean, this ork must not guess.
    plant(&b, "from-the-future", &[3, 1, 3, b'a', b'p', b'p', 200, 0]).await;
    let good = sample("good");
    b.enqueue(vec![good.clone()]).await.unwrap();

    let got = b.claim(&request(10)).await.unwrap();
    assert_eq!(got.len(), 1, "only the readable job reaches the worker");
    assert_eq!(got[0].record, good);
    let dead = b.list(&JobQuery::state(JobState::Dead)).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].record.id.as_str(), "from-the-future");
    let error = dead[0].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("written by a newer ork (format 3)"),
        "{error}"
    );
    // The record is kept as it was, for a newer worker after a retry.
    assert_eq!(
        stored_blob(&b, "from-the-future").await,
        [3, 1, 3, b'a', b'p', b'p', 200, 0]
    );
}

#[tokio::test]
async fn a_format_1_record_runs_and_its_success_drops_the_payload() {
    let b = backend().await;
    let r = sample("old");
    // As format 1 wrote it: a 1, then the record in positional bincode
    // with an empty id.
    let mut no_id = r.clone();
    no_id.id = JobId::from("");
    let mut blob = vec![1];
    blob.extend(bincode::serde::encode_to_vec(&no_id, bincode::config::standard()).unwrap());
    plant(&b, "old", &blob).await;

    let got = b.claim(&request(1)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].record, r);
    let info = succeed(&b, &got[0]).await;
    assert_eq!(info.state, JobState::Succeeded);
    let mut expected = r.clone();
    expected.payload.clear();
    assert_eq!(info.record, expected);
    assert_eq!(stored_blob(&b, "old").await.len(), blob.len() - 4);
}

#[tokio::test]
async fn a_success_drops_the_payload_field_of_a_format_2_record() {
    let b = backend().await;
    let r = sample("new");
    b.enqueue(vec![r.clone()]).await.unwrap();
    let before = stored_blob(&b, "new").await;
    assert_eq!(before[0], ork_core::stored::FORMAT);

    let got = b.claim(&request(1)).await.unwrap();
    assert_eq!(got[0].record, r);
    let info = succeed(&b, &got[0]).await;
    let mut expected = r.clone();
    expected.payload.clear();
    assert_eq!(info.record, expected);
    // The payload field (tag, length, four bytes) is gone, nothing else.
    assert_eq!(stored_blob(&b, "new").await.len(), before.len() - 6);
}

/// Records the success of a claimed job; its record as stored after.
async fn succeed(b: &impl Backend, claimed: &Claimed) -> ork_core::JobInfo {
    let ok = Finish {
        lease: claimed.lease.clone(),
        outcome: Outcome::Succeeded { result: vec![1] },
    };
    assert_eq!(b.finish(&[ok]).await.unwrap(), [true]);
    b.jobs(std::slice::from_ref(&claimed.lease.id))
        .await
        .unwrap()
        .remove(0)
        .unwrap()
}
