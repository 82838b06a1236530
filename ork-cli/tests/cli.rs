//! Every `ork` subcommand against a real Redis, with real jobs and
//! workflows run by a worker in this process: output and exit code.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, Env};
use ork::prelude::*;
use ork::{Codec, JobState, Schedule, WorkerHandle, WorkflowState};

/// Whether `guarded` succeeds.
#[derive(Default)]
struct Switch(AtomicBool);

/// Whether `gated` may return.
#[derive(Default)]
struct Gate(AtomicBool);

#[ork::task]
async fn add(x: i64, y: i64) -> ork::Result<i64> {
    Ok(x + y)
}

#[ork::task(queue = "mail")]
async fn greet(name: String, times: u32) -> ork::Result<String> {
    Ok(name.repeat(times as usize))
}

/// Fails (for good: no retries) until the switch is on.
#[ork::task]
async fn guarded(ctx: Context, label: String) -> Result<String, String> {
    if ctx.state::<Arc<Switch>>().0.load(Ordering::SeqCst) {
        Ok(label)
    } else {
        Err(format!("switch is off for {label}"))
    }
}

/// Reports 40% and holds until the gate opens.
#[ork::task]
async fn gated(ctx: Context, x: i64) -> ork::Result<i64> {
    ctx.progress(40);
    while !ctx.state::<Arc<Gate>>().0.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(x)
}

#[ork::task]
async fn sum(xs: Vec<i64>) -> ork::Result<i64> {
    Ok(xs.iter().sum())
}

struct Knobs {
    switch: Arc<Switch>,
    gate: Arc<Gate>,
}

fn worker(env: &Env, id: &str) -> (WorkerHandle, Knobs) {
    let knobs = Knobs {
        switch: Arc::default(),
        gate: Arc::default(),
    };
    let handle = env
        .ork
        .worker()
        .id(id)
        .queues(["default", "mail"])
        .concurrency(8)
        .lease(Duration::from_secs(5))
        .state(knobs.switch.clone())
        .state(knobs.gate.clone())
        .start()
        .expect("worker starts");
    (handle, knobs)
}

