//! The stored forms: job records, workflow descriptions and schedule
//! definitions as an engine keeps them, in bytes that any later ork reads.
//!
//! Engines store these bytes as they are (the Redis engine in a job
//! hash's `d` field, in `{ns}:wf:<id>` and in a schedule's `def`); only
//! ork-core writes and reads them.
//!
//! # Format 2
//!
//! ```text
//! stored = format:u8 field*
//! field  = tag:u8 len:varint value:[u8; len]
//! ```
//!
//! The varint is bincode's (2.x, standard configuration): a value below
//! 251 in one byte, else a marker byte 251, 252 or 253 and the value in 2,
//! 4 or 8 little-endian bytes. A value is the field's bytes as they are
//! (strings, payloads, a nested record), a varint (numbers), nothing (a
//! flag: present means true) or bincode (lists and enums).
//!
//! Each kind's tags and their defaults are listed in its file
//! (`src/stored/record.rs`, `schedule.rs`, `workflow.rs`); golden bytes of
//! every format are decoded by the workspace's `tests/golden.rs`.
//!
//! The rules that let the format evolve:
//!
//! - **Defaults are not written.** A field at its default is left out, and
//!   a field that is absent reads as its default. Each field's default is
//!   part of the format (listed with its tag) and never changes, even when
//!   ork's own defaults do: a writer then writes the field.
//! - **Fields added later.** A new field gets a new tag, in the same
//!   format. A reader skips tags it does not know, so an older ork reads a
//!   newer record without the new field, and a newer ork reads an older
//!   record with the field at its default. A tag is never reused.
//! - **Changes an older reader must not ignore** (a field whose absence
//!   would make it do the wrong thing, a new meaning for a tag) raise the
//!   format. A writer writes the raised format only for the records that
//!   need it, so that the others stay readable by older workers. A reader
//!   refuses a format newer than it knows with "written by a newer ork
//!   (format N)": the Redis engine dead-letters such a job, never runs it
//!   from a misread record.
//! - **Values inside a field** (the bincode enums [`Backoff`](crate::Backoff),
//!   [`ArgSpec`](crate::ArgSpec), [`Missed`](crate::Missed)) only gain
//!   variants, at the end; a variant's fields never change.
//!
//! Format 1, the positional bincode layout that came before, is still read
//! (records and schedules started with a 1; workflow descriptions had no
//! header). A workflow description starts with a 0 byte before its format,
//! since a format 1 description starts with its id's length, never 0.

mod record;
mod schedule;
mod workflow;

#[cfg(test)]
mod tests;

use serde::{de::DeserializeOwned, Serialize};

use crate::codec::Codec;
use crate::error::{Error, Result};

pub use record::{decode_record, encode_record};
pub use schedule::{decode_schedule, encode_schedule};
pub use workflow::{decode_workflow, encode_workflow};

/// The newest format this ork reads, and the one it writes.
pub const FORMAT: u8 = 2;

/// The error for bytes of a format newer than [`FORMAT`].
fn newer(format: u8) -> Error {
    Error::Codec(format!(
        "written by a newer ork (format {format}); this one reads formats up to {FORMAT}"
    ))
}

/// Splits stored bytes into their format and the rest.
fn header<'a>(bytes: &'a [u8], what: &str) -> Result<(u8, &'a [u8])> {
    match bytes.split_first() {
        Some((&format, body)) => Ok((format, body)),
        None => Err(Error::Codec(format!("empty {what}"))),
    }
}

/// Writes fields (format 2), in the order of their tags.
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// A writer of stored bytes: the format, then fields.
    fn new(format: u8, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity + 1);
        out.push(format);
        Writer { out }
    }

    /// A writer of fields only (a nested value).
    fn nested(capacity: usize) -> Self {
        Writer {
            out: Vec::with_capacity(capacity),
        }
    }

    /// A field holding `value` as it is.
    fn raw(&mut self, tag: u8, value: &[u8]) {
        self.out.push(tag);
        put_varint(&mut self.out, value.len() as u64);
        self.out.extend_from_slice(value);
    }

    /// A field holding a number.
    fn uint(&mut self, tag: u8, value: u64) {
        let mut v = Vec::with_capacity(9);
        put_varint(&mut v, value);
        self.raw(tag, &v);
    }

    /// A flag: present means true.
    fn flag(&mut self, tag: u8) {
        self.raw(tag, &[]);
    }

    /// A field holding a value in bincode.
    fn value<T: Serialize + ?Sized>(&mut self, tag: u8, value: &T) -> Result<()> {
        let v = Codec::Bincode.encode(value)?;
        self.raw(tag, &v);
        Ok(())
    }

    fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// Reads the fields of format 2 bytes: (tag, value) pairs, or an error
/// where the bytes end inside a field.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(body: &'a [u8]) -> Self {
        Fields { rest: body }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u8, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&tag, rest) = self.rest.split_first()?;
        let field = varint(rest).and_then(|(len, rest)| {
            usize::try_from(len)
                .ok()
                .filter(|&len| len <= rest.len())
                .map(|len| rest.split_at(len))
        });
        match field {
            Some((value, rest)) => {
                self.rest = rest;
                Some(Ok((tag, value)))
            }
            None => {
                self.rest = &[];
                Some(Err(Error::Codec(format!("field {tag} cut short"))))
            }
        }
    }
}

/// Appends a bincode varint.
fn put_varint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=250 => out.push(v as u8),
        251..=0xffff => {
            out.push(251);
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(252);
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        _ => {
            out.push(253);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Reads a bincode varint: the value and what follows it.
fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (&first, rest) = bytes.split_first()?;
    let width = match first {
        0..=250 => return Some((u64::from(first), rest)),
        251 => 2,
        252 => 4,
        253 => 8,
        _ => return None,
    };
    if rest.len() < width {
        return None;
    }
    let (le, rest) = rest.split_at(width);
    let mut buf = [0u8; 8];
    buf[..width].copy_from_slice(le);
    Some((u64::from_le_bytes(buf), rest))
}

/// A field's value as a number.
fn uint(value: &[u8], what: &str) -> Result<u64> {
    match varint(value) {
        Some((n, [])) => Ok(n),
        _ => Err(Error::Codec(format!("{what}: not a number"))),
    }
}

/// A field's value as a number of a smaller type.
fn small<T: TryFrom<u64>>(value: &[u8], what: &str) -> Result<T> {
    T::try_from(uint(value, what)?).map_err(|_| Error::Codec(format!("{what}: out of range")))
}

/// A field's value as text.
fn text(value: &[u8], what: &str) -> Result<String> {
    String::from_utf8(value.to_vec()).map_err(|_| Error::Codec(format!("{what}: not UTF-8")))
}

/// A field's value in bincode.
fn value<T: DeserializeOwned>(value: &[u8], what: &str) -> Result<T> {
    Codec::Bincode
        .decode(value)
        .map_err(|e| Error::Codec(format!("{what}: {e}")))
}
