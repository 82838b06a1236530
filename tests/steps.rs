//! Durable steps and checkpoints run by workers, on the memory engine and
//! on Redis (a redis-server of the test's own): bodies that run once across
//! retries, the errors retrying can't fix, a step's own retries, and
//! checkpoints across a retry and a shutdown hand-back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ork::prelude::*;
use ork::{JobState, StepOptions};

/// Body runs, by `<job tag>/<step or item>`, shared through the worker state.
#[derive(Default)]
struct Runs(Mutex<HashMap<String, u32>>);

impl Runs {
    fn bump(&self, key: impl Into<String>) {
        *self.0.lock().unwrap().entry(key.into()).or_default() += 1;
    }

    fn get(&self, key: &str) -> u32 {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    fn with_prefix(&self, prefix: &str) -> HashMap<String, u32> {
        let runs = self.0.lock().unwrap();
        runs.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

fn runs(ctx: &Context) -> Arc<Runs> {
    ctx.state::<Arc<Runs>>().clone()
}

/// Three steps; the first attempt fails after the second.
#[ork::task(retries = 2, backoff = "fixed:10ms")]
async fn three(ctx: Context, tag: String) -> ork::Result<u64> {
    let r = runs(&ctx);
    let mut total = 0;
    for (i, name) in ["one", "two", "three"].into_iter().enumerate() {
        let key = format!("{tag}/{name}");
        let r = r.clone();
        total += ctx
            .step(name, || {
                let (r, key) = (r.clone(), key.clone());
                async move {
                    r.bump(key);
                    Ok::<_, ork::Error>(i as u64 + 1)
                }
            })
            .await?;
        if i == 1 && ctx.attempt() == 1 {
            return Err(ork::Error::Invalid("fails after step two".into()));
        }
    }
    Ok(total)
}

/// Uses one step name twice.
#[ork::task(retries = 3, backoff = "fixed:10ms")]
async fn twice(ctx: Context) -> ork::Result<u32> {
    let a: u32 = ctx
        .step("same", || async { Ok::<_, ork::Error>(1) })
        .await?;
    let b: u32 = ctx
        .step("same", || async { Ok::<_, ork::Error>(2) })
        .await?;
    Ok(a + b)
}

/// Stores a number under "v", fails, then asks "v" for a string, as a
/// deploy that gave the name another meaning would.
#[ork::task(retries = 3, backoff = "fixed:10ms")]
async fn renamed(ctx: Context) -> ork::Result<String> {
    if ctx.attempt() == 1 {
        let _: u32 = ctx.step("v", || async { Ok::<_, ork::Error>(5) }).await?;
        return Err(ork::Error::Invalid("first attempt fails".into()));
    }
    ctx.step("v", || async { Ok::<_, ork::Error>("five".to_owned()) })
        .await
}

/// A step whose body fails `fails` times before it succeeds.
#[ork::task]
async fn flaky(ctx: Context, tag: String, fails: u32, retries: u32) -> ork::Result<String> {
    let r = runs(&ctx);
    ctx.step_with(
        "call",
        StepOptions::retries(retries).backoff(Duration::from_millis(5)),
        || {
            let r = r.clone();
            let tag = tag.clone();
            async move {
                r.bump(format!("{tag}/call"));
                if r.get(&format!("{tag}/call")) <= fails {
                    Err(format!("flake {}", r.get(&format!("{tag}/call"))))
                } else {
                    Ok("answered".to_owned())
                }
            }
        },
    )
    .await
}

/// Processes items `0..n`, one checkpoint per item, `pause_ms` each; the
/// first attempt fails after item `fail_at` when it is set.
#[ork::task(retries = 2, backoff = "fixed:10ms")]
async fn looper(
    ctx: Context,
    tag: String,
    n: u32,
    pause_ms: u64,
    fail_at: Option<u32>,
) -> ork::Result<u32> {
    let r = runs(&ctx);
    let start: u32 = ctx.resume().await?.unwrap_or(0);
    r.bump(format!("{tag}/start@{start}"));
    for i in start..n {
        r.bump(format!("{tag}/item{i}"));
        ctx.checkpoint(&(i + 1)).await?;
        if fail_at == Some(i) && ctx.attempt() == 1 {
            return Err(ork::Error::Invalid(format!("fails after item {i}")));
        }
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
    }
    Ok(n)
}

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A failure after step two: steps one and two ran once, step three once,
/// on the retry.
async fn steps_run_once_across_a_retry(ork: Ork) {
    let r = Arc::new(Runs::default());
    let pool = ork.worker().state(r.clone()).start().unwrap();
    let job = ork.enqueue(three::call("a".into())).await.unwrap();
    assert_eq!(job.result().await.unwrap(), 6);
    assert_eq!(job.info().await.unwrap().attempts, 2);
    for step in ["a/one", "a/two", "a/three"] {
        assert_eq!(r.get(step), 1, "{step} ran once: {:?}", r.with_prefix("a/"));
    }
    pool.shutdown().await;
}

/// A step name used twice in one run: dead at once, with retries left.
async fn a_duplicate_step_name_is_a_clear_error(ork: Ork) {
    let pool = ork
        .worker()
        .state(Arc::new(Runs::default()))
        .start()
        .unwrap();
    let job = ork.enqueue(twice::call()).await.unwrap();
    let err = job.result().await.unwrap_err().to_string();
    assert!(
        err.contains("step `same`: this name was already used in this run"),
        "{err}"
    );
    let info = job.info().await.unwrap();
    assert_eq!(info.state, JobState::Dead);
    assert_eq!(info.attempts, 1, "not retried");
    pool.shutdown().await;
}

/// A stored output that no longer decodes as the type asked: dead, with
/// an error naming the step; the stored output is not reused.
async fn a_stored_output_of_another_type_is_a_clear_error(ork: Ork) {
    let pool = ork
        .worker()
        .state(Arc::new(Runs::default()))
        .start()
        .unwrap();
    let job = ork.enqueue(renamed::call()).await.unwrap();
    let err = job.result().await.unwrap_err().to_string();
    assert!(
        err.contains("step `v`: its stored output does not decode as `alloc::string::String`"),
        "{err}"
    );
    let info = job.info().await.unwrap();
    assert_eq!(info.state, JobState::Dead);
    assert_eq!(info.attempts, 2, "dead at the attempt that found it");
    pool.shutdown().await;
}

/// `step_with` retries the body inside the attempt; past its retries the
/// step fails with the body's last error.
async fn step_with_retries_inside_the_attempt(ork: Ork) {
    let r = Arc::new(Runs::default());
    let pool = ork.worker().state(r.clone()).start().unwrap();
    let ok = ork.enqueue(flaky::call("ok".into(), 2, 3)).await.unwrap();
    assert_eq!(ok.result().await.unwrap(), "answered");
    assert_eq!(r.get("ok/call"), 3);
    assert_eq!(ok.info().await.unwrap().attempts, 1);
    let ko = ork.enqueue(flaky::call("ko".into(), 5, 1)).await.unwrap();
    let err = ko.result().await.unwrap_err().to_string();
    assert!(
        err.contains("step `call`: failed (after 2 runs): flake 2"),
        "{err}"
    );
    assert_eq!(r.get("ko/call"), 2);
    pool.shutdown().await;
}

/// A retried attempt resumes from the last checkpoint.
async fn a_retry_resumes_from_the_checkpoint(ork: Ork) {
    let r = Arc::new(Runs::default());
    let pool = ork.worker().state(r.clone()).start().unwrap();
    let job = ork
        .enqueue(looper::call("c".into(), 10, 0, Some(4)))
        .await
        .unwrap();
    assert_eq!(job.result().await.unwrap(), 10);
    assert_eq!(job.info().await.unwrap().attempts, 2);
    assert_eq!(r.get("c/start@0"), 1);
    assert_eq!(r.get("c/start@5"), 1, "{:?}", r.with_prefix("c/"));
    for i in 0..10 {
        assert_eq!(r.get(&format!("c/item{i}")), 1, "item {i}");
    }
    pool.shutdown().await;
}

/// A shutdown that interrupts a checkpointed task hands it back without
/// using up an attempt; the next worker resumes from the checkpoint.
async fn a_handed_back_task_resumes_without_using_an_attempt(ork: Ork) {
    let r = Arc::new(Runs::default());
    let first = ork
        .worker()
        .state(r.clone())
        .grace(Duration::from_millis(50))
        .start()
        .unwrap();
    let job = ork
        .enqueue(looper::call("h".into(), 20, 30, None))
        .await
        .unwrap();
    until("three items", || async { r.get("h/item2") == 1 }).await;
    first.shutdown().await;
    let info = job.info().await.unwrap();
    assert_eq!(info.state, JobState::Queued, "handed back");
    assert_eq!(info.attempts, 0, "the hand-back used no attempt");
    let done = r.with_prefix("h/item").len() as u32;
    assert!(done < 20, "interrupted");
    let second = ork.worker().state(r.clone()).start().unwrap();
    assert_eq!(job.result().await.unwrap(), 20);
    assert_eq!(job.info().await.unwrap().attempts, 1);
    let starts: Vec<String> = r
        .with_prefix("h/start@")
        .into_keys()
        .filter(|k| k != "h/start@0")
        .collect();
    assert_eq!(starts.len(), 1, "resumed once: {starts:?}");
    let resumed_at: u32 = starts[0]["h/start@".len()..].parse().unwrap();
    assert!(
        resumed_at >= 3,
        "resumed from the checkpoint, at {resumed_at}"
    );
    for i in 0..20 {
        // The item in flight at the hand-back may run again (its checkpoint
        // is written after it); no other.
        let n = r.get(&format!("h/item{i}"));
        assert!(
            n == 1 || (n == 2 && i == resumed_at),
            "item {i} ran {n} times"
        );
    }
    second.shutdown().await;
}

macro_rules! step_checks {
    ($engine:ident, $make:expr; $($name:ident),*) => {
        mod $engine {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($make.await).await;
                }
            )*
        }
    };
}

step_checks!(memory, async { ork::Ork::memory() };
    steps_run_once_across_a_retry, a_duplicate_step_name_is_a_clear_error,
    a_stored_output_of_another_type_is_a_clear_error, step_with_retries_inside_the_attempt,
    a_retry_resumes_from_the_checkpoint, a_handed_back_task_resumes_without_using_an_attempt);

step_checks!(redis, async { ork::Ork::with_backend(ork_redis::testing::backend().await) };
    steps_run_once_across_a_retry, a_duplicate_step_name_is_a_clear_error,
    a_stored_output_of_another_type_is_a_clear_error, step_with_retries_inside_the_attempt,
    a_retry_resumes_from_the_checkpoint, a_handed_back_task_resumes_without_using_an_attempt);
