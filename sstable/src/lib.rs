//! Strata's sorted string tables: the immutable on-disk files of the LSM tree.
//!
//! This crate is:
//! - the **internal key** ([`key`]): user key + 56-bit sequence number + kind, and its
//!   ordering, shared by tables, memtables and compaction;
//! - the [`InternalIterator`] cursor trait every sorted source implements;
//! - the **table format** (LevelDB's, with zstd, CRC32 per block, a bloom filter per table,
//!   a properties block and a versioned footer; see `docs/format-sstable.md`);
//! - [`TableBuilder`] to write a table, [`Table`] to open one (memory-mapped), [`TableIter`]
//!   to scan it, and [`BlockCache`], a byte-budgeted cache of decompressed data blocks.
//!
//! It is not:
//! - a database: it knows nothing of levels, manifests, WALs, snapshots or compaction
//!   policy (see the `strata` engine crate);
//! - a user-facing iterator: [`TableIter`] yields every version and tombstone in internal
//!   order; hiding shadowed versions and deletions is the engine's job;
//! - a writer of mutable files: tables are written once, fsynced, and never changed.
//!
//! Reading never panics, whatever the bytes in a file: damage is reported as
//! [`Error::Corruption`] naming the file and the offset of the damaged block or footer.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod blob;
mod block;
pub mod cache;
mod checksum;
pub mod error;
mod filter;
mod footer;
mod handle;
pub mod iter;
pub mod key;
mod properties;
pub mod table;
pub mod varint;

pub use blob::{BlobReader, BlobRef, BlobSummary, BlobWriter};
pub use cache::{BlockCache, CacheReservation};
pub use error::{Error, Result};
pub use handle::BlockHandle;
pub use iter::InternalIterator;
pub use key::{
    compare_internal, encode_expiring, encode_internal_key, encode_internal_key_into,
    encode_trailer, parse_internal_key, split_expiring, InternalKey, ParsedKey, SeqNo, ValueKind,
    EXPIRY_HEADER_LEN, KIND_FOR_SEEK, MAX_SEQNO,
};
pub use properties::Properties;
pub use table::{
    Compression, MetaBlocks, Table, TableBuilder, TableIter, TableOptions, TableSummary,
    MAX_KEY_LEN, MAX_VALUE_LEN,
};

/// The error a failpoint injects: the OS error numbered by its argument (`return(28)` is
/// ENOSPC), or EIO without one.
#[cfg(feature = "failpoints")]
fn injected(errno: Option<String>) -> std::io::Error {
    std::io::Error::from_raw_os_error(errno.and_then(|e| e.parse().ok()).unwrap_or(5))
}
