//! Options for opening a database, writing and reading.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use strata_sstable::Compression;
pub use strata_wal::{RecoveryMode, SyncMode};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::snapshot::Snapshot;
use strata_compaction::CompactionFilter;

/// Number of levels in each keyspace's tree (L0..L6).
pub const NUM_LEVELS: usize = 7;

/// Smallest [`Options::memory_budget`]: 1 MiB.
pub const MIN_MEMORY_BUDGET: u64 = 1 << 20;

/// Most frozen memtables allowed with a [`Options::memory_budget`] (so each memtable keeps a
/// useful size).
const MAX_IMMUTABLE_UNDER_BUDGET: usize = 7;

/// Options for [`Db::open`](crate::Db::open). Every field has a documented default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Create the database if the directory holds none. Default: `true`.
    pub create_if_missing: bool,
    /// Fail if a database already exists. Default: `false`.
    pub error_if_exists: bool,
    /// When the WAL is fsynced (see `docs/durability.md`). Default:
    /// `SyncMode::Interval(1s)`, like Redis `appendfsync everysec`.
    pub sync_mode: SyncMode,
    /// Leave WAL records in the process's buffer after a write instead of handing them to the
    /// OS, until [`Db::flush_wal_to`](crate::Db::flush_wal_to) (or a sync, a memtable switch,
    /// a full 256 KiB buffer, or close) writes them out: one `write(2)` for many writes, like
    /// RocksDB's `manual_wal_flush`. A write is then visible and acknowledged before it would
    /// survive a process crash; the caller flushes before it tells anyone. Writes with
    /// `WriteOptions::sync` and `SyncMode::Always` are written and synced as usual. Default:
    /// `false`.
    pub manual_wal_flush: bool,
    /// What to do with a damaged tail of the newest WAL at recovery. Default: drop a torn tail.
    pub recovery_mode: RecoveryMode,
    /// Bytes a memtable may hold before it is frozen and flushed. Default: 64 MiB.
    pub memtable_size: usize,
    /// Frozen memtables waiting for flush before writers stop. Default: 2.
    pub max_immutable_memtables: usize,
    /// Target uncompressed size of a data block. Default: 4096.
    pub block_size: usize,
    /// Entries between restart points in a data block. Default: 16.
    pub block_restart_interval: usize,
    /// Bloom filter bits per key (0 disables the filter). Default: 10 (about 1% false positives).
    pub bloom_bits_per_key: u32,
    /// Byte budget of the block cache of decompressed data blocks (and, with
    /// `cache_index_and_filter_blocks`, index blocks and bloom filters). 0 turns the cache
    /// off. Default: 64 MiB.
    pub block_cache_bytes: u64,
    /// Keep each table's index block and bloom filter in the block cache, charged and
    /// evicted like data blocks (RocksDB's `cache_index_and_filter_blocks`), instead of
    /// pinned by the open table: memory then stays within the cache however many tables
    /// there are, at the cost of a cache lookup per table a read visits. Ignored with no
    /// cache. Default: `false` (pinned, RocksDB's default); forced on by `memory_budget`.
    pub cache_index_and_filter_blocks: bool,
    /// One memory budget for the whole database, in bytes: when set, it replaces
    /// `memtable_size` and `block_cache_bytes` and turns on `cache_index_and_filter_blocks`.
    /// A quarter goes to memtables (the active one plus `max_immutable_memtables` frozen
    /// ones, so `memtable_size` becomes `budget / 4 / (1 + max_immutable_memtables)`), three
    /// quarters to the block cache, which then holds every table's index block and bloom
    /// filter too. What the engine holds beyond that is transient (a flush's or compaction's
    /// output buffers, iterators' current blocks, WAL buffers); `docs/benchmarks.md`
    /// measures the whole process against the budget. [`Db::stats`](crate::Db::stats)
    /// reports each part. Default: none.
    pub memory_budget: Option<u64>,
    /// Compression of each level's tables, L0 first; the last entry applies to deeper levels.
    /// Default: none for L0 and L1, zstd level 3 below.
    pub compression_per_level: Vec<Compression>,
    /// Background threads: one flushes, the others compact (flushes never wait behind a
    /// compaction). Default: 2.
    pub max_background_jobs: usize,
    /// L0 files that trigger a compaction into the base level. Default: 4.
    pub level0_file_num_compaction_trigger: usize,
    /// L0 files at which each write is delayed (1 ms) to let compaction catch up. Default: 20.
    pub level0_slowdown_writes_trigger: usize,
    /// L0 files at which writes stop until compaction catches up. Default: 36.
    pub level0_stop_writes_trigger: usize,
    /// Target size of the base level (the level L0 compacts into). Default: 256 MiB.
    pub max_bytes_for_level_base: u64,
    /// Size ratio between adjacent levels. Default: 10.
    pub max_bytes_for_level_multiplier: u64,
    /// Target size of a table written by compaction. Default: 64 MiB.
    pub target_file_size_base: u64,
    /// Turns background compaction off (manual `compact_range` still works). Default: false.
    pub disable_auto_compactions: bool,
    /// The clock expiry is judged against. Default: [`SystemClock`].
    pub clock: Arc<dyn Clock>,
    /// How often idle compaction threads look for tables whose earliest expiry has passed
    /// (periodic TTL compaction; it runs only when no size-driven compaction is due). Default:
    /// 1 s.
    pub ttl_check_interval: Duration,
    /// Compaction filters by keyspace name (see [`Options::compaction_filter`]). Filters are
    /// code, not data: give them at every open. Default: none.
    pub compaction_filters: Vec<(String, Arc<dyn CompactionFilter>)>,
    /// Values of at least this many bytes are kept in blob files, out of the tables
    /// (key-value separation: compaction then moves a reference, not the value). Values too
    /// long for a table entry always are. `usize::MAX`: only those. Default: 64 KiB.
    pub min_blob_size: usize,
    /// Bytes after which a flush or compaction starts a new blob file. Default: 256 MiB.
    pub blob_file_size: u64,
    /// Garbage collection of blob files: compactions move the values still live in the
    /// oldest this fraction of blob files into new ones, so the old files empty and are
    /// deleted. 0 turns it off. Default: 0.25 (RocksDB's `blob_garbage_collection_age_cutoff`).
    pub blob_gc_age_cutoff: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            create_if_missing: true,
            error_if_exists: false,
            sync_mode: SyncMode::Interval(Duration::from_secs(1)),
            manual_wal_flush: false,
            recovery_mode: RecoveryMode::default(),
            memtable_size: 64 << 20,
            max_immutable_memtables: 2,
            block_size: 4096,
            block_restart_interval: 16,
            bloom_bits_per_key: 10,
            block_cache_bytes: 64 << 20,
            cache_index_and_filter_blocks: false,
            memory_budget: None,
            compression_per_level: vec![Compression::None, Compression::None, Compression::Zstd(3)],
            max_background_jobs: 2,
            level0_file_num_compaction_trigger: 4,
            level0_slowdown_writes_trigger: 20,
            level0_stop_writes_trigger: 36,
            max_bytes_for_level_base: 256 << 20,
            max_bytes_for_level_multiplier: 10,
            target_file_size_base: 64 << 20,
            disable_auto_compactions: false,
            clock: Arc::new(SystemClock),
            ttl_check_interval: Duration::from_secs(1),
            compaction_filters: Vec::new(),
            min_blob_size: 64 << 10,
            blob_file_size: 256 << 20,
            blob_gc_age_cutoff: 0.25,
        }
    }
}

