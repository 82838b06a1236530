//! Workflows on Redis while worker processes are killed with SIGKILL: 200
//! workflows of 50 nodes each (fan-outs, joins, nodes that fail on purpose
//! with and without `allow_failure`, nodes that spawn sub-tasks with
//! `ctx.map` and `ctx.spawn`), run by three worker processes that are
//! killed and restarted at random moments.
//!
//! Checked at the end: every workflow ends in the state its policies say,
//! every node in its own expected state with its expected output; each
//! attempt of each node (and sub-task) ran once, apart from runs on a
//! process killed with it in flight; a join that should fire fired once,
//! one that should not never ran; every parent has exactly its expected
//! children.
//!
//! The worker processes are this test binary run again (see
//! `fault_kit`); every task body records its execution.

mod fault_kit;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use fault_kit::process::{run_child, ChildEnv, Fleet};
use fault_kit::{backend, connect, executions, raw, server, ExecLog, Kills, Rng};
use ork::prelude::*;
use ork::workflow::Fallible;
use ork::JobQuery;
use ork::{Codec, JobId, JobState, TaskError, WorkflowHandle, WorkflowState};

const WORKFLOWS: usize = 200;
const NODES: usize = 50;

/// Records the execution, then takes a few milliseconds (more of them are
/// in flight when a process dies).
async fn begin(ctx: &Context) {
    ctx.state::<ExecLog>().record(ctx).await;
    let spread = ctx.job_id().as_str().bytes().map(u64::from).sum::<u64>();
    tokio::time::sleep(Duration::from_millis(5 + spread % 20)).await;
}

#[ork::task]
async fn seed(ctx: Context, v: i64) -> ork::Result<i64> {
    begin(&ctx).await;
    Ok(v)
}

#[ork::task]
async fn inc(ctx: Context, x: i64, k: i64) -> ork::Result<i64> {
    begin(&ctx).await;
    Ok(x + k)
}

/// The joins: fan-in of several nodes.
#[ork::task]
async fn total(ctx: Context, xs: Vec<i64>) -> ork::Result<i64> {
    begin(&ctx).await;
    Ok(xs.iter().sum())
}

#[ork::task]
async fn times(ctx: Context, x: i64, i: i64) -> ork::Result<i64> {
    begin(&ctx).await;
    Ok(x * i)
}

#[ork::task]
async fn plus(ctx: Context, x: i64, i: i64) -> ork::Result<i64> {
    begin(&ctx).await;
    Ok(x + i)
}

/// `x + Σ x·i` over `n` sub-tasks made with `ctx.map`.
#[ork::task]
async fn spawn_sum(ctx: Context, x: i64, n: i64) -> ork::Result<i64> {
    begin(&ctx).await;
    let parts = ctx.map(0..n, |i| times::call(x, i)).await?;
    Ok(x + parts.iter().sum::<i64>())
}

/// `Σ (x + i)` over `n` sub-tasks made one by one with `ctx.spawn`.
#[ork::task]
async fn spawn_each(ctx: Context, x: i64, n: i64) -> ork::Result<i64> {
    begin(&ctx).await;
    let mut handles = Vec::new();
    for i in 0..n {
        handles.push(ctx.spawn(plus::call(x, i)).await?);
    }
    Ok(ctx.join(handles).await?.iter().sum())
}

/// Fails every attempt; one retry.
#[ork::task(retries = 1, backoff = "fixed:100ms")]
async fn broken(ctx: Context, x: i64) -> Result<i64, String> {
    begin(&ctx).await;
    Err(format!("broken on purpose after {x}"))
}

#[ork::task]
async fn recover(ctx: Context, r: Result<i64, TaskError>) -> ork::Result<i64> {
    begin(&ctx).await;
    Ok(r.unwrap_or(-1))
}

/// A worker process (only when run by the test below).
#[test]
fn worker_process() {
    run_child(2, |env: ChildEnv| async move {
        let log = ExecLog::connect(&env.url, &env.ns, &env.name).await;
        let backend = backend(&env.url, &env.ns).await;
        let _pool = Ork::with_backend(backend)
            .worker()
            .lease(LEASE)
            .concurrency(16)
            .id(env.name.clone())
            .state(log)
            .start()
            .expect("the pool starts");
        std::future::pending::<()>().await;
    });
}

