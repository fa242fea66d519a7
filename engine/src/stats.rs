//! Statistics: a snapshot of levels, files and counters ([`Stats`]), the write path's live
//! counters, and how a snapshot is assembled from the parts that own the figures.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use strata_sstable::BlockCache;

pub use strata_sstable::cache::{CacheUsage, KindUsage};

use crate::backpressure::Stalls;
use crate::compactor::{view, Compactor};
use crate::ids::KeyspaceId;
use crate::options::Options;
use crate::super_version::SuperVersion;
use crate::wal::Wal;

/// One level of one keyspace.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelStats {
    /// Level number (0 = newest).
    pub level: usize,
    /// Number of tables.
    pub files: usize,
    /// Bytes of those tables on disk.
    pub bytes: u64,
    /// Entries (including tombstones and old versions) in those tables.
    pub entries: u64,
    /// The compaction picker's score (>= 1 means the level wants compaction).
    pub score: f64,
    /// Target bytes of the level (0 for L0 and unused levels).
    pub target_bytes: u64,
}

/// One keyspace.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyspaceStats {
    /// The keyspace's name.
    pub name: String,
    /// Its levels, L0 first.
    pub levels: Vec<LevelStats>,
    /// Bytes in its active and frozen memtables.
    pub memtable_bytes: u64,
}

/// Compaction work whose output went to one level (all keyspaces).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// The output level.
    pub level: usize,
    /// Merges run.
    pub compactions: u64,
    /// Trivial moves (a file re-linked one level down, no I/O).
    pub moves: u64,
    /// Bytes of input tables read.
    pub read_bytes: u64,
    /// Bytes of output tables written.
    pub write_bytes: u64,
    /// Time spent merging, in microseconds.
    pub micros: u64,
}

/// The memory a database holds, by part (see
/// [`Options::memory_budget`](crate::Options::memory_budget)).
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryStats {
    /// The budget the database was opened with, if any.
    pub budget: Option<u64>,
    /// Bytes in the active and frozen memtables of every keyspace.
    pub memtables: u64,
    /// Most bytes the memtables may hold: `memtable_size * (1 + max_immutable_memtables)`.
    pub memtable_limit: u64,
    /// Bytes of index blocks and filters pinned by open tables (0 with
    /// `cache_index_and_filter_blocks`, when they live in the cache).
    pub pinned_index_and_filters: u64,
    /// The block cache's contents and lookups by kind (data, index, filter); its capacity is
    /// [`Stats::block_cache_capacity`].
    pub cache: CacheUsage,
    /// Bytes flushes and compactions building tables hold (filter key hashes, index
    /// blocks, buffers), charged to the block cache under a budget: the cache holds that
    /// much less meanwhile. 0 without a budget (the builders are not tracked then).
    pub table_builders: u64,
}

impl MemoryStats {
    /// Memtables, pinned index blocks and filters, and everything in the block cache.
    pub fn total(&self) -> u64 {
        self.memtables
            + self.pinned_index_and_filters
            + self.cache.data.bytes
            + self.cache.index.bytes
            + self.cache.filter.bytes
            + self.table_builders
    }
}

