//! The engines Strata is measured against, with the same settings (feature `peers`).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::engine::{Engine, Result, Settings};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// RocksDB through the `rocksdb` crate: leveled compaction, block-based tables.
pub struct RocksDb {
    db: rocksdb::DB,
    sync: rocksdb::WriteOptions,
    plain: rocksdb::WriteOptions,
}

impl RocksDb {
    /// Opens (creating) a database in `dir`.
    ///
    /// # Errors
    /// RocksDB's open error.
    pub fn open(dir: &Path, s: &Settings) -> Result<RocksDb> {
        use rocksdb::{BlockBasedOptions, Cache, DBCompactionStyle, DBCompressionType, Options};
        let mut table = BlockBasedOptions::default();
        table.set_block_size(s.block_size);
        table.set_block_cache(&Cache::new_lru_cache(s.cache_bytes as usize));
        table.set_bloom_filter(f64::from(s.bloom_bits_per_key), false);
        let mut o = Options::default();
        o.create_if_missing(true);
        o.set_write_buffer_size(s.memtable_bytes);
        o.set_max_write_buffer_number(s.write_buffers.max(2) as i32);
        o.set_max_background_jobs(s.background_jobs as i32);
        o.set_compaction_style(DBCompactionStyle::Level);
        if s.compression {
            o.set_compression_per_level(&[
                DBCompressionType::None,
                DBCompressionType::None,
                DBCompressionType::Zstd,
            ]);
        } else {
            o.set_compression_type(DBCompressionType::None);
        }
        o.set_block_based_table_factory(&table);
        let db = rocksdb::DB::open(&o, dir).map_err(err)?;
        let mut sync = rocksdb::WriteOptions::default();
        sync.set_sync(true);
        Ok(RocksDb {
            db,
            sync,
            plain: rocksdb::WriteOptions::default(),
        })
    }
}

impl Engine for RocksDb {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        let opts = if sync { &self.sync } else { &self.plain };
        self.db.put_opt(key, value, opts).map_err(err)
    }

    fn get(&self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.db.get_pinned(key).map_err(err)?.map(|v| v.len()))
    }

    fn seek_next(&self, key: &[u8], n: usize) -> Result<usize> {
        let mut it = self.db.raw_iterator();
        it.seek(key);
        let mut read = 0;
        while it.valid() && read < n {
            read += 1;
            it.next();
        }
        it.status().map_err(err)?;
        Ok(read)
    }

    fn scan_all(&self) -> Result<(u64, u64)> {
        let mut it = self.db.raw_iterator();
        it.seek_to_first();
        let (mut n, mut bytes) = (0u64, 0u64);
        while it.valid() {
            n += 1;
            bytes += (it.key().map_or(0, <[u8]>::len) + it.value().map_or(0, <[u8]>::len)) as u64;
            it.next();
        }
        it.status().map_err(err)?;
        Ok((n, bytes))
    }

    fn settle(&self) -> Result<()> {
        self.db
            .wait_for_compact(&rocksdb::WaitForCompactOptions::default())
            .map_err(err)
    }

    fn stats_report(&self) -> Option<String> {
        self.db.property_value("rocksdb.stats").ok().flatten()
    }
}

/// fjall: one keyspace, leveled compaction (its default).
pub struct Fjall {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

impl Fjall {
    /// Opens (creating) a database in `dir`.
    ///
    /// # Errors
    /// fjall's open error.
    pub fn open(dir: &Path, s: &Settings) -> Result<Fjall> {
        use fjall::config::{
            BlockSizePolicy, BloomConstructionPolicy, CompressionPolicy, FilterPolicy,
            FilterPolicyEntry,
        };
        use fjall::{CompressionType, KeyspaceCreateOptions};
        let db = fjall::Database::builder(dir)
            .cache_size(s.cache_bytes)
            .worker_threads(s.background_jobs.max(1))
            .open()
            .map_err(err)?;
        let (memtable, bits, block) = (
            s.memtable_bytes as u64,
            s.bloom_bits_per_key as f32,
            s.block_size as u32,
        );
        let compression = if s.compression {
            // fjall has no zstd; LZ4 below L1 is the nearest setting.
            CompressionPolicy::new([
                CompressionType::None,
                CompressionType::None,
                CompressionType::Lz4,
            ])
        } else {
            CompressionPolicy::disabled()
        };
        let ks = db
            .keyspace("bench", || {
                KeyspaceCreateOptions::default()
                    .max_memtable_size(memtable)
                    .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
                        BloomConstructionPolicy::BitsPerKey(bits),
                    )))
                    .data_block_size_policy(BlockSizePolicy::all(block))
                    .data_block_compression_policy(compression)
            })
            .map_err(err)?;
        Ok(Fjall { db, ks })
    }
}

impl Engine for Fjall {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        self.ks.insert(key, value).map_err(err)?;
        if sync {
            self.db.persist(fjall::PersistMode::SyncData).map_err(err)?;
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.ks.get(key).map_err(err)?.map(|v| v.len()))
    }

    fn seek_next(&self, key: &[u8], n: usize) -> Result<usize> {
        let mut read = 0;
        for item in self.ks.range(key..).take(n) {
            item.into_inner().map_err(err)?;
            read += 1;
        }
        Ok(read)
    }

    fn scan_all(&self) -> Result<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        for item in self.ks.iter() {
            let (k, v) = item.into_inner().map_err(err)?;
            n += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        Ok((n, bytes))
    }

    fn settle(&self) -> Result<()> {
        // fjall has no wait-for-compaction call: flush, then wait for L0 to drain.
        self.ks.rotate_memtable_and_wait().map_err(err)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.ks.l0_table_count() > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}
