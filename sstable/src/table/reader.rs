//! Opens a table and answers point lookups.

use std::borrow::Cow;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use memmap2::Mmap;

use super::iter::TableIter;
use crate::block::trailer::{self, BLOCK_TRAILER_LEN};
use crate::block::{Block, BlockIter, KeyEncoding, Location};
use crate::cache::{BlockCache, BlockKind, Cached};
use crate::error::{Error, Result};
use crate::filter::{Filter, FilterKeys};
use crate::footer::{Footer, FOOTER_LEN};
use crate::handle::BlockHandle;
use crate::iter::InternalIterator;
use crate::key::{compare_internal, encode_internal_key, parse_internal_key, SeqNo, KIND_FOR_SEEK};
use crate::properties::Properties;

/// Source of process-unique table ids (block cache keys).
static NEXT_TABLE_ID: AtomicU64 = AtomicU64::new(1);

/// The bytes of a table.
enum Source {
    Mmap(Mmap),
    Bytes(Vec<u8>),
}

impl Source {
    fn bytes(&self) -> &[u8] {
        match self {
            Source::Mmap(m) => m,
            Source::Bytes(b) => b,
        }
    }
}

/// Where a table keeps its index block and bloom filter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetaBlocks {
    /// Read at open and held by the table for its life (RocksDB's default): no lookup on
    /// the read path, memory that grows with the number of tables.
    #[default]
    Pinned,
    /// In the block cache beside the data blocks, charged and evicted like them (RocksDB's
    /// `cache_index_and_filter_blocks`): bounded memory, a cache lookup per use. Needs a
    /// cache; without one the table pins them.
    Cached,
}

/// An open, immutable table. `Send + Sync`; share it as `Arc<Table>`.
///
/// Opening checks the footer and reads and verifies the index, filter and properties blocks;
/// data blocks are checked (CRC) each time they are read from the file.
///
/// The index block and the filter are pinned in the table or live in the block cache, as
/// [`MetaBlocks`] says.
pub struct Table {
    id: u64,
    path: PathBuf,
    name: Arc<Path>,
    source: Source,
    footer: Footer,
    /// Where the footer starts: every block lies before it.
    blocks_end: u64,
    /// The index block, when pinned.
    pinned_index: Option<Arc<Block>>,
    /// The filter, when the table has one and it is pinned.
    pinned_filter: Option<Arc<Filter>>,
    /// Index and filter live in `cache`.
    meta_cached: bool,
    properties: Properties,
    cache: Option<Arc<BlockCache>>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("file_size", &self.file_size())
            .field("footer", &self.footer)
            .field("has_filter", &(self.footer.filter.size > 0))
            .field("properties", &self.properties)
            .finish_non_exhaustive()
    }
}

impl Drop for Table {
    /// Takes the table's index and filter out of the cache (a table is dropped when it is no
    /// longer part of any version, and nothing reads them again). Its data blocks leave by
    /// eviction.
    fn drop(&mut self) {
        if let (Some(cache), true) = (&self.cache, self.meta_cached) {
            cache.remove(self.id, self.footer.index.offset);
            if self.footer.filter.size > 0 {
                cache.remove(self.id, self.footer.filter.offset);
            }
        }
    }
}

impl Table {
    /// Maps the file at `path` into memory and opens it, its index and filter pinned.
    ///
    /// The file must not be modified or truncated while the table is open (tables are
    /// immutable; the engine only deletes them, which is safe on Unix).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be opened or mapped; [`Error::Corruption`] naming
    /// the file and offset if the footer or a meta block is damaged.
    pub fn open(path: &Path, cache: Option<Arc<BlockCache>>) -> Result<Table> {
        Table::open_with(path, cache, MetaBlocks::Pinned)
    }

