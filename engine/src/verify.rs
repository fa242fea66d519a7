//! Offline verification of a database directory, without opening (and so without changing) it.

use std::fs;
use std::path::{Path, PathBuf};

use strata_sstable::Table;
use strata_wal::RecoveryMode;

use crate::error::{Error, Result};
use crate::filename::{self, FileKind};
use crate::manifest;
use crate::recovery::check_live_log;
use crate::super_version::MemGen;
use crate::wal;

/// What [`verify_dir`] checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Live tables whose every block was read and checksummed.
    pub tables: usize,
    /// Bytes of those tables.
    pub table_bytes: u64,
    /// WAL files replayed.
    pub logs: usize,
    /// Version edits read from the manifest.
    pub manifest_edits: usize,
    /// Table files in the directory that no version references (left by an interrupted flush;
    /// removed at the next open).
    pub orphan_tables: Vec<PathBuf>,
    /// Blob files in the directory that no version references (left by an interrupted flush or
    /// compaction; removed at the next open).
    pub orphan_blob_files: Vec<PathBuf>,
    /// Live blob files whose every record was read and checksummed.
    pub blob_files: usize,
    /// Bytes of those blob files.
    pub blob_bytes: u64,
}

/// Checks every checksum of the database in `dir`: the manifest, every live table (every
/// block), and the WALs that recovery would replay (strictly: a torn tail is reported too).
/// Reads only; takes no lock, so run it on a database no process is writing.
///
/// # Errors
/// The first [`Error::Corruption`](crate::Error::Corruption) found, naming the file and offset;
/// I/O errors.
pub fn verify_dir(dir: impl AsRef<Path>) -> Result<VerifyReport> {
    let dir = dir.as_ref();
    let (manifest_path, _) = manifest::read_current(dir)?;
    let read = manifest::read_edits(&manifest_path)?;
    let edits = &read.edits;
    let mut report = VerifyReport {
        manifest_edits: edits.len(),
        ..VerifyReport::default()
    };
    let mut live = std::collections::BTreeSet::new();
    let mut blobs = std::collections::BTreeSet::new();
    let mut log_number = 0;
    for e in edits {
        for n in &e.deleted_blobs {
            blobs.remove(n);
        }
        blobs.extend(e.new_blobs.iter().map(|b| b.number));
        if let Some(n) = e.log_number {
            log_number = log_number.max(n);
        }
        for (_, _, n) in &e.deleted_files {
            live.remove(n);
        }
        for (_, _, meta) in &e.new_files {
            live.insert(meta.number);
        }
    }
    for &n in &live {
        let path = filename::table_path(dir, n);
        if !path.exists() {
            let missing =
                Error::corruption(&path, 0, "table file named by the manifest is missing");
            return Err(read.explain_missing(&manifest_path, missing));
        }
        let table = Table::open(&path, None)?;
        table.verify()?;
        report.tables += 1;
        report.table_bytes += table.file_size();
        for b in &table.properties().blob_files {
            if !blobs.contains(b) {
                return Err(Error::corruption(
                    &path,
                    0,
                    format!("the table refers to blob file {b:06}.blob, which is not live"),
                ));
            }
        }
    }
    for &n in &blobs {
        let path = filename::blob_path(dir, n);
        if !path.exists() {
            let missing = Error::corruption(&path, 0, "blob file named by the manifest is missing");
            return Err(read.explain_missing(&manifest_path, missing));
        }
        let blob = strata_sstable::BlobReader::open(&path)?;
        blob.verify()?;
        report.blob_files += 1;
        report.blob_bytes += blob.size();
    }
    let mut logs = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io_at(dir, e))? {
        let name = entry?.file_name();
        match name.to_str().and_then(filename::parse) {
            Some(FileKind::Log(n)) if n >= log_number => logs.push(n),
            Some(FileKind::Table(n)) if !live.contains(&n) => {
                report.orphan_tables.push(filename::table_path(dir, n));
            }
            Some(FileKind::Blob(n)) if !blobs.contains(&n) => {
                report.orphan_blob_files.push(filename::blob_path(dir, n));
            }
            _ => {}
        }
    }
    logs.sort_unstable();
    check_live_log(&manifest_path, log_number, &logs)
        .map_err(|e| read.explain_missing(&manifest_path, e))?;
    for n in logs {
        wal::replay(
            &filename::log_path(dir, n),
            RecoveryMode::Strict,
            // Replayed only to check the records: a small filter will do.
            &MemGen::new(n, 1 << 20),
        )?;
        report.logs += 1;
    }
    Ok(report)
}
