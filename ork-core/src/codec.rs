//! Encoding of arguments and results.
//!
//! Every job records the codec its payload was written with, so a worker can
//! read jobs written by clients configured differently.

use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Error, Result};

/// A serde format for payloads and results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
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

    /// Decodes a value; trailing bytes are an error.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T> {
        match self {
            Codec::Bincode => {
                let (value, read) =
                    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_reject_garbage() {
        let bytes = Codec::Bincode.encode(&(1i64, "two".to_string())).unwrap();
        let back: (i64, String) = Codec::Bincode.decode(&bytes).unwrap();
        assert_eq!(back, (1, "two".to_string()));
        assert!(Codec::Bincode.decode::<(i64, String)>(&[0xff, 0xff, 0xff]).is_err());
        assert!(Codec::from_tag(200).is_err());
    }
}
