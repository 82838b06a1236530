//! Durable steps under SIGKILL, on a real redis-server: worker processes
//! (this test binary run again, see `fault_kit::process`) run a task of
//! five steps and are killed between steps and at random points. Each
//! step body records its begin and end in a Redis list of the test's own,
//! so the test can tell which process ran which step body, and where a
//! killed process was.

mod fault_kit;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use fault_kit::process::{run_child, ChildEnv, Fleet};
use fault_kit::{backend, connect, eventually, raw, server, ExecLog, Rng};
use ork::prelude::*;
use ork::JobState;
use ork_redis::redis;

const LEASE_VAR: &str = "ORK_STEPS_LEASE_MS";

/// The key of the step log of namespace `ns` (outside the namespace).
fn steps_key(ns: &str) -> String {
    format!("faults:{ns}:steps")
}

/// Five steps, each a body of `step_ms` that records its begin and end,
/// with `gap_ms` between steps (outside any step). Returns 1 + 2 + … + 5.
#[ork::task]
async fn five(ctx: Context, step_ms: u64, gap_ms: u64) -> ork::Result<u64> {
    let log = ctx.state::<ExecLog>().clone();
    let key = steps_key(ctx.state::<Namespace>().0.as_str());
    let mut total = 0;
    for i in 1..=5u64 {
        let name = format!("s{i}");
        total += ctx
            .step(&name, || {
                let (log, key, name) = (log.clone(), key.clone(), name.clone());
                let job = ctx.job_id().to_string();
                let fence = ctx.fence();
                async move {
                    let who = format!("{}#{fence}", log.name());
                    log.push(&key, &format!("{who}|{job}|{name}|begin")).await;
                    tokio::time::sleep(Duration::from_millis(step_ms)).await;
                    log.push(&key, &format!("{who}|{job}|{name}|end")).await;
                    Ok::<_, ork::Error>(i)
                }
            })
            .await?;
        tokio::time::sleep(Duration::from_millis(gap_ms)).await;
    }
    Ok(total)
}

/// The namespace, for the task to find its step log.
struct Namespace(String);

/// A worker process (only when run by the tests below).
#[test]
fn step_worker_process() {
    run_child(2, |env: ChildEnv| async move {
        let lease = Duration::from_millis(env.var(LEASE_VAR).map_or(1000, |v| v.parse().unwrap()));
        let log = ExecLog::connect(&env.url, &env.ns, &env.name).await;
        let ork = Ork::with_backend(backend(&env.url, &env.ns).await);
        let _pool = ork
            .worker()
            .lease(lease)
            .id(env.name.clone())
            .state(log)
            .state(Namespace(env.ns.clone()))
            .start()
            .expect("the pool starts");
        std::future::pending::<()>().await;
    });
}

/// One run of one step body, from the step log.
#[derive(Debug, Clone)]
struct StepRun {
    /// The attempt: `<incarnation>#<fence>`.
    who: String,
    step: String,
    ended: bool,
}

/// The step runs of job `job`, in the order they began.
async fn step_runs(
    conn: &mut redis::aio::MultiplexedConnection,
    ns: &str,
    job: &str,
) -> Vec<StepRun> {
    let entries: Vec<String> = redis::cmd("LRANGE")
        .arg(steps_key(ns))
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await
        .expect("read the step log");
    let mut runs: Vec<StepRun> = Vec::new();
    for e in entries {
        let parts: Vec<&str> = e.split('|').collect();
        let [who, j, step, what] = parts[..] else {
            panic!("malformed step log entry {e:?}");
        };
        if j != job {
            continue;
        }
        match what {
            "begin" => runs.push(StepRun {
                who: who.to_owned(),
                step: step.to_owned(),
                ended: false,
            }),
            _ => {
                let run = runs
                    .iter_mut()
                    .rev()
                    .find(|r| r.who == who && r.step == step)
                    .expect("an end follows its begin");
                run.ended = true;
            }
        }
    }
    runs
}

/// How many times each step body ran.
fn counts(runs: &[StepRun]) -> HashMap<&str, usize> {
    let mut out = HashMap::new();
    for r in runs {
        *out.entry(r.step.as_str()).or_default() += 1;
    }
    out
}

impl StepRun {
    fn incarnation(&self) -> &str {
        self.who.split('#').next().unwrap_or_default()
    }
}

