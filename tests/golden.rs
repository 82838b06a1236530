//! Golden stored forms: bytes written by released orks, under
//! `tests/golden/`, read by this one. Stored bytes outlive the code that
//! wrote them, so these files are never edited or written again: a new
//! format adds its own files (`*.v3.bin`) beside them, and every file here
//! keeps being read, with the same field values, forever.
//!
//! `*.v1.bin` were written by format 1 (positional bincode), `*.v2.bin` by
//! format 2 (tagged fields). A missing golden of the current format is
//! written by running this test with `ORK_BLESS_GOLDEN=1`.

use std::time::Duration;

use ork_core::backend::memory::MemoryBackend;
use ork_core::backend::ScheduleStore;
use ork_core::job::{ArgSpec, JobId, JobRecord};
use ork_core::stored::{self, FORMAT};
use ork_core::{Backoff, Codec, Missed, Ork, Schedule};

const RECORD_ID: &str = "01KB0GQ2X8GOLDEN000000000";
const FLOW: &str = "01KB0GQ2X8FLOW00000000000";

/// A golden file's bytes.
fn golden(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A golden file of the current format; a missing one is written from
/// `current` when blessing, never overwritten.
fn blessed(name: &str, current: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("ORK_BLESS_GOLDEN").is_some() && !std::path::Path::new(&path).exists() {
        std::fs::write(&path, current()).unwrap();
    }
    golden(name)
}

/// The job record of the goldens: every field set, none at its default.
fn every_field() -> JobRecord {
    let mut r = JobRecord::new("golden::every_field", b"[42,\"forty-two\"]".to_vec());
    r.id = JobId::from(RECORD_ID);
    r.queue = "golden-queue".into();
    r.codec = Codec::Json;
    r.priority = 9;
    r.retries = 5;
    r.backoff = Backoff::Fixed { delay_ms: 2500 };
    r.timeout_ms = 30_000;
    r.result_ttl_ms = 3_600_000;
    r.unique = Some("golden:unique".into());
    r.delay_ms = 1500;
    r.run_at_ms = Some(1_800_000_000_000);
    r.deps = vec![
        JobId::from("01KB0GQ2X8DEPA00000000000"),
        JobId::from("01KB0GQ2X8DEPB00000000000"),
    ];
    r.allow_failure = true;
    r.workflow = Some(JobId::from(FLOW));
    r.parent = Some(JobId::from("01KB0GQ2X8PARENT000000000"));
    let node = |i: usize| JobId::from(format!("{FLOW}.{i}"));
    r.inputs = vec![
        ArgSpec::Value(b"7".to_vec()),
        ArgSpec::Output(node(0)),
        ArgSpec::OutputOrError(node(1)),
        ArgSpec::All(vec![node(0), node(1)]),
        ArgSpec::Item,
    ];
    r
}

fn check_record(r: &JobRecord) {
    assert_eq!(r.id.as_str(), RECORD_ID);
    assert_eq!(r.task, "golden::every_field");
    assert_eq!(r.queue, "golden-queue");
    assert_eq!(r.payload, b"[42,\"forty-two\"]");
    assert_eq!(r.codec, Codec::Json);
    assert_eq!(r.priority, 9);
    assert_eq!(r.retries, 5);
    assert_eq!(r.backoff, Backoff::Fixed { delay_ms: 2500 });
    assert_eq!(r.timeout_ms, 30_000);
    assert_eq!(r.result_ttl_ms, 3_600_000);
    assert_eq!(r.unique.as_deref(), Some("golden:unique"));
    assert_eq!(r.delay_ms, 1500);
    assert_eq!(r.run_at_ms, Some(1_800_000_000_000));
    let deps: Vec<&str> = r.deps.iter().map(JobId::as_str).collect();
    assert_eq!(
        deps,
        ["01KB0GQ2X8DEPA00000000000", "01KB0GQ2X8DEPB00000000000"]
    );
    assert!(r.allow_failure);
    assert_eq!(r.workflow.as_ref().map(JobId::as_str), Some(FLOW));
    assert_eq!(
        r.parent.as_ref().map(JobId::as_str),
        Some("01KB0GQ2X8PARENT000000000")
    );
    assert_eq!(r.inputs.len(), 5);
    assert_eq!(r.inputs[0], ArgSpec::Value(b"7".to_vec()));
    assert_eq!(
        r.inputs[1],
        ArgSpec::Output(JobId::from(format!("{FLOW}.0")))
    );
    assert_eq!(
        r.inputs[2],
        ArgSpec::OutputOrError(JobId::from(format!("{FLOW}.1")))
    );
    assert_eq!(
        r.inputs[3],
        ArgSpec::All(vec![
            JobId::from(format!("{FLOW}.0")),
            JobId::from(format!("{FLOW}.1"))
        ])
    );
    assert_eq!(r.inputs[4], ArgSpec::Item);
    assert_eq!(r.idempotency_key, None);
    assert_eq!(*r, every_field());
}

#[test]
fn job_record_format_1() {
    let bytes = golden("job-record.v1.bin");
    check_record(&stored::decode_record(RECORD_ID, &bytes).unwrap());
}

#[test]
fn job_record_format_2() {
    let bytes = blessed("job-record.v2.bin", || {
        stored::encode_record(&every_field()).unwrap()
    });
    check_record(&stored::decode_record(RECORD_ID, &bytes).unwrap());
}

/// The flow-control fields, added within format 2 (tags 18 to 23): read
/// back as written; records written before them read as without them
/// (`job_record_format_2` above).
#[test]
fn job_record_format_2_running_caps() {
    let capped = || {
        let mut r = every_field();
        r.max_running = Some(5);
        r.concurrency_key = Some("golden:customer-7".into());
        r.key_limit = Some(2);
        r.rate = Some(ork_core::Rate::per_second(100).burst(5));
        r.limiter = Some("golden-stripe".into());
        r.rate_key = Some("golden:tenant-3".into());
        r
    };
    let bytes = blessed("job-record-caps.v2.bin", || {
        stored::encode_record(&capped()).unwrap()
    });
    let r = stored::decode_record(RECORD_ID, &bytes).unwrap();
    assert_eq!(r.max_running, Some(5));
    assert_eq!(r.concurrency_key.as_deref(), Some("golden:customer-7"));
    assert_eq!(r.key_limit, Some(2));
    assert_eq!(r.rate, Some(ork_core::Rate::per_second(100).burst(5)));
    assert_eq!(r.limiter.as_deref(), Some("golden-stripe"));
    assert_eq!(r.rate_key.as_deref(), Some("golden:tenant-3"));
    assert_eq!(r, capped());
}

fn golden_schedule() -> (Schedule, JobRecord) {
    let s = Schedule::cron("0 30 2 * * Mon-Fri")
        .unwrap()
        .tz("Europe/Paris")
        .missed(Missed::CatchUp(4))
        .grace(Duration::from_millis(1500))
        .skip_if_running(true);
    let mut t = JobRecord::new("golden::report", Codec::Bincode.encode(&(7u32,)).unwrap());
    t.id = JobId::from("");
    t.queue = "reports".into();
    t.priority = 3;
    t.retries = 2;
    t.timeout_ms = 60_000;
    (s, t)
}

fn check_schedule(bytes: &[u8]) {
    let (s, t) = stored::decode_schedule(bytes).unwrap();
    assert_eq!(s.expression(), Some("0 30 2 * * Mon-Fri"));
    assert_eq!(s.time_zone(), Some("Europe/Paris"));
    assert_eq!(s.interval(), None);
    assert_eq!(s.missed_policy(), Missed::CatchUp(4));
    assert_eq!(s.grace_period(), Duration::from_millis(1500));
    assert!(s.skips_if_running());
    assert_eq!(t.id.as_str(), "");
    assert_eq!(t.task, "golden::report");
    assert_eq!(t.queue, "reports");
    assert_eq!(t.payload, [7]);
    assert_eq!(t.codec, Codec::Bincode);
    assert_eq!((t.priority, t.retries, t.timeout_ms), (3, 2, 60_000));
    assert_eq!(t.backoff, Backoff::default());
    assert_eq!(t.result_ttl_ms, 86_400_000);
    assert!(t.deps.is_empty() && t.inputs.is_empty() && t.unique.is_none());
    assert_eq!((s, t), golden_schedule());
}

#[test]
fn schedule_format_1() {
    check_schedule(&golden("schedule.v1.bin"));
}

#[test]
fn schedule_format_2() {
    check_schedule(&blessed("schedule.v2.bin", || {
        let (s, t) = golden_schedule();
        stored::encode_schedule(&s, &t).unwrap()
    }));
}

fn check_workflow(bytes: &[u8]) {
    let meta = stored::decode_workflow(bytes).unwrap();
    assert_eq!(meta.id.as_str(), FLOW);
    assert_eq!(meta.name, "golden-flow");
    assert_eq!(meta.created_at_ms, 1_764_460_800_000);
    let nodes: Vec<(&str, &[usize], bool)> = meta
        .nodes
        .iter()
        .map(|n| (n.task.as_str(), n.deps.as_slice(), n.allow_failure))
        .collect();
    assert_eq!(
        nodes,
        [
            ("golden::fetch", &[][..], false),
            ("golden::parse", &[0][..], true),
            ("golden::join", &[0, 1][..], false),
        ]
    );
}

#[test]
fn workflow_format_1() {
    check_workflow(&golden("workflow.v1.bin"));
}

#[test]
fn workflow_format_2() {
    check_workflow(&blessed("workflow.v2.bin", || {
        let v1 = golden("workflow.v1.bin");
        stored::encode_workflow(&stored::decode_workflow(&v1).unwrap()).unwrap()
    }));
}

/// This ork writes exactly the golden bytes of its format: a change to
/// the current format's bytes is caught here (it needs a new format).
#[test]
fn this_ork_writes_the_current_goldens() {
    assert_eq!(FORMAT, 2, "a new format adds its goldens and this check");
    let record = golden("job-record.v2.bin");
    assert_eq!(stored::encode_record(&every_field()).unwrap(), record);
    let (s, t) = golden_schedule();
    let schedule = golden("schedule.v2.bin");
    assert_eq!(stored::encode_schedule(&s, &t).unwrap(), schedule);
    let flow = golden("workflow.v2.bin");
    let meta = stored::decode_workflow(&flow).unwrap();
    assert_eq!(stored::encode_workflow(&meta).unwrap(), flow);
}

/// The golden schedules, stored as an older ork left them, are listed by
/// the client like any other.
#[tokio::test]
async fn golden_schedules_are_listed() {
    let backend = MemoryBackend::new();
    for (name, file) in [("v1", "schedule.v1.bin"), ("v2", "schedule.v2.bin")] {
        let bytes = golden(file);
        assert!(backend.put_schedule(name, bytes).await.unwrap());
    }
    let ork = Ork::with_backend(backend);
    let listed = ork.schedules().await.unwrap();
    assert_eq!(listed.len(), 2);
    for info in listed {
        assert_eq!(info.task, "golden::report");
        assert_eq!(info.queue, "reports");
        assert_eq!(info.schedule, golden_schedule().0);
    }
}