/// Figures returned by [`Db::stats`](crate::Db::stats).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Highest sequence number assigned and visible.
    pub last_sequence: u64,
    /// Next file number the database will use.
    pub next_file_number: u64,
    /// Frozen memtables waiting for flush.
    pub immutable_memtables: usize,
    /// Bytes in the active memtables.
    pub active_memtable_bytes: u64,
    /// Per keyspace.
    pub keyspaces: Vec<KeyspaceStats>,
    /// Bytes of write batches accepted since open.
    pub user_bytes_written: u64,
    /// Memtable flushes completed since open.
    pub flush_count: u64,
    /// Bytes of tables written by flushes since open.
    pub flush_bytes: u64,
    /// Times a writer had to wait for a flush.
    pub stall_count: u64,
    /// Total time writers waited, in microseconds.
    pub stall_micros: u64,
    /// WAL fsyncs since open.
    pub wal_syncs: u64,
    /// Group commits (one WAL append each) since open.
    pub write_groups: u64,
    /// Write calls since open.
    pub writes: u64,
    /// Bytes held by the block cache.
    pub block_cache_bytes: u64,
    /// The block cache's budget.
    pub block_cache_capacity: u64,
    /// Memory by part: memtables, pinned index blocks and filters, and the block cache's data
    /// blocks, index blocks and filters.
    pub memory: MemoryStats,
    /// Compaction work by output level, L0 first.
    pub compaction: Vec<CompactionStats>,
    /// Bytes written by flushes and compactions per byte of user data written since open.
    pub write_amplification: f64,
    /// Expired entries flushes and compactions turned into tombstones or dropped since open.
    pub expired_dropped: u64,
    /// Estimated bytes of expired data not yet purged: for each table whose earliest expiry
    /// has passed, its size times its share of expiring entries (an upper bound).
    pub expired_bytes_estimate: u64,
    /// Live blob files (large values kept out of the tables).
    pub blob_files: usize,
    /// Bytes of the live blob files (garbage included until garbage collection empties them).
    pub blob_bytes: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "last sequence:        {}", self.last_sequence)?;
        writeln!(f, "next file number:     {}", self.next_file_number)?;
        writeln!(f, "immutable memtables:  {}", self.immutable_memtables)?;
        writeln!(
            f,
            "active memtable:      {} bytes",
            self.active_memtable_bytes
        )?;
        writeln!(
            f,
            "since open:           {} writes in {} groups, {} WAL syncs, {} user bytes",
            self.writes, self.write_groups, self.wal_syncs, self.user_bytes_written
        )?;
        writeln!(
            f,
            "flushes:              {} ({} bytes); stalls: {} ({} us)",
            self.flush_count, self.flush_bytes, self.stall_count, self.stall_micros
        )?;
        writeln!(
            f,
            "blob files:           {} ({} bytes)",
            self.blob_files, self.blob_bytes
        )?;
        let m = &self.memory;
        match m.budget {
            Some(b) => writeln!(
                f,
                "memory:               {} of a {b} byte budget",
                m.total()
            )?,
            None => writeln!(f, "memory:               {} bytes (no budget)", m.total())?,
        }
        writeln!(
            f,
            "  memtables:          {} / {} bytes",
            m.memtables, m.memtable_limit
        )?;
        writeln!(
            f,
            "  pinned index/filter: {} bytes",
            m.pinned_index_and_filters
        )?;
        writeln!(f, "  table builders:     {} bytes", m.table_builders)?;
        writeln!(
            f,
            "  block cache:        {} / {} bytes",
            self.block_cache_bytes, self.block_cache_capacity
        )?;
        for (name, k) in [
            ("data blocks", &m.cache.data),
            ("index blocks", &m.cache.index),
            ("filters", &m.cache.filter),
        ] {
            writeln!(
                f,
                "    {name:<17}{:>12} bytes in {:>7} blocks, hit ratio {:.3} ({} hits, {} misses)",
                k.bytes,
                k.blocks,
                k.hit_ratio(),
                k.hits,
                k.misses
            )?;
        }
        writeln!(f, "write amplification:  {:.2}", self.write_amplification)?;
        writeln!(
            f,
            "expired:              {} entries dropped, ~{} bytes waiting to be purged",
            self.expired_dropped, self.expired_bytes_estimate
        )?;
        for ks in &self.keyspaces {
            writeln!(
                f,
                "keyspace {:?} (memtables {} bytes)",
                ks.name, ks.memtable_bytes
            )?;
            writeln!(
                f,
                "  level  files        bytes      entries   score       target"
            )?;
            for l in &ks.levels {
                if l.files == 0 && l.target_bytes == 0 {
                    continue;
                }
                writeln!(
                    f,
                    "  L{:<5}{:>6} {:>12} {:>12} {:>7.2} {:>12}",
                    l.level, l.files, l.bytes, l.entries, l.score, l.target_bytes
                )?;
            }
        }
        writeln!(f, "compaction by output level:")?;
        writeln!(
            f,
            "  level  merges  moves   read bytes  write bytes   seconds"
        )?;
        for c in &self.compaction {
            if c.compactions == 0 && c.moves == 0 {
                continue;
            }
            writeln!(
                f,
                "  L{:<5}{:>7}{:>7} {:>12} {:>12} {:>9.2}",
                c.level,
                c.compactions,
                c.moves,
                c.read_bytes,
                c.write_bytes,
                c.micros as f64 / 1e6
            )?;
        }
        Ok(())
    }
}

/// A damaged tail of the newest WAL that recovery dropped (`RecoveryMode::TolerateTornTail`):
/// what an interrupted write leaves, or damage at the end of the log. Writes in it were never
/// synced (a synced write's record is complete on disk), but they may have been acknowledged
/// under a sync mode that does not fsync every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedTail {
    /// The WAL.
    pub file: std::path::PathBuf,
    /// Where the dropped bytes start.
    pub offset: u64,
    /// Why they were dropped, e.g. "fragment checksum mismatch".
    pub reason: String,
    /// Bytes from `offset` to the end of the file (an upper bound: a WAL is preallocated, so
    /// some of them may be zeros that never held a record).
    pub bytes: u64,
}

/// Counters of the write and flush paths (the WAL, stalls and compactions count their own).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub user_bytes_written: AtomicU64,
    pub flush_count: AtomicU64,
    pub flush_bytes: AtomicU64,
    pub write_groups: AtomicU64,
    pub writes: AtomicU64,
    /// Expired entries flushes turned into tombstones.
    pub flush_expired: AtomicU64,
}

