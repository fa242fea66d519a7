//! # Strata
//!
//! A durable embedded key-value engine: a log-structured merge tree with a write-ahead log,
//! memtables on a concurrent skiplist, immutable sorted tables with bloom filters, snapshots,
//! bounded forward and reverse iterators, and keyspaces (column families) that share one WAL so
//! a batch across them is atomic.
//!
//! ```
//! use strata::{Db, Options, WriteBatch, WriteOptions};
//!
//! # fn main() -> strata::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path(), Options::default())?;
//! db.put(b"apple", b"red")?;
//! let users = db.keyspace("users")?;
//! let mut batch = WriteBatch::new();
//! batch.put(b"banana", b"yellow").put_in(&users, b"ada", b"lovelace");
//! db.write(batch, WriteOptions::sync())?;            // atomic, durable on return
//! assert_eq!(db.get(b"apple")?, Some(b"red".to_vec()));
//! let fruits: Vec<_> = db.range(None, None)?.collect::<strata::Result<_>>()?;
//! assert_eq!(fruits.len(), 2);
//! # Ok(()) }
//! ```
//!
//! What it is not: a server (see `strata-server`), a SQL database, or a distributed store.
//! Durability guarantees per [`SyncMode`] are in `docs/durability.md`.

mod backpressure;
mod batch;
mod blob;
mod clock;
mod commit;
mod compactor;
mod db;
mod error;
mod filename;
mod flush;
mod ids;
mod iter;
mod keyspace;
mod level_iter;
mod manifest;
mod memtable;
mod mutex;
mod options;
mod reclaim;
mod recovery;
mod repair;
mod skiplist;
mod snapshot;
mod stats;
mod super_version;
mod tables;
mod transaction;
mod verify;
mod version;
mod wal;

pub use batch::{WriteBatch, MAX_KEY_LEN, MAX_VALUE_LEN};
pub use clock::{Clock, ManualClock, SystemClock};
pub use db::Db;
pub use error::{Error, Result};
pub use ids::DEFAULT_KEYSPACE_NAME;
pub use iter::{DbIterator, Scan};
pub use keyspace::{Keyspace, WeakKeyspace};
pub use options::{
    Compression, MutableOptions, Options, ReadOptions, RecoveryMode, SyncMode, WriteOptions,
    MIN_MEMORY_BUDGET, NUM_LEVELS,
};
pub use repair::{repair, RepairReport};
pub use snapshot::Snapshot;
pub use stats::{
    CacheUsage, CompactionStats, DroppedTail, KeyspaceStats, KindUsage, LevelStats, MemoryStats,
    Stats,
};
pub use strata_compaction::{CompactionFilter, Decision};
pub use transaction::Transaction;
pub use verify::{verify_dir, VerifyReport};

// Compiles the README's embedding example as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
