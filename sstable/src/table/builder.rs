//! Writes a table file (layout in [`crate::table`]).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::options::{TableOptions, MAX_KEY_LEN, MAX_VALUE_LEN};
use crate::block::trailer::{self, COMPRESSION_NONE};
use crate::block::BlockBuilder;
use crate::cache::{BlockCache, CacheReservation};
use crate::error::{Error, Result};
use crate::filter::FilterBuilder;
use crate::footer::Footer;
use crate::handle::BlockHandle;
use crate::key::{compare_internal, parse_internal_key, ValueKind};
use crate::properties::Properties;
use crate::table::Compression;

/// Index and meta blocks must stay well below 4 GiB (restart offsets are u32).
const MAX_META_BLOCK: usize = 1 << 30;

/// Capacity of the builder's write buffer.
const WRITE_BUFFER: usize = 64 << 10;

/// What [`TableBuilder::finish`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSummary {
    /// Size of the finished file, bytes.
    pub file_size: u64,
    /// The properties written into the table.
    pub properties: Properties,
}

/// Writes a new table. Add entries in strictly increasing internal-key order, then call
/// [`finish`](Self::finish), or [`abandon`](Self::abandon) to delete the partial file.
/// Dropping a builder leaves the partial file behind.
///
/// A rejected `add` (bad key order or size) writes nothing and the builder stays usable.
/// After an I/O error it refuses further work: the only sensible next step is `abandon`.
pub struct TableBuilder {
    path: PathBuf,
    file: BufWriter<File>,
    options: TableOptions,
    /// Bytes handed to `file` so far.
    offset: u64,
    data_block: BlockBuilder,
    index_block: BlockBuilder,
    filter: FilterBuilder,
    last_key: Vec<u8>,
    props: Properties,
    /// Set after an I/O error: the file's state is unknown.
    failed: bool,
    /// Room held in a block cache for this builder's memory (see
    /// [`charge_memory_to`](Self::charge_memory_to)).
    reservation: Option<CacheReservation>,
}

impl std::fmt::Debug for TableBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableBuilder")
            .field("path", &self.path)
            .field("offset", &self.offset)
            .field("num_entries", &self.props.num_entries)
            .field("failed", &self.failed)
            .finish()
    }
}

impl TableBuilder {
    /// Creates the file at `path` (which must not exist) and returns a builder for it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `options` is out of range; [`Error::Io`] if the file
    /// exists or cannot be created.
    pub fn create(path: &Path, options: TableOptions) -> Result<TableBuilder> {
        options.validate()?;
        fail::fail_point!("sstable::create", |e| Err(crate::injected(e).into()));
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        let props = Properties {
            compression: options.compression.name().to_string(),
            bloom_bits_per_key: options.bloom_bits_per_key,
            ..Properties::default()
        };
        Ok(TableBuilder {
            path: path.to_path_buf(),
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            filter: FilterBuilder::new(options.bloom_bits_per_key),
            data_block: BlockBuilder::with_encoding(
                options.restart_interval,
                crate::footer::data_key_encoding(options.format_version),
            ),
            index_block: BlockBuilder::new(options.index_restart_interval),
            options,
            offset: 0,
            last_key: Vec::new(),
            props,
            failed: false,
            reservation: None,
        })
    }

    /// Records `id`, the identity of the database writing the table, in its properties
    /// (`strata.db.id`).
    pub fn set_db_id(&mut self, id: &[u8]) {
        self.props.db_id = id.to_vec();
    }

    /// Records the keyspace (column family) the table belongs to in its properties
    /// (`strata.keyspace.id`, `strata.keyspace.name`).
    pub fn set_keyspace(&mut self, id: u32, name: &str) {
        self.props.keyspace_id = Some(id);
        self.props.keyspace_name = name.to_string();
    }

    /// Records the blob files the table's blob references point into (the engine keeps a
    /// blob file while a live table names it).
    pub fn set_blob_files(&mut self, files: impl IntoIterator<Item = u64>) {
        let mut files: Vec<u64> = files.into_iter().collect();
        files.sort_unstable();
        files.dedup();
        self.props.blob_files = files;
    }

