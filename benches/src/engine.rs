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
}
