//! The Redis backend at the edges of its connection: a primary that dies,
//! or is switched over while up, and is replaced through Redis Sentinel
//! (with replicated acknowledgements); a write short of its replicas; a
//! service that starts before its Redis; a server that stops answering;
//! and two worker pools started under one id. Real processes throughout.

mod fault_kit;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fault_kit::process::signal;
use ork::prelude::*;
use ork::{JobId, JobState};
use ork_redis::testing::{RedisServer, SentinelGroup};
use ork_redis::RedisBackend;

/// The numbers whose job ran, at least once.
#[derive(Default)]
struct Ran(Mutex<HashSet<u64>>);

#[ork::task]
async fn note(ctx: Context, i: u64) -> ork::Result<u64> {
    ctx.state::<Arc<Ran>>().0.lock().unwrap().insert(i);
    Ok(i)
}

/// How many jobs of `queue` are in each state: (succeeded, dead, not
/// finished).
async fn tally(ork: &Ork, queue: &str) -> ork::Result<(u64, u64, u64)> {
    let counts = ork.counts().await?;
    Ok(counts
        .iter()
        .find(|c| c.queue == queue)
        .map_or((0, 0, 0), |c| {
            (
                c.succeeded,
                c.dead,
                c.queued + c.scheduled + c.waiting + c.running,
            )
        }))
}

