//! The engines a run can drive, behind one small interface.

use std::path::Path;

use strata::{Compression, Db, Options, ReadOptions, SyncMode, WriteBatch, WriteOptions};

/// Settings every engine gets alike (db_bench's names in the comments).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--write_buffer_size`.
    pub memtable_bytes: usize,
    /// `--cache_size`.
    pub cache_bytes: u64,
    /// `--bloom_bits`.
    pub bloom_bits_per_key: u32,
    /// `--block_size`.
    pub block_size: usize,
    /// Compress tables with zstd (level 3) below L1, or not at all.
    pub compression: bool,
    /// `--max_background_jobs`.
    pub background_jobs: usize,
    /// `--max_write_buffer_number`: memtables in memory at once, the active one included.
    pub write_buffers: usize,
    /// One memory budget replacing the memtable and cache sizes (Strata only).
    pub memory_budget: Option<u64>,
    /// Values of at least this many bytes go to blob files (Strata only; `None`: the
    /// engine's default).
    pub min_blob_size: Option<usize>,
}

/// Block cache lookups of data blocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheCounters {
    /// Lookups that found their block.
    pub hits: u64,
    /// Lookups that read it from the file.
    pub misses: u64,
}

/// Errors of any engine, as text (the binary only reports them).
pub type Result<T> = std::result::Result<T, String>;

/// What a workload needs from a storage engine.
pub trait Engine: Send + Sync {
    /// Writes one key (`sync`: durable on return).
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()>;
    /// Reads one key; the value's length if present.
    fn get(&self, key: &[u8]) -> Result<Option<usize>>;
    /// Seeks to `key` and reads up to `n` entries from there; how many it read.
    fn seek_next(&self, key: &[u8], n: usize) -> Result<usize>;
    /// Reads every entry in order; how many entries and bytes.
    fn scan_all(&self) -> Result<(u64, u64)>;
    /// Waits until flushes and compactions are done.
    fn settle(&self) -> Result<()>;
    /// Data block cache lookups so far, if the engine reports them.
    fn cache_counters(&self) -> Option<CacheCounters> {
        None
    }
    /// One line on the memory the engine holds by part, if it reports it.
    fn memory_report(&self) -> Option<String> {
        None
    }
    /// The engine's own statistics (levels, flushes, compactions), if it reports them.
    fn stats_report(&self) -> Option<String> {
        None
    }
}

/// Strata's engine.
#[derive(Debug)]
pub struct Strata {
    db: Db,
}

impl Strata {
    /// Opens (creating) a database in `dir`: WAL on, not fsynced except for `sync` writes.
    ///
    /// # Errors
    /// The engine's open error.
    pub fn open(dir: &Path, s: &Settings) -> Result<Strata> {
        let mut o = Options::default();
        o.sync_mode = SyncMode::Never;
        o.memtable_size = s.memtable_bytes;
        o.block_cache_bytes = s.cache_bytes;
        o.bloom_bits_per_key = s.bloom_bits_per_key;
        o.block_size = s.block_size;
        o.max_background_jobs = s.background_jobs;
        o.max_immutable_memtables = s.write_buffers.saturating_sub(1).max(1);
        o.compression_per_level = if s.compression {
            vec![Compression::None, Compression::None, Compression::Zstd(3)]
        } else {
            vec![Compression::None]
        };
        o.memory_budget = s.memory_budget;
        if let Some(n) = s.min_blob_size {
            o.min_blob_size = n;
        }
        let db = Db::open(dir, o).map_err(|e| e.to_string())?;
        Ok(Strata { db })
    }
}

impl Engine for Strata {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        let opts = if sync {
            WriteOptions::sync()
        } else {
            WriteOptions::default()
        };
        self.db.write(b, opts).map_err(|e| e.to_string())
    }

    fn get(&self, key: &[u8]) -> Result<Option<usize>> {
        self.db
            .get(key)
            .map(|v| v.map(|v| v.len()))
            .map_err(|e| e.to_string())
    }

    fn seek_next(&self, key: &[u8], n: usize) -> Result<usize> {
        let mut it = self
            .db
            .iter(&ReadOptions::default())
            .map_err(|e| e.to_string())?;
        it.seek(key);
        let mut read = 0;
        while it.valid() && read < n {
            read += 1;
            it.next();
        }
        it.status().map_err(|e| e.to_string())?;
        Ok(read)
    }

    fn scan_all(&self) -> Result<(u64, u64)> {
        let mut it = self
            .db
            .iter(&ReadOptions::default())
            .map_err(|e| e.to_string())?;
        it.seek_to_first();
        let (mut n, mut bytes) = (0u64, 0u64);
        while it.valid() {
            n += 1;
            bytes += (it.key().len() + it.value().len()) as u64;
            it.next();
        }
        it.status().map_err(|e| e.to_string())?;
        Ok((n, bytes))
    }

    fn settle(&self) -> Result<()> {
        self.db
            .wait_for_background_work()
            .map_err(|e| e.to_string())
    }

    fn cache_counters(&self) -> Option<CacheCounters> {
        let data = self.db.stats().memory.cache.data;
        Some(CacheCounters {
            hits: data.hits,
            misses: data.misses,
        })
    }

    fn stats_report(&self) -> Option<String> {
        Some(self.db.stats().to_string())
    }

    fn memory_report(&self) -> Option<String> {
        let s = self.db.stats();
        let (m, c) = (&s.memory, &s.memory.cache);
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        Some(format!(
            "engine memory {:.1} MiB: memtables {:.1} / {:.1}, cache {:.1} / {:.1} (data {:.1}, index {:.1}, filters {:.1})",
            mib(m.total()),
            mib(m.memtables),
            mib(m.memtable_limit),
            mib(s.block_cache_bytes),
            mib(s.block_cache_capacity),
            mib(c.data.bytes),
            mib(c.index.bytes),
            mib(c.filter.bytes),
        ))
    }
}
