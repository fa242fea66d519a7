//! Engine keys for Redis keys.
//!
//! ```text
//! meta key := db: u8  slot: u16 BE  key            (one per Redis key)
//! slot     := CRC16/XMODEM(hash part of key) & 0x3FFF
//! ```
//!
//! The hash part is Redis Cluster's: the bytes between the first `{` and the next `}` if that
//! is non-empty, else the whole key. Keys of one slot are contiguous in the engine, so SCAN can
//! walk slot by slot and a slot can be handed to another node as one key range. `db` first keeps
//! each logical database (SELECT 0..15) a contiguous range too, so FLUSHDB is a range delete.

use crc::{Crc, CRC_16_XMODEM};

/// Number of hash slots (Redis Cluster).
pub const SLOTS: u16 = 16384;

/// Bytes before the user key in an engine key.
pub const PREFIX_LEN: usize = 3;

const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_XMODEM);

/// The hash slot of `key`, honouring `{hash tags}`.
pub fn slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    CRC16.checksum(hashed) & (SLOTS - 1)
}

/// The engine key of Redis key `key` in database `db`.
pub fn encode(db: u8, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX_LEN + key.len());
    out.push(db);
    out.extend_from_slice(&slot(key).to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// Splits an engine key back into `(db, slot, key)`; `None` if it is too short.
pub fn decode(engine_key: &[u8]) -> Option<(u8, u16, &[u8])> {
    let (&db, rest) = engine_key.split_first()?;
    let (slot, key) = rest.split_first_chunk::<2>()?;
    Some((db, u16::from_be_bytes(*slot), key))
}

/// The engine-key prefix of every key of database `db` (for FLUSHDB, DBSIZE checks, SCAN).
pub fn db_prefix(db: u8) -> [u8; 1] {
    [db]
}

/// The engine-key prefix of every key of `slot` in database `db`.
pub fn slot_prefix(db: u8, slot: u16) -> [u8; 3] {
    let s = slot.to_be_bytes();
    [db, s[0], s[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis_cluster() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(CRC16.checksum(b"123456789"), 0x31C3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"{user1000}.followers"), slot(b"{user1000}.following"));
        // An empty tag hashes the whole key; only the first tag counts.
        assert_eq!(slot(b"foo{}{bar}"), CRC16.checksum(b"foo{}{bar}") & 0x3FFF);
        assert_eq!(slot(b"foo{{bar}}zap"), CRC16.checksum(b"{bar") & 0x3FFF);
        assert_eq!(slot(b"foo{bar}{zap}"), slot(b"bar"));
        assert_eq!(slot(b""), 0);
    }

    #[test]
    fn keys_round_trip_and_group_by_db_then_slot() {
        let k = encode(3, b"{tag}x");
        assert_eq!(decode(&k), Some((3, slot(b"tag"), &b"{tag}x"[..])));
        assert!(k.starts_with(&db_prefix(3)));
        assert!(k.starts_with(&slot_prefix(3, slot(b"tag"))));
        assert_eq!(decode(b"\x01\x00"), None);
        assert!(encode(0, b"zzz") < encode(1, b"aaa"));
    }
}