const LEASE: Duration = Duration::from_secs(3);

/// One node of the shape, by the indexes of the nodes it reads.
#[derive(Debug, Clone)]
enum Kind {
    Seed(i64),
    Inc(usize, i64),
    Join(Vec<usize>),
    SpawnSum(usize, i64),
    SpawnEach(usize, i64),
    /// Fails; `true`: with `allow_failure`.
    Broken(usize, bool),
    /// Reads a `Broken(_, true)` node's result or error.
    Recover(usize),
}

/// The 50 nodes of workflow `w`. In a strict one, node 22 fails without
/// `allow_failure`: it and its dependants 23, 24 and 45 end dead, and the
/// workflow fails; elsewhere only the nodes allowed to fail do.
fn shape(w: usize, strict: bool) -> Vec<Kind> {
    use Kind::*;
    let mut k = vec![Seed(w as i64)];
    k.extend((1..=8).map(|i| Inc(0, i)));
    k.extend((1..=4).map(|d| SpawnSum(d, 4)));
    k.extend([SpawnEach(5, 3), SpawnEach(6, 3)]);
    k.push(Join(vec![9, 10, 11, 12]));
    k.push(Join(vec![13, 14, 7, 8]));
    k.extend([Broken(2, true), Recover(17), Broken(3, true), Recover(19)]);
    k.push(Join(vec![15, 16, 18, 20]));
    k.push(if strict {
        Broken(4, false)
    } else {
        Inc(4, 100)
    });
    k.push(Inc(22, 1));
    k.push(Join(vec![23, 21]));
    k.extend((1..=10).map(|i| Inc(21, i)));
    k.extend((0..5).map(|j| Join(vec![25 + 2 * j, 26 + 2 * j])));
    k.push(Join((35..=39).collect()));
    k.extend([SpawnSum(40, 3), SpawnEach(40, 2)]);
    k.push(Join(vec![41, 42]));
    k.push(Inc(43, 1));
    k.push(Join(vec![44, 24]));
    k.extend((1..=3).map(|i| Inc(44, i)));
    k.push(Join(vec![46, 47, 48]));
    assert_eq!(k.len(), NODES);
    k
}

/// What a node should end as: `Ok(output)`, or `Err(attempts)` when dead
/// (2 attempts when it failed itself, 0 when a dependency failed).
fn expected(kinds: &[Kind]) -> Vec<Result<i64, u32>> {
    let mut out: Vec<Result<i64, u32>> = Vec::with_capacity(kinds.len());
    for kind in kinds {
        let v = |i: usize| out[i];
        let all = |ds: &[usize]| -> Result<Vec<i64>, u32> {
            ds.iter().map(|&d| v(d).map_err(|_| 0)).collect()
        };
        let r = match kind {
            Kind::Seed(x) => Ok(*x),
            Kind::Inc(d, k) => all(&[*d]).map(|x| x[0] + k),
            Kind::Join(ds) => all(ds).map(|xs| xs.iter().sum()),
            Kind::SpawnSum(d, n) => all(&[*d]).map(|x| x[0] + x[0] * n * (n - 1) / 2),
            Kind::SpawnEach(d, n) => all(&[*d]).map(|x| n * x[0] + n * (n - 1) / 2),
            Kind::Broken(d, _) => all(&[*d]).and(Err(2)),
            Kind::Recover(d) => match v(*d) {
                Err(2) => Ok(-1),
                other => other,
            },
        };
        out.push(r);
    }
    out
}

/// Builds workflow `w` from its shape.
fn build(w: usize, kinds: &[Kind]) -> Workflow {
    let mut flow = Workflow::new(format!("crash-{w}"));
    let mut nodes: Vec<Node<i64>> = Vec::with_capacity(kinds.len());
    let mut fallible: HashMap<usize, Fallible<i64>> = HashMap::new();
    for (i, kind) in kinds.iter().enumerate() {
        let node = match kind {
            Kind::Seed(x) => flow.add(seed::call(*x)),
            Kind::Inc(d, k) => flow.add(inc::flow(nodes[*d], *k)),
            Kind::Join(ds) => {
                let all = flow.all(ds.iter().map(|&d| nodes[d]));
                flow.add(total::flow(all))
            }
            Kind::SpawnSum(d, n) => flow.add(spawn_sum::flow(nodes[*d], *n)),
            Kind::SpawnEach(d, n) => flow.add(spawn_each::flow(nodes[*d], *n)),
            Kind::Broken(d, allow) => {
                let node = flow.add(broken::flow(nodes[*d]));
                if *allow {
                    fallible.insert(i, flow.allow_failure(node));
                }
                node
            }
            Kind::Recover(d) => flow.add(recover::flow(fallible[d])),
        };
        nodes.push(node);
    }
    flow
}

