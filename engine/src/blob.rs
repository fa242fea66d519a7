//! Blob files in the engine (key-value separation; format in `docs/format-blob.md`).
//!
//! - **Writing**: flush and compaction run their jobs with a [`BlobJob`]: a value of at least
//!   [`Options::blob_threshold`](crate::Options) bytes goes to the job's current blob file,
//!   and the table keeps a reference. Each table records the blob files it refers to.
//! - **Liveness**: the manifest lists the live blob files (added by the edit that installs
//!   the tables referring to them). A blob file no table of the current version refers to is
//!   deleted from the manifest by that same edit, and from the disk when the last version
//!   holding it lets go, exactly as a table is.
//! - **Garbage collection**: values whose references a compaction drops leave garbage behind
//!   in their file. Compactions move the live values of the oldest
//!   [`Options::blob_gc_age_cutoff`](crate::Options) of the blob files into new files, so old
//!   files empty out and go (RocksDB's integrated BlobDB does the same).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use strata_compaction::job::BlobStorage;
use strata_sstable::{BlobReader, BlobRef, BlobWriter};

use crate::error::{Error, Result};
use crate::filename;
use crate::manifest::BlobMeta;
use crate::tables::Tables;

/// A live blob file. Versions share it by `Arc`; once no table of the current version refers
/// to it, it is marked obsolete and deleted when the last holder drops it.
#[derive(Debug)]
pub(crate) struct BlobFile {
    pub meta: BlobMeta,
    pub reader: BlobReader,
    pub obsolete: AtomicBool,
}

impl Drop for BlobFile {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            // Best effort: a file that cannot be removed now is an orphan the next open
            // removes.
            let _ = std::fs::remove_file(self.reader.path());
        }
    }
}

impl BlobFile {
    /// Opens the blob file `meta` describes in `dir`; a missing file is corruption (the
    /// manifest names it).
    pub(crate) fn open(dir: &Path, meta: &BlobMeta) -> Result<Arc<BlobFile>> {
        let path = filename::blob_path(dir, meta.number);
        if !path.exists() {
            return Err(Error::corruption(
                path,
                0,
                "blob file named by the manifest is missing",
            ));
        }
        let reader = BlobReader::open(&path)?;
        Ok(Arc::new(BlobFile {
            meta: *meta,
            reader,
            obsolete: AtomicBool::new(false),
        }))
    }
}

/// Reads the value behind a table entry of a blob kind: `body` is the stored value after any
/// expiry header (the reference), `blobs` the live blob files.
pub(crate) fn read_value(
    blobs: &BTreeMap<u64, Arc<BlobFile>>,
    user_key: &[u8],
    body: &[u8],
) -> Result<Vec<u8>> {
    blob_value(blobs, user_key, &decode_ref(body)?).map_err(Error::from)
}

/// The blob reference a table entry stores (after any expiry header).
pub(crate) fn decode_ref(body: &[u8]) -> Result<BlobRef> {
    BlobRef::decode(body).ok_or_else(|| Error::corruption("<table>", 0, "malformed blob reference"))
}

fn blob_value(
    blobs: &BTreeMap<u64, Arc<BlobFile>>,
    user_key: &[u8],
    r: &BlobRef,
) -> strata_sstable::Result<Vec<u8>> {
    match blobs.get(&r.file) {
        Some(f) => f.reader.read(user_key, r),
        None => Err(strata_sstable::Error::Corruption {
            file: format!("{:06}.blob", r.file).into(),
            offset: r.offset,
            reason: "a table refers to a blob file that is not live".into(),
        }),
    }
}

/// The blob files one flush or compaction writes, and the live ones it reads and empties.
pub(crate) struct BlobJob<'a> {
    tables: Tables<'a>,
    live: &'a BTreeMap<u64, Arc<BlobFile>>,
    /// Files numbered below this are being emptied (0: none).
    relocate_below: u64,
    new_number: &'a dyn Fn() -> u64,
    writer: Option<BlobWriter>,
    finished: Vec<BlobMeta>,
    /// Every file created, finished or not (removed if the job fails).
    created: Vec<u64>,
}

impl<'a> BlobJob<'a> {
    /// A job that writes new blob files numbered by `new_number` and reads `live`. With
    /// `collect`, values in the oldest `blob_gc_age_cutoff` of `live` move to new files.
    pub(crate) fn new(
        tables: Tables<'a>,
        live: &'a BTreeMap<u64, Arc<BlobFile>>,
        new_number: &'a dyn Fn() -> u64,
        collect: bool,
    ) -> BlobJob<'a> {
        let cutoff = tables.options.blob_gc_age_cutoff;
        // The oldest files by number (RocksDB rounds down too: one file of four at 0.25).
        let oldest = (live.len() as f64 * cutoff) as usize;
        let relocate_below = if collect && oldest > 0 {
            live.keys().nth(oldest).copied().unwrap_or(u64::MAX)
        } else {
            0
        };
        BlobJob {
            tables,
            live,
            relocate_below,
            new_number,
            writer: None,
            finished: Vec::new(),
            created: Vec::new(),
        }
    }

    fn close_current(&mut self) -> strata_sstable::Result<()> {
        if let Some(w) = self.writer.take() {
            self.finished.push(w.finish()?.into());
        }
        Ok(())
    }

    /// Finishes the current file and opens every file written, for installing.
    pub(crate) fn finish(mut self) -> Result<Vec<Arc<BlobFile>>> {
        self.close_current()?;
        let dir = self.tables.dir;
        let opened = self
            .finished
            .iter()
            .map(|m| BlobFile::open(dir, m))
            .collect::<Result<Vec<_>>>()?;
        // Installed or not, the files are the caller's now.
        self.created.clear();
        Ok(opened)
    }
}

impl Drop for BlobJob<'_> {
    /// A job dropped before [`finish`](Self::finish) failed: its files go.
    fn drop(&mut self) {
        self.writer = None;
        for n in &self.created {
            let _ = std::fs::remove_file(filename::blob_path(self.tables.dir, *n));
        }
    }
}

impl BlobStorage for BlobJob<'_> {
    fn write(&mut self, user_key: &[u8], value: &[u8]) -> strata_sstable::Result<BlobRef> {
        let w = match &mut self.writer {
            Some(w) => w,
            None => {
                let number = (self.new_number)();
                self.created.push(number);
                let path = filename::blob_path(self.tables.dir, number);
                self.writer
                    .insert(BlobWriter::create(&path, number, self.tables.db_id)?)
            }
        };
        let r = w.add(user_key, value)?;
        if w.size() >= self.tables.options.blob_file_size {
            self.close_current()?;
        }
        Ok(r)
    }

    fn read(&self, user_key: &[u8], r: &BlobRef) -> strata_sstable::Result<Vec<u8>> {
        blob_value(self.live, user_key, r)
    }

    fn relocate(&self, file: u64) -> bool {
        // A reference into a file that is not live (lost to damage and reported by a repair)
        // stays as it is: reading it would fail the compaction, and so every later one.
        file < self.relocate_below && self.live.contains_key(&file)
    }
}
