//! Encoding of arguments and results.
//!
//! Every job records the codec its payload was written with, so a worker can
//! read jobs written by clients configured differently.

use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Error, Result};

/// The most memory one bincode value may decode to (1 GiB): bincode
/// allocates a string or list as long as the length it reads, so without a
/// limit one damaged length byte asks for more memory than exists.
pub const DECODE_LIMIT: usize = 1 << 30;

/// A value that can encode itself with any codec: how call arguments and
/// workflow inputs keep their values without their types.
pub trait EncodeArgs: Send + Sync {
    /// Encodes the value.
    fn encode(&self, codec: Codec) -> Result<Vec<u8>>;
}

impl<A: Serialize + Send + Sync> EncodeArgs for A {
    fn encode(&self, codec: Codec) -> Result<Vec<u8>> {
        codec.encode(self)
    }
}

/// A serde format for payloads and results.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum Codec {
    /// bincode 2 (serde mode, standard configuration): compact, the default.
    #[default]
    Bincode,
    /// JSON: readable by people and by tools that don't know the Rust types.
    #[cfg(feature = "json")]
    Json,
}

impl Codec {
    /// The one-byte tag stored with each job.
    pub fn tag(self) -> u8 {
        match self {
            Codec::Bincode => 0,
            #[cfg(feature = "json")]
            Codec::Json => 1,
        }
    }

    /// The codec for a stored tag.
    pub fn from_tag(tag: u8) -> Result<Codec> {
        match tag {
            0 => Ok(Codec::Bincode),
            #[cfg(feature = "json")]
            1 => Ok(Codec::Json),
            other => Err(Error::Codec(format!(
                "unknown codec tag {other} (is the `json` feature enabled?)"
            ))),
        }
    }

    /// Encodes a value.
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>> {
        match self {
            Codec::Bincode => bincode::serde::encode_to_vec(value, bincode::config::standard())
                .map_err(|e| Error::Codec(e.to_string())),
            #[cfg(feature = "json")]
            Codec::Json => serde_json::to_vec(value).map_err(|e| Error::Codec(e.to_string())),
        }
    }

    /// Decodes a value; trailing bytes are an error. A bincode value
    /// decodes to at most [`DECODE_LIMIT`] bytes: a length read from
    /// damaged bytes is refused, not allocated.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T> {
        match self {
            Codec::Bincode => {
                let config = bincode::config::standard().with_limit::<DECODE_LIMIT>();
                let (value, read) = bincode::serde::decode_from_slice(bytes, config)
                    .map_err(|e| Error::Codec(e.to_string()))?;
                if read != bytes.len() {
                    return Err(Error::Codec(format!(
                        "{} trailing bytes after the value",
                        bytes.len() - read
                    )));
                }
                Ok(value)
            }
            #[cfg(feature = "json")]
            Codec::Json => serde_json::from_slice(bytes).map_err(|e| Error::Codec(e.to_string())),
        }
    }
}

/// Assembling encoded values into larger ones without knowing their types:
/// how workflow nodes receive other nodes' outputs.
impl Codec {
    /// The encoding of a tuple whose fields have the encodings `parts`.
    pub fn tuple(self, parts: &[&[u8]]) -> Vec<u8> {
        match self {
            // bincode writes a tuple as its fields, one after another.
            Codec::Bincode => parts.concat(),
            #[cfg(feature = "json")]
            Codec::Json => json_array(parts),
        }
    }

    /// The encoding of a sequence (`Vec<T>`) whose items have the encodings `parts`.
    pub fn seq(self, parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Codec::Bincode => {
                // The length as bincode writes a `usize`, then the items.
                let mut out = Codec::Bincode
                    .encode(&(parts.len() as u64))
                    .expect("a u64 always encodes");
                for p in parts {
                    out.extend_from_slice(p);
                }
                out
            }
            #[cfg(feature = "json")]
            Codec::Json => json_array(parts),
        }
    }

    /// The encoding of `Ok(value)` for a `Result<T, TaskError>`, from the value's encoding.
    pub fn ok(self, value: &[u8]) -> Vec<u8> {
        match self {
            Codec::Bincode => {
                let mut out = vec![0u8];
                out.extend_from_slice(value);
                out
            }
            #[cfg(feature = "json")]
            Codec::Json => {
                let mut out = b"{\"Ok\":".to_vec();
                out.extend_from_slice(value);
                out.push(b'}');
                out
            }
        }
    }

    /// The encoding of `Err(error)` for a `Result<T, TaskError>`.
    pub fn err(self, error: &crate::error::TaskError) -> Vec<u8> {
        let r: std::result::Result<(), &crate::error::TaskError> = Err(error);
        self.encode(&r).expect("a task error always encodes")
    }

    /// Splits the encoding of a `Vec<T>` into the encodings of its items.
    pub fn split_seq<T: Serialize + DeserializeOwned>(self, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
        let items: Vec<T> = self.decode(bytes)?;
        items.iter().map(|item| self.encode(item)).collect()
    }
}

#[cfg(feature = "json")]
fn json_array(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    out.push(b'[');
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(p);
    }
    out.push(b']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_reject_garbage() {
        let bytes = Codec::Bincode.encode(&(1i64, "two".to_string())).unwrap();
        let back: (i64, String) = Codec::Bincode.decode(&bytes).unwrap();
        assert_eq!(back, (1, "two".to_string()));
        assert!(Codec::Bincode
            .decode::<(i64, String)>(&[0xff, 0xff, 0xff])
            .is_err());
        assert!(Codec::from_tag(200).is_err());
        // A length past the limit (here, past what any machine holds) is
        // refused before anything is allocated.
        let huge = [253, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(Codec::Bincode.decode::<String>(&huge).is_err());
        assert!(Codec::Bincode.decode::<Vec<u8>>(&huge).is_err());
        assert!(Codec::Bincode.decode::<Vec<u64>>(&huge).is_err());
    }

    fn codecs() -> Vec<Codec> {
        vec![
            Codec::Bincode,
            #[cfg(feature = "json")]
            Codec::Json,
        ]
    }

    #[test]
    fn assembled_values_decode_as_typed_ones() {
        use crate::error::TaskError;
        for c in codecs() {
            let a = c.encode(&7i64).unwrap();
            let b = c.encode(&"x".to_string()).unwrap();
            let t: (i64, String) = c.decode(&c.tuple(&[&a, &b])).unwrap();
            assert_eq!(t, (7, "x".to_string()));
            let one: (i64,) = c.decode(&c.tuple(&[&a])).unwrap();
            assert_eq!(one, (7,));
            let parts: Vec<Vec<u8>> = (0..300i64).map(|i| c.encode(&i).unwrap()).collect();
            let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
            let v: Vec<i64> = c.decode(&c.seq(&refs)).unwrap();
            assert_eq!(v, (0..300).collect::<Vec<_>>());
            let empty: Vec<i64> = c.decode(&c.seq(&[])).unwrap();
            assert!(empty.is_empty());
            let ok: Result<i64, TaskError> = c.decode(&c.ok(&a)).unwrap();
            assert_eq!(ok, Ok(7));
            let err: Result<i64, TaskError> = c.decode(&c.err(&TaskError::new("no"))).unwrap();
            assert_eq!(err, Err(TaskError::new("no")));
            let split = c.split_seq::<i64>(&c.seq(&refs)).unwrap();
            assert_eq!(split, parts);
        }
    }
}
