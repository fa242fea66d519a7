//! Settings for writing a table.

use crate::error::{Error, Result};
use crate::filter::MAX_BITS_PER_KEY;
use crate::footer::{FORMAT_VERSION, OLDEST_WRITABLE_VERSION};

/// Longest internal key (user key + 8) a table accepts: 16 MiB.
pub const MAX_KEY_LEN: usize = 16 << 20;
/// Longest value a table accepts: 128 MiB.
pub const MAX_VALUE_LEN: usize = 128 << 20;
/// Largest `block_size`: 64 MiB. With the key and value limits, a data block stays below
/// the 256 MiB a reader accepts for a compressed block.
const MAX_BLOCK_SIZE: usize = 64 << 20;

/// How data blocks are compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Store blocks as they are.
    #[default]
    None,
    /// zstd at the given level. A block is stored uncompressed when zstd saves less than
    /// 12.5%.
    Zstd(i32),
}

impl Compression {
    /// The name recorded in [`crate::Properties::compression`].
    pub(crate) fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zstd(_) => "zstd",
        }
    }
}

/// Settings for [`crate::TableBuilder`].
#[derive(Clone, Debug)]
pub struct TableOptions {
    /// Target uncompressed size of a data block, bytes. Default 4096; 1..=64 MiB.
    pub block_size: usize,
    /// Entries between restart points in data blocks. Default 16; at least 1.
    pub restart_interval: usize,
    /// Entries between restart points in the index block (RocksDB's
    /// `index_block_restart_interval`). Default 16; at least 1. Index keys then share their
    /// prefixes, and a seek binary-searches a sixteenth of the entries and scans the rest in
    /// the same few cache lines: at 5M keys, reads 13% and seeks 20% faster than with 1.
    pub index_restart_interval: usize,
    /// Data block compression. Default [`Compression::None`].
    pub compression: Compression,
    /// Bloom filter bits per distinct user key; 0 = no filter. Default 10; at most 64.
    pub bloom_bits_per_key: u32,
    /// The table format version to write (RocksDB's `format_version`): 3 (the default)
    /// stores each data block entry's sequence number and kind as a varint apart from the
    /// prefix-compressed user key; 2 writes tables that readers of format 2 open. Readers
    /// read 1 to 3 (`docs/format-sstable.md`).
    pub format_version: u32,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            block_size: 4096,
            restart_interval: 16,
            index_restart_interval: 16,
            compression: Compression::None,
            bloom_bits_per_key: 10,
            format_version: FORMAT_VERSION,
        }
    }
}

impl TableOptions {
    /// Checks that every field is in range.
    ///
    /// # Errors
    ///
    /// Returns [`Error::InvalidArgument`] naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        if self.block_size == 0 || self.block_size > MAX_BLOCK_SIZE {
            return Err(Error::InvalidArgument(format!(
                "block_size must be in 1..={MAX_BLOCK_SIZE}, got {}",
                self.block_size
            )));
        }
        if self.restart_interval == 0 || self.index_restart_interval == 0 {
            return Err(Error::InvalidArgument(
                "restart_interval and index_restart_interval must be at least 1".into(),
            ));
        }
        if self.bloom_bits_per_key > MAX_BITS_PER_KEY {
            return Err(Error::InvalidArgument(format!(
                "bloom_bits_per_key must be at most {MAX_BITS_PER_KEY}, got {}",
                self.bloom_bits_per_key
            )));
        }
        if !(OLDEST_WRITABLE_VERSION..=FORMAT_VERSION).contains(&self.format_version) {
            return Err(Error::InvalidArgument(format!(
                "format_version must be in {OLDEST_WRITABLE_VERSION}..={FORMAT_VERSION}, got {}",
                self.format_version
            )));
        }
        if let Compression::Zstd(level) = self.compression {
            let range = zstd::compression_level_range();
            if !range.contains(&level) {
                return Err(Error::InvalidArgument(format!(
                    "zstd level must be in {}..={}, got {level}",
                    range.start(),
                    range.end()
                )));
            }
        }
        Ok(())
    }
}
