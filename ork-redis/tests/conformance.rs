//! The backend conformance suite of ork-core, against a real redis-server
//! (one per test, started by `ork_redis::testing`).

ork_core::backend_conformance!(ork_redis::testing::backend());

/// Redis pushes cancel requests on the namespace's channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_pushed() {
    ork_core::conformance::cancel_pushed(ork_redis::testing::backend().await).await;
}

/// The suite again on a namespace of four shards. Ordering holds within
/// a shard only, so `order_and_priority` (random ids, so several shards)
/// is replaced by [`four_shards::order_within_a_shard`].
mod four_shards {
    use std::time::Duration;

    use ork_core::backend::{ClaimRequest, JobStore};
    use ork_core::job::{JobId, JobRecord};

    ork_core::backend_conformance!(@tests ork_redis::testing::sharded_backend(4);
        round_trip, idempotent_by_id, unique_keys, delayed_jobs,
        blocking_claim_wakes, retry_outcome, fencing, late_ack_after_reap, heartbeat_extends, release, cancel,
        dead_letters, purge_and_counts, workers, deps_release_once, deps_failure, progress,
        retry_with_deps, workflow_storage, join_fires_once_after_input_rerun, retry_runs_at_once, schedule_storage, schedule_fire, schedule_pause,
        audit_trail, cancel_reaches_children, idempotency_keys, step_storage, step_fencing,
        step_lifetime, park_and_wake, signal_log, pause_resume_wakes);
    // The other flow checks compare the order of one claim's jobs, and
    // order across shards is not global: they run on one shard only.

    /// Cancel requests are pushed from every shard's channel.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancel_pushed() {
        ork_core::conformance::cancel_pushed(ork_redis::testing::sharded_backend(4).await).await;
    }

    /// Jobs of one root share a shard, where priorities and FIFO hold as on
    /// an unsharded namespace.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn order_within_a_shard() {
        let b = ork_redis::testing::sharded_backend(4).await;
        let root = JobId::new();
        let mut recs = Vec::new();
        for (n, prio) in [0u8, 5, 0, 5, 9].into_iter().enumerate() {
            let mut r = JobRecord::new("t", vec![1]);
            r.id = root.child(n);
            r.queue = "q".to_owned();
            r.priority = prio;
            recs.push(r);
        }
        b.enqueue(recs).await.unwrap();
        let req = ClaimRequest::new("w", vec!["q".to_owned()], 1, Duration::from_secs(30));
        let mut order = Vec::new();
        for _ in 0..5 {
            let got = b.claim(&req).await.unwrap();
            assert_eq!(got.len(), 1);
            order.push(got[0].record.id.clone());
        }
        let want: Vec<JobId> = [4, 1, 3, 0, 2].iter().map(|&n| root.child(n)).collect();
        assert_eq!(order, want);
    }
}

/// Flow control on a sharded namespace: a task's running cap and a key's
/// limit hold exactly, whichever shards the other jobs land in.
mod four_shards_flow {
    use std::time::Duration;

    use ork_core::backend::{ClaimRequest, JobStore};
    use ork_core::job::JobRecord;

    fn job(task: &str) -> JobRecord {
        let mut r = JobRecord::new(task, vec![1]);
        r.queue = "q".to_owned();
        r
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn caps_hold_across_shards() {
        let b = ork_redis::testing::sharded_backend(4).await;
        let mut recs = Vec::new();
        for _ in 0..8 {
            let mut r = job("capped");
            r.max_running = Some(2);
            recs.push(r);
            let mut r = job("keyed");
            r.concurrency_key = Some("customer-7".to_owned());
            recs.push(r);
            recs.push(job("free"));
        }
        b.enqueue(recs).await.unwrap();
        let req = ClaimRequest::new("w", vec!["q".to_owned()], 50, Duration::from_secs(30));
        let mut got = Vec::new();
        for _ in 0..4 {
            got.extend(b.claim(&req).await.unwrap());
        }
        let count = |task: &str| got.iter().filter(|c| c.record.task == task).count();
        assert_eq!(count("free"), 8, "every free job");
        assert_eq!(count("capped"), 2, "max_running = 2 across four shards");
        assert_eq!(count("keyed"), 1, "one running per key across four shards");
    }
}
