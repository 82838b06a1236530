use std::time::Duration;

use super::*;
use crate::job::{ArgSpec, JobId, JobRecord};
use crate::retry::Backoff;
use crate::schedule::{Missed, Schedule};
use crate::workflow::{NodeMeta, WorkflowMeta};

fn full_record() -> JobRecord {
    let mut r = JobRecord::new("app::task", vec![1, 2, 3]);
    r.id = JobId::from("");
    r.queue = "mail".into();
    r.priority = 9;
    r.retries = 4;
    r.backoff = Backoff::Fixed { delay_ms: 250 };
    r.timeout_ms = 30_000;
    r.result_ttl_ms = 1;
    r.unique = Some(String::new());
    r.delay_ms = 70_000;
    r.run_at_ms = Some(u64::MAX);
    r.deps = vec![JobId::from("A"), JobId::from("B")];
    r.allow_failure = true;
    r.workflow = Some(JobId::from("W"));
    r.parent = Some(JobId::from("P"));
    r.inputs = vec![
        ArgSpec::Value(vec![7]),
        ArgSpec::Output(JobId::from("W.0")),
        ArgSpec::OutputOrError(JobId::from("W.1")),
        ArgSpec::All(vec![JobId::from("W.0")]),
        ArgSpec::Item,
    ];
    r
}

#[test]
fn varints_are_bincodes() {
    for v in [
        0u64,
        1,
        250,
        251,
        255,
        65_535,
        65_536,
        u32::MAX as u64,
        u64::MAX,
    ] {
        let mut ours = Vec::new();
        put_varint(&mut ours, v);
        assert_eq!(ours, Codec::Bincode.encode(&v).unwrap(), "{v}");
        assert_eq!(varint(&ours), Some((v, &[][..])));
    }
    assert_eq!(varint(&[251, 1]), None);
    assert_eq!(varint(&[254, 0, 0]), None);
}

#[test]
fn records_round_trip_without_their_id() {
    let mut r = full_record();
    r.id = JobId::from("01ID");
    let bytes = encode_record(&r).unwrap();
    assert_eq!(bytes[0], FORMAT);
    assert!(!bytes.windows(4).any(|w| w == b"01ID"));
    assert_eq!(decode_record("01ID", &bytes).unwrap(), r);
}

#[test]
fn a_record_at_its_defaults_is_its_task_and_payload() {
    let mut r = JobRecord::new("t", vec![5]);
    let bytes = encode_record(&r).unwrap();
    assert_eq!(bytes, [FORMAT, 1, 1, b't', 3, 1, 5]);
    r.id = JobId::from("x");
    assert_eq!(decode_record("x", &bytes).unwrap(), r);
}

#[test]
fn unknown_fields_are_skipped_and_absent_ones_are_defaults() {
    let r = full_record();
    let mut bytes = encode_record(&r).unwrap();
    // A field of a later ork, at the end and in the middle.
    bytes.extend_from_slice(&[200, 3, 9, 9, 9]);
    let mut middle = vec![FORMAT, 99, 251, 2, 0];
    middle.extend_from_slice(&[0u8; 2]);
    middle.extend_from_slice(&bytes[1..]);
    for b in [&bytes, &middle] {
        assert_eq!(decode_record("", b).unwrap(), r);
    }
    // Only a task: everything else reads as the format's defaults.
    let only = decode_record("", &[FORMAT, 1, 1, b't']).unwrap();
    assert_eq!(only.queue, "default");
    assert_eq!(only.result_ttl_ms, 86_400_000);
    assert_eq!(only.backoff, Backoff::default());
    assert!(only.payload.is_empty() && only.deps.is_empty() && only.unique.is_none());
}

#[test]
fn newer_formats_are_refused_by_name() {
    let e = decode_record("x", &[3, 1, 1, b't'])
        .unwrap_err()
        .to_string();
    assert!(e.contains("written by a newer ork (format 3)"), "{e}");
    let e = decode_workflow(&[0, 7]).unwrap_err().to_string();
    assert!(e.contains("written by a newer ork (format 7)"), "{e}");
    let e = decode_schedule(&[250]).unwrap_err().to_string();
    assert!(e.contains("written by a newer ork (format 250)"), "{e}");
    // A schedule whose tick job is newer is refused as well.
    let mut s = vec![FORMAT, 3, 1, 60, 7, 1, 9];
    assert!(decode_schedule(&s)
        .unwrap_err()
        .to_string()
        .contains("format 9"));
    s.truncate(4);
    assert!(decode_schedule(&s).is_ok());
}

#[test]
fn format_1_records_still_read() {
    // As format 1 wrote it: a 1, then the record in bincode, id empty.
    let r = full_record();
    let mut bytes = vec![1];
    bytes.extend(Codec::Bincode.encode(&r).unwrap());
    assert_eq!(decode_record("", &bytes).unwrap(), r);
}

#[test]
fn schedules_round_trip() {
    let cron = Schedule::cron("0 30 2 * * *")
        .unwrap()
        .tz("Europe/Paris")
        .missed(Missed::CatchUp(4))
        .grace(Duration::from_millis(1500))
        .skip_if_running(true);
    let every = Schedule::every(Duration::from_secs(30));
    for s in [cron, every] {
        let t = full_record();
        let (back, template) = decode_schedule(&encode_schedule(&s, &t).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(template, t);
    }
    assert!(decode_schedule(&[FORMAT]).is_err());
}

#[test]
fn workflows_round_trip() {
    let meta = WorkflowMeta {
        id: JobId::from("01W"),
        name: "nightly".into(),
        created_at_ms: 1_700_000_000_000,
        nodes: vec![
            NodeMeta {
                task: "a".into(),
                deps: vec![],
                allow_failure: false,
            },
            NodeMeta {
                task: String::new(),
                deps: vec![0],
                allow_failure: true,
            },
        ],
    };
    let bytes = encode_workflow(&meta).unwrap();
    assert_eq!(&bytes[..2], &[0, FORMAT]);
    assert_eq!(decode_workflow(&bytes).unwrap(), meta);
    // Format 1: positional bincode, no header.
    let v1 = Codec::Bincode.encode(&meta).unwrap();
    assert_eq!(decode_workflow(&v1).unwrap(), meta);
}

#[test]
fn a_plain_record_is_smaller_than_in_format_1() {
    let mut r = JobRecord::new("app::tasks::noop", vec![0]);
    r.id = JobId::from("");
    let mut v1 = vec![1];
    v1.extend(Codec::Bincode.encode(&r).unwrap());
    let v2 = encode_record(&r).unwrap();
    assert_eq!((v1.len(), v2.len()), (56, 22));
}
