//! How a job is stored: the record blob and the fields of the job hash.

use ork_core::job::{JobId, JobInfo, JobRecord, JobState};
use ork_core::{Error, Result};
use redis::Value;

/// Encodes a record as stored in the job hash's `d` field: its stored form
/// (format 2, see [`ork_core::stored`]), without its id (the id is in the
/// key name).
pub(crate) fn encode_record(record: &JobRecord) -> Result<Vec<u8>> {
    ork_core::stored::encode_record(record)
}

/// Decodes a record blob of job `id`, of this ork's format or an older
/// one; a newer one is an error ("written by a newer ork (format N)").
pub(crate) fn decode_record(id: &str, blob: &[u8]) -> Result<JobRecord> {
    ork_core::stored::decode_record(id, blob)
}

/// The state for a state code of the job hash.
pub(crate) fn state_from_code(code: &[u8]) -> Option<JobState> {
    Some(match code {
        b"w" => JobState::Waiting,
        b"s" => JobState::Scheduled,
        b"q" => JobState::Queued,
        b"r" => JobState::Running,
        b"o" => JobState::Succeeded,
        b"d" => JobState::Dead,
        b"c" => JobState::Cancelled,
        _ => return None,
    })
}

/// The state code of a state, as stored in the job hash.
pub(crate) fn state_code(state: JobState) -> &'static str {
    match state {
        JobState::Waiting => "w",
        JobState::Scheduled => "s",
        JobState::Queued => "q",
        JobState::Running => "r",
        JobState::Succeeded => "o",
        JobState::Dead => "d",
        _ => "c",
    }
}

fn num<T: std::str::FromStr>(v: &[u8]) -> Option<T> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Builds a job's info from its hash (field, value pairs as `HGETALL` or
/// `jobs.lua` return them). `None` when the hash is empty (unknown or
/// expired).
///
/// A job whose record can't be decoded (or that has none: garbage put in a
/// queue) is still shown, with an empty task name, and its error says why.
pub(crate) fn info_from_fields(id: &str, fields: Vec<Value>) -> Option<JobInfo> {
    if fields.is_empty() {
        return None;
    }
    if bytes_of(&fields[0]).as_deref() == Some(b"!err".as_slice()) {
        let why = fields.get(1).and_then(bytes_of).unwrap_or_default();
        return Some(unreadable(id, &String::from_utf8_lossy(&why)));
    }
    let mut blob = None;
    let mut queue = Vec::new();
    let mut state = JobState::Dead;
    let mut attempts = 0;
    let mut error = None;
    let mut result = None;
    let mut progress = 0;
    let mut enqueued_at = 0;
    let mut started_at = None;
    let mut finished_at = None;
    let mut due_at = None;
    let mut cancel_requested = false;
    let mut parked = None;
    let mut it = fields.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        // Taken, not copied: a lookup of many jobs moves a lot of bytes.
        let (Some(k), Some(v)) = (into_bytes(k), into_bytes(v)) else {
            continue;
        };
        match k.as_slice() {
            b"d" => blob = Some(v),
            b"q" => queue = v,
            b"s" => state = state_from_code(&v).unwrap_or(JobState::Dead),
            b"r" => {
                // "<fence>:<attempts>:<lost leases>:<started at>"
                let mut parts = v.split(|&b| b == b':').skip(1);
                attempts = parts.next().and_then(num).unwrap_or(0);
                started_at = parts.nth(1).and_then(num);
            }
            b"e" => error = Some(String::from_utf8_lossy(&v).into_owned()),
            b"R" => result = Some(v),
            b"pg" => progress = num(&v).unwrap_or(0),
            b"t" => enqueued_at = num(&v).unwrap_or(0),
            b"ft" => finished_at = num(&v),
            b"cr" => cancel_requested = true,
            b"pk" => parked = Some(String::from_utf8_lossy(&v).into_owned()),
            b"due" => due_at = num::<f64>(&v).map(|d| d as u64),
            _ => {}
        }
    }
    let record = match blob.as_deref().map(|b| decode_record(id, b)) {
        Some(Ok(record)) => record,
        Some(Err(e)) => {
            error.get_or_insert_with(|| format!("undecodable job record: {e}"));
            placeholder(id, &String::from_utf8_lossy(&queue))
        }
        None => {
            error.get_or_insert_with(|| "undecodable job record: no record data".to_owned());
            placeholder(id, &String::from_utf8_lossy(&queue))
        }
    };
    let mut info = JobInfo::new(record, state, enqueued_at);
    info.attempts = attempts;
    info.error = error;
    info.result = result;
    // A success is not written as progress: it reads as 100.
    info.progress = if state == JobState::Succeeded {
        100
    } else {
        progress
    };
    info.enqueued_at_ms = enqueued_at;
    info.started_at_ms = started_at;
    info.finished_at_ms = finished_at;
    info.cancel_requested = cancel_requested;
    // The reason of the last park: meaningful while the park lasts.
    info.parked = parked.filter(|_| state == JobState::Scheduled);
    info.due_at_ms = if state == JobState::Scheduled {
        due_at
    } else {
        None
    };
    Some(info)
}

