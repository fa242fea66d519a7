//! The two-level table iterator: index block cursor -> data block cursor.

use std::sync::Arc;

use super::reader::Table;
use crate::block::trailer::BLOCK_TRAILER_LEN;
use crate::block::BlockIter;
use crate::error::{Error, Result};
use crate::handle::BlockHandle;
use crate::iter::InternalIterator;

/// Iterates every entry of a [`Table`] in internal-key order. Owns an `Arc<Table>`; data
/// blocks are loaded through the table's block cache.
///
/// Errors are sticky: after a damaged block the iterator stays invalid and `status()`
/// returns the corruption, whatever it is asked to do next.
pub struct TableIter {
    table: Arc<Table>,
    index: BlockIter,
    /// Cursor over the data block the index points at (None when unpositioned).
    data: Option<BlockIter>,
    /// File offset of the block under `data`.
    data_offset: u64,
    err: Option<Error>,
    /// Add blocks read from the file to the block cache.
    fill_cache: bool,
    /// File offset just past the last data block loaded: the next block is sequential if
    /// it starts here.
    next_block: u64,
    /// The file is being read ahead up to here.
    readahead_end: u64,
    /// Data blocks loaded in file order, one after the other, since the last jump.
    sequential_blocks: u32,
    /// The current readahead size.
    window: u64,
}

/// The first readahead of a scan (doubled before use).
const INITIAL_READAHEAD: u64 = 8 << 10;

/// The most a forward scan reads the file ahead (RocksDB's largest automatic readahead).
const SCAN_READAHEAD: u64 = 256 << 10;

/// The most a compaction input (an iterator that does not fill the cache) reads ahead
/// (RocksDB's `compaction_readahead_size`).
const COMPACTION_READAHEAD: u64 = 2 << 20;

impl std::fmt::Debug for TableIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableIter")
            .field("table", &self.table.path())
            .field("valid", &self.valid())
            .field("data_offset", &self.data_offset)
            .field("err", &self.err)
            .finish()
    }
}

impl TableIter {
    pub(crate) fn new(table: Arc<Table>, fill_cache: bool) -> Self {
        // An index that cannot be read makes an iterator that is invalid from the start and
        // reports why.
        let (index, err) = match table.index_iter() {
            Ok(index) => (index, None),
            Err(e) => (BlockIter::empty(), Some(e)),
        };
        TableIter {
            table,
            index,
            data: None,
            data_offset: 0,
            err,
            fill_cache,
            next_block: u64::MAX,
            readahead_end: 0,
            sequential_blocks: 0,
            window: INITIAL_READAHEAD,
        }
    }

    /// Reads the file ahead of a forward scan, as RocksDB's automatic readahead does: from
    /// the third block read in file order, ask for the next `window` bytes whenever half of
    /// the last window is used, the window doubling from 16 KiB to its maximum. Random
    /// access (seeks, point reads) never reads ahead: table files are mapped for random
    /// access.
    fn read_ahead(&mut self, handle: BlockHandle) {
        if handle.offset == self.next_block {
            self.sequential_blocks += 1;
        } else {
            self.sequential_blocks = 0;
            self.window = INITIAL_READAHEAD;
        }
        self.next_block = handle
            .offset
            .saturating_add(handle.size)
            .saturating_add(BLOCK_TRAILER_LEN as u64);
        if self.sequential_blocks < 2
            || handle.offset.saturating_add(self.window / 2) < self.readahead_end
        {
            return;
        }
        let max = if self.fill_cache {
            SCAN_READAHEAD
        } else {
            COMPACTION_READAHEAD
        };
        self.window = (self.window * 2).min(max);
        self.table.prefetch(handle.offset, self.window);
        self.readahead_end = handle.offset.saturating_add(self.window);
    }

    fn fail(&mut self, e: Error) {
        if self.err.is_none() {
            self.err = Some(e);
        }
        self.data = None;
    }

