//! Arbitrary bytes never panic a decoder: stored records, schedules and
//! workflow descriptions, and payloads. Each decoder gets 10,000 inputs
//! from a seeded generator (the same ones every run): random bytes, random
//! bytes behind a valid header, and valid encodings with bytes flipped,
//! inserted or cut off. A decoder answers `Ok` or `Err`; a panic fails the
//! test and prints the input.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use ork_core::job::{ArgSpec, JobId, JobRecord};
use ork_core::stored::{self, FORMAT};
use ork_core::{Backoff, Codec, Missed, Schedule, TaskError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const CASES: usize = 10_000;

/// Inputs for one decoder: each case drawn from `rng`, around `seeds`
/// (valid encodings) and `headers` (valid first bytes).
fn inputs(seed: u64, seeds: &[Vec<u8>], headers: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let random = |rng: &mut fastrand::Rng, max: usize| -> Vec<u8> {
        let len = rng.usize(..=max);
        (0..len).map(|_| rng.u8(..)).collect()
    };
    (0..CASES)
        .map(|_| match rng.u8(..4) {
            0 => random(&mut rng, 48),
            1 => {
                let mut b = headers[rng.usize(..headers.len())].to_vec();
                b.extend(random(&mut rng, 48));
                b
            }
            _ => {
                let mut b = seeds[rng.usize(..seeds.len())].clone();
                for _ in 0..rng.usize(1..=4) {
                    if b.is_empty() {
                        break;
                    }
                    let at = rng.usize(..b.len());
                    match rng.u8(..4) {
                        0 => b.truncate(at),
                        1 => b.insert(at, rng.u8(..)),
                        2 => b[at] ^= 1 << rng.u8(..8),
                        _ => b[at] = rng.u8(..),
                    }
                }
                b
            }
        })
        .collect()
}

/// Runs `decode` on every input; a panic fails with the input in hex.
/// Checks that the inputs reach both answers: some decode, some are
/// refused.
fn never_panics<T, E>(name: &str, inputs: &[Vec<u8>], decode: impl Fn(&[u8]) -> Result<T, E>) {
    let mut ok = 0;
    for input in inputs {
        match catch_unwind(AssertUnwindSafe(|| decode(input))) {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(_)) => {}
            Err(_) => {
                let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
                panic!("{name} panicked on {hex}");
            }
        }
    }
    assert!(
        ok > 0 && ok < inputs.len(),
        "{name}: {ok} of {} decoded",
        inputs.len()
    );
}

fn records() -> Vec<JobRecord> {
    let plain = JobRecord::new("app::noop", vec![0]);
    let mut full = JobRecord::new("app::task", vec![1, 2, 3, 4]);
    full.queue = "mail".into();
    full.priority = 9;
    full.retries = 4;
    full.backoff = Backoff::Fixed { delay_ms: 300 };
    full.timeout_ms = 70_000;
    full.result_ttl_ms = 5;
    full.unique = Some("u".into());
    full.delay_ms = 1 << 40;
    full.run_at_ms = Some(u64::MAX);
    full.deps = vec![JobId::from("A"), JobId::from("B")];
    full.allow_failure = true;
    full.workflow = Some(JobId::from("W"));
    full.parent = Some(JobId::from("P"));
    full.inputs = vec![
        ArgSpec::Value(vec![7; 300]),
        ArgSpec::Output(JobId::from("W.0")),
        ArgSpec::OutputOrError(JobId::from("W.1")),
        ArgSpec::All(vec![JobId::from("W.0"), JobId::from("W.1")]),
        ArgSpec::Item,
    ];
    vec![plain, full]
}

#[test]
fn record_decoding_never_panics() {
    let mut seeds: Vec<Vec<u8>> = records()
        .iter()
        .map(|r| stored::encode_record(r).unwrap())
        .collect();
    // Format 1: a 1, then the record in positional bincode.
    for r in records() {
        let mut v1 = vec![1];
        v1.extend(Codec::Bincode.encode(&r).unwrap());
        seeds.push(v1);
    }
    let inputs = inputs(1, &seeds, &[&[1], &[FORMAT], &[FORMAT, 1], &[FORMAT, 17]]);
    never_panics("decode_record", &inputs, |b| stored::decode_record("id", b));
}