/// How many sub-tasks a node spawns.
fn children(kind: &Kind) -> i64 {
    match kind {
        Kind::SpawnSum(_, n) | Kind::SpawnEach(_, n) => *n,
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_survive_killed_workers() {
    let ns = "crash";
    let server = server().await;
    let url = server.url();
    let ork = connect(&url, ns).await;
    let mut conn = raw(&url).await;
    let mut fleet = Fleet::new("worker_process", &url, ns);
    for _ in 0..3 {
        fleet.add("flows");
    }
    let started = Instant::now();

    let mut runs: Vec<(WorkflowHandle, Vec<Kind>, bool)> = Vec::new();
    for w in 0..WORKFLOWS {
        let strict = w % 5 == 0;
        let kinds = shape(w, strict);
        let run = ork.submit(build(w, &kinds)).await.unwrap();
        runs.push((run, kinds, strict));
    }

    // Kill a random process about every second, until every workflow is
    // over (at least five kills, at most fifteen).
    let finished = |runs: &[(WorkflowHandle, Vec<Kind>, bool)]| {
        let ork = ork.clone();
        let ids: Vec<JobId> = runs
            .iter()
            .flat_map(|(r, ..)| r.meta().node_ids())
            .collect();
        async move {
            let mut done = true;
            for chunk in ids.chunks(1000) {
                let infos = ork.backend().jobs(chunk).await.unwrap();
                done &= infos
                    .iter()
                    .all(|i| i.as_ref().is_some_and(|i| i.state.is_terminal()));
            }
            done
        }
    };
    let mut rng = Rng::seeded();
    let mut kills = Kills::default();
    let mut caught = Vec::new();
    let mut parents_caught = 0;
    loop {
        tokio::time::sleep(rng.millis(400, 1500)).await;
        if caught.len() >= 15 || (caught.len() >= 5 && finished(&runs).await) {
            break;
        }
        let slot = rng.below(fleet.len() as u64) as usize;
        let name = fleet.kill(slot).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let log = executions(&mut conn, ns).await;
        caught.push(kills.record(&name, &log, ork.backend().as_ref()).await);
        tokio::time::sleep(rng.millis(0, 500)).await;
        fleet.start(slot);
    }
    let kill_phase = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !finished(&runs).await {
        assert!(
            Instant::now() < deadline,
            "workflows still running 120 s after the last kill\n{}",
            fleet.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed();

    // Every workflow, every node, as its policies say.
    let mut spawners: HashMap<JobId, i64> = HashMap::new();
    let mut nodes_by_id: HashMap<JobId, (usize, Result<i64, u32>)> = HashMap::new();
    for (run, kinds, strict) in &runs {
        let want = if *strict {
            WorkflowState::Failed
        } else {
            WorkflowState::Succeeded
        };
        assert_eq!(
            run.state().await.unwrap(),
            want,
            "workflow {}",
            run.meta().name
        );
        let expect = expected(kinds);
        for (node, (exp, kind)) in run
            .nodes()
            .await
            .unwrap()
            .iter()
            .zip(expect.iter().zip(kinds))
        {
            let job = node.job.as_ref().expect("node records are kept");
            let at = format!("{} node {} ({kind:?})", run.meta().name, node.index);
            match exp {
                Ok(v) => {
                    assert_eq!(job.state, JobState::Succeeded, "{at}: {:?}", job.error);
                    let got: i64 = Codec::Bincode.decode(job.result.as_ref().unwrap()).unwrap();
                    assert_eq!(got, *v, "{at}");
                    assert_eq!(job.attempts, 1, "{at}: released and run once");
                }
                Err(attempts) => {
                    assert_eq!(job.state, JobState::Dead, "{at}");
                    assert_eq!(job.attempts, *attempts, "{at}");
                    let error = job.error.clone().unwrap_or_default();
                    let why = if *attempts == 0 {
                        "dependency"
                    } else {
                        "broken on purpose"
                    };
                    assert!(error.contains(why), "{at}: {error}");
                }
            }
            nodes_by_id.insert(job.record.id.clone(), (node.index, *exp));
            if children(kind) > 0 {
                spawners.insert(job.record.id.clone(), children(kind));
            }
        }
    }

    // Every parent has exactly its children: ids `<parent>.<i>`, none twice.
    let mut all = Vec::new();
    loop {
        let page = ork
            .list(&JobQuery::default().page(all.len(), 5000))
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        all.extend(page);
    }
    let mut by_parent: HashMap<JobId, HashSet<JobId>> = HashMap::new();
    for job in &all {
        if let Some(parent) = &job.record.parent {
            by_parent
                .entry(parent.clone())
                .or_default()
                .insert(job.record.id.clone());
            assert_eq!(job.state, JobState::Succeeded, "sub-task {}", job.record.id);
            assert_eq!(job.attempts, 1, "sub-task {}", job.record.id);
        } else {
            assert!(
                nodes_by_id.contains_key(&job.record.id),
                "a stray job {}",
                job.record.id
            );
        }
    }
    assert_eq!(
        by_parent.len(),
        spawners.len(),
        "every spawner has children"
    );
    for (parent, n) in &spawners {
        let want: HashSet<JobId> = (0..*n as usize).map(|i| parent.child(i)).collect();
        assert_eq!(by_parent.get(parent), Some(&want), "children of {parent}");
    }
    let sub_tasks: usize = by_parent.values().map(HashSet::len).sum();
    assert_eq!(all.len(), WORKFLOWS * NODES + sub_tasks);

    // Executions: each attempt once, unless a killed process had it in
    // flight; a join (any node) that must not run never did.
    let log = executions(&mut conn, ns).await;
    kills.self_fenced(fleet.self_fenced());
    let reruns = kills.check_duplicates(&log);
    let mut attempts_run: HashMap<&str, HashSet<u32>> = HashMap::new();
    for e in &log {
        attempts_run
            .entry(e.job.as_str())
            .or_default()
            .insert(e.attempt);
    }
    for (id, (index, exp)) in &nodes_by_id {
        let ran = attempts_run.remove(id.as_str()).unwrap_or_default();
        let want: HashSet<u32> = match exp {
            Ok(_) => HashSet::from([1]),
            Err(n) => (1..=*n).collect(),
        };
        assert_eq!(ran, want, "node {index} ({id}): attempts that ran");
    }
    for (parent, n) in &spawners {
        for i in 0..*n as usize {
            let ran = attempts_run.remove(parent.child(i).as_str());
            assert_eq!(ran, Some(HashSet::from([1])), "{}", parent.child(i));
        }
    }
    assert!(
        attempts_run.is_empty(),
        "runs of unknown jobs: {attempts_run:?}"
    );
    for (name, attempts) in kills_parents(&kills, &log, &spawners) {
        parents_caught += attempts;
        let _ = name;
    }

    assert!(
        caught.iter().filter(|&&n| n > 0).count() >= 3,
        "kills caught work in flight: {caught:?}"
    );
    assert!(
        parents_caught > 0,
        "a kill caught a parent waiting for its sub-tasks"
    );
    eprintln!(
        "{WORKFLOWS} workflows of {NODES} nodes and {sub_tasks} sub-tasks in {elapsed:?} \
         ({kill_phase:?} of kills); {} executions, {reruns} re-runs; kills caught {caught:?} \
         in flight, {parents_caught} of them parents",
        log.len()
    );
}

/// Per killed incarnation, how many spawner parents it had in flight.
fn kills_parents(
    kills: &Kills,
    log: &[fault_kit::Execution],
    spawners: &HashMap<JobId, i64>,
) -> Vec<(String, usize)> {
    let mut out: HashMap<String, usize> = HashMap::new();
    for e in log {
        if spawners.contains_key(&JobId::from(e.job.as_str()))
            && kills.had(&e.name, &e.job, e.attempt)
        {
            *out.entry(e.name.clone()).or_default() += 1;
        }
    }
    out.into_iter().collect()
}