    /// Loads the data block the index cursor points at (keeps the current one if same).
    fn init_data_block(&mut self) {
        if !self.index.valid() {
            self.data = None;
            if let Err(e) = self.index.status() {
                self.fail(e);
            }
            return;
        }
        let handle = match self.table.decode_index_value(self.index.value()) {
            Ok(h) => h,
            Err(e) => return self.fail(e),
        };
        if self.data.is_some() && self.data_offset == handle.offset {
            return;
        }
        self.read_ahead(handle);
        match self.table.data_block_with(handle, self.fill_cache) {
            Ok(block) => {
                let loc = self.table.location(handle.offset);
                match &mut self.data {
                    Some(data) => data.reset(block, loc),
                    None => self.data = Some(BlockIter::new(block, loc)),
                }
                self.data_offset = handle.offset;
            }
            Err(e) => self.fail(e),
        }
    }

    /// Checks the data cursor; true if the caller should move to another block.
    fn data_exhausted(&mut self) -> bool {
        if self.err.is_some() {
            self.data = None;
            return false;
        }
        match &self.data {
            Some(d) if d.valid() => false,
            Some(d) => match d.status() {
                Ok(()) => self.index.valid(),
                Err(e) => {
                    self.fail(e);
                    false
                }
            },
            None => false,
        }
    }

    fn skip_empty_blocks_forward(&mut self) {
        while self.data_exhausted() {
            self.index.next();
            self.init_data_block();
            if let Some(d) = &mut self.data {
                d.seek_to_first();
            }
        }
        if !self.valid() {
            self.data = None;
        }
    }

    fn skip_empty_blocks_backward(&mut self) {
        while self.data_exhausted() {
            self.index.prev();
            self.init_data_block();
            if let Some(d) = &mut self.data {
                d.seek_to_last();
            }
        }
        if !self.valid() {
            self.data = None;
        }
    }
}

impl InternalIterator for TableIter {
    fn valid(&self) -> bool {
        self.err.is_none() && self.data.as_ref().is_some_and(|d| d.valid())
    }

    fn seek_to_first(&mut self) {
        if self.err.is_some() {
            return;
        }
        self.index.seek_to_first();
        self.init_data_block();
        if let Some(d) = &mut self.data {
            d.seek_to_first();
        }
        self.skip_empty_blocks_forward();
    }

    fn seek_to_last(&mut self) {
        if self.err.is_some() {
            return;
        }
        self.index.seek_to_last();
        self.init_data_block();
        if let Some(d) = &mut self.data {
            d.seek_to_last();
        }
        self.skip_empty_blocks_backward();
    }

    fn seek(&mut self, target: &[u8]) {
        if self.err.is_some() {
            return;
        }
        // The first block whose last key is >= target holds the answer.
        self.index.seek(target);
        self.init_data_block();
        if let Some(d) = &mut self.data {
            d.seek(target);
        }
        self.skip_empty_blocks_forward();
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        if self.err.is_some() {
            return;
        }
        self.index.seek(target);
        if !self.index.valid() {
            match self.index.status() {
                // Every key in the table is < target.
                Ok(()) => self.seek_to_last(),
                Err(e) => self.fail(e),
            }
            return;
        }
        self.init_data_block();
        if let Some(d) = &mut self.data {
            d.seek_for_prev(target);
        }
        self.skip_empty_blocks_backward();
    }

    fn next(&mut self) {
        if !self.valid() {
            return;
        }
        if let Some(d) = &mut self.data {
            d.next();
        }
        self.skip_empty_blocks_forward();
    }

    fn prev(&mut self) {
        if !self.valid() {
            return;
        }
        if let Some(d) = &mut self.data {
            d.prev();
        }
        self.skip_empty_blocks_backward();
    }

    fn key(&self) -> &[u8] {
        match &self.data {
            Some(d) if self.err.is_none() => d.key(),
            _ => &[],
        }
    }

    fn value(&self) -> &[u8] {
        match &self.data {
            Some(d) if self.err.is_none() => d.value(),
            _ => &[],
        }
    }

    fn status(&self) -> Result<()> {
        match &self.err {
            Some(e) => Err(e.duplicate()),
            None => Ok(()),
        }
    }
}