    /// Charges this builder's memory (its filter's buffered key hashes, its index block,
    /// its buffers) to `cache` from now until it is finished or dropped: the cache evicts
    /// blocks to make room (see [`BlockCache::reservation`]). The charge follows the
    /// builder's [`memory_usage`](Self::memory_usage) after each data block and covers the
    /// filter's construction in [`finish`](Self::finish).
    pub fn charge_memory_to(&mut self, cache: &Arc<BlockCache>) {
        let mut reservation = cache.reservation();
        reservation.set(self.memory_usage() as u64);
        self.reservation = Some(reservation);
    }

    /// Heap bytes the builder holds now: the filter's buffered key hashes, the index and
    /// data blocks being built and the write buffer. A table of many small keys holds
    /// about 8 bytes per key for its filter until it is finished.
    pub fn memory_usage(&self) -> usize {
        self.filter.memory_usage()
            + self.index_block.memory_usage()
            + self.data_block.memory_usage()
            + self.last_key.capacity()
            + WRITE_BUFFER
    }

    /// Sets the cache reservation, if any, to `bytes`.
    fn charge(&mut self, bytes: usize) {
        if let Some(r) = &mut self.reservation {
            r.set(bytes as u64);
        }
    }

    /// Appends an entry.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the key is shorter than 8 bytes, is not strictly
    /// greater than the previous key (internal order), or the key or value is too long
    /// ([`crate::MAX_KEY_LEN`], [`crate::MAX_VALUE_LEN`]); nothing is written then.
    /// [`Error::Io`] if writing a finished block fails.
    pub fn add(&mut self, internal_key: &[u8], value: &[u8]) -> Result<()> {
        self.check_usable()?;
        let Some(parsed) = parse_internal_key(internal_key) else {
            return Err(Error::InvalidArgument(format!(
                "internal key must be at least 8 bytes, got {}",
                internal_key.len()
            )));
        };
        if internal_key.len() > MAX_KEY_LEN || value.len() > MAX_VALUE_LEN {
            return Err(Error::InvalidArgument(format!(
                "entry too large: key {} bytes (max {MAX_KEY_LEN}), value {} bytes (max {MAX_VALUE_LEN})",
                internal_key.len(),
                value.len()
            )));
        }
        if self.props.num_entries > 0
            && compare_internal(internal_key, &self.last_key) != std::cmp::Ordering::Greater
        {
            return Err(Error::InvalidArgument(
                "keys must be added in strictly increasing internal order".into(),
            ));
        }
        if self.index_block.estimated_size() + 2 * internal_key.len() > MAX_META_BLOCK {
            return Err(Error::InvalidArgument(
                "table too large: its index block is full; start a new table".into(),
            ));
        }

        let expiry = if ValueKind::has_expiry(parsed.kind) {
            match crate::key::split_expiring(value) {
                Some((ms, _)) => Some(ms),
                None => {
                    return Err(Error::InvalidArgument(
                        "an expiring entry's value is shorter than its expiry header".into(),
                    ))
                }
            }
        } else {
            None
        };
        self.filter.add(parsed.user_key);
        self.data_block.add(internal_key, value);
        let p = &mut self.props;
        if p.num_entries == 0 {
            p.smallest_key = internal_key.to_vec();
            p.smallest_seq = parsed.seq;
            p.largest_seq = parsed.seq;
        }
        p.num_entries += 1;
        if parsed.kind == ValueKind::Delete as u8 {
            p.num_deletions += 1;
        }
        if let Some(ms) = expiry {
            p.num_expiring += 1;
            p.min_expiry_ms = Some(p.min_expiry_ms.map_or(ms, |m| m.min(ms)));
        }
        p.raw_key_bytes += internal_key.len() as u64;
        p.raw_value_bytes += value.len() as u64;
        p.smallest_seq = p.smallest_seq.min(parsed.seq);
        p.largest_seq = p.largest_seq.max(parsed.seq);
        self.last_key.clear();
        self.last_key.extend_from_slice(internal_key);

        if self.data_block.estimated_size() >= self.options.block_size {
            self.flush_data_block()?;
        }
        Ok(())
    }

