//! A cursor over one block (LevelDB's `Block::Iter`).

use std::cmp::Ordering;
use std::sync::Arc;

use super::{Block, KeyEncoding, Location};
use crate::error::{Error, Result};
use crate::iter::InternalIterator;
use crate::key::{compare_internal, compare_internal_split, TRAILER_LEN};
use crate::varint::{get_varint32, get_varint64};

/// A decoded entry header.
struct Header {
    shared: usize,
    unshared: usize,
    value_len: usize,
    /// The internal key's trailer, stored apart from the key ([`KeyEncoding::SplitTrailer`]).
    trailer: Option<u64>,
    /// Bytes the header takes.
    len: usize,
}

/// Decodes the header of the entry at the start of `data`, or `None` if it is malformed.
#[inline]
fn decode_header(data: &[u8], encoding: KeyEncoding) -> Option<Header> {
    let (shared, unshared, value_len, mut len) = match data.first_chunk::<3>() {
        // The common case (LevelDB's fast path): the three lengths take one byte each.
        Some(&[s, u, v]) if (s | u | v) < 0x80 => {
            (usize::from(s), usize::from(u), usize::from(v), 3)
        }
        _ => {
            let (shared, a) = get_varint32(data)?;
            let (unshared, b) = get_varint32(data.get(a..)?)?;
            let (value_len, c) = get_varint32(data.get(a + b..)?)?;
            (
                shared as usize,
                unshared as usize,
                value_len as usize,
                a + b + c,
            )
        }
    };
    let trailer = match encoding {
        KeyEncoding::Whole => None,
        KeyEncoding::SplitTrailer => {
            let (t, d) = get_varint64(data.get(len..)?)?;
            len += d;
            Some(t)
        }
    };
    Some(Header {
        shared,
        unshared,
        value_len,
        trailer,
        len,
    })
}

/// Iterates a [`Block`] whose keys are encoded internal keys.
///
/// Invariant: the cursor is valid iff `err` is `None` and `current < restart_offset`.
/// Errors are sticky: once corrupt, every move keeps the iterator invalid.
#[derive(Debug)]
pub(crate) struct BlockIter {
    block: Arc<Block>,
    loc: Location,
    /// Offset of the current entry.
    current: usize,
    /// Index of the restart block containing `current`.
    restart_index: usize,
    /// Offset just past the current entry.
    next_offset: usize,
    key: Vec<u8>,
    value: (usize, usize),
    err: Option<Error>,
}

impl BlockIter {
    /// An unpositioned cursor over `block`; `loc` names the block in errors.
    pub(crate) fn new(block: Arc<Block>, loc: Location) -> Self {
        let end = block.restart_offset();
        let restarts = block.num_restarts();
        BlockIter {
            block,
            loc,
            current: end,
            restart_index: restarts,
            next_offset: end,
            key: Vec::new(),
            value: (0, 0),
            err: None,
        }
    }

    /// Points this cursor at another block, unpositioned, keeping its key buffer (a table
    /// iterator moving from block to block then allocates no new one).
    pub(crate) fn reset(&mut self, block: Arc<Block>, loc: Location) {
        let end = block.restart_offset();
        self.restart_index = block.num_restarts();
        self.current = end;
        self.next_offset = end;
        self.block = block;
        self.loc = loc;
        self.key.clear();
        self.value = (0, 0);
        self.err = None;
    }

    /// A cursor over no entries (stands in for a block that could not be read).
    pub(crate) fn empty() -> Self {
        BlockIter::new(
            Arc::new(Block::empty()),
            Location::new(Arc::from(std::path::Path::new("")), 0),
        )
    }

    fn mark_invalid(&mut self) {
        self.current = self.block.restart_offset();
        self.restart_index = self.block.num_restarts();
    }

    fn corrupt(&mut self, reason: &str) {
        if self.err.is_none() {
            let at = self.current;
            self.err = Some(self.loc.corruption(format!("{reason} (block offset {at})")));
        }
        self.mark_invalid();
    }

    fn seek_to_restart_point(&mut self, index: usize) {
        self.key.clear();
        self.restart_index = index;
        self.next_offset = self.block.restart_point(index);
        self.value = (self.next_offset, self.next_offset);
    }

