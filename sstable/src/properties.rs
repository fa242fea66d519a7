//! Table properties: counts, key and sequence ranges, settings, stored as a block.
//!
//! ```text
//! properties_block := block (restart interval 1) of entries  name -> value,
//!                     sorted by name (bytewise), names are ASCII
//! numbers          := varint64
//! strings, keys    := raw bytes (keys are encoded internal keys)
//! ```
//! Unknown names are ignored and missing names read as their default, so newer writers
//! can add properties without breaking older readers.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::block::{Block, BlockBuilder, BlockIter, Location};
use crate::error::Result;
use crate::iter::InternalIterator;
use crate::key::SeqNo;
use crate::varint::{get_varint64, put_varint64};

/// Property names. DO NOT CHANGE: on disk.
pub(crate) mod names {
    pub(crate) const BLOB_FILES: &str = "strata.blob.files";
    pub(crate) const BLOOM_BITS_PER_KEY: &str = "strata.bloom.bits.per.key";
    pub(crate) const COMPRESSION: &str = "strata.compression";
    pub(crate) const CREATED_UNIX_MS: &str = "strata.created.unix.ms";
    pub(crate) const DB_ID: &str = "strata.db.id";
    pub(crate) const KEYSPACE_ID: &str = "strata.keyspace.id";
    pub(crate) const KEYSPACE_NAME: &str = "strata.keyspace.name";
    pub(crate) const LARGEST_KEY: &str = "strata.key.largest";
    pub(crate) const SMALLEST_KEY: &str = "strata.key.smallest";
    pub(crate) const MIN_EXPIRY_MS: &str = "strata.min.expiry.ms";
    pub(crate) const NUM_DATA_BLOCKS: &str = "strata.num.data.blocks";
    pub(crate) const NUM_DELETIONS: &str = "strata.num.deletions";
    pub(crate) const NUM_ENTRIES: &str = "strata.num.entries";
    pub(crate) const NUM_EXPIRING: &str = "strata.num.expiring";
    pub(crate) const RAW_KEY_BYTES: &str = "strata.raw.key.bytes";
    pub(crate) const RAW_VALUE_BYTES: &str = "strata.raw.value.bytes";
    pub(crate) const LARGEST_SEQ: &str = "strata.seq.largest";
    pub(crate) const SMALLEST_SEQ: &str = "strata.seq.smallest";
}

/// What a table records about its contents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties {
    /// Number of entries (all kinds).
    pub num_entries: u64,
    /// Number of entries of kind [`crate::ValueKind::Delete`].
    pub num_deletions: u64,
    /// Number of data blocks.
    pub num_data_blocks: u64,
    /// Sum of the encoded internal key lengths.
    pub raw_key_bytes: u64,
    /// Sum of the value lengths.
    pub raw_value_bytes: u64,
    /// Smallest sequence number (0 for an empty table).
    pub smallest_seq: SeqNo,
    /// Largest sequence number (0 for an empty table).
    pub largest_seq: SeqNo,
    /// First internal key (empty for an empty table).
    pub smallest_key: Vec<u8>,
    /// Last internal key (empty for an empty table).
    pub largest_key: Vec<u8>,
    /// Earliest expiry of any `PutExpiring` entry, Unix milliseconds (`None` if none has one).
    pub min_expiry_ms: Option<u64>,
    /// Number of `PutExpiring` entries.
    pub num_expiring: u64,
    /// Compression the table was written with: "none" or "zstd" (blocks that do not shrink
    /// by 12.5% are stored uncompressed anyway).
    pub compression: String,
    /// Bloom filter bits per key the table was written with (0 = no filter).
    pub bloom_bits_per_key: u32,
    /// When the table was written, Unix milliseconds.
    pub created_unix_ms: u64,
    /// The identity of the database that wrote the table (empty: not recorded, as in tables
    /// written before 2026-12-07 or by a bare builder), so that a database deletes only the
    /// files it made.
    pub db_id: Vec<u8>,
    /// The keyspace (column family) the table belongs to, by id and name (`None` and empty:
    /// not recorded), so that a repair can place it without the manifest.
    pub keyspace_id: Option<u32>,
    /// See [`keyspace_id`](Self::keyspace_id).
    pub keyspace_name: String,
    /// The blob files the table's blob references point into, ascending (empty: none).
    pub blob_files: Vec<u64>,
}