/// A job whose key holds something that is not a job hash.
pub(crate) fn unreadable(id: &str, why: &str) -> JobInfo {
    let mut info = JobInfo::new(placeholder(id, ""), JobState::Dead, 0);
    info.error = Some(format!("undecodable job record: {why}"));
    info
}

/// The bytes of a string-like reply, moved out of it.
fn into_bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        other => bytes_of(&other),
    }
}

/// A record standing for one that can't be read: no task, no payload.
pub(crate) fn placeholder(id: &str, queue: &str) -> JobRecord {
    let mut record = JobRecord::new(String::new(), Vec::new());
    record.id = JobId::from(id.to_owned());
    if !queue.is_empty() {
        queue.clone_into(&mut record.queue);
    }
    record
}

/// The bytes of a string-like reply.
/// A reply value as text (lossy; empty for a nil or an array).
pub(crate) fn text_of(v: &Value) -> String {
    String::from_utf8_lossy(&bytes_of(v).unwrap_or_default()).into_owned()
}

pub(crate) fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.as_bytes().to_vec()),
        Value::Int(n) => Some(n.to_string().into_bytes()),
        Value::Okay => Some(b"OK".to_vec()),
        _ => None,
    }
}

/// A reply as an integer.
pub(crate) fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        Value::BulkString(b) => num(b),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

/// A reply as an array (nil and non-arrays: empty).
pub(crate) fn array_of(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) | Value::Set(items) => items,
        _ => Vec::new(),
    }
}

/// A reply that must be an array, as an error otherwise.
pub(crate) fn expect_array(v: Value, what: &str) -> Result<Vec<Value>> {
    match v {
        Value::Array(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(Error::Backend {
            message: format!("unexpected reply to {what}: {other:?}"),
            transient: false,
            source: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_round_trip_without_the_id() {
        let mut r = JobRecord::new("t", vec![1, 2, 3]);
        r.priority = 7;
        r.deps = vec![JobId::from("A")];
        let blob = encode_record(&r).unwrap();
        assert!(!blob
            .windows(r.id.as_str().len())
            .any(|w| w == r.id.as_str().as_bytes()));
        let back = decode_record(r.id.as_str(), &blob).unwrap();
        assert_eq!(back, r);
        assert!(decode_record("x", &[]).is_err());
        assert!(decode_record("x", &[1, 0xff, 0xff, 0xff]).is_err());
        let newer = decode_record("x", &[9, 1, 2]).unwrap_err().to_string();
        assert!(
            newer.contains("written by a newer ork (format 9)"),
            "{newer}"
        );
    }

    #[test]
    fn state_codes_round_trip() {
        for s in JobState::ALL {
            assert_eq!(state_from_code(state_code(s).as_bytes()), Some(s));
        }
    }
}
