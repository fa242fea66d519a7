//! The metadata entry of a Redis key: its type, its expiry and, for a string, its value.
//!
//! ```text
//! meta value := type: u8  format: u8  expire_ms: u64 LE  body
//! type       := 0 string | 1 hash | 2 list | 3 set | 4 zset    (DO NOT CHANGE: on disk)
//! format     := 1                                               (this version)
//! expire_ms  := Unix time in ms the key expires at; 0 = never
//! body       := the string's bytes                              (type 0)
//!             | version: u64 LE  count: u64 LE                  (hash, set, zset)
//!             | version: u64 LE  count: u64 LE  head: u64 LE    (list)
//! ```
//!
//! A string is one engine entry, so `GET` is one engine read. The expiry lives in the entry
//! (not in the engine's TTL) because the store keeps exact key counts: an expired key stays
//! counted until the expire cycle deletes it and decrements its slot's count, so nothing but
//! that cycle may make it vanish (the engine's TTL lets compaction purge expired entries
//! silently). A collection's elements are separate entries keyed by its `version`
//! (`docs/format-redis.md`); the metadata keeps their count, so `HLEN` is one read.

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

/// Where a new list's elements start: LPUSH and RPUSH each have 2^63 positions of room.
pub const LIST_START: u64 = 1 << 63;

/// The body of a collection's metadata entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collection {
    /// The incarnation its elements are keyed by (never reused in a database).
    pub version: u64,
    /// Live elements; never 0 on disk (an empty collection does not exist).
    pub count: u64,
    /// Lists: the index of the first element (elements are `head .. head + count`); 0 for
    /// other types.
    pub head: u64,
}

impl Collection {
    /// An empty collection of `version` (a list starts at [`LIST_START`]).
    pub fn new(version: u64) -> Self {
        Collection {
            version,
            count: 0,
            head: LIST_START,
        }
    }
}

/// A decoded metadata entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meta<'a> {
    /// A string and its value.
    String(&'a [u8]),
    /// A hash, list, set or sorted set.
    Collection(Collection),
}

/// Encodes the metadata entry of a collection of type `ty` (not a string).
pub fn encode_collection(ty: RedisType, expiry: Option<u64>, c: &Collection) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 24);
    out.push(ty as u8);
    out.push(FORMAT);
    out.extend_from_slice(&expiry.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&c.version.to_le_bytes());
    out.extend_from_slice(&c.count.to_le_bytes());
    if ty == RedisType::List {
        out.extend_from_slice(&c.head.to_le_bytes());
    }
    out
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
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
/// What [`header`] rejects, and a collection body of the wrong length or with no elements.
pub fn decode(stored: &[u8]) -> Result<(Header, Meta<'_>), DecodeError> {
    let h = header(stored)?;
    let body = &stored[HEADER_LEN..];
    let want = match h.ty {
        RedisType::String => return Ok((h, Meta::String(body))),
        RedisType::List => 24,
        _ => 16,
    };
    if body.len() != want {
        return Err(DecodeError(format!(
            "{} metadata of {} bytes",
            h.ty.name(),
            body.len()
        )));
    }
    let c = Collection {
        version: le_u64(body, 0),
        count: le_u64(body, 8),
        head: if want == 24 { le_u64(body, 16) } else { 0 },
    };
    if c.count == 0 {
        return Err(DecodeError(format!("empty {} stored", h.ty.name())));
    }
    if h.ty == RedisType::List && c.head.checked_add(c.count).is_none() {
        return Err(DecodeError("list past the end of its index space".into()));
    }
    Ok((h, Meta::Collection(c)))
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
    fn collections_round_trip() {
        for ty in [
            RedisType::Hash,
            RedisType::List,
            RedisType::Set,
            RedisType::ZSet,
        ] {
            for expiry in [None, Some(9)] {
                let c = Collection {
                    version: 0x0102_0304_0506_0708,
                    count: 3,
                    head: if ty == RedisType::List {
                        LIST_START - 5
                    } else {
                        0
                    },
                };
                let e = encode_collection(ty, expiry, &c);
                assert_eq!(
                    e.len(),
                    HEADER_LEN + if ty == RedisType::List { 24 } else { 16 }
                );
                assert_eq!(decode(&e), Ok((Header { ty, expiry }, Meta::Collection(c))));
            }
        }
    }

    #[test]
    fn damaged_entries_are_errors() {
        assert!(decode(b"").is_err());
        assert!(decode(b"\x00").is_err());
        assert!(decode(b"\x00\x01\x00").is_err(), "truncated expiry");
        assert!(decode(b"\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00x").is_err());
        assert!(decode(b"\x09\x01\x00\x00\x00\x00\x00\x00\x00\x00").is_err());
        assert!(
            decode(b"\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00").is_err(),
            "no body"
        );
        let empty = encode_collection(RedisType::Set, None, &Collection::new(7));
        assert!(decode(&empty).is_err(), "a stored collection has elements");
        let mut list = encode_collection(RedisType::List, None, &Collection::new(7));
        list.pop();
        assert!(decode(&list).is_err(), "short list body");
        let c = Collection {
            version: 1,
            count: 2,
            head: u64::MAX,
        };
        let overflowing = encode_collection(RedisType::List, None, &c);
        assert!(decode(&overflowing).is_err(), "head + count overflows");
        assert!(set_expiry(&mut [0, 1, 0], None).is_err());
        assert_eq!(RedisType::ZSet.name(), "zset");
    }
}