    /// [`open`](Self::open), with the index and filter kept as `meta` says.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_with(
        path: &Path,
        cache: Option<Arc<BlockCache>>,
        meta: MetaBlocks,
    ) -> Result<Table> {
        fail::fail_point!("sstable::open", |e| Err(crate::injected(e).into()));
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len < FOOTER_LEN as u64 {
            return Err(Error::corruption(
                path,
                0,
                "file too short to be an sstable",
            ));
        }
        // SAFETY: the mapping is read-only and tables are immutable once written: nothing in
        // Strata writes to or truncates a table file after `TableBuilder::finish`. Another
        // process modifying the file is outside our contract (it could change bytes under
        // us, which the CRCs catch, or truncate it, which would raise SIGBUS).
        let map = unsafe { Mmap::map(&file)? };
        // Point reads touch one block: without this, each page fault reads 128 KiB around
        // it (RocksDB's `advise_random_on_open`). Scans ask for readahead themselves
        // (`prefetch`). Advisory: a kernel that refuses it changes nothing but speed.
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Random);
        Table::from_source(Source::Mmap(map), path.to_path_buf(), cache, meta)
    }

    /// Opens a table held in memory; `name` is used as its path in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Corruption`] if the bytes are not a valid table.
    pub fn open_bytes(
        bytes: Vec<u8>,
        name: PathBuf,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Table> {
        Table::from_source(Source::Bytes(bytes), name, cache, MetaBlocks::Pinned)
    }

    fn from_source(
        source: Source,
        path: PathBuf,
        cache: Option<Arc<BlockCache>>,
        meta: MetaBlocks,
    ) -> Result<Table> {
        let data = source.bytes();
        let footer_at = data
            .len()
            .checked_sub(FOOTER_LEN)
            .ok_or_else(|| Error::corruption(&path, 0, "file too short to be an sstable"))?;
        let footer_bytes: &[u8; FOOTER_LEN] = data
            .get(footer_at..)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::corruption(&path, 0, "file too short to be an sstable"))?;
        let footer = Footer::decode(footer_bytes)
            .map_err(|e| Error::corruption(&path, footer_at as u64, e.reason()))?;

        let name: Arc<Path> = Arc::from(path.as_path());
        let blocks = Blocks {
            data,
            end: footer_at as u64,
            name: &name,
            filter_keys: footer.filter_keys(),
        };
        let index = Arc::new(blocks.read_block(footer.index, KeyEncoding::Whole)?);
        let props_block = blocks.read_block(footer.properties, KeyEncoding::Whole)?;
        let properties =
            Properties::decode(props_block, &blocks.location(footer.properties.offset))?;
        let filter = if footer.filter.size > 0 {
            Some(Arc::new(blocks.read_filter(footer.filter)?))
        } else {
            None
        };
        let id = NEXT_TABLE_ID.fetch_add(1, Ordering::Relaxed);
        let meta_cached = meta == MetaBlocks::Cached && cache.is_some();
        let (pinned_index, pinned_filter) = match &cache {
            // A table is opened to be read (a new flush or compaction output is read
            // soon), so its index and filter start in the cache.
            Some(cache) if meta_cached => {
                cache.insert(id, footer.index.offset, Cached::Index(index));
                if let Some(filter) = filter {
                    cache.insert(id, footer.filter.offset, Cached::Filter(filter));
                }
                (None, None)
            }
            _ => (Some(index), filter),
        };
        Ok(Table {
            id,
            path,
            name,
            source,
            footer,
            blocks_end: footer_at as u64,
            pinned_index,
            pinned_filter,
            meta_cached,
            properties,
            cache,
        })
    }

    /// The file's path (or the name given to [`open_bytes`](Self::open_bytes)).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the file, bytes.
    pub fn file_size(&self) -> u64 {
        self.source.bytes().len() as u64
    }

    /// The table format version the file was written in (`docs/format-sstable.md`).
    pub fn format_version(&self) -> u32 {
        self.footer.version
    }

    /// The properties recorded when the table was written.
    pub fn properties(&self) -> &Properties {
        &self.properties
    }

    /// False if the bloom filter proves `user_key` is absent; true otherwise (always true
    /// for a table without a filter).
    ///
    /// # Errors
    ///
    /// [`Error::Corruption`] if the filter has to be read from the file again and is damaged.
    pub fn may_contain(&self, user_key: &[u8]) -> Result<bool> {
        if let Some(f) = &self.pinned_filter {
            return Ok(f.may_contain(user_key));
        }
        Ok(self
            .cached_filter()?
            .is_none_or(|f| f.may_contain(user_key)))
    }

    /// Bytes of the index block and filter this table pins (0 if they live in the cache).
    pub fn pinned_meta_bytes(&self) -> u64 {
        self.pinned_index.as_ref().map_or(0, |b| b.charge())
            + self.pinned_filter.as_ref().map_or(0, |f| f.charge())
    }

    /// The filter from the cache (or read from the file into it), if the table has one and
    /// does not pin it.
    fn cached_filter(&self) -> Result<Option<Arc<Filter>>> {
        let handle = self.footer.filter;
        let (Some(cache), true) = (&self.cache, self.meta_cached && handle.size > 0) else {
            return Ok(None);
        };
        let load = || -> Result<Cached> {
            Ok(Cached::Filter(Arc::new(self.blocks().read_filter(handle)?)))
        };
        match cache.get_or_load(BlockKind::Filter, self.id, handle.offset, load)? {
            Cached::Filter(f) => Ok(Some(f)),
            _ => Err(self
                .location(handle.offset)
                .corruption("cache entry of another kind")),
        }
    }

    /// The index block: pinned, cached, or read from the file into the cache.
    fn index_block(&self) -> Result<Arc<Block>> {
        let handle = self.footer.index;
        if let Some(index) = &self.pinned_index {
            return Ok(Arc::clone(index));
        }
        let Some(cache) = &self.cache else {
            return Err(self.location(handle.offset).corruption("index not loaded"));
        };
        let load = || -> Result<Cached> { Ok(Cached::Index(Arc::new(self.read_block(handle)?))) };
        match cache.get_or_load(BlockKind::Index, self.id, handle.offset, load)? {
            Cached::Index(b) => Ok(b),
            _ => Err(self
                .location(handle.offset)
                .corruption("cache entry of another kind")),
        }
    }

    /// The newest entry for `user_key` with a sequence number `<= seq`, as
    /// `(seq, kind, value)`, or `None`. Consults the bloom filter first.
    ///
    /// # Errors
    ///
    /// [`Error::Corruption`] if a block on the way is damaged.
    pub fn get(&self, user_key: &[u8], seq: SeqNo) -> Result<Option<(SeqNo, u8, Vec<u8>)>> {
        if !self.may_contain(user_key)? {
            return Ok(None);
        }
        let target = encode_internal_key(user_key, seq, KIND_FOR_SEEK);
        let mut index = self.index_iter()?;
        index.seek(&target);
        while index.valid() {
            let handle = self.decode_index_value(index.value())?;
            let mut block = BlockIter::new(self.data_block(handle)?, self.location(handle.offset));
            block.seek(&target);
            if block.valid() {
                let parsed = parse_internal_key(block.key()).ok_or_else(|| {
                    self.location(handle.offset)
                        .corruption("malformed internal key")
                })?;
                if parsed.user_key != user_key {
                    return Ok(None);
                }
                return Ok(Some((parsed.seq, parsed.kind, block.value().to_vec())));
            }
            block.status()?;
            // The index key bounds the block's keys, so this only happens if the index
            // disagrees with the block; the next block has the answer.
            index.next();
        }
        index.status()?;
        Ok(None)
    }

    /// An iterator over every entry.
    pub fn iter(self: &Arc<Self>) -> TableIter {
        TableIter::new(Arc::clone(self), true)
    }

    /// An iterator that reads blocks it does not find in the block cache without adding them
    /// (RocksDB's `fill_cache = false`): for compaction, which reads every block once and
    /// would otherwise push the blocks readers use out of the cache.
    pub fn iter_uncached(self: &Arc<Self>) -> TableIter {
        TableIter::new(Arc::clone(self), false)
    }

    /// Reads and checks every block: checksums, block structure, key order, index bounds
    /// and entry counts against the properties.
    ///
    /// # Errors
    ///
    /// The first problem, as [`Error::Corruption`] naming the file and offset.
    pub fn verify(&self) -> Result<()> {
        self.read_block(self.footer.index)?;
        self.read_block(self.footer.properties)?;
        if self.footer.filter.size > 0 {
            self.blocks().read_filter(self.footer.filter)?;
        }
        let mut index = self.index_iter()?;
        index.seek_to_first();
        let mut prev_key: Vec<u8> = Vec::new();
        let (mut entries, mut blocks, mut next_offset) = (0u64, 0u64, 0u64);
        while index.valid() {
            let handle = self.decode_index_value(index.value())?;
            let loc = self.location(handle.offset);
            if handle.offset < next_offset {
                return Err(loc.corruption("data blocks overlap"));
            }
            let mut it = BlockIter::new(Arc::new(self.read_data_block(handle)?), loc.clone());
            it.seek_to_first();
            let mut n = 0u64;
            while it.valid() {
                let key = it.key();
                if parse_internal_key(key).is_none() {
                    return Err(loc.corruption("malformed internal key"));
                }
                if entries + n > 0 && compare_internal(&prev_key, key) != std::cmp::Ordering::Less {
                    return Err(loc.corruption("keys out of order"));
                }
                if compare_internal(key, index.key()) == std::cmp::Ordering::Greater {
                    return Err(loc.corruption("key beyond its index entry"));
                }
                prev_key.clear();
                prev_key.extend_from_slice(key);
                n += 1;
                it.next();
            }
            it.status()?;
            if n == 0 {
                return Err(loc.corruption("empty data block"));
            }
            entries += n;
            blocks += 1;
            next_offset = handle.offset + handle.size + BLOCK_TRAILER_LEN as u64;
            index.next();
        }
        index.status()?;
        if entries != self.properties.num_entries || blocks != self.properties.num_data_blocks {
            return Err(self
                .location(self.footer.properties.offset)
                .corruption(format!(
                    "properties disagree with contents: {entries} entries in {blocks} blocks, \
                 properties say {} in {}",
                    self.properties.num_entries, self.properties.num_data_blocks
                )));
        }
        Ok(())
    }

    /// A cursor over the index block.
    pub(crate) fn index_iter(&self) -> Result<BlockIter> {
        Ok(BlockIter::new(
            self.index_block()?,
            self.location(self.footer.index.offset),
        ))
    }

    /// Decodes an index entry's value.
    pub(crate) fn decode_index_value(&self, value: &[u8]) -> Result<BlockHandle> {
        BlockHandle::decode_varint(value).ok_or_else(|| {
            self.location(self.footer.index.offset)
                .corruption("bad block handle in index")
        })
    }

    /// A data block, from the cache or the file (then cached).
    pub(crate) fn data_block(&self, handle: BlockHandle) -> Result<Arc<Block>> {
        self.data_block_with(handle, true)
    }

    /// A data block, from the cache or the file; cached only if `fill_cache`.
    pub(crate) fn data_block_with(
        &self,
        handle: BlockHandle,
        fill_cache: bool,
    ) -> Result<Arc<Block>> {
        if let Some(cache) = &self.cache {
            if let Some(Cached::Data(block)) = cache.get(BlockKind::Data, self.id, handle.offset) {
                return Ok(block);
            }
        }
        let block = Arc::new(self.read_data_block(handle)?);
        if let (Some(cache), true) = (&self.cache, fill_cache) {
            cache.insert(self.id, handle.offset, Cached::Data(Arc::clone(&block)));
        }
        Ok(block)
    }

    /// Asks the OS to read `len` bytes of the file from `offset` into the page cache ahead of
    /// a scan (`madvise(MADV_WILLNEED)`; advisory, returns at once).
    pub(crate) fn prefetch(&self, offset: u64, len: u64) {
        #[cfg(unix)]
        if let Source::Mmap(map) = &self.source {
            let end = offset.saturating_add(len).min(self.blocks_end);
            if let (Ok(at), Ok(n)) = (
                usize::try_from(offset),
                usize::try_from(end.saturating_sub(offset)),
            ) {
                if n > 0 {
                    let _ = map.advise_range(memmap2::Advice::WillNeed, at, n);
                }
            }
        }
    }

    pub(crate) fn location(&self, offset: u64) -> Location {
        self.blocks().location(offset)
    }

    fn blocks(&self) -> Blocks<'_> {
        Blocks {
            data: self.source.bytes(),
            end: self.blocks_end,
            name: &self.name,
            filter_keys: self.footer.filter_keys(),
        }
    }

    fn read_block(&self, handle: BlockHandle) -> Result<Block> {
        self.blocks().read_block(handle, KeyEncoding::Whole)
    }

    fn read_data_block(&self, handle: BlockHandle) -> Result<Block> {
        self.blocks()
            .read_block(handle, self.footer.data_key_encoding())
    }
}

