//! Builds one block (format in [`crate::block`]).

use super::KeyEncoding;
use crate::key::{le_u64, TRAILER_LEN};
use crate::varint::{put_varint32, put_varint64};

/// Accumulates sorted entries into a block with prefix compression and restart points.
///
/// Invariant: the caller keeps the block under 4 GiB (restart offsets are u32); the table
/// builder's size limits guarantee it.
#[derive(Debug)]
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    /// Entries since the last restart point.
    counter: usize,
    restart_interval: usize,
    /// The previous entry's key: whole, or its user key for [`KeyEncoding::SplitTrailer`].
    last_key: Vec<u8>,
    entries: usize,
    encoding: KeyEncoding,
}

impl BlockBuilder {
    /// A builder of whole keys that stores a full key every `restart_interval` entries (at
    /// least 1).
    pub(crate) fn new(restart_interval: usize) -> Self {
        BlockBuilder::with_encoding(restart_interval, KeyEncoding::Whole)
    }

    /// A builder that stores keys as `encoding` says. With [`KeyEncoding::SplitTrailer`]
    /// every key must be an internal key (at least 8 bytes; the table builder checks).
    pub(crate) fn with_encoding(restart_interval: usize, encoding: KeyEncoding) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: vec![0],
            counter: 0,
            restart_interval: restart_interval.max(1),
            last_key: Vec::new(),
            entries: 0,
            encoding,
        }
    }

    /// Appends an entry. Keys must be added in the order readers will expect.
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        let (key, trailer) = match self.encoding {
            KeyEncoding::Whole => (key, None),
            KeyEncoding::SplitTrailer => {
                debug_assert!(key.len() >= TRAILER_LEN, "not an internal key");
                let split = key.len().saturating_sub(TRAILER_LEN);
                let (user_key, tail) = key.split_at(split);
                (user_key, Some(le_u64(tail)))
            }
        };
        let shared = if self.counter < self.restart_interval {
            self.last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            debug_assert!(u32::try_from(self.buf.len()).is_ok());
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        let unshared = key.get(shared..).unwrap_or_default();
        put_varint32(&mut self.buf, shared as u32);
        put_varint32(&mut self.buf, unshared.len() as u32);
        put_varint32(&mut self.buf, value.len() as u32);
        if let Some(t) = trailer {
            put_varint64(&mut self.buf, t);
        }
        self.buf.extend_from_slice(unshared);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(unshared);
        self.counter += 1;
        self.entries += 1;
    }

    /// Size of the block if it were finished now.
    pub(crate) fn estimated_size(&self) -> usize {
        self.buf.len() + (self.restarts.len() + 1) * 4
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Heap bytes the builder holds.
    pub(crate) fn memory_usage(&self) -> usize {
        self.buf.capacity()
            + self.restarts.capacity() * std::mem::size_of::<u32>()
            + self.last_key.capacity()
    }

    /// Appends the restart array and returns the block; the builder is reset for reuse.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        out.reserve((self.restarts.len() + 1) * 4);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        self.restarts.clear();
        self.restarts.push(0);
        self.counter = 0;
        self.last_key.clear();
        self.entries = 0;
        out
    }
}
