//! Strata's log format: the write-ahead log and the MANIFEST.
//!
//! A log is a sequence of 32 KiB blocks holding CRC-checked fragments; a
//! record of any length is split into fragments that never cross a block
//! boundary, so a reader can resynchronise at any block start. Every file
//! starts with a file header (magic, format version, file number, and the
//! caller's record format: which encoding its records use). The
//! model is LevelDB's log format; `docs/format-wal.md` is the specification.
//!
//! - [`Writer`] appends records with group commit ([`Writer::append_batch`])
//!   and a [`SyncMode`] deciding when to fsync.
//! - [`Reader`] streams records back and applies a [`RecoveryMode`]: a torn
//!   tail (an interrupted final write) is dropped or rejected, damage followed
//!   by valid data is always [`Error::Corruption`] naming file and offset.
//!
//! It is not:
//! - a record encoding: records are opaque bytes (write batches and version
//!   edits are encoded by the engine, which names its encoding in the file
//!   header with [`Writer::create_with_format`] and reads it back with
//!   [`Reader::record_format`]);
//! - a file manager: it does not name, rotate, preallocate, delete or
//!   recycle log files, nor fsync directories;
//! - concurrent: a [`Writer`] is used by one thread at a time (the engine's
//!   commit leader); group commit means batching records, not locking. The
//!   one exception is the fsync: [`Writer::begin_sync`] hands out a
//!   [`PendingSync`] that runs while appends go on.
//!
//! ```
//! use strata_wal::{Reader, RecoveryMode, SyncMode, Writer};
//!
//! # fn main() -> strata_wal::Result<()> {
//! # let dir = tempfile::tempdir()?;
//! let path = dir.path().join("000012.log");
//! let mut log = Writer::create(&path, 12, SyncMode::Always)?;
//! // One write and one fsync for the whole group.
//! let synced = log.append_batch(&[b"batch 1".as_slice(), b"batch 2"], false)?;
//! assert!(synced && log.synced_offset() == log.offset());
//! drop(log);
//!
//! let mut reader = Reader::open(&path, RecoveryMode::TolerateTornTail)?;
//! assert_eq!(reader.file_number(), Some(12));
//! let mut records = Vec::new();
//! while let Some(record) = reader.next_record()? {
//!     records.push(record);
//! }
//! assert_eq!(records, [b"batch 1".to_vec(), b"batch 2".to_vec()]);
//! assert!(reader.dropped_tail().is_none());
//! # Ok(())
//! # }
//! ```

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod format;
mod reader;
mod writer;

pub use error::{Error, Result};
pub use format::{BLOCK_SIZE, FILE_HEADER_SIZE, FORMAT_VERSION, HEADER_SIZE, MAGIC};
pub use reader::{Reader, RecoveryMode, TornTail};
pub use writer::{PendingSync, SyncMode, Writer};