    /// Decodes the entry at `next_offset`. Returns false at the end or on corruption.
    fn parse_next_key(&mut self) -> bool {
        self.current = self.next_offset;
        let limit = self.block.restart_offset();
        if self.current >= limit {
            self.mark_invalid();
            return false;
        }
        // A borrow of the field alone (not of `self`), so the key buffer can be written while
        // the block is read; an `Arc` clone here cost two atomic operations per entry.
        let block: &Block = &self.block;
        let data = block.data();
        let Some(entries) = data.get(self.current..limit) else {
            self.corrupt("entry out of range");
            return false;
        };
        let Some(Header {
            shared,
            unshared,
            value_len,
            trailer,
            len: header_len,
        }) = decode_header(entries, block.encoding())
        else {
            self.corrupt("malformed block entry header");
            return false;
        };
        // What `shared` counts: the previous key, or its user key when trailers are apart.
        let previous_len = match trailer {
            None => self.key.len(),
            Some(_) => self.key.len().saturating_sub(TRAILER_LEN),
        };
        if shared > previous_len {
            self.corrupt("block entry shares more bytes than the previous key has");
            return false;
        }
        let key_start = self.current + header_len;
        let bounds = key_start
            .checked_add(unshared)
            .and_then(|key_end| Some((key_end, key_end.checked_add(value_len)?)));
        let Some((key_end, value_end)) = bounds.filter(|&(_, v)| v <= limit) else {
            self.corrupt("block entry runs past the end of the block");
            return false;
        };
        let Some(delta) = data.get(key_start..key_end) else {
            self.corrupt("block entry runs past the end of the block");
            return false;
        };
        while self.restart_index + 1 < block.num_restarts()
            && block.restart_point(self.restart_index + 1) < self.current
        {
            self.restart_index += 1;
        }
        let at_restart = block.restart_point(self.restart_index) == self.current
            || block.restart_point(self.restart_index + 1) == self.current;
        if at_restart && shared != 0 {
            self.corrupt("restart point entry shares a prefix");
            return false;
        }
        self.key.truncate(shared);
        match trailer {
            None => self.key.extend_from_slice(delta),
            Some(t) => {
                // One allocation for a new cursor's first key, not one per part.
                self.key.reserve(delta.len() + TRAILER_LEN);
                self.key.extend_from_slice(delta);
                self.key.extend_from_slice(&t.to_le_bytes());
            }
        }
        self.value = (key_end, value_end);
        self.next_offset = value_end;
        true
    }

    /// How the key stored at restart point `index` compares with `target`, or `None` if the
    /// entry is malformed.
    fn compare_restart_key(&self, index: usize, target: &[u8]) -> Option<Ordering> {
        let data = self.block.data();
        let start = self.block.restart_point(index);
        let entry = data.get(start..self.block.restart_offset())?;
        let h = decode_header(entry, self.block.encoding())?;
        if h.shared != 0 {
            return None;
        }
        let key = entry.get(h.len..h.len.checked_add(h.unshared)?)?;
        Some(match h.trailer {
            None => compare_internal(key, target),
            Some(t) => compare_internal_split(key, t, target),
        })
    }
}

impl InternalIterator for BlockIter {
    fn valid(&self) -> bool {
        self.err.is_none() && self.current < self.block.restart_offset()
    }

    fn seek_to_first(&mut self) {
        if self.err.is_some() {
            return;
        }
        self.seek_to_restart_point(0);
        self.parse_next_key();
    }

    fn seek_to_last(&mut self) {
        if self.err.is_some() {
            return;
        }
        self.seek_to_restart_point(self.block.num_restarts().saturating_sub(1));
        while self.parse_next_key() && self.next_offset < self.block.restart_offset() {}
    }

    fn seek(&mut self, target: &[u8]) {
        if self.err.is_some() {
            return;
        }
        // Binary search for the last restart point whose key is < target.
        let mut left = 0;
        let mut right = self.block.num_restarts().saturating_sub(1);
        while left < right {
            let mid = left + (right - left).div_ceil(2);
            match self.compare_restart_key(mid, target) {
                Some(Ordering::Less) => left = mid,
                Some(_) => right = mid - 1,
                None => {
                    self.current = self.block.restart_point(mid);
                    self.corrupt("malformed restart point entry");
                    return;
                }
            }
        }
        // Linear scan for the first key >= target.
        self.seek_to_restart_point(left);
        while self.parse_next_key() {
            if compare_internal(&self.key, target) != Ordering::Less {
                return;
            }
        }
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        self.seek(target);
        if self.valid() {
            if compare_internal(&self.key, target) == Ordering::Greater {
                self.prev();
            }
        } else if self.err.is_none() {
            self.seek_to_last();
        }
    }

    fn next(&mut self) {
        if self.valid() {
            self.parse_next_key();
        }
    }

    fn prev(&mut self) {
        if !self.valid() {
            return;
        }
        // Back up to a restart point before the current entry, then scan forward to the
        // entry just before it.
        let original = self.current;
        while self.block.restart_point(self.restart_index) >= original {
            if self.restart_index == 0 {
                self.mark_invalid();
                return;
            }
            self.restart_index -= 1;
        }
        self.seek_to_restart_point(self.restart_index);
        while self.parse_next_key() && self.next_offset < original {}
    }

    fn key(&self) -> &[u8] {
        if self.valid() {
            &self.key
        } else {
            &[]
        }
    }

    fn value(&self) -> &[u8] {
        if !self.valid() {
            return &[];
        }
        self.block
            .data()
            .get(self.value.0..self.value.1)
            .unwrap_or_default()
    }

    fn status(&self) -> Result<()> {
        match &self.err {
            Some(e) => Err(e.duplicate()),
            None => Ok(()),
        }
    }
}
