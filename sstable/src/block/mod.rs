//! Blocks: the unit of reading, checksumming, compression and caching.
//!
//! ```text
//! block    := entry* restarts: fixed32[num_restarts] num_restarts: fixed32
//! entry    := shared: varint32 unshared: varint32 value_len: varint32
//!             [trailer: varint64]                        (KeyEncoding::SplitTrailer only)
//!             key_delta: byte[unshared] value: byte[value_len]
//! ```
//! An entry's key is the first `shared` bytes of the previous entry's key followed by
//! `key_delta`. Every `restart_interval`-th entry is a restart point: it stores its key in
//! full (`shared == 0`) and its offset is listed in `restarts`, so a reader can binary search
//! the restart keys and scan forward from there. On disk each block is followed by a
//! trailer (see [`trailer`]).
//!
//! How keys are stored is the block's [`KeyEncoding`]: whole, or (data blocks of format 3)
//! as a prefix-compressed user key with the internal key's 8-byte trailer as a varint, which
//! takes one byte for a bottommost entry whose sequence number compaction zeroed. Cursors
//! always present whole internal keys.

pub(crate) mod builder;
pub(crate) mod iter;
pub(crate) mod trailer;

use std::path::Path;
use std::sync::Arc;

use crate::error::Error;

pub(crate) use builder::BlockBuilder;
pub(crate) use iter::BlockIter;

/// Size of one restart offset and of the restart count.
const U32_LEN: usize = 4;

/// Where a block came from, for error messages.
#[derive(Clone, Debug)]
pub(crate) struct Location {
    /// The table file (or the name given to an in-memory table).
    pub(crate) file: Arc<Path>,
    /// Byte offset of the block in the file.
    pub(crate) offset: u64,
}

impl Location {
    pub(crate) fn new(file: Arc<Path>, offset: u64) -> Self {
        Location { file, offset }
    }

    /// A corruption error at this location.
    pub(crate) fn corruption(&self, reason: impl Into<String>) -> Error {
        Error::corruption(&self.file, self.offset, reason)
    }
}

/// Reads a little-endian u32 at `pos`, or `None` if out of bounds.
pub(crate) fn read_u32_le(data: &[u8], pos: usize) -> Option<u32> {
    let end = pos.checked_add(U32_LEN)?;
    let bytes: [u8; U32_LEN] = data.get(pos..end)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

/// How a block stores its keys (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyEncoding {
    /// Whole keys, prefix-compressed: index and properties blocks, and data blocks of
    /// formats 1 and 2.
    Whole,
    /// Internal keys in two parts: the user key prefix-compressed against the previous user
    /// key, the trailer (`seq << 8 | kind`) as a varint64 in the entry header. Data blocks
    /// of format 3.
    SplitTrailer,
}

/// A decoded (decompressed) block whose restart array has been validated.
///
/// Invariants: `restart_offset + 4 * num_restarts + 4 == data.len()`, `num_restarts >= 1`,
/// restart offsets start at 0, strictly increase and are `< restart_offset` (or all equal
/// to 0 for an empty block).
#[derive(Debug)]
pub(crate) struct Block {
    data: Vec<u8>,
    restart_offset: usize,
    num_restarts: usize,
    encoding: KeyEncoding,
}

impl Block {
    /// Validates the restart array of `data`, a block of whole keys.
    ///
    /// # Errors
    ///
    /// Returns a reason string if the restart array is malformed.
    #[cfg(test)]
    pub(crate) fn new(data: Vec<u8>) -> Result<Block, &'static str> {
        Block::with_encoding(data, KeyEncoding::Whole)
    }

    /// Validates the restart array of `data`, whose keys are stored as `encoding` says.
    ///
    /// # Errors
    ///
    /// Returns a reason string if the restart array is malformed.
    pub(crate) fn with_encoding(
        data: Vec<u8>,
        encoding: KeyEncoding,
    ) -> Result<Block, &'static str> {
        let count_pos = data
            .len()
            .checked_sub(U32_LEN)
            .ok_or("block too short for restart count")?;
        let num_restarts =
            read_u32_le(&data, count_pos).ok_or("block too short for restart count")? as usize;
        if num_restarts == 0 {
            return Err("block has no restart points");
        }
        let restart_offset = num_restarts
            .checked_mul(U32_LEN)
            .and_then(|len| count_pos.checked_sub(len))
            .ok_or("block restart array out of range")?;
        let block = Block {
            data,
            restart_offset,
            num_restarts,
            encoding,
        };
        let mut prev: Option<usize> = None;
        for i in 0..num_restarts {
            let p = read_u32_le(&block.data, restart_offset + i * U32_LEN)
                .ok_or("block restart array out of range")? as usize;
            let ok = match prev {
                None => p == 0,
                Some(q) => p > q,
            } && (p < restart_offset
                || (p == 0 && restart_offset == 0 && num_restarts == 1));
            if !ok {
                return Err("bad block restart point");
            }
            prev = Some(p);
        }
        Ok(block)
    }

    /// The whole decoded block, restart array included.
    pub(crate) fn data(&self) -> &[u8] {
        &self.data
    }

    /// Where the entries end and the restart array begins.
    pub(crate) fn restart_offset(&self) -> usize {
        self.restart_offset
    }

    pub(crate) fn num_restarts(&self) -> usize {
        self.num_restarts
    }

    pub(crate) fn encoding(&self) -> KeyEncoding {
        self.encoding
    }

    /// Offset of restart point `i` (validated at construction; out-of-range `i` yields
    /// `restart_offset`, which readers treat as the end).
    pub(crate) fn restart_point(&self, i: usize) -> usize {
        if i >= self.num_restarts {
            return self.restart_offset;
        }
        read_u32_le(&self.data, self.restart_offset + i * U32_LEN)
            .map_or(self.restart_offset, |p| p as usize)
    }

    /// A block with no entries.
    pub(crate) fn empty() -> Block {
        let mut data = 0u32.to_le_bytes().to_vec();
        data.extend_from_slice(&1u32.to_le_bytes());
        Block {
            data,
            restart_offset: 0,
            num_restarts: 1,
            encoding: KeyEncoding::Whole,
        }
    }

    /// Bytes this block holds in memory, for the cache's budget.
    pub(crate) fn charge(&self) -> u64 {
        (self.data.capacity() + std::mem::size_of::<Block>()) as u64
    }
}

#[cfg(test)]
mod tests;