/// Everything a [`Stats`] snapshot is read from.
pub(crate) struct Sources<'a> {
    pub sv: &'a SuperVersion,
    pub keyspaces: HashMap<String, KeyspaceId>,
    pub picker: strata_compaction::picker::Config,
    /// The options in force.
    pub options: &'a Options,
    pub counters: &'a Counters,
    pub stalls: &'a Stalls,
    pub wal: &'a Wal,
    pub compactor: &'a Compactor,
    pub cache: &'a BlockCache,
    pub last_sequence: u64,
    pub next_file_number: u64,
}

impl Sources<'_> {
    /// The snapshot.
    pub(crate) fn collect(self) -> Stats {
        let sv = self.sv;
        let mut keyspaces = Vec::new();
        for (name, id) in self.keyspaces {
            let mut levels = Vec::new();
            if let Some(tree) = sv.version.tree(id) {
                let view = view(tree, &Default::default());
                let targets = strata_compaction::picker::targets(&view, &self.picker);
                let scores = strata_compaction::picker::scores(&view, &self.picker, &targets);
                for (level, files) in tree.levels.iter().enumerate() {
                    levels.push(LevelStats {
                        level,
                        files: files.len(),
                        bytes: files.iter().map(|f| f.meta.size).sum(),
                        entries: files.iter().map(|f| f.table.properties().num_entries).sum(),
                        score: scores.get(level).copied().unwrap_or(0.0),
                        target_bytes: targets.bytes.get(level).copied().unwrap_or(0),
                    });
                }
            }
            let memtable_bytes = std::iter::once(&sv.mem)
                .chain(sv.imm.iter())
                .filter_map(|g| g.get(id))
                .map(|m| m.approximate_bytes() as u64)
                .sum();
            keyspaces.push(KeyspaceStats {
                name,
                levels,
                memtable_bytes,
            });
        }
        keyspaces.sort_by(|a, b| a.name.cmp(&b.name));
        let c = self.counters;
        let compaction: Vec<CompactionStats> = self
            .compactor
            .level_work()
            .iter()
            .enumerate()
            .map(|(level, w)| CompactionStats {
                level,
                compactions: w.count,
                moves: w.moves,
                read_bytes: w.read_bytes,
                write_bytes: w.write_bytes,
                micros: w.micros,
            })
            .collect();
        let user = c.user_bytes_written.load(Ordering::Relaxed);
        let written = c.flush_bytes.load(Ordering::Relaxed)
            + compaction.iter().map(|l| l.write_bytes).sum::<u64>();
        let now = self.options.clock.now_ms();
        let files = || sv.version.trees.values().flat_map(|t| t.all_files());
        let expired_bytes_estimate = files()
            .map(|(_, f)| {
                let p = f.table.properties();
                if p.min_expiry_ms.is_some_and(|e| e <= now) && p.num_entries > 0 {
                    f.meta.size * p.num_expiring / p.num_entries
                } else {
                    0
                }
            })
            .sum();
        Stats {
            blob_files: self.sv.version.blobs.len(),
            blob_bytes: self.sv.version.blobs.values().map(|b| b.meta.size).sum(),
            expired_dropped: c.flush_expired.load(Ordering::Relaxed)
                + self.compactor.expired_dropped(),
            expired_bytes_estimate,
            compaction,
            write_amplification: if user == 0 {
                0.0
            } else {
                written as f64 / user as f64
            },
            last_sequence: self.last_sequence,
            next_file_number: self.next_file_number,
            immutable_memtables: sv.imm.len(),
            active_memtable_bytes: sv.mem.bytes() as u64,
            keyspaces,
            user_bytes_written: user,
            flush_count: c.flush_count.load(Ordering::Relaxed),
            flush_bytes: c.flush_bytes.load(Ordering::Relaxed),
            stall_count: self.stalls.count(),
            stall_micros: self.stalls.micros(),
            wal_syncs: self.wal.syncs(),
            write_groups: c.write_groups.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            block_cache_bytes: self.cache.used_bytes(),
            block_cache_capacity: self.cache.capacity(),
            memory: MemoryStats {
                budget: self.options.memory_budget,
                memtables: std::iter::once(&sv.mem)
                    .chain(sv.imm.iter())
                    .map(|g| g.bytes() as u64)
                    .sum(),
                memtable_limit: (self.options.memtable_size as u64)
                    .saturating_mul(1 + self.options.max_immutable_memtables as u64),
                pinned_index_and_filters: files().map(|(_, f)| f.table.pinned_meta_bytes()).sum(),
                cache: self.cache.usage(),
                table_builders: self.cache.reserved_bytes(),
            },
        }
    }
}
