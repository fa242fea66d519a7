//! The metadata entry of a Redis key: its type, its expiry and, for a string, its value.
//!
//! ```text
//! meta value := type: u8  format: u8  expire_ms: u64 LE  body
//! type       := 0 string | 1 hash | 2 list | 3 set | 4 zset    (DO NOT CHANGE: on disk)
//! format     := 1                                               (this version)
//! expire_ms  := Unix time in ms the key expires at; 0 = never
//! body       := the string's bytes                              (type 0)
//! ```
//!
//! A string is one engine entry, so `GET` is one engine read. The expiry lives in the entry
//! (not in the engine's TTL) because the store keeps exact key counts: an expired key stays
//! counted until the expire cycle deletes it and decrements its slot's count, so nothing but
//! that cycle may make it vanish (the engine's TTL lets compaction purge expired entries
//! silently). Collection bodies (generation, element count, list head and tail) are defined
//! with the collections (issue 6); until then decoding one is an error, never a guess.

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

impl DecodeError {
    /// An error with this description.
    pub fn new(what: impl Into<String>) -> Self {
        DecodeError(what.into())
    }
}

/// Bytes before the body: type, format, expiry.
pub const HEADER_LEN: usize = 10;

/// The fixed part of every metadata entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The key's type.
    pub ty: RedisType,
    /// When the key expires (Unix ms), if it does.
    pub expiry: Option<u64>,
}

impl Header {
    /// Whether the key has expired at `now_ms` (an expired key reads as absent).
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expiry.is_some_and(|at| at <= now_ms)
    }
}

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
pub fn encode_string(value: &[u8], expiry: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + value.len());
    out.push(RedisType::String as u8);
    out.push(FORMAT);
    out.extend_from_slice(&expiry.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(value);
    out
}

/// Rewrites the expiry of an encoded entry in place.
///
/// # Errors
/// An entry too short to hold a header.
pub fn set_expiry(stored: &mut [u8], expiry: Option<u64>) -> Result<(), DecodeError> {
    let field = stored
        .get_mut(2..HEADER_LEN)
        .ok_or_else(|| DecodeError("truncated".into()))?;
    field.copy_from_slice(&expiry.unwrap_or(0).to_le_bytes());
    Ok(())
}

/// Decodes the header of an entry (cheap: for `TYPE`, TTLs and WRONGTYPE checks).
///
/// # Errors
/// A truncated entry, an unknown type or an unknown format version.
pub fn header(stored: &[u8]) -> Result<Header, DecodeError> {
    let b = *stored.first().ok_or_else(|| DecodeError("empty".into()))?;
    let ty = RedisType::from_u8(b).ok_or_else(|| DecodeError(format!("unknown type {b}")))?;
    match stored.get(1) {
        Some(&FORMAT) => {}
        Some(v) => return Err(DecodeError(format!("unsupported format {v}"))),
        None => return Err(DecodeError("truncated".into())),
    }
    let at = stored
        .get(2..HEADER_LEN)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| DecodeError("truncated".into()))?;
    Ok(Header {
        ty,
        expiry: (at != 0).then_some(at),
    })
}

/// Decodes a whole entry.
///
/// # Errors
/// What [`header`] rejects, and a collection type (not yet defined).
pub fn decode(stored: &[u8]) -> Result<(Header, Meta<'_>), DecodeError> {
    let h = header(stored)?;
    let body = &stored[HEADER_LEN..];
    match h.ty {
        RedisType::String => Ok((h, Meta::String(body))),
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
            for expiry in [None, Some(1), Some(u64::MAX)] {
                let e = encode_string(v, expiry);
                let h = Header {
                    ty: RedisType::String,
                    expiry,
                };
                assert_eq!(header(&e), Ok(h));
                assert_eq!(decode(&e), Ok((h, Meta::String(v))));
            }
        }
        let mut e = encode_string(b"x", Some(5));
        set_expiry(&mut e, None).unwrap();
        assert_eq!(e, encode_string(b"x", None));
        assert!(header(&encode_string(b"", Some(5))).unwrap().expired(5));
        assert!(!header(&encode_string(b"", Some(5))).unwrap().expired(4));
        assert!(!header(&encode_string(b"", None)).unwrap().expired(u64::MAX));
    }

    #[test]
    fn damaged_entries_are_errors() {
        assert!(decode(b"").is_err());
        assert!(decode(b"\x00").is_err());
        assert!(decode(b"\x00\x01\x00").is_err(), "truncated expiry");
        assert!(decode(b"\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00x").is_err());
        assert!(decode(b"\x09\x01\x00\x00\x00\x00\x00\x00\x00\x00").is_err());
        assert!(decode(b"\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00").is_err());
        assert!(set_expiry(&mut [0, 1, 0], None).is_err());
        assert_eq!(RedisType::ZSet.name(), "zset");
    }
}