fn varint(v: u64) -> Vec<u8> {
    let mut b = Vec::new();
    put_varint64(&mut b, v);
    b
}

impl Properties {
    /// Encodes the properties as a block (without the block trailer).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut map: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
        if !self.blob_files.is_empty() {
            let mut list = Vec::new();
            for n in &self.blob_files {
                put_varint64(&mut list, *n);
            }
            map.insert(names::BLOB_FILES, list);
        }
        map.insert(
            names::BLOOM_BITS_PER_KEY,
            varint(u64::from(self.bloom_bits_per_key)),
        );
        map.insert(names::COMPRESSION, self.compression.as_bytes().to_vec());
        map.insert(names::CREATED_UNIX_MS, varint(self.created_unix_ms));
        if !self.db_id.is_empty() {
            map.insert(names::DB_ID, self.db_id.clone());
        }
        if let Some(id) = self.keyspace_id {
            map.insert(names::KEYSPACE_ID, varint(u64::from(id)));
            map.insert(names::KEYSPACE_NAME, self.keyspace_name.as_bytes().to_vec());
        }
        map.insert(names::LARGEST_KEY, self.largest_key.clone());
        map.insert(names::SMALLEST_KEY, self.smallest_key.clone());
        if let Some(ms) = self.min_expiry_ms {
            map.insert(names::MIN_EXPIRY_MS, varint(ms));
        }
        map.insert(names::NUM_DATA_BLOCKS, varint(self.num_data_blocks));
        map.insert(names::NUM_DELETIONS, varint(self.num_deletions));
        map.insert(names::NUM_ENTRIES, varint(self.num_entries));
        map.insert(names::NUM_EXPIRING, varint(self.num_expiring));
        map.insert(names::RAW_KEY_BYTES, varint(self.raw_key_bytes));
        map.insert(names::RAW_VALUE_BYTES, varint(self.raw_value_bytes));
        map.insert(names::LARGEST_SEQ, varint(self.largest_seq));
        map.insert(names::SMALLEST_SEQ, varint(self.smallest_seq));
        let mut block = BlockBuilder::new(1);
        for (name, value) in &map {
            block.add(name.as_bytes(), value);
        }
        block.finish()
    }

    /// Decodes a properties block.
    ///
    /// # Errors
    ///
    /// Returns [`crate::Error::Corruption`] at `loc` if the block or a known value is
    /// malformed.
    pub(crate) fn decode(block: Block, loc: &Location) -> Result<Properties> {
        let mut it = BlockIter::new(Arc::new(block), loc.clone());
        let mut p = Properties::default();
        it.seek_to_first();
        while it.valid() {
            let name = it.key();
            let value = it.value();
            let num = || -> Result<u64> {
                match get_varint64(value) {
                    Some((v, n)) if n == value.len() => Ok(v),
                    _ => Err(loc.corruption(format!(
                        "malformed property {}",
                        String::from_utf8_lossy(name)
                    ))),
                }
            };
            match std::str::from_utf8(name).unwrap_or("") {
                names::BLOB_FILES => {
                    let mut rest = value;
                    while !rest.is_empty() {
                        let (n, used) = get_varint64(rest)
                            .ok_or_else(|| loc.corruption("malformed property blob files"))?;
                        p.blob_files.push(n);
                        rest = &rest[used..];
                    }
                }
                names::BLOOM_BITS_PER_KEY => {
                    p.bloom_bits_per_key = u32::try_from(num()?)
                        .map_err(|_| loc.corruption("malformed property bloom bits per key"))?;
                }
                names::COMPRESSION => {
                    p.compression = String::from_utf8(value.to_vec())
                        .map_err(|_| loc.corruption("malformed property compression"))?;
                }
                names::CREATED_UNIX_MS => p.created_unix_ms = num()?,
                names::DB_ID => p.db_id = value.to_vec(),
                names::KEYSPACE_ID => {
                    p.keyspace_id = Some(
                        u32::try_from(num()?)
                            .map_err(|_| loc.corruption("malformed property keyspace id"))?,
                    );
                }
                names::KEYSPACE_NAME => {
                    p.keyspace_name = String::from_utf8(value.to_vec())
                        .map_err(|_| loc.corruption("malformed property keyspace name"))?;
                }
                names::LARGEST_KEY => p.largest_key = value.to_vec(),
                names::SMALLEST_KEY => p.smallest_key = value.to_vec(),
                names::MIN_EXPIRY_MS => p.min_expiry_ms = Some(num()?),
                names::NUM_DATA_BLOCKS => p.num_data_blocks = num()?,
                names::NUM_DELETIONS => p.num_deletions = num()?,
                names::NUM_ENTRIES => p.num_entries = num()?,
                names::NUM_EXPIRING => p.num_expiring = num()?,
                names::RAW_KEY_BYTES => p.raw_key_bytes = num()?,
                names::RAW_VALUE_BYTES => p.raw_value_bytes = num()?,
                names::LARGEST_SEQ => p.largest_seq = num()?,
                names::SMALLEST_SEQ => p.smallest_seq = num()?,
                _ => {} // unknown: written by a newer version
            }
            it.next();
        }
        it.status()?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn loc() -> Location {
        Location::new(Arc::from(Path::new("mem")), 0)
    }

    #[test]
    fn round_trip() {
        let p = Properties {
            num_entries: 10,
            num_deletions: 2,
            num_data_blocks: 1,
            raw_key_bytes: 100,
            raw_value_bytes: 1000,
            smallest_seq: 3,
            largest_seq: 99,
            smallest_key: b"a\x00\x01\x00\x00\x00\x00\x00\x00".to_vec(),
            largest_key: b"z\x00\x01\x00\x00\x00\x00\x00\x00".to_vec(),
            min_expiry_ms: Some(12345),
            num_expiring: 1,
            compression: "zstd".into(),
            bloom_bits_per_key: 10,
            created_unix_ms: 1_700_000_000_000,
            db_id: b"0123456789abcdef".to_vec(),
            keyspace_id: Some(3),
            keyspace_name: "redis.hash".into(),
            blob_files: vec![7, 300, 1 << 40],
        };
        let block = Block::new(p.encode()).unwrap();
        assert_eq!(Properties::decode(block, &loc()).unwrap(), p);
        let none = Properties {
            min_expiry_ms: None,
            ..p
        };
        let block = Block::new(none.encode()).unwrap();
        assert_eq!(Properties::decode(block, &loc()).unwrap(), none);
    }

    #[test]
    fn unknown_names_ignored_and_sorted_order() {
        let mut b = BlockBuilder::new(1);
        b.add(b"strata.future.thing", b"whatever");
        b.add(names::NUM_ENTRIES.as_bytes(), &varint(7));
        b.add(b"zzz", b"");
        let p = Properties::decode(Block::new(b.finish()).unwrap(), &loc()).unwrap();
        assert_eq!(p.num_entries, 7);
        assert_eq!(p.compression, "");
    }

    #[test]
    fn malformed_number_is_corruption() {
        let mut b = BlockBuilder::new(1);
        b.add(names::NUM_ENTRIES.as_bytes(), &[0x80]);
        let err = Properties::decode(Block::new(b.finish()).unwrap(), &loc()).unwrap_err();
        assert!(err
            .to_string()
            .contains("malformed property strata.num.entries"));
    }
}