impl Options {
    /// Checks rules that span fields.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the offending option.
    pub fn validate(&self) -> Result<()> {
        if let Some(budget) = self.memory_budget {
            if budget < MIN_MEMORY_BUDGET {
                return Err(Error::InvalidArgument(format!(
                    "memory_budget must be >= {MIN_MEMORY_BUDGET} bytes"
                )));
            }
            if self.max_immutable_memtables > MAX_IMMUTABLE_UNDER_BUDGET {
                return Err(Error::InvalidArgument(format!(
                    "with a memory_budget, max_immutable_memtables must be <= \
                     {MAX_IMMUTABLE_UNDER_BUDGET}"
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.blob_gc_age_cutoff) {
            return Err(Error::InvalidArgument(
                "blob_gc_age_cutoff must be within 0..=1".into(),
            ));
        }
        if self.memtable_size < 4096 {
            return Err(Error::InvalidArgument(
                "memtable_size must be >= 4096".into(),
            ));
        }
        if self.max_immutable_memtables == 0 {
            return Err(Error::InvalidArgument(
                "max_immutable_memtables must be >= 1".into(),
            ));
        }
        if self.block_size < 64 {
            return Err(Error::InvalidArgument("block_size must be >= 64".into()));
        }
        if self.block_restart_interval == 0 {
            return Err(Error::InvalidArgument(
                "block_restart_interval must be >= 1".into(),
            ));
        }
        if self.compression_per_level.is_empty() {
            return Err(Error::InvalidArgument(
                "compression_per_level must not be empty".into(),
            ));
        }
        if self.max_background_jobs < 2 {
            return Err(Error::InvalidArgument(
                "max_background_jobs must be >= 2 (one flush thread, one compaction thread)".into(),
            ));
        }
        if self.level0_file_num_compaction_trigger == 0 {
            return Err(Error::InvalidArgument(
                "level0_file_num_compaction_trigger must be >= 1".into(),
            ));
        }
        if self.level0_slowdown_writes_trigger < self.level0_file_num_compaction_trigger {
            return Err(Error::InvalidArgument(
                "level0_slowdown_writes_trigger must be >= level0_file_num_compaction_trigger"
                    .into(),
            ));
        }
        if self.level0_stop_writes_trigger < self.level0_slowdown_writes_trigger {
            return Err(Error::InvalidArgument(
                "level0_stop_writes_trigger must be >= level0_slowdown_writes_trigger".into(),
            ));
        }
        if self.max_bytes_for_level_multiplier < 2 {
            return Err(Error::InvalidArgument(
                "max_bytes_for_level_multiplier must be >= 2".into(),
            ));
        }
        if self.ttl_check_interval.is_zero() {
            return Err(Error::InvalidArgument(
                "ttl_check_interval must be > 0".into(),
            ));
        }
        if self.target_file_size_base == 0 || self.max_bytes_for_level_base == 0 {
            return Err(Error::InvalidArgument(
                "target_file_size_base and max_bytes_for_level_base must be > 0".into(),
            ));
        }
        if let SyncMode::Interval(d) = self.sync_mode {
            if d.is_zero() {
                return Err(Error::InvalidArgument(
                    "SyncMode::Interval needs a non-zero interval".into(),
                ));
            }
        }
        Ok(())
    }

    /// Share of [`Options::memory_budget`] given to memtables (the rest goes to the block
    /// cache).
    pub const MEMTABLE_SHARE_OF_BUDGET: f64 = 0.25;

    /// These options with [`Options::memory_budget`] split into `memtable_size` and
    /// `block_cache_bytes` (unchanged when no budget is set).
    pub(crate) fn with_budget_applied(mut self) -> Options {
        if let Some(budget) = self.memory_budget {
            let memtables = (budget as f64 * Self::MEMTABLE_SHARE_OF_BUDGET) as u64;
            let per_memtable = memtables / (1 + self.max_immutable_memtables as u64);
            self.memtable_size = usize::try_from(per_memtable).unwrap_or(usize::MAX);
            self.block_cache_bytes = budget.saturating_sub(memtables);
            self.cache_index_and_filter_blocks = true;
        }
        self
    }

    /// Installs `filter` on the keyspace named `keyspace` (`"default"` for the default one):
    /// compaction shows it the newest version of each key that no snapshot can see, and it may
    /// keep, remove or change it. See [`CompactionFilter`] for its guarantees.
    pub fn compaction_filter(mut self, keyspace: &str, filter: Arc<dyn CompactionFilter>) -> Self {
        self.compaction_filters.retain(|(n, _)| n != keyspace);
        self.compaction_filters.push((keyspace.to_string(), filter));
        self
    }

    pub(crate) fn filter_for(&self, keyspace: &str) -> Option<Arc<dyn CompactionFilter>> {
        self.compaction_filters
            .iter()
            .find(|(n, _)| n == keyspace)
            .map(|(_, f)| Arc::clone(f))
    }

    /// The picker's view of these options.
    pub(crate) fn picker_config(&self) -> strata_compaction::picker::Config {
        strata_compaction::picker::Config {
            num_levels: NUM_LEVELS,
            l0_trigger: self.level0_file_num_compaction_trigger,
            level_multiplier: self.max_bytes_for_level_multiplier,
            base_level_bytes: self.max_bytes_for_level_base,
            target_file_size: self.target_file_size_base,
        }
    }

    /// How tables written to `level` are built.
    pub(crate) fn table_options(&self, level: usize) -> strata_sstable::TableOptions {
        strata_sstable::TableOptions {
            block_size: self.block_size,
            restart_interval: self.block_restart_interval,
            compression: self.compression_for(level),
            bloom_bits_per_key: self.bloom_bits_per_key,
            ..strata_sstable::TableOptions::default()
        }
    }

    /// The length from which a value goes to a blob file: [`Options::min_blob_size`], or the
    /// longest value a table entry holds (with an expiry header) plus one.
    pub(crate) fn blob_threshold(&self) -> usize {
        self.min_blob_size
            .min(strata_sstable::MAX_VALUE_LEN - strata_sstable::EXPIRY_HEADER_LEN + 1)
    }

    /// The compression for tables written to `level`.
    pub(crate) fn compression_for(&self, level: usize) -> Compression {
        let list = &self.compression_per_level;
        list.get(level)
            .or(list.last())
            .copied()
            .unwrap_or(Compression::None)
    }
}

/// Options [`Db::set_options`](crate::Db::set_options) changes on an open database, like
/// RocksDB's `SetOptions`. `None` leaves a value as it is. The new values take effect at the
/// next write (memtable size, write stall triggers) or compaction pick; they are not persisted:
/// give them in [`Options`] at the next open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MutableOptions {
    /// See [`Options::memtable_size`].
    pub memtable_size: Option<usize>,
    /// See [`Options::level0_file_num_compaction_trigger`].
    pub level0_file_num_compaction_trigger: Option<usize>,
    /// See [`Options::level0_slowdown_writes_trigger`].
    pub level0_slowdown_writes_trigger: Option<usize>,
    /// See [`Options::level0_stop_writes_trigger`].
    pub level0_stop_writes_trigger: Option<usize>,
    /// See [`Options::max_bytes_for_level_base`].
    pub max_bytes_for_level_base: Option<u64>,
    /// See [`Options::target_file_size_base`].
    pub target_file_size_base: Option<u64>,
    /// See [`Options::disable_auto_compactions`].
    pub disable_auto_compactions: Option<bool>,
}

impl MutableOptions {
    /// `options` with these changes applied (not validated).
    pub fn applied_to(&self, options: &Options) -> Options {
        let mut o = options.clone();
        if let Some(v) = self.memtable_size {
            o.memtable_size = v;
        }
        if let Some(v) = self.level0_file_num_compaction_trigger {
            o.level0_file_num_compaction_trigger = v;
        }
        if let Some(v) = self.level0_slowdown_writes_trigger {
            o.level0_slowdown_writes_trigger = v;
        }
        if let Some(v) = self.level0_stop_writes_trigger {
            o.level0_stop_writes_trigger = v;
        }
        if let Some(v) = self.max_bytes_for_level_base {
            o.max_bytes_for_level_base = v;
        }
        if let Some(v) = self.target_file_size_base {
            o.target_file_size_base = v;
        }
        if let Some(v) = self.disable_auto_compactions {
            o.disable_auto_compactions = v;
        }
        o
    }
}

/// The current values of the [`MutableOptions`], read on hot paths without a lock.
#[derive(Debug)]
pub(crate) struct Tuned {
    pub memtable_size: AtomicUsize,
    pub l0_compaction_trigger: AtomicUsize,
    pub l0_slowdown_trigger: AtomicUsize,
    pub l0_stop_trigger: AtomicUsize,
    pub level_base_bytes: AtomicU64,
    pub target_file_size: AtomicU64,
    pub disable_auto_compactions: AtomicBool,
}

impl Tuned {
    pub(crate) fn new(o: &Options) -> Tuned {
        Tuned {
            memtable_size: AtomicUsize::new(o.memtable_size),
            l0_compaction_trigger: AtomicUsize::new(o.level0_file_num_compaction_trigger),
            l0_slowdown_trigger: AtomicUsize::new(o.level0_slowdown_writes_trigger),
            l0_stop_trigger: AtomicUsize::new(o.level0_stop_writes_trigger),
            level_base_bytes: AtomicU64::new(o.max_bytes_for_level_base),
            target_file_size: AtomicU64::new(o.target_file_size_base),
            disable_auto_compactions: AtomicBool::new(o.disable_auto_compactions),
        }
    }

    /// Stores the tunable fields of `o` (already validated).
    pub(crate) fn store(&self, o: &Options) {
        let r = Ordering::Release;
        self.memtable_size.store(o.memtable_size, r);
        self.l0_compaction_trigger
            .store(o.level0_file_num_compaction_trigger, r);
        self.l0_slowdown_trigger
            .store(o.level0_slowdown_writes_trigger, r);
        self.l0_stop_trigger.store(o.level0_stop_writes_trigger, r);
        self.level_base_bytes.store(o.max_bytes_for_level_base, r);
        self.target_file_size.store(o.target_file_size_base, r);
        self.disable_auto_compactions
            .store(o.disable_auto_compactions, r);
    }

    /// `base` with the current tunable values.
    pub(crate) fn current(&self, base: &Options) -> Options {
        let a = Ordering::Acquire;
        let mut o = base.clone();
        o.memtable_size = self.memtable_size.load(a);
        o.level0_file_num_compaction_trigger = self.l0_compaction_trigger.load(a);
        o.level0_slowdown_writes_trigger = self.l0_slowdown_trigger.load(a);
        o.level0_stop_writes_trigger = self.l0_stop_trigger.load(a);
        o.max_bytes_for_level_base = self.level_base_bytes.load(a);
        o.target_file_size_base = self.target_file_size.load(a);
        o.disable_auto_compactions = self.disable_auto_compactions.load(a);
        o
    }

    /// The picker's view of the current options.
    pub(crate) fn picker_config(&self, base: &Options) -> strata_compaction::picker::Config {
        let a = Ordering::Acquire;
        strata_compaction::picker::Config {
            l0_trigger: self.l0_compaction_trigger.load(a),
            base_level_bytes: self.level_base_bytes.load(a),
            target_file_size: self.target_file_size.load(a),
            ..base.picker_config()
        }
    }

    pub(crate) fn auto_compactions_disabled(&self) -> bool {
        self.disable_auto_compactions.load(Ordering::Acquire)
    }
}

/// Options for one write.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// fsync the WAL before the write is acknowledged, whatever the `SyncMode`.
    pub sync: bool,
}

impl WriteOptions {
    /// Write options with `sync` set.
    pub fn sync() -> Self {
        WriteOptions { sync: true }
    }
}

/// Options for reads and iterators.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions<'a> {
    /// Read as of this snapshot instead of the latest state.
    pub snapshot: Option<&'a Snapshot>,
    /// Iterators start at keys `>=` this bound.
    pub lower_bound: Option<Vec<u8>>,
    /// Iterators stop before keys `>=` this bound (exclusive).
    pub upper_bound: Option<Vec<u8>>,
}

impl<'a> ReadOptions<'a> {
    /// Reads as of `snapshot`.
    pub fn at(snapshot: &'a Snapshot) -> Self {
        ReadOptions {
            snapshot: Some(snapshot),
            ..Default::default()
        }
    }

    /// Restricts iteration to keys starting with `prefix`.
    pub fn prefix(mut self, prefix: &[u8]) -> Self {
        self.lower_bound = Some(prefix.to_vec());
        self.upper_bound = prefix_successor(prefix);
        self
    }
}

/// The smallest key greater than every key that starts with `prefix`, or `None` if no such key
/// exists (an empty prefix or one made only of 0xFF bytes).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut succ = prefix.to_vec();
    while let Some(last) = succ.pop() {
        if last != 0xFF {
            succ.push(last + 1);
            return Some(succ);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn defaults_validate() {
        assert!(Options::default().validate().is_ok());
        let o = Options {
            max_immutable_memtables: 0,
            ..Options::default()
        };
        assert!(o.validate().is_err());
    }
}