#[test]
fn schedule_decoding_never_panics() {
    let cron = Schedule::cron("0 30 2 * * Mon-Fri")
        .unwrap()
        .tz("Europe/Paris")
        .missed(Missed::CatchUp(3))
        .grace(Duration::from_secs(9))
        .skip_if_running(true);
    let every = Schedule::every(Duration::from_secs(30)).missed(Missed::Skip);
    let seeds: Vec<Vec<u8>> = records()
        .iter()
        .flat_map(|t| [cron.clone(), every.clone()].map(|s| stored::encode_schedule(&s, t)))
        .map(Result::unwrap)
        .collect();
    let inputs = inputs(2, &seeds, &[&[1], &[FORMAT], &[FORMAT, 1]]);
    never_panics("decode_schedule", &inputs, stored::decode_schedule);
}

#[test]
fn workflow_decoding_never_panics() {
    // A description of format 2, by hand: id, name, created at, two nodes.
    let node_a = [1, 1, b'a'];
    let node_b = [1, 1, b'b', 2, 2, 1, 0, 3, 0];
    let mut v2 = vec![0, FORMAT, 1, 3, b'W', b'0', b'1', 2, 1, b'n', 3, 1, 42];
    v2.extend([4, node_a.len() as u8]);
    v2.extend(node_a);
    v2.extend([4, node_b.len() as u8]);
    v2.extend(node_b);
    assert_eq!(stored::decode_workflow(&v2).unwrap().nodes.len(), 2);
    // Format 1: positional bincode of (id, name, created at, nodes).
    let v1 = Codec::Bincode
        .encode(&(
            "W01",
            "n",
            42u64,
            vec![("a", Vec::<usize>::new(), false), ("b", vec![0usize], true)],
        ))
        .unwrap();
    assert_eq!(stored::decode_workflow(&v1).unwrap().nodes.len(), 2);
    let inputs = inputs(3, &[v1, v2], &[&[0, FORMAT], &[0], &[3]]);
    never_panics("decode_workflow", &inputs, stored::decode_workflow);
}

/// A task's arguments, as a user might declare them.
#[derive(Debug, Serialize, Deserialize)]
struct Order {
    id: u64,
    customer: String,
    lines: Vec<(String, u32, f64)>,
    note: Option<String>,
    tags: BTreeMap<String, i64>,
    kind: Kind,
}

#[derive(Debug, Serialize, Deserialize)]
enum Kind {
    Retail,
    Wholesale { discount: u8 },
    Gift(String),
}

fn order() -> Order {
    Order {
        id: 77,
        customer: "ada".into(),
        lines: vec![("book".into(), 2, 12.5), ("pen".into(), 10, 0.99)],
        note: Some("leave at the door".into()),
        tags: [("vip".to_owned(), 1), ("region".to_owned(), -3)].into(),
        kind: Kind::Wholesale { discount: 15 },
    }
}

fn payloads<T: DeserializeOwned>(codec: Codec, seed: u64, seeds: &[Vec<u8>]) {
    let inputs = inputs(seed, seeds, &[&[0], &[1], &[251, 255]]);
    never_panics("payload", &inputs, |b| codec.decode::<T>(b));
}

#[test]
fn payload_decoding_never_panics() {
    let codecs = vec![
        Codec::Bincode,
        #[cfg(feature = "json")]
        Codec::Json,
    ];
    for (i, c) in codecs.into_iter().enumerate() {
        let seed = 10 * i as u64;
        let order = c.encode(&(order(), 5u8)).unwrap();
        payloads::<(Order, u8)>(c, seed + 1, std::slice::from_ref(&order));
        let args = c
            .encode(&(-1i64, "two".to_owned(), vec![3u16; 40]))
            .unwrap();
        payloads::<(i64, String, Vec<u16>)>(c, seed + 2, &[args]);
        let result = c.ok(&c.encode(&Some(vec!["x".to_owned()])).unwrap());
        let failure = c.err(&TaskError::new("boom"));
        payloads::<Result<Option<Vec<String>>, TaskError>>(c, seed + 3, &[result, failure]);
        // A workflow's fan-in arrives as a sequence, split into items.
        let parts: Vec<Vec<u8>> = (0..5i32).map(|i| c.encode(&i).unwrap()).collect();
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let seq = c.seq(&refs);
        let inputs = inputs(seed + 4, &[seq], &[&[0], &[5]]);
        never_panics("split_seq", &inputs, |b| c.split_seq::<i32>(b));
    }
}
