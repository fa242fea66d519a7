//! The metadata entry of a Redis key: its type and, for a string, its value.
//!
//! ```text
//! meta value := type: u8  format: u8  body
//! type       := 0 string | 1 hash | 2 list | 3 set | 4 zset    (DO NOT CHANGE: on disk)
//! format     := 1                                               (this version)
//! body       := the string's bytes                              (type 0)
//! ```
//!
//! A string is one engine entry, so `GET` is one engine read. A key's expiry is not in the
//! body: it is the engine's TTL on the metadata entry (`put_expiring_at`), so an expired key
//! reads as absent without any scan and compaction purges it. Collection bodies (generation,
//! element count, list head and tail) are defined with the collections (issue 6); until then
//! decoding one is an error, never a guess.

use std::fmt;

/// The type of a Redis key, as `TYPE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RedisType {
    /// `string`
    String = 0,
    /// `hash`
    Hash = 1,
    /// `list`
    List = 2,
    /// `set`
    Set = 3,
    /// `zset`
    ZSet = 4,
}

impl RedisType {
    /// The name `TYPE` replies with.
    pub fn name(self) -> &'static str {
        match self {
            RedisType::String => "string",
            RedisType::Hash => "hash",
            RedisType::List => "list",
            RedisType::Set => "set",
            RedisType::ZSet => "zset",
        }
    }

    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => RedisType::String,
            1 => RedisType::Hash,
            2 => RedisType::List,
            3 => RedisType::Set,
            4 => RedisType::ZSet,
            _ => return None,
        })
    }
}

/// Version of the metadata encoding written by this code.
pub const FORMAT: u8 = 1;

/// A metadata value that does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad Redis metadata: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// A decoded metadata entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meta<'a> {
    /// A string and its value.
    String(&'a [u8]),
}

impl Meta<'_> {
    /// The key's type.
    pub fn redis_type(&self) -> RedisType {
        match self {
            Meta::String(_) => RedisType::String,
        }
    }
}

/// Encodes a string's metadata entry.
pub fn encode_string(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + value.len());
    out.push(RedisType::String as u8);
    out.push(FORMAT);
    out.extend_from_slice(value);
    out
}

/// The type of a metadata entry, read from its first byte (cheap: for `TYPE` and WRONGTYPE
/// checks).
///
/// # Errors
/// An empty value or an unknown type byte.
pub fn peek_type(stored: &[u8]) -> Result<RedisType, DecodeError> {
    let b = *stored.first().ok_or_else(|| DecodeError("empty".into()))?;
    RedisType::from_u8(b).ok_or_else(|| DecodeError(format!("unknown type {b}")))
}

/// Decodes a metadata entry.
///
/// # Errors
/// A truncated entry, an unknown type or format version, or a collection type (not yet
/// defined).
pub fn decode(stored: &[u8]) -> Result<Meta<'_>, DecodeError> {
    let ty = peek_type(stored)?;
    match stored.get(1) {
        Some(&FORMAT) => {}
        Some(v) => return Err(DecodeError(format!("unsupported format {v}"))),
        None => return Err(DecodeError("truncated".into())),
    }
    let body = &stored[2..];
    match ty {
        RedisType::String => Ok(Meta::String(body)),
        other => Err(DecodeError(format!(
            "{} metadata is not supported by this version",
            other.name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip() {
        for v in [&b""[..], b"hello", &[0u8, 255, 1][..]] {
            let e = encode_string(v);
            assert_eq!(peek_type(&e), Ok(RedisType::String));
            assert_eq!(decode(&e), Ok(Meta::String(v)));
        }
    }

    #[test]
    fn damaged_entries_are_errors() {
        assert!(decode(b"").is_err());
        assert!(decode(b"\x00").is_err());
        assert!(decode(b"\x00\x02x").is_err());
        assert!(decode(b"\x09\x01").is_err());
        assert!(decode(b"\x01\x01").is_err());
        assert_eq!(RedisType::ZSet.name(), "zset");
    }
}