/// A primary, two replicas and three sentinels; a producer enqueues a
/// steady stream of jobs with `.replicas(1)`, each sent again under its id
/// until acknowledged, while a pool runs them; the primary is SIGKILLed
/// mid-stream. Every acknowledged job is on the promoted replica and ends
/// succeeded, exactly as many as were enqueued, and the producer and the
/// pool go on against the new primary by themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_enqueues_survive_a_sentinel_failover() {
    const JOBS: u64 = 300;
    const KILL_AT: u64 = 100;
    let queue = "failover";
    let mut group = tokio::task::spawn_blocking(|| SentinelGroup::start("ork-failover", 2))
        .await
        .unwrap();
    let backend = RedisBackend::builder(group.url())
        .namespace("fo")
        .replicas(1)
        .build()
        .await
        .unwrap();
    let ork = Ork::with_backend(backend);
    let ran = Arc::new(Ran::default());
    let pool = ork
        .worker()
        .queues([queue])
        .concurrency(8)
        .lease(Duration::from_secs(2))
        .state(ran.clone())
        .start()
        .unwrap();

    let acked = Arc::new(AtomicU64::new(0));
    let producer = {
        let (ork, acked) = (ork.clone(), acked.clone());
        tokio::spawn(async move {
            let (mut refused, mut acked_at) = (0u32, Vec::new());
            for i in 0..JOBS {
                let id = JobId::from(format!("job-{i}"));
                loop {
                    match ork.enqueue(note::call(i).queue(queue).id(id.clone())).await {
                        Ok(h) => {
                            assert_eq!(h.id(), &id);
                            break;
                        }
                        Err(e) => {
                            assert!(e.is_transient(), "{e}");
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                acked_at.push(Instant::now());
                acked.store(i + 1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (refused, acked_at)
        })
    };

    while acked.load(Ordering::SeqCst) < KILL_AT {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let old = tokio::task::block_in_place(|| group.kill_primary());
    let killed = Instant::now();
    let acked_before = acked.load(Ordering::SeqCst);
    let new = tokio::task::block_in_place(|| group.await_failover(old));
    let promoted = killed.elapsed();

    let (refused, acked_at) = producer.await.unwrap();
    let first_after = acked_at[acked_before as usize] - killed;
    // Every job acknowledged, before the kill or after, is there and ends
    // succeeded.
    every_job_present_then_succeeded(&ork, JOBS).await;
    assert_eq!(tally(&ork, queue).await.unwrap(), (JOBS, 0, 0));
    let ran = ran.0.lock().unwrap().clone();
    assert_eq!(ran, (0..JOBS).collect::<HashSet<u64>>());
    // The backend followed the sentinels off the dead primary (on a loaded
    // machine they may have promoted a second time since; every job above
    // is on whichever primary they name).
    let now = group.primary_port().expect("the sentinels name a primary");
    assert_ne!(now, old, "the dead primary is not named again");
    pool.shutdown().await;
    eprintln!(
        "primary {old} killed after {acked_before} acknowledged enqueues; replica {new} \
         promoted after {promoted:?}; first acknowledgement after the kill at {first_after:?}; \
         {refused} enqueues refused meanwhile"
    );
}

/// A failover asked for while the primary runs (`SENTINEL FAILOVER`):
/// the old primary stays up, a primary in its own eyes, until the
/// sentinels demote it seconds later. The backend leaves it for the one
/// the sentinels name, by itself. The producer pauses from the request
/// until the other replica follows the new primary: a write the old one
/// took in between could be confirmed by that replica and dropped when it
/// moves (the limit the crate docs state). From then on the old primary
/// has no replica, so with `.replicas(1)` nothing it takes is
/// acknowledged: every acknowledged enqueue is on the new primary and ends
/// succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_replaced_while_up_is_left_for_the_new_one() {
    const JOBS: u64 = 200;
    const SWITCH_AT: u64 = 60;
    let queue = "switch";
    let group = tokio::task::spawn_blocking(|| SentinelGroup::start("ork-switch", 2))
        .await
        .unwrap();
    let backend = RedisBackend::builder(group.url())
        .namespace("sw")
        .replicas(1)
        .build()
        .await
        .unwrap();
    let ork = Ork::with_backend(backend);
    let ran = Arc::new(Ran::default());
    let pool = ork
        .worker()
        .queues([queue])
        .concurrency(8)
        .lease(Duration::from_secs(2))
        .state(ran.clone())
        .start()
        .unwrap();
    let acked = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(tokio::sync::RwLock::new(()));
    let producer = {
        let (ork, acked, gate) = (ork.clone(), acked.clone(), gate.clone());
        tokio::spawn(async move {
            let mut acked_at = Vec::new();
            for i in 0..JOBS {
                let id = JobId::from(format!("job-{i}"));
                loop {
                    let _open = gate.read().await;
                    match ork.enqueue(note::call(i).queue(queue).id(id.clone())).await {
                        Ok(_) => break,
                        Err(e) => assert!(e.is_transient(), "{e}"),
                    }
                    drop(_open);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                acked_at.push(Instant::now());
                acked.store(i + 1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            acked_at
        })
    };
    while acked.load(Ordering::SeqCst) < SWITCH_AT {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let paused = gate.write().await;
    let old = tokio::task::block_in_place(|| group.switch_over());
    let switched = Instant::now();
    let acked_before = acked.load(Ordering::SeqCst);
    let new = tokio::task::block_in_place(|| {
        let new = group.await_failover(old);
        group.await_followers(new, old);
        new
    });
    let promoted = switched.elapsed();
    drop(paused);
    let acked_at = producer.await.unwrap();
    let first_after = acked_at[acked_before as usize] - switched;

    every_job_present_then_succeeded(&ork, JOBS).await;
    assert_eq!(tally(&ork, queue).await.unwrap(), (JOBS, 0, 0));
    assert_eq!(
        ran.0.lock().unwrap().clone(),
        (0..JOBS).collect::<HashSet<u64>>()
    );
    assert_eq!(group.primary_port(), Some(new));
    pool.shutdown().await;
    eprintln!(
        "switch from {old} (now {:?}) to {new} after {acked_before} acknowledged enqueues: \
         replicas moved after {promoted:?}, first acknowledgement after the switch at {first_after:?}",
        group.role(old)
    );
}

/// A backend built with `wait_for_server` before its server starts
/// connects once the server is up, and works; a server that stays away
/// ends the wait with the connection error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_waits_for_a_server_that_starts_later() {
    let mut server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    let url = server.url();
    tokio::task::block_in_place(|| server.kill());

    let waiting = {
        let url = url.clone();
        tokio::spawn(async move {
            RedisBackend::builder(url)
                .namespace("late")
                .wait_for_server(Duration::from_secs(20))
                .build()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "still waiting for the server");
    tokio::task::block_in_place(|| server.restart());
    let backend = waiting
        .await
        .unwrap()
        .expect("connected once the server is up");

    let ork = Ork::with_backend(backend);
    let ran = Arc::new(Ran::default());
    let pool = ork
        .worker()
        .queues(["late"])
        .state(ran.clone())
        .start()
        .unwrap();
    let job = ork.enqueue(note::call(7).queue("late")).await.unwrap();
    assert_eq!(job.result().await.unwrap(), 7);
    pool.shutdown().await;

    // A server that stays away: the wait ends with the connection error.
    let gone = tokio::task::block_in_place(|| {
        server.kill();
        server.url()
    });
    let err = RedisBackend::builder(gone)
        .wait_for_server(Duration::from_millis(200))
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("could not connect"), "{err}");
}

/// With `.replicas(1)` and no replica, an enqueue is refused with an error
/// that says the write may or may not survive; the job is on the primary
/// all the same, and sending it again under its id is safe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_short_of_its_replicas_is_an_error() {
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    let backend = RedisBackend::builder(server.url())
        .namespace("lonely")
        .replicas(1)
        .replica_timeout(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    let ork = Ork::with_backend(backend);
    let id = JobId::from("lonely-1");
    let call = || note::call(1).queue("lonely").id(id.clone());
    let err = ork.enqueue(call()).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("0 of 1 replicas") && text.contains("may or may not survive"),
        "{text}"
    );
    let again = ork.enqueue(call()).await.unwrap_err();
    assert!(again.to_string().contains("0 of 1 replicas"), "{again}");
    let (_, _, open) = tally(&ork, "lonely").await.unwrap();
    assert_eq!(open, 1, "one job, on the primary");
}

/// A command that gets no reply within the response timeout fails with a
/// transient error (here: the server is stopped with SIGSTOP for as long
/// as the call takes), and the backend works again once the server does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_without_reply_fails_after_the_response_timeout() {
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    let backend = RedisBackend::builder(server.url())
        .namespace("slow")
        .response_timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let ork = Ork::with_backend(backend);
    assert!(ork.counts().await.is_ok());
    let pid = server.pid().unwrap();
    signal(pid, "STOP");
    let stalled = ork.counts().await;
    signal(pid, "CONT");
    let err = stalled.unwrap_err();
    assert!(err.is_transient(), "{err}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while ork.counts().await.is_err() {
        assert!(Instant::now() < deadline, "the backend did not recover");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(RedisBackend::builder(server.url())
        .response_timeout(Duration::ZERO)
        .build()
        .await
        .is_err());
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A second pool started under the id of a live one gets a warning naming
/// the id; a pool with an id of its own does not.
#[tokio::test]
async fn a_second_pool_with_a_live_pools_id_is_warned() {
    let captured = Captured::default();
    use tracing_subscriber::util::SubscriberInitExt;
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .with_writer({
            let c = captured.clone();
            move || c.clone()
        })
        .finish();
    let _guard = subscriber.set_default();

    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    let backend = RedisBackend::builder(server.url())
        .namespace("ids")
        .build()
        .await
        .unwrap();
    let ork = Ork::with_backend(backend);
    let first = ork.worker().id("billing-1").start().unwrap();
    while !ork
        .workers()
        .await
        .unwrap()
        .iter()
        .any(|w| w.id == "billing-1")
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let other = ork.worker().id("billing-2").start().unwrap();
    let second = ork.worker().id("billing-1").start().unwrap();
    let warning = "another live worker pool has the id \"billing-1\"";
    while !captured.text().contains(warning) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    second.shutdown().await;
    other.shutdown().await;
    first.shutdown().await;
    let text = captured.text();
    assert_eq!(
        text.matches("another live worker pool").count(),
        1,
        "{text}"
    );
    assert!(!text.contains("billing-2"), "{text}");
}

/// Every job the producer had acknowledged (`job-0` ..) is there, and all
/// end succeeded within a minute.
async fn every_job_present_then_succeeded(ork: &Ork, jobs: u64) {
    let ids: Vec<JobId> = (0..jobs).map(|i| JobId::from(format!("job-{i}"))).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let infos = ork.backend().jobs(&ids).await.unwrap();
        let lost: Vec<&JobId> = ids
            .iter()
            .zip(&infos)
            .filter(|(_, i)| i.is_none())
            .map(|(id, _)| id)
            .collect();
        assert!(lost.is_empty(), "acknowledged enqueues lost: {lost:?}");
        let open = infos
            .iter()
            .flatten()
            .filter(|i| i.state != JobState::Succeeded)
            .count();
        if open == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{open} jobs not done");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