/// Bounds-checked, verified block reads from a table's bytes.
struct Blocks<'a> {
    data: &'a [u8],
    /// Where the footer starts: every block lies before it.
    end: u64,
    name: &'a Arc<Path>,
    /// What the filter hashes (by format version).
    filter_keys: FilterKeys,
}

impl<'a> Blocks<'a> {
    fn location(&self, offset: u64) -> Location {
        Location::new(Arc::clone(self.name), offset)
    }

    /// The stored bytes of a block plus its trailer.
    fn stored_range(&self, handle: BlockHandle) -> Result<Range<usize>> {
        let loc = || self.location(handle.offset);
        if handle.offset >= self.end {
            return Err(loc().corruption("block handle out of range"));
        }
        let end = handle
            .offset
            .checked_add(handle.size)
            .and_then(|e| e.checked_add(BLOCK_TRAILER_LEN as u64))
            .filter(|&e| e <= self.end)
            .ok_or_else(|| loc().corruption("truncated block read"))?;
        let start = usize::try_from(handle.offset)
            .map_err(|_| loc().corruption("block handle out of range"))?;
        let end = usize::try_from(end).map_err(|_| loc().corruption("truncated block read"))?;
        Ok(start..end)
    }

    /// Reads, verifies and decompresses a block's bytes.
    fn read_raw(&self, handle: BlockHandle) -> Result<Cow<'a, [u8]>> {
        let range = self.stored_range(handle)?;
        let loc = self.location(handle.offset);
        let stored = self
            .data
            .get(range)
            .ok_or_else(|| loc.corruption("truncated block read"))?;
        trailer::decode(stored, &loc)
    }

    /// Reads and parses a filter block (parsed in place: filters are stored uncompressed).
    fn read_filter(&self, handle: BlockHandle) -> Result<Filter> {
        let bytes = self.read_raw(handle)?;
        Filter::from_bytes(&bytes, self.filter_keys)
            .map_err(|r| self.location(handle.offset).corruption(r))
    }

    /// Reads a block whose keys are stored as `encoding` says and validates its restart
    /// array.
    fn read_block(&self, handle: BlockHandle, encoding: KeyEncoding) -> Result<Block> {
        let raw = self.read_raw(handle)?.into_owned();
        Block::with_encoding(raw, encoding).map_err(|r| self.location(handle.offset).corruption(r))
    }
}