async fn dead_job(env: &Env, label: &str) -> ork::JobId {
    let h = env
        .ork
        .enqueue(guarded::call(label.to_owned()))
        .await
        .unwrap();
    let id = h.id().clone();
    eventually("the job to die", Duration::from_secs(20), || async {
        let s = env.ork.job(&id).await.unwrap()?.state;
        (s == JobState::Dead).then_some(())
    })
    .await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_queues_throughput_and_workers() {
    let env = Env::new().await;
    let (w, _knobs) = worker(&env, "status-worker-1");
    let json = env.ork.clone().with_codec(Codec::Json);
    let handles = json
        .enqueue_many((0..20).map(|i| add::call(i, 1)))
        .await
        .unwrap();
    for h in &handles {
        h.result_timeout(Duration::from_secs(20)).await.unwrap();
    }
    json.enqueue(greet::call("hi".into(), 2))
        .await
        .unwrap()
        .result_timeout(Duration::from_secs(20))
        .await
        .unwrap();
    dead_job(&env, "status").await;
    // Workers report on their heartbeat (every lease/3).
    eventually("the worker to report", Duration::from_secs(10), || async {
        let ws = env.ork.workers().await.unwrap();
        ws.iter().any(|w| w.processed > 0).then_some(())
    })
    .await;

    let out = env.ork(&["status"]).await;
    let text = out.ok();
    assert!(text.contains(&format!("namespace {}", env.ns)), "{text}");
    let default_line = text
        .lines()
        .find(|l| l.starts_with("default "))
        .unwrap_or_else(|| panic!("no default queue line: {text}"));
    let cells: Vec<&str> = default_line.split_whitespace().collect();
    // queue, waiting, scheduled, queued, running, succeeded, dead, cancelled, done/s ...
    assert_eq!(&cells[5..8], ["20", "1", "0"], "{default_line}");
    assert_ne!(cells[8], "-", "a throughput was measured: {default_line}");
    assert!(text.contains("mail "), "{text}");
    assert!(text.contains("throughput (last 60s)"), "{text}");
    assert!(text.contains("workers 1 live"), "{text}");
    assert!(text.contains("status-worker-1"), "{text}");
    // The test server has no maxmemory.
    assert!(
        text.lines()
            .any(|l| l.starts_with("memory ") && l.ends_with("(no maxmemory limit)")),
        "{text}"
    );

    let out = env.ork(&["status", "--json"]).await;
    let v = out.json();
    assert_eq!(v["namespace"], env.ns.as_str());
    assert!(v["memory"]["used_bytes"].as_u64().unwrap() > 0, "{v}");
    assert!(v["memory"]["max_bytes"].is_null(), "{v}");
    let q = v["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["counts"]["queue"] == "default")
        .unwrap();
    assert_eq!(q["counts"]["succeeded"], 20);
    assert_eq!(q["counts"]["dead"], 1);
    assert!(q["recent"]["succeeded_per_sec"].as_f64().unwrap() > 0.0);
    assert!(q["recent"]["run"]["p50_ms"].is_u64());
    assert_eq!(v["workers"][0]["id"], "status-worker-1");

    let out = env.ork(&["workers"]).await;
    let text = out.ok();
    assert!(text.starts_with("WORKER"), "{text}");
    assert!(
        text.contains("status-worker-1") && text.contains("default,mail"),
        "{text}"
    );
    let v = env.ork(&["workers", "--json"]).await.json();
    assert_eq!(v[0]["queues"], serde_json::json!(["default", "mail"]));
    assert_eq!(v[0]["concurrency"], 8);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_and_job_show_payloads_readably() {
    let env = Env::new().await;
    let (w, _knobs) = worker(&env, "jobs-worker");
    let json = env.ork.clone().with_codec(Codec::Json);
    let readable = json.enqueue(greet::call("ada".into(), 3)).await.unwrap();
    assert_eq!(readable.result().await.unwrap(), "adaadaada");
    let opaque = env.ork.enqueue(add::call(40, 2)).await.unwrap();
    assert_eq!(opaque.result().await.unwrap(), 42);
    let dead = dead_job(&env, "jobs").await;
    let later = env
        .ork
        .enqueue(add::call(40, 2).delay(Duration::from_secs(3600)))
        .await
        .unwrap();
    // Arguments are kept until a job succeeds (then Redis drops them).
    let waiting = json
        .enqueue(greet::call("ada".into(), 3).delay(Duration::from_secs(3600)))
        .await
        .unwrap();

    // The list, filtered by queue and state.
    let text = env.ork(&["jobs"]).await.ok().to_owned();
    assert!(text.starts_with("ID"), "{text}");
    for id in [readable.id(), opaque.id(), &dead, later.id()] {
        assert!(text.contains(id.as_str()), "{id} in {text}");
    }
    let text = env.ork(&["jobs", "mail"]).await.ok().to_owned();
    assert!(text.contains(readable.id().as_str()) && !text.contains(opaque.id().as_str()));
    let text = env.ork(&["jobs", "--state", "dead"]).await.ok().to_owned();
    assert!(
        text.contains(dead.as_str()) && text.contains("switch is off for jobs"),
        "{text}"
    );
    assert!(!text.contains(opaque.id().as_str()));
    let text = env
        .ork(&["jobs", "default", "-s", "scheduled"])
        .await
        .ok()
        .to_owned();
    assert!(
        text.contains(later.id().as_str()) && text.contains("due in"),
        "{text}"
    );
    let v = env
        .ork(&["jobs", "--state", "succeeded", "--json"])
        .await
        .json();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(v[0].get("args").is_none(), "lists stay light");

    // One job: JSON arguments and result pretty-printed.
    let text = env
        .ork(&["job", readable.id().as_str()])
        .await
        .ok()
        .to_owned();
    assert!(text.contains("cli::greet"), "{text}");
    assert!(text.contains("succeeded  attempts 1/1"), "{text}");
    assert!(text.contains("codec      json"), "{text}");
    // A succeeded job's arguments are dropped on Redis, to free memory.
    assert!(
        text.contains("arguments\n  (not kept after the job succeeded)"),
        "{text}"
    );
    assert!(text.contains("result\n  \"adaadaada\""), "{text}");
    assert!(text.contains("ran "), "timings: {text}");
    let text = env
        .ork(&["job", waiting.id().as_str()])
        .await
        .ok()
        .to_owned();
    assert!(
        text.contains("arguments\n  [\n    \"ada\",\n    3\n  ]"),
        "{text}"
    );
    let v = env
        .ork(&["job", readable.id().as_str(), "--json"])
        .await
        .json();
    assert_eq!(v["args"]["kind"], "dropped");
    assert_eq!(v["result"]["value"], "adaadaada");
    assert_eq!(v["state"], "succeeded");
    assert!(v["finished_at_ms"].as_u64() >= v["started_at_ms"].as_u64());

    let v = env
        .ork(&["job", waiting.id().as_str(), "--json"])
        .await
        .json();
    assert_eq!(v["args"]["value"], serde_json::json!(["ada", 3]));

    // bincode: bytes, with a note.
    let text = env.ork(&["job", later.id().as_str()]).await.ok().to_owned();
    assert!(text.contains("bincode is not self-describing"), "{text}");
    assert!(
        text.contains("00000000  50 04"),
        "40 and 2 as bincode varints: {text}"
    );
    let v = env
        .ork(&["job", later.id().as_str(), "--json"])
        .await
        .json();
    assert_eq!(v["args"]["kind"], "bytes");
    assert_eq!(v["args"]["hex"], "5004");

    // A dead job: its error and attempts.
    let text = env.ork(&["job", dead.as_str()]).await.ok().to_owned();
    assert!(text.contains("dead  attempts 1/1"), "{text}");
    assert!(text.contains("error      switch is off for jobs"), "{text}");

    // Mistakes: a clear message and a non-zero exit.
    let err = env.ork(&["job", "NOPE"]).await;
    let stderr = err.fails_with(1);
    assert!(stderr.contains("no job with id `NOPE`"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
    let err = env.ork(&["jobs", "nosuch"]).await;
    let stderr = err.fails_with(1);
    assert!(stderr.contains("no queue `nosuch`"), "{stderr}");
    assert!(stderr.contains("known queues: default, mail"), "{stderr}");
    let err = env.ork(&["jobs", "--state", "zombie"]).await;
    assert!(
        err.fails_with(2).contains("one of: waiting"),
        "{}",
        err.stderr
    );
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_cancel_and_purge() {
    let env = Env::new().await;
    let (w, knobs) = worker(&env, "ops-worker");
    let dead = dead_job(&env, "one").await;
    let others = [dead_job(&env, "two").await, dead_job(&env, "three").await];

    // A job that is not dead can't be retried.
    let ok = env.ork.enqueue(add::call(1, 2)).await.unwrap();
    ok.result().await.unwrap();
    let err = env.ork(&["retry", ok.id().as_str()]).await;
    assert!(err.fails_with(1).contains("only dead or cancelled jobs"));

    // Retried, it runs again (and now succeeds).
    knobs.switch.0.store(true, Ordering::SeqCst);
    let text = env.ork(&["retry", dead.as_str()]).await.ok().to_owned();
    assert!(text.contains("queued again"), "{text}");
    let h = env.ork.handle::<String>(dead.clone());
    assert_eq!(
        h.result_timeout(Duration::from_secs(20)).await.unwrap(),
        "one"
    );
    let info = env.ork.job(&dead).await.unwrap().unwrap();
    assert_eq!((info.state, info.attempts), (JobState::Succeeded, 1));

    // --all-dead takes the rest.
    let v = env.ork(&["retry", "--all-dead", "--json"]).await.json();
    assert_eq!(v["retried"].as_array().unwrap().len(), 2);
    for id in &others {
        let h = env.ork.handle::<String>(id.clone());
        h.result_timeout(Duration::from_secs(20)).await.unwrap();
    }
    let text = env.ork(&["retry", "--all-dead"]).await.ok().to_owned();
    assert!(text.contains("no dead letters"), "{text}");
    let err = env.ork(&["retry"]).await;
    err.fails_with(2);

    // Cancel: a delayed job is cancelled; a finished one is refused.
    let later = env
        .ork
        .enqueue(add::call(5, 5).delay(Duration::from_secs(3600)))
        .await
        .unwrap();
    let text = env
        .ork(&["cancel", later.id().as_str()])
        .await
        .ok()
        .to_owned();
    assert!(text.contains("cancelled"), "{text}");
    assert_eq!(later.status().await.unwrap(), JobState::Cancelled);
    let err = env.ork(&["cancel", ok.id().as_str()]).await;
    assert!(err.fails_with(1).contains("already finished (succeeded)"));
    let err = env.ork(&["cancel", "NOPE"]).await;
    assert!(err
        .fails_with(1)
        .contains("no job or workflow with id `NOPE`"));
    // Cancelled jobs can be retried (back to queued: it was only delayed).
    env.ork(&["retry", later.id().as_str()]).await.ok();
    match later.result_timeout(Duration::from_secs(20)).await {
        Ok(v) => assert_eq!(v, 10),
        Err(e) => panic!("{e}: {:?}", env.ork.job(later.id()).await),
    }

    // Purge asks first.
    w.shutdown().await;
    env.ork
        .enqueue_many((0..5).map(|i| add::call(i, i)))
        .await
        .unwrap();
    let out = env.ork_stdin(&["purge", "default"], Some("n\n")).await;
    let stderr = out.fails_with(1);
    assert!(
        stderr.contains("Delete 5 unstarted job(s) from queue `default`"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing deleted"), "{stderr}");
    assert_eq!(env.ork.counts().await.unwrap()[0].queued, 5);
    let out = env.ork_stdin(&["purge", "default"], Some("y\n")).await;
    assert!(out.ok().contains("deleted 5 job(s)"), "{}", out.stdout);
    env.ork.enqueue(add::call(1, 1)).await.unwrap();
    let out = env.ork(&["purge", "default", "--yes", "--json"]).await;
    assert_eq!(out.json()["deleted"], 1);
    let err = env.ork(&["purge", "nosuch", "--yes"]).await;
    assert!(err.fails_with(1).contains("known queues: default"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_are_drawn_and_waited_for() {
    let env = Env::new().await;
    let (w, knobs) = worker(&env, "flow-worker");
    // a, b → gate(a) ; sum(all[a, b, gate]) → final add
    let mut flow = Workflow::new("diamond");
    let a = flow.add(add::call(1, 2));
    let b = flow.add(add::call(3, 4));
    let held = flow.add(gated::flow(a));
    let total = flow.add(sum::flow(flow.all([a, b, held])));
    let last = flow.add(add::flow(total, 100));
    let run = env.ork.submit(flow).await.unwrap();
    let id = run.id().to_string();
    eventually("the gate to run", Duration::from_secs(20), || async {
        let nodes = run.nodes().await.unwrap();
        (nodes[2].state() == Some(JobState::Running)).then_some(())
    })
    .await;

    let text = env.ork(&["workflows"]).await.ok().to_owned();
    assert!(text.starts_with("ID"), "{text}");
    let line = text.lines().find(|l| l.contains(&id)).unwrap();
    assert!(
        line.contains("diamond") && line.contains("running"),
        "{line}"
    );
    assert!(line.contains("2/5") && line.contains("1 running"), "{line}");
    let v = env.ork(&["workflows", "--json"]).await.json();
    assert_eq!(v[0]["id"], id.as_str());
    assert_eq!(v[0]["states"]["running"], 1);

    let text = env.ork(&["workflow", &id]).await.ok().to_owned();
    assert!(text.contains("diamond  running  2/5 nodes done"), "{text}");
    // The tree: every node once, hanging under its last dependency.
    let expect = [
        "├─ ✔ #0 cli::add",
        "│  └─ ▶ #2 cli::gated",
        "│     └─ ○ #3 cli::sum",
        "│        └─ ○ #4 cli::add",
        "└─ ✔ #1 cli::add",
    ];
    let lines: Vec<&str> = text.lines().skip(3).collect();
    assert_eq!(lines.len(), 5, "{text}");
    for (line, want) in lines.iter().zip(expect) {
        assert!(
            line.starts_with(want),
            "{line:?} should start with {want:?}\n{text}"
        );
    }
    assert!(
        lines[1].contains("running") && lines[1].contains("40%"),
        "{text}"
    );
    assert!(lines[2].contains("also after #0, #1"), "{text}");
    let v = env.ork(&["workflow", &id, "--json"]).await.json();
    assert_eq!(v["nodes"][2]["state"], "running");
    assert_eq!(v["nodes"][3]["deps"], serde_json::json!([0, 1, 2]));

    // Waiting: times out while the gate holds, then follows it to the end.
    let out = env.ork(&["wait", &id, "--timeout", "300ms"]).await;
    let stderr = out.fails_with(5);
    assert!(
        stderr.contains("2/5 nodes") && stderr.contains("still running"),
        "{stderr}"
    );
    knobs.gate.0.store(true, Ordering::SeqCst);
    let out = env.ork(&["wait", &id]).await;
    let text = out.ok();
    assert!(
        text.contains(&format!("workflow {id} succeeded (5 nodes")),
        "{text}"
    );
    assert!(
        out.stderr.contains("5/5 nodes"),
        "the bar ends full: {}",
        out.stderr
    );
    assert_eq!(run.output(last).await.unwrap(), 113);
    let text = env.ork(&["workflow", &id]).await.ok().to_owned();
    assert!(text.contains("succeeded  5/5 nodes done"), "{text}");
    assert!(text.contains(", took "), "{text}");

    // A failing workflow: wait exits 4 and names the node; retry re-runs it.
    let mut flow = Workflow::new("doomed");
    let g = flow.add(guarded::call("wf".into()));
    flow.add(greet::flow(g, 2));
    let run = env.ork.submit(flow).await.unwrap();
    let id = run.id().to_string();
    let out = env.ork(&["wait", &id, "--timeout", "20s"]).await;
    out.fails_with(4);
    assert!(
        out.stdout.contains("failed") && out.stdout.contains("switch is off for wf"),
        "{}",
        out.stdout
    );
    knobs.switch.0.store(true, Ordering::SeqCst);
    let text = env.ork(&["retry", &id]).await.ok().to_owned();
    assert!(text.contains("node(s) queued again"), "{text}");
    env.ork(&["wait", &id, "--timeout", "20s"]).await.ok();

    // Waiting for a job works too; ids of the other kind get a hint.
    let job = env.ork.enqueue(add::call(2, 2)).await.unwrap();
    let out = env.ork(&["wait", job.id().as_str(), "--json"]).await;
    assert_eq!(out.json()["result"]["kind"], "bytes");
    let err = env.ork(&["workflow", job.id().as_str()]).await;
    assert!(err.fails_with(1).contains(&format!("ork job {}", job.id())));
    let err = env.ork(&["job", &id]).await;
    assert!(err.fails_with(1).contains(&format!("ork workflow {id}")));
    let err = env.ork(&["wait", "NOPE"]).await;
    err.fails_with(1);

    // Cancelling a workflow cancels its unstarted nodes.
    knobs.gate.0.store(false, Ordering::SeqCst);
    let mut flow = Workflow::new("cancelled");
    let a = flow.add(gated::call(1));
    flow.add(add::flow(a, 1));
    let run = env.ork.submit(flow).await.unwrap();
    let id = run.id().to_string();
    let text = env.ork(&["cancel", &id]).await.ok().to_owned();
    assert!(text.contains(&format!("workflow {id} cancelled")), "{text}");
    knobs.gate.0.store(true, Ordering::SeqCst);
    assert_eq!(run.wait().await.unwrap(), WorkflowState::Cancelled);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_to_do() {
    let env = Env::new().await;
    env.ork.enqueue(add::call(1, 1)).await.unwrap();

    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let out = env.ork(&["status", "--redis", &url]).await;
    let stderr = out.fails_with(3);
    assert!(
        stderr.contains(&format!("cannot reach Redis at {url}")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "is redis-server running at {url}? set --redis or ORK_REDIS_URL"
        )),
        "{stderr}"
    );
    let out = env.ork(&["status", "--redis", "mysql://nope"]).await;
    assert!(out.fails_with(2).contains("redis://"), "{}", out.stderr);

    // A namespace nobody uses: the hint names the one in use.
    let out = env.ork(&["status", "--namespace", "typo"]).await;
    out.ok();
    assert!(out.stdout.contains("no queues yet"), "{}", out.stdout);
    assert!(
        out.stderr.contains(&format!(
            "namespace `typo` is empty; this server has: {}",
            env.ns
        )),
        "{}",
        out.stderr
    );
    let out = env.ork(&["job", "X", "--namespace", "typo"]).await;
    assert!(out
        .fails_with(1)
        .contains(&format!("this server has: {}", env.ns)));
    let out = env.ork(&["jobs", "--namespace", "typo"]).await;
    assert!(out.ok().contains("no jobs in namespace `typo`"));
    let out = env.ork(&["schedules", "--namespace", "typo"]).await;
    assert!(out.ok().contains("no schedules in namespace `typo`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_show_next_fire_times_and_last_runs() {
    let env = Env::new().await;
    let every = Schedule::every(Duration::from_secs(1));
    env.ork
        .schedule("every-second", every, add::call(1, 1))
        .await
        .unwrap();
    let digest = Schedule::cron("0 0 8 * * Mon-Fri")
        .unwrap()
        .tz("Europe/Paris");
    env.ork
        .schedule("digest", digest, greet::call("x".into(), 1))
        .await
        .unwrap();
    env.ork.pause("digest").await.unwrap();
    let (w, _knobs) = worker(&env, "schedule-worker");
    eventually("a tick to run", Duration::from_secs(20), || async {
        let all = env.ork.schedules().await.ok()?;
        let s = all.iter().find(|s| s.name == "every-second")?;
        (s.last_run.as_ref()?.state == Some(JobState::Succeeded)).then_some(())
    })
    .await;

    let out = env.ork(&["schedules"]).await;
    let text = out.ok();
    assert!(text.starts_with("NAME"), "{text}");
    let every = text
        .lines()
        .find(|l| l.starts_with("every-second"))
        .unwrap();
    assert!(
        every.contains("cli::add") && every.contains("every 1s"),
        "{every}"
    );
    assert!(
        every.contains("(in ") && every.contains("succeeded"),
        "{every}"
    );
    let digest = text.lines().find(|l| l.starts_with("digest")).unwrap();
    assert!(
        digest.contains("cron `0 0 8 * * Mon-Fri` in Europe/Paris"),
        "{digest}"
    );
    assert!(
        digest.contains("mail") && digest.contains("paused") && digest.contains("never"),
        "{digest}"
    );

    let v = env.ork(&["schedules", "--json"]).await.json();
    let all = v.as_array().unwrap();
    let every = all.iter().find(|s| s["name"] == "every-second").unwrap();
    assert_eq!(every["interval_ms"], 1000);
    assert!(every["next_at_ms"].as_u64().unwrap() > every["last_run"]["tick_ms"].as_u64().unwrap());
    assert!(!every["next_ms"].as_array().unwrap().is_empty());
    assert_eq!(every["last_run"]["state"], "succeeded");
    let digest = all.iter().find(|s| s["name"] == "digest").unwrap();
    assert_eq!(digest["paused"], true);
    assert_eq!(digest["time_zone"], "Europe/Paris");
    assert!(digest["next_at_ms"].is_null());
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_api_is_read_only_unless_allowed() {
    use common::http::{get, post};
    let env = Env::new().await;
    let (w, knobs) = worker(&env, "api-worker");
    let dead = dead_job(&env, "api").await;
    let mut flow = Workflow::new("api-flow");
    let a = flow.add(add::call(1, 2));
    flow.add(add::flow(a, 3));
    let run = env.ork.submit(flow).await.unwrap();
    run.wait().await.unwrap();

    let dash = common::Dashboard::start(&env, &[]);
    let page = get(&dash.url("/"));
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html"));
    assert!(page.body.contains("<svg id=\"dag\""));
    assert_eq!(get(&dash.url("/assets/app.js")).status, 200);
    assert_eq!(get(&dash.url("/assets/dag.js")).status, 200);
    assert_eq!(get(&dash.url("/assets/style.css")).status, 200);
    let o = get(&dash.url("/api/overview")).json();
    assert_eq!(o["title"], format!("ork · {}", env.ns));
    assert_eq!(o["allow_actions"], false);
    assert_eq!(o["queues"][0]["counts"]["dead"], 1);
    assert_eq!(o["workers"][0]["id"], "api-worker");
    let dead_list = get(&dash.url("/api/jobs?state=dead")).json();
    assert_eq!(dead_list[0]["id"], dead.as_str());
    let j = get(&dash.url(&format!("/api/jobs/{dead}"))).json();
    assert_eq!(j["error"], "switch is off for api");
    assert_eq!(get(&dash.url("/api/jobs/NOPE")).status, 404);
    let rebound = common::http::request(
        "GET",
        &dash.url("/api/overview"),
        &[("Host", "evil.example:7000")],
        None,
    )
    .unwrap();
    assert_eq!(rebound.status, 403, "a foreign Host is refused");
    assert_eq!(get(&dash.url("/api/jobs?state=zombie")).status, 400);
    let flows = get(&dash.url("/api/workflows")).json();
    assert_eq!(flows[0]["state"], "succeeded");
    let wf = get(&dash.url(&format!("/api/workflows/{}", run.id()))).json();
    assert_eq!(wf["nodes"][1]["deps"], serde_json::json!([0]));
    let schedules = get(&dash.url("/api/schedules"));
    assert_eq!((schedules.status, schedules.body.as_str()), (200, "[]"));

    // Read-only: every action is refused.
    let r = post(
        &dash.url(&format!("/api/jobs/{dead}/retry")),
        &[("X-Ork-Action", "1")],
        None,
    );
    assert_eq!(r.status, 403);
    assert!(r.json()["error"].as_str().unwrap().contains("read-only"));
    let r = post(
        &dash.url(&format!("/api/workflows/{}/cancel", run.id())),
        &[("X-Ork-Action", "1")],
        None,
    );
    assert_eq!(r.status, 403);

    // Prometheus text.
    let m = get(&dash.url("/metrics"));
    assert_eq!(m.status, 200);
    assert!(m.content_type.starts_with("text/plain; version=0.0.4"));
    assert!(m.body.contains("# TYPE ork_queue_jobs gauge"), "{}", m.body);
    assert!(
        m.body
            .contains("ork_queue_jobs{queue=\"default\",state=\"dead\"} 1\n"),
        "{}",
        m.body
    );
    assert!(
        m.body
            .contains("ork_queue_jobs{queue=\"default\",state=\"succeeded\"} 2\n"),
        "{}",
        m.body
    );
    assert!(m
        .body
        .contains("ork_queue_finished_per_second{queue=\"default\",outcome=\"succeeded\"}"));
    assert!(m.body.contains("ork_workers 1\n"));
    assert!(m
        .body
        .contains("ork_worker_processed_total{worker=\"api-worker\"}"));
    drop(dash);

    // With --allow-actions: the header is still required, then it acts.
    let dash = common::Dashboard::start(&env, &["--allow-actions"]);
    let url = dash.url(&format!("/api/jobs/{dead}/retry"));
    assert_eq!(post(&url, &[], None).status, 403);
    let r = post(
        &url,
        &[("X-Ork-Action", "1"), ("Host", "evil.example:80")],
        None,
    );
    assert_eq!(r.status, 403, "a foreign Host is refused: {}", r.body);
    knobs.switch.0.store(true, Ordering::SeqCst);
    let r = post(&url, &[("X-Ork-Action", "1")], None);
    assert_eq!(r.status, 200, "{}", r.body);
    let h = env.ork.handle::<String>(dead.clone());
    assert_eq!(
        h.result_timeout(Duration::from_secs(20)).await.unwrap(),
        "api"
    );
    let r = post(&url, &[("X-Ork-Action", "1")], None);
    assert_eq!(r.status, 409, "a succeeded job can't be retried");
    let later = env
        .ork
        .enqueue(add::call(1, 1).delay(Duration::from_secs(3600)))
        .await
        .unwrap();
    let r = post(
        &dash.url(&format!("/api/jobs/{}/cancel", later.id())),
        &[("X-Ork-Action", "1")],
        None,
    );
    assert_eq!(r.json()["outcome"], "cancelled");
    w.shutdown().await;
}

/// What an approver sends.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Approval {
    approved: bool,
    by: String,
}

/// Waits for an approval on `key`.
#[ork::task]
async fn approval(ctx: Context, key: String) -> ork::Result<Option<Approval>> {
    ctx.wait_for::<Approval>(&key, Duration::from_secs(600))
        .await
}

async fn parked(env: &Env, id: &ork::JobId) {
    eventually("the job to park", Duration::from_secs(20), || async {
        let info = env.ork.job(id).await.unwrap()?;
        info.parked.is_some().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_from_the_command_and_the_dashboard() {
    use common::http::{get, post};
    let env = Env::new().await;
    let (w, _knobs) = worker(&env, "signal-worker");
    let first = env
        .ork
        .enqueue(approval::call("approve:1".into()))
        .await
        .unwrap();
    parked(&env, first.id()).await;
    let shown = env.ork(&["job", first.id().as_str()]).await;
    let text = shown.ok();
    assert!(text.contains("signal `approve:1`"), "{text}");
    assert!(text.contains("timeout"), "{text}");
    let out = env
        .ork(&["signal", "approve:1", r#"{"approved": true, "by": "cli"}"#])
        .await;
    assert!(out.ok().contains("1 waiting job(s) woken"), "{}", out.ok());
    let by_cli = Approval {
        approved: true,
        by: "cli".into(),
    };
    assert_eq!(first.result().await.unwrap(), Some(by_cli));
    let bad = env.ork(&["signal", "approve:1", "{nope"]).await;
    assert!(bad.fails_with(2).contains("not JSON"));

    let second = env
        .ork
        .enqueue(approval::call("approve:2".into()))
        .await
        .unwrap();
    parked(&env, second.id()).await;
    let url = format!("/api/signals/{}", "approve%3A2");
    let body = r#"{"approved": false, "by": "dash"}"#;
    let dash = common::Dashboard::start(&env, &[]);
    let j = get(&dash.url(&format!("/api/jobs/{}", second.id()))).json();
    assert_eq!(j["waits_on"], "approve:2");
    assert_eq!(j["parked"], "signal `approve:2`");
    assert!(j["due_at_ms"].as_u64().is_some(), "the timeout: {j}");
    let r = post(&dash.url(&url), &[("X-Ork-Action", "1")], Some(body));
    assert_eq!(r.status, 403, "read-only");
    drop(dash);
    let dash = common::Dashboard::start(&env, &["--allow-actions"]);
    let r = post(&dash.url(&url), &[("X-Ork-Action", "1")], Some("{nope"));
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post(&dash.url(&url), &[("X-Ork-Action", "1")], Some(body));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["woken"], 1);
    let by_dash = Approval {
        approved: false,
        by: "dash".into(),
    };
    assert_eq!(second.result().await.unwrap(), Some(by_dash));
    let audit = get(&dash.url("/api/audit")).json();
    assert_eq!(audit[0]["action"], "signal");
    assert_eq!(audit[0]["target"], "signal approve:2");

    // A workflow's waiting node: its key and timeout in the graph's data.
    let mut flow = Workflow::new("approval");
    let wait = flow.wait_for::<Approval>("approve:3", Duration::from_secs(600));
    let run = env.ork.submit(flow).await.unwrap();
    parked(&env, &run.node(wait).id().clone()).await;
    let wf = get(&dash.url(&format!("/api/workflows/{}", run.id()))).json();
    let node = &wf["nodes"][0];
    assert_eq!(node["task"], "ork::wait_for");
    assert_eq!(node["state"], "scheduled");
    assert_eq!(node["waits_on"], "approve:3");
    assert!(node["due_at_ms"].as_u64().is_some(), "its timeout: {node}");
    run.cancel().await.unwrap();
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_worker_exports_its_counters() {
    let env = Env::new().await;
    let (w, _knobs) = worker(&env, "metrics-worker");
    env.ork
        .enqueue(add::call(1, 1))
        .await
        .unwrap()
        .result()
        .await
        .unwrap();
    dead_job(&env, "metrics").await;
    let text = ork_core::metrics::render(&env.ork).await.unwrap();
    assert!(
        text.contains("ork_queue_jobs{queue=\"default\",state=\"succeeded\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "ork_attempts_total{queue=\"default\",task=\"cli::add\",outcome=\"succeeded\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "ork_attempts_total{queue=\"default\",task=\"cli::guarded\",outcome=\"dead\"}"
        ),
        "{text}"
    );
    assert!(text.contains(
        "ork_attempt_duration_seconds_bucket{queue=\"default\",task=\"cli::add\",le=\"+Inf\"}"
    ));
    w.shutdown().await;
}

#[ork::task]
async fn numbers(n: i64) -> ork::Result<Vec<i64>> {
    Ok((0..n).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_shows_its_run_time_children() {
    let env = Env::new().await;
    let (w, _knobs) = worker(&env, "children-worker");
    let mut flow = Workflow::new("fan");
    let list = flow.add(numbers::call(3));
    let items = flow.map(list, |x| add::flow(x, 10));
    flow.add(sum::flow(items));
    let run = env.ork.submit(flow).await.unwrap();
    assert_eq!(run.wait().await.unwrap(), WorkflowState::Succeeded);
    let id = run.id().to_string();

    let text = env.ork(&["workflow", &id]).await.ok().to_owned();
    assert!(
        text.contains("run-time children of node 1 (cli::add):"),
        "{text}"
    );
    let map_node = run.meta().node_id(1);
    for i in 0..3 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{map_node}.{i} ")))
            .unwrap_or_else(|| panic!("item {i} listed\n{text}"));
        assert!(
            line.contains("cli::add") && line.contains("succeeded"),
            "{line}"
        );
    }
    let v = env.ork(&["workflow", &id, "--json"]).await.json();
    assert_eq!(v["children"]["1"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(v["children"]["1"][0]["state"], "succeeded");
    assert!(v["children"].get("0").is_none(), "{v}");

    let text = env.ork(&["job", map_node.as_str()]).await.ok().to_owned();
    assert!(text.contains(&format!("{map_node}.0")), "{text}");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_lists_two_pools_that_share_an_id() {
    let env = Env::new().await;
    let (first, _knobs) = worker(&env, "twin");
    let (second, _knobs2) = worker(&env, "twin");
    let ws = eventually(
        "both pools to register",
        Duration::from_secs(20),
        || async {
            let ws = env.ork.workers().await.unwrap();
            (ws.len() == 2).then_some(ws)
        },
    )
    .await;

    let text = env.ork(&["workers"]).await.ok().to_owned();
    let header = text.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("WORKER") && header.contains("INSTANCE"),
        "{text}"
    );
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("twin ")).collect();
    assert_eq!(rows.len(), 2, "{text}");
    for w in &ws {
        let row = rows.iter().filter(|r| r.contains(&w.instance)).count();
        assert_eq!(row, 1, "instance {} on one row\n{text}", w.instance);
    }
    let v = env.ork(&["workers", "--json"]).await.json();
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    assert_ne!(v[0]["instance"], v[1]["instance"], "{v}");
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_queues_and_tasks() {
    use common::http::{get, post};
    let env = Env::new().await;
    let (w, _knobs) = worker(&env, "pause-worker");
    let text = env
        .ork(&["pause", "--queue", "default"])
        .await
        .ok()
        .to_owned();
    assert!(text.contains("queue default paused"), "{text}");
    let text = env
        .ork(&["pause", "--queue", "default"])
        .await
        .ok()
        .to_owned();
    assert!(text.contains("already paused"), "{text}");
    let h = env.ork.enqueue(add::call(1, 2)).await.unwrap();
    let id = h.id().to_string();

    // `ork job` says why it waits; `ork status` and /metrics list the pause.
    let text = env.ork(&["job", &id]).await.ok().to_owned();
    assert!(text.contains("paused: queue default"), "{text}");
    let v = env.ork(&["job", &id, "--json"]).await.json();
    assert_eq!(v["held"], "paused: queue default");
    let text = env.ork(&["status"]).await.ok().to_owned();
    assert!(text.contains("queue default  1 job(s) held"), "{text}");
    let v = env.ork(&["status", "--json"]).await.json();
    assert_eq!(
        v["paused"],
        serde_json::json!([{ "kind": "queue", "name": "default", "held": 1 }])
    );
    let m = ork_core::metrics::render(&env.ork).await.unwrap();
    assert!(
        m.contains("ork_paused_held{kind=\"queue\",name=\"default\"} 1\n"),
        "{m}"
    );
    assert_eq!(h.status().await.unwrap(), JobState::Queued);

    let text = env
        .ork(&["resume", "--queue", "default"])
        .await
        .ok()
        .to_owned();
    assert!(text.contains("queue default resumed"), "{text}");
    assert_eq!(h.result_timeout(Duration::from_secs(20)).await.unwrap(), 3);

    // A task, from the dashboard: its jobs wait, other tasks' jobs run.
    let dash = common::Dashboard::start(&env, &["--allow-actions"]);
    let task = <add as ork::Task>::OPTIONS.name;
    let r = post(
        &dash.url(&format!("/api/tasks/{task}/pause")),
        &[("X-Ork-Action", "1")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["changed"], true);
    let held = env.ork.enqueue(add::call(2, 2)).await.unwrap();
    let greeting = env
        .ork
        .enqueue(greet::call("ann".to_owned(), 1))
        .await
        .unwrap();
    greeting
        .result_timeout(Duration::from_secs(20))
        .await
        .unwrap();
    let o = get(&dash.url("/api/overview")).json();
    assert_eq!(o["paused"][0]["kind"], "task");
    assert_eq!(o["paused"][0]["name"], task);
    let text = env.ork(&["job", held.id().as_str()]).await.ok().to_owned();
    assert!(text.contains(&format!("paused: task {task}")), "{text}");
    assert_eq!(held.status().await.unwrap(), JobState::Queued);
    let r = post(
        &dash.url(&format!("/api/tasks/{task}/resume")),
        &[("X-Ork-Action", "1")],
        None,
    );
    assert_eq!(r.json()["changed"], true);
    assert_eq!(
        held.result_timeout(Duration::from_secs(20)).await.unwrap(),
        4
    );
    // A queue from the dashboard, audited.
    let r = post(
        &dash.url("/api/queues/mail/pause"),
        &[("X-Ork-Action", "1")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let audit = get(&dash.url("/api/audit")).json();
    assert_eq!(audit[0]["action"], "pause");
    assert_eq!(audit[0]["target"], "queue mail");
    assert_eq!(env.ork.paused().await.unwrap().len(), 1);

    // Bad usage.
    env.ork(&["pause"]).await.fails_with(2);
    env.ork(&["pause", "--queue", "a", "--task", "b"])
        .await
        .fails_with(2);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_caps_show_in_status_and_job() {
    let env = Env::new().await;
    env.ork.set_queue_cap("mail", Some(1)).await.unwrap();
    let first = env
        .ork
        .enqueue(add::call(1, 1).queue("mail"))
        .await
        .unwrap();
    let second = env
        .ork
        .enqueue(add::call(2, 2).queue("mail"))
        .await
        .unwrap();
    // A claim (as a worker's) takes the first and holds the second back.
    let req =
        ork::backend::ClaimRequest::new("w", vec!["mail".into()], 10, Duration::from_secs(30));
    let got = env.ork.backend().claim(&req).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].lease.id, first.id());

    let text = env.ork(&["status"]).await.ok().to_owned();
    assert!(
        text.contains("queue mail  1 of 1 running, 1 job(s) held"),
        "{text}"
    );
    let v = env.ork(&["status", "--json"]).await.json();
    assert_eq!(v["running_caps"][0]["name"], "queue mail");
    assert_eq!(v["running_caps"][0]["held"], 1);
    let text = env
        .ork(&["job", second.id().as_str()])
        .await
        .ok()
        .to_owned();
    assert!(text.contains("cap 1 reached for queue mail"), "{text}");
    let m = ork_core::metrics::render(&env.ork).await.unwrap();
    assert!(m.contains("ork_cap_held{cap=\"queue mail\"} 1\n"), "{m}");

    // A rate limiter: listed, and a job past its token says so.
    env.ork
        .limiter("cli-stripe", ork::Rate::per_minute(1))
        .await
        .unwrap();
    let a = env.ork.enqueue(limited::call()).await.unwrap();
    let b = env.ork.enqueue(limited::call()).await.unwrap();
    let req = ork::backend::ClaimRequest::new("w", vec!["lim".into()], 10, Duration::from_secs(30));
    let got = env.ork.backend().claim(&req).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].lease.id, a.id());
    let text = env.ork(&["status"]).await.ok().to_owned();
    assert!(text.contains("cli-stripe  1/m"), "{text}");
    let text = env.ork(&["job", b.id().as_str()]).await.ok().to_owned();
    assert!(
        text.contains("rate limited by limiter cli-stripe: due at its token's time"),
        "{text}"
    );
}

#[ork::task(queue = "lim", limiter = "cli-stripe")]
async fn limited() -> ork::Result<()> {
    Ok(())
}
