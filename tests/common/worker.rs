//! Worker behaviour end to end, written once and run on every engine:
//! typed results, retries and backoff, timeouts, panics, dead letters,
//! unique keys, delays, priorities, injected state, cancel, bad input,
//! blocking tasks, concurrency caps, shutdown and task selection.
//!
//! Each case takes an `Ork` on a fresh engine (or namespace) and the kind
//! of clock it runs on. Durations are short, so a real clock stays fast.
//! On tokio's paused clock (the memory engine) time moves only when every
//! task waits, so a case also checks durations exactly; on a real clock it
//! checks only what a clock can promise: a wait is never shorter than asked.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ork::backend::JobRecord;
use ork::prelude::*;
use ork::{CancelOutcome, Error, JobState};
use tokio::time::Instant;

/// The clock a case runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// tokio's paused clock: durations are exact.
    Paused,
    /// The machine's clock: durations are at least what was asked.
    Real,
}

impl Clock {
    /// Checks measured waits against the expected ones: equal on a paused
    /// clock, never shorter on a real one.
    fn check(self, measured: &[Duration], expected: &[Duration]) {
        match self {
            Clock::Paused => assert_eq!(measured, expected),
            Clock::Real => {
                assert_eq!(measured.len(), expected.len(), "{measured:?}");
                for (m, e) in measured.iter().zip(expected) {
                    assert!(m >= e, "waited {m:?}, asked {e:?}: {measured:?}");
                }
            }
        }
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// When each attempt started (shared with the test through the worker state).
#[derive(Default)]
pub struct Attempts(Mutex<Vec<Instant>>);

impl Attempts {
    fn log(&self) {
        self.0.lock().unwrap().push(Instant::now());
    }
    fn gaps(&self) -> Vec<Duration> {
        let v = self.0.lock().unwrap();
        v.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

#[ork::task]
pub async fn add(x: i64, y: i64) -> ork::Result<i64> {
    Ok(x + y)
}

#[ork::task(retries = 3, backoff = "fixed:200ms")]
pub async fn flaky(ctx: Context, fail_times: u32) -> anyhow::Result<u32> {
    ctx.state::<Arc<Attempts>>().log();
    if ctx.attempt() <= fail_times {
        anyhow::bail!("attempt {} failed", ctx.attempt());
    }
    Ok(ctx.attempt())
}

#[ork::task(retries = 4, backoff = "exponential:100ms..400ms", jitter = false)]
pub async fn always_fails(ctx: Context) -> Result<(), String> {
    ctx.state::<Arc<Attempts>>().log();
    Err("no luck".to_string())
}

#[ork::task(timeout = "1s")]
pub async fn sleepy(ms: u64) -> ork::Result<()> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(())
}

#[ork::task]
pub async fn boom() -> ork::Result<()> {
    panic!("kaboom")
}

pub struct Switch(AtomicBool);

#[ork::task]
pub async fn guarded(ctx: Context) -> ork::Result<String> {
    if ctx.state::<Arc<Switch>>().0.load(Ordering::SeqCst) {
        Ok("fine".to_string())
    } else {
        Err(ork::Error::Invalid("switch is off".into()))
    }
}

#[derive(Default)]
pub struct Log(Mutex<Vec<String>>);

#[ork::task]
pub async fn record(ctx: Context, label: String) -> ork::Result<()> {
    ctx.state::<Arc<Log>>().0.lock().unwrap().push(label);
    Ok(())
}

#[ork::task]
pub async fn greet(ctx: Context, name: String) -> ork::Result<String> {
    let greeting = ctx.state::<String>();
    Ok(format!("{greeting}, {name}"))
}

#[ork::task]
pub fn spin(ms: u64) -> ork::Result<()> {
    std::thread::sleep(Duration::from_millis(ms));
    Ok(())
}

#[ork::task]
pub async fn ping() -> ork::Result<u8> {
    Ok(1)
}

#[derive(Default)]
pub struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

#[ork::task(concurrency = 2)]
pub async fn capped(ctx: Context) -> ork::Result<()> {
    let g = ctx.state::<Arc<Gauge>>();
    let n = g.now.fetch_add(1, Ordering::SeqCst) + 1;
    g.max.fetch_max(n, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    g.now.fetch_sub(1, Ordering::SeqCst);
    Ok(())
}

#[ork::task]
pub async fn forever(ctx: Context) -> ork::Result<()> {
    ctx.state::<Arc<Log>>()
        .0
        .lock()
        .unwrap()
        .push("started".into());
    tokio::time::sleep(Duration::from_secs(3600)).await;
    Ok(())
}

pub async fn typed_results(ork: Ork, _: Clock) {
    let worker = ork.worker().start().unwrap();
    let job = ork.enqueue(add::call(1, 2)).await.unwrap();
    assert_eq!(job.result().await.unwrap(), 3);
    assert_eq!(job.status().await.unwrap(), JobState::Succeeded);
    let many = ork
        .enqueue_many((0..10).map(|i| add::call(i, i)))
        .await
        .unwrap();
    for (i, h) in many.iter().enumerate() {
        assert_eq!(h.result().await.unwrap(), 2 * i as i64);
    }
    let again = ork.handle::<i64>(job.id().clone());
    assert_eq!(
        again.result().await.unwrap(),
        3,
        "a handle rebuilt from the id"
    );
    worker.shutdown().await;
}

pub async fn retries_are_counted_with_fixed_backoff(ork: Ork, clock: Clock) {
    let attempts = Arc::new(Attempts::default());
    let worker = ork.worker().state(attempts.clone()).start().unwrap();
    let job = ork.enqueue(flaky::call(2)).await.unwrap();
    assert_eq!(
        job.result().await.unwrap(),
        3,
        "succeeds on the third attempt"
    );
    assert_eq!(job.info().await.unwrap().attempts, 3);
    clock.check(&attempts.gaps(), &[ms(200); 2]);
    worker.shutdown().await;
}

pub async fn exponential_backoff_then_dead_letter(ork: Ork, clock: Clock) {
    let attempts = Arc::new(Attempts::default());
    let worker = ork.worker().state(attempts.clone()).start().unwrap();
    let job = ork.enqueue(always_fails::call()).await.unwrap();
    let err = job.result().await.unwrap_err();
    assert!(
        matches!(&err, Error::JobFailed { message, .. } if message == "no luck"),
        "{err}"
    );
    let info = job.info().await.unwrap();
    assert_eq!(info.state, JobState::Dead);
    assert_eq!(info.attempts, 5, "one attempt plus four retries");
    // Doubling, capped at 400 ms.
    clock.check(&attempts.gaps(), &[ms(100), ms(200), ms(400), ms(400)]);
    let dead = ork.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(&dead[0].record.id, job.id());
    worker.shutdown().await;
}

pub async fn timeout_is_enforced(ork: Ork, _: Clock) {
    let worker = ork.worker().start().unwrap();
    let job = ork.enqueue(sleepy::call(60_000)).await.unwrap();
    let err = job.result().await.unwrap_err();
    assert!(err.to_string().contains("timed out after 1s"), "{err}");
    assert_eq!(
        job.status().await.unwrap(),
        JobState::Dead,
        "the task was stopped"
    );
    // A per-call timeout overrides the task's.
    let job = ork
        .enqueue(sleepy::call(1_500).timeout(Duration::from_secs(3)))
        .await
        .unwrap();
    job.result().await.unwrap();
    worker.shutdown().await;
}

pub async fn panic_is_recorded_and_worker_survives(ork: Ork, _: Clock) {
    let worker = ork.worker().start().unwrap();
    let job = ork.enqueue(boom::call()).await.unwrap();
    let err = job.result().await.unwrap_err();
    assert!(err.to_string().contains("panicked: kaboom"), "{err}");
    assert_eq!(job.status().await.unwrap(), JobState::Dead);
    let next = ork.enqueue(add::call(2, 2)).await.unwrap();
    assert_eq!(next.result().await.unwrap(), 4);
    worker.shutdown().await;
}

pub async fn dead_letters_can_be_retried(ork: Ork, _: Clock) {
    let switch = Arc::new(Switch(AtomicBool::new(false)));
    let worker = ork.worker().state(switch.clone()).start().unwrap();
    let job = ork.enqueue(guarded::call()).await.unwrap();
    let err = job.result().await.unwrap_err();
    assert!(err.to_string().contains("switch is off"), "{err}");
    let dead = ork.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].error.as_deref().unwrap().contains("switch is off"));
    switch.0.store(true, Ordering::SeqCst);
    assert!(ork.retry(job.id()).await.unwrap());
    assert_eq!(job.result().await.unwrap(), "fine");
    assert!(ork.dead_letters(10).await.unwrap().is_empty());
    worker.shutdown().await;
}

pub async fn unique_calls_share_one_job(ork: Ork, _: Clock) {
    let first = ork.enqueue(add::call(1, 1).unique("sum:1")).await.unwrap();
    let second = ork.enqueue(add::call(5, 5).unique("sum:1")).await.unwrap();
    assert_eq!(first.id(), second.id());
    let other = ork.enqueue(add::call(5, 5).unique("sum:2")).await.unwrap();
    assert_ne!(first.id(), other.id());
    let worker = ork.worker().start().unwrap();
    assert_eq!(second.result().await.unwrap(), 2);
    // Once finished, the key is free again.
    let third = ork.enqueue(add::call(3, 3).unique("sum:1")).await.unwrap();
    assert_ne!(third.id(), first.id());
    assert_eq!(third.result().await.unwrap(), 6);
    worker.shutdown().await;
}

pub async fn delayed_jobs_wait_their_turn(ork: Ork, clock: Clock) {
    let worker = ork.worker().start().unwrap();
    let delay = Duration::from_secs(1);
    let start = Instant::now();
    let job = ork.enqueue(add::call(1, 1).delay(delay)).await.unwrap();
    assert_eq!(job.status().await.unwrap(), JobState::Scheduled);
    if clock == Clock::Paused {
        // Only a paused clock can stop just short of the due time.
        tokio::time::sleep(delay - ms(1)).await;
        assert_eq!(job.status().await.unwrap(), JobState::Scheduled);
    }
    assert_eq!(job.result().await.unwrap(), 2);
    assert!(start.elapsed() >= delay, "ran after {:?}", start.elapsed());
    worker.shutdown().await;
}

pub async fn priority_and_queue_order(ork: Ork, _: Clock) {
    let log = Arc::new(Log::default());
    let mut handles = Vec::new();
    for (label, prio, queue) in [
        ("low-queue", 9, "later"),
        ("p0", 0, "default"),
        ("p9", 9, "default"),
        ("p5", 5, "default"),
        ("p9b", 9, "default"),
    ] {
        let call = record::call(label.to_string()).priority(prio).queue(queue);
        handles.push(ork.enqueue(call).await.unwrap());
    }
    let worker = ork
        .worker()
        .concurrency(1)
        .queues(["default", "later"])
        .state(log.clone())
        .start()
        .unwrap();
    for h in &handles {
        h.result().await.unwrap();
    }
    assert_eq!(
        *log.0.lock().unwrap(),
        vec!["p9", "p9b", "p5", "p0", "low-queue"]
    );
    worker.shutdown().await;
}

pub async fn state_is_injected_by_type(ork: Ork, _: Clock) {
    let worker = ork.worker().state("Hello".to_string()).start().unwrap();
    let job = ork.enqueue(greet::call("ork".into())).await.unwrap();
    assert_eq!(job.result().await.unwrap(), "Hello, ork");
    worker.shutdown().await;
    // Missing state fails the job with a message that says what to do.
    let worker = ork.worker().start().unwrap();
    let job = ork.enqueue(greet::call("ork".into())).await.unwrap();
    let err = job.result().await.unwrap_err().to_string();
    assert!(
        err.contains("no state of type `alloc::string::String`"),
        "{err}"
    );
    worker.shutdown().await;
}

pub async fn cancel_before_start(ork: Ork, _: Clock) {
    let job = ork.enqueue(add::call(1, 1)).await.unwrap();
    assert_eq!(job.cancel().await.unwrap(), CancelOutcome::Cancelled);
    let worker = ork.worker().start().unwrap();
    assert!(matches!(job.result().await, Err(Error::Cancelled(_))));
    assert_eq!(job.status().await.unwrap(), JobState::Cancelled);
    worker.shutdown().await;
}

pub async fn bad_payload_and_unknown_task_are_dead_lettered(ork: Ork, _: Clock) {
    let worker = ork.worker().start().unwrap();
    let garbage = JobRecord::new(<add as ork::Task>::OPTIONS.name, vec![0xff; 3]);
    let unknown = JobRecord::new("no::such::task", vec![]);
    let (garbage_id, unknown_id) = (garbage.id.clone(), unknown.id.clone());
    ork.backend().enqueue(vec![garbage, unknown]).await.unwrap();
    let g = ork.handle::<i64>(garbage_id).result().await.unwrap_err();
    assert!(g.to_string().contains("undecodable payload"), "{g}");
    let u = ork.handle::<()>(unknown_id).result().await.unwrap_err();
    assert!(
        u.to_string().contains("unknown task `no::such::task`"),
        "{u}"
    );
    assert_eq!(ork.dead_letters(10).await.unwrap().len(), 2);
    let ok = ork.enqueue(add::call(4, 4)).await.unwrap();
    assert_eq!(ok.result().await.unwrap(), 8, "the worker keeps going");
    worker.shutdown().await;
}

/// Needs a multi-threaded runtime on the real clock: the blocking tasks
/// hold real threads.
pub async fn blocking_tasks_do_not_stall_async_ones(ork: Ork, _: Clock) {
    let worker = ork.worker().concurrency(8).start().unwrap();
    // More CPU-bound jobs than runtime threads: on the async threads they
    // would hold both, and `ping` could not run until they end.
    let spins = ork
        .enqueue_many((0..4).map(|_| spin::call(1500)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let p = ork.enqueue(ping::call()).await.unwrap();
    assert_eq!(p.result().await.unwrap(), 1);
    for s in &spins {
        assert_eq!(
            s.status().await.unwrap(),
            JobState::Running,
            "ping finished while every spin was still running"
        );
    }
    for s in spins {
        s.result().await.unwrap();
    }
    worker.shutdown().await;
}

pub async fn task_concurrency_cap_holds(ork: Ork, _: Clock) {
    let gauge = Arc::new(Gauge::default());
    let worker = ork
        .worker()
        .concurrency(16)
        .state(gauge.clone())
        .start()
        .unwrap();
    let jobs = ork
        .enqueue_many((0..12).map(|_| capped::call()))
        .await
        .unwrap();
    for j in jobs {
        j.result().await.unwrap();
    }
    assert_eq!(gauge.max.load(Ordering::SeqCst), 2);
    worker.shutdown().await;
}

pub async fn shutdown_finishes_quick_jobs_and_hands_back_the_rest(ork: Ork, _: Clock) {
    let log = Arc::new(Log::default());
    let worker = ork
        .worker()
        .grace(ms(500))
        .state(log.clone())
        .start()
        .unwrap();
    let long = ork.enqueue(forever::call()).await.unwrap();
    let short = ork.enqueue(sleepy::call(0)).await.unwrap();
    while log.0.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    short.result().await.unwrap();
    assert_eq!(long.status().await.unwrap(), JobState::Running);
    worker.shutdown().await;
    let info = long.info().await.unwrap();
    assert_eq!(info.state, JobState::Queued, "handed back to its queue");
    assert_eq!(info.attempts, 0, "the interrupted attempt does not count");
}

pub async fn run_until_stops_on_signal(ork: Ork, _: Clock) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let pool = tokio::spawn(ork.worker().run_until(async {
        let _ = rx.await;
    }));
    let job = ork.enqueue(add::call(20, 22)).await.unwrap();
    assert_eq!(job.result().await.unwrap(), 42);
    tx.send(()).unwrap();
    pool.await.unwrap().unwrap();
}

pub async fn explicit_task_selection(ork: Ork, _: Clock) {
    let worker = ork.worker().task::<add>().start().unwrap();
    let served = ork.enqueue(add::call(1, 2)).await.unwrap();
    assert_eq!(served.result().await.unwrap(), 3);
    let other = ork.enqueue(ping::call()).await.unwrap();
    let err = other.result().await.unwrap_err().to_string();
    assert!(err.contains("unknown task"), "{err}");
    worker.shutdown().await;
}

/// Generates one test per case, each with an `Ork` from `$make` (a fresh
/// engine or namespace per test). `$clock` names the [`Clock`] that
/// `#[$test]` runs on; the case that needs real threads always gets a
/// multi-threaded runtime on the real clock.
#[macro_export]
macro_rules! worker_behaviour {
    ($clock:ident, #[$test:meta], $make:expr) => {
        $crate::worker_behaviour!(@tests $clock, #[$test], $make;
            typed_results, retries_are_counted_with_fixed_backoff,
            exponential_backoff_then_dead_letter, timeout_is_enforced,
            panic_is_recorded_and_worker_survives, dead_letters_can_be_retried,
            unique_calls_share_one_job, delayed_jobs_wait_their_turn,
            priority_and_queue_order, state_is_injected_by_type, cancel_before_start,
            bad_payload_and_unknown_task_are_dead_lettered, task_concurrency_cap_holds,
            shutdown_finishes_quick_jobs_and_hands_back_the_rest, run_until_stops_on_signal,
            explicit_task_selection);
        $crate::worker_behaviour!(@tests Real,
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)], $make;
            blocking_tasks_do_not_stall_async_ones);
    };
    (@tests $clock:ident, #[$test:meta], $make:expr; $($name:ident),*) => {
        $(
            #[$test]
            async fn $name() {
                let ork = $make.await;
                tokio::time::timeout(
                    std::time::Duration::from_secs(60),
                    $crate::common::worker::$name(ork, $crate::common::worker::Clock::$clock),
                )
                .await
                .expect("the case finished in time");
            }
        )*
    };
}