    /// Entries added so far.
    pub fn num_entries(&self) -> u64 {
        self.props.num_entries
    }

    /// Bytes written so far plus the pending data block; compaction splits outputs on it.
    pub fn estimated_size(&self) -> u64 {
        self.offset + self.data_block.estimated_size() as u64
    }

    /// Writes the filter, properties and index blocks and the footer, then fsyncs the file.
    /// Syncing the directory is the caller's job.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if a write or the fsync fails (the file should then be deleted);
    /// [`Error::InvalidArgument`] if the builder failed earlier.
    pub fn finish(mut self) -> Result<TableSummary> {
        self.check_usable()?;
        self.flush_data_block()?;

        let peak =
            self.memory_usage() - self.filter.memory_usage() + self.filter.finish_memory_usage();
        self.charge(peak);
        let filter = std::mem::replace(&mut self.filter, FilterBuilder::new(0));
        let filter_handle = match filter.finish() {
            Some(bytes) => self.write_block(&bytes, Compression::None)?,
            None => BlockHandle::default(),
        };

        self.props.largest_key = self.last_key.clone();
        self.props.created_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let props_handle = self.write_block(&self.props.encode(), Compression::None)?;

        let index = self.index_block.finish();
        let index_handle = self.write_block(&index, Compression::None)?;

        let footer = Footer {
            filter: filter_handle,
            properties: props_handle,
            index: index_handle,
            version: self.options.format_version,
        };
        self.write_raw(&footer.encode())?;

        let result = self.file.flush().and_then(|()| {
            fail::fail_point!("sstable::sync", |e| Err(crate::injected(e)));
            self.file.get_ref().sync_all()
        });
        if let Err(e) = result {
            self.failed = true;
            return Err(e.into());
        }
        Ok(TableSummary {
            file_size: self.offset,
            properties: self.props,
        })
    }

    /// Closes and deletes the partial file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be removed.
    pub fn abandon(self) -> Result<()> {
        let TableBuilder { path, file, .. } = self;
        // Discard buffered bytes instead of flushing them into a file about to go.
        drop(file.into_parts());
        fs::remove_file(&path)?;
        Ok(())
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed {
            return Err(Error::InvalidArgument(
                "table builder failed earlier; abandon it".into(),
            ));
        }
        Ok(())
    }

    fn flush_data_block(&mut self) -> Result<()> {
        if self.data_block.is_empty() {
            return Ok(());
        }
        let raw = self.data_block.finish();
        let handle = self.write_block(&raw, self.options.compression)?;
        let mut encoded = Vec::with_capacity(BlockHandle::MAX_ENCODED_LEN);
        handle.encode_varint_into(&mut encoded);
        self.index_block.add(&self.last_key, &encoded);
        self.props.num_data_blocks += 1;
        if self.reservation.is_some() {
            self.charge(self.memory_usage());
        }
        Ok(())
    }

    /// Writes `raw` (compressed if it pays) and its trailer; returns its handle.
    fn write_block(&mut self, raw: &[u8], compression: Compression) -> Result<BlockHandle> {
        let (contents, kind) = trailer::compress(raw, compression)?;
        debug_assert!(compression != Compression::None || kind == COMPRESSION_NONE);
        let handle = BlockHandle {
            offset: self.offset,
            size: contents.len() as u64,
        };
        let t = trailer::trailer(&contents, kind);
        self.write_raw(&contents)?;
        self.write_raw(&t)?;
        Ok(handle)
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let written = write_file(&mut self.file, bytes);
        if let Err(e) = written {
            self.failed = true;
            return Err(e.into());
        }
        self.offset += bytes.len() as u64;
        Ok(())
    }
}

/// Writes `bytes` to the table file (a failpoint can fail it).
fn write_file(file: &mut BufWriter<File>, bytes: &[u8]) -> std::io::Result<()> {
    fail::fail_point!("sstable::write", |e| Err(crate::injected(e)));
    file.write_all(bytes)
}