/// Checks that a step body ran again only after its attempt died inside
/// that step (its process was killed, or stopped the attempt itself when
/// its lease ran out): every run but a step's last is by such an attempt,
/// which began no later step. `died` holds killed incarnations and
/// (incarnation, job) pairs of self-stopped attempts. Returns how many
/// step bodies ran again.
fn check_reruns(job: &str, runs: &[StepRun], died: &HashSet<(String, String)>) -> usize {
    let mut reruns = 0;
    for i in 1..=5 {
        let step = format!("s{i}");
        let of_step: Vec<&StepRun> = runs.iter().filter(|r| r.step == step).collect();
        assert!(!of_step.is_empty(), "job {job}: {step} never ran: {runs:?}");
        for early in &of_step[..of_step.len() - 1] {
            reruns += 1;
            let who = early.incarnation().to_owned();
            assert!(
                died.contains(&(who.clone(), String::new()))
                    || died.contains(&(who, job.to_owned())),
                "job {job}: {step} ran again after a run by {}, which did not die: {runs:?}",
                early.who
            );
            let went_on = runs
                .iter()
                .any(|r| r.who == early.who && r.step[1..].parse::<u32>().unwrap() > i);
            assert!(
                !went_on,
                "job {job}: {step} ran again although {} had finished it: {runs:?}",
                early.who
            );
        }
    }
    reruns
}

/// Whether step `name` of job `id` is stored.
async fn step_stored(
    conn: &mut redis::aio::MultiplexedConnection,
    ns: &str,
    id: &str,
    name: &str,
) -> bool {
    redis::cmd("HEXISTS")
        .arg(format!("{{{ns}}}:job:{id}"))
        .arg(format!("S:{name}"))
        .query_async(conn)
        .await
        .expect("HEXISTS")
}

/// A worker SIGKILLed once step 3 is stored, between steps: steps 1 to 3
/// ran once, 4 and 5 once (on the next worker), and the job succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_after_step_three_runs_only_four_and_five_again() {
    let ns = "steps-kill";
    let server = server().await;
    let ork = connect(&server.url(), ns).await;
    let mut conn = raw(&server.url()).await;
    let mut fleet = Fleet::new("step_worker_process", &server.url(), ns);
    fleet.env(LEASE_VAR, 1000);
    let slot = fleet.add("steps");
    let job = ork.enqueue(five::call(50, 400)).await.unwrap();
    let id = job.id().to_string();
    eventually(Duration::from_secs(20), "step 3 stored", || async {
        step_stored(&mut raw(&server.url()).await, ns, &id, "s3").await
    })
    .await;
    let killed = fleet.kill(slot).unwrap();
    fleet.start(slot);
    let result = tokio::time::timeout(Duration::from_secs(20), job.result())
        .await
        .expect("done in time")
        .unwrap();
    assert_eq!(result, 15);
    let info = job.info().await.unwrap();
    assert_eq!(info.state, JobState::Succeeded);
    assert_eq!(info.attempts, 1, "a lost lease is not an attempt");
    let runs = step_runs(&mut conn, ns, &id).await;
    let n = counts(&runs);
    for step in ["s1", "s2", "s3", "s4", "s5"] {
        assert_eq!(n.get(step), Some(&1), "{step} ran once: {runs:?}");
    }
    for r in &runs {
        let before = r.step.as_str() <= "s3";
        assert_eq!(r.incarnation() == killed, before, "who ran what: {runs:?}");
    }
}

/// Twenty jobs, each with its worker SIGKILLed at a random point (inside
/// a step or between steps): every job succeeds, and a step body runs
/// again only when its worker died inside that step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kills_rerun_only_the_step_a_worker_died_in() {
    const ROUNDS: usize = 20;
    let ns = "steps-random";
    let server = server().await;
    let ork = connect(&server.url(), ns).await;
    let mut conn = raw(&server.url()).await;
    let mut fleet = Fleet::new("step_worker_process", &server.url(), ns);
    fleet.env(LEASE_VAR, 700);
    let slot = fleet.add("steps");
    let mut rng = Rng::seeded();
    let mut died = HashSet::new();
    let (mut inside, mut reruns) = (0, 0);
    let began = Instant::now();
    for round in 0..ROUNDS {
        let job = ork.enqueue(five::call(40, 30)).await.unwrap();
        let id = job.id().to_string();
        eventually(Duration::from_secs(20), "the job started", || async {
            !step_runs(&mut raw(&server.url()).await, ns, &id)
                .await
                .is_empty()
        })
        .await;
        tokio::time::sleep(rng.millis(0, 350)).await;
        let killed = fleet.kill(slot).unwrap();
        died.insert((killed.clone(), String::new()));
        fleet.start(slot);
        let result = tokio::time::timeout(Duration::from_secs(20), job.result())
            .await
            .unwrap_or_else(|_| panic!("round {round}: done in time\n{}", fleet.logs()))
            .unwrap();
        assert_eq!(result, 15, "round {round}");
        let runs = step_runs(&mut conn, ns, &id).await;
        if runs.iter().any(|r| r.incarnation() == killed && !r.ended) {
            inside += 1;
        }
        // A process that stopped its attempt itself (its lease ran out on
        // a loaded machine) is treated like a killed one.
        died.extend(fleet.self_fenced());
        reruns += check_reruns(&id, &runs, &died);
    }
    eprintln!(
        "{ROUNDS} rounds in {:?}: {inside} kills inside a step body, {reruns} step bodies ran again",
        began.elapsed()
    );
    assert!(inside > 0, "some kill landed inside a step");
}
