//! Flush: writing a memtable generation to L0 tables (LevelDB's `BuildTable`). One routine
//! serves both the flush thread and recovery, which flushes what it replayed from the WALs;
//! installing the result (the manifest edit, retiring the WAL) is the caller's.

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_compaction::job::{self, JobOptions};
use strata_sstable::SeqNo;

use crate::blob::BlobJob;
use crate::error::Result;
use crate::filename;
use crate::ids::KeyspaceId;
use crate::manifest::VersionEdit;
use crate::memtable::Memtable;
use crate::super_version::MemGen;
use crate::tables::{file_meta, Tables};
use crate::version::{NewFiles, TableFile};

/// What flushing one memtable generation made.
#[derive(Debug, Default)]
pub(crate) struct Flushed {
    /// The new L0 tables, one per non-empty memtable, and the blob files holding their large
    /// values, as an edit that adds them (nothing else set).
    pub edit: VersionEdit,
    /// The new tables and blob files, open, by file number.
    pub opened: NewFiles,
    /// Bytes of the new tables and blob files.
    pub bytes: u64,
    /// Expired entries turned into tombstones.
    pub expired: u64,
}

/// Writes every memtable of `gen` to an L0 table numbered by `new_number`, its large values
/// to blob files, keeping what the snapshots `snapshots` (ascending) can see, and fsyncs the
/// directory once the files exist. `name` names each keyspace before its table is written
/// (recovery rejects one the manifest does not know).
pub(crate) fn flush_memtables(
    tables: Tables<'_>,
    gen: &MemGen,
    snapshots: &[SeqNo],
    new_number: &dyn Fn() -> u64,
    name: impl Fn(KeyspaceId) -> Result<String>,
) -> Result<Flushed> {
    let mut flushed = Flushed::default();
    // A memtable holds no blob reference: the job reads none.
    let none = BTreeMap::new();
    let mut blobs = BlobJob::new(tables, &none, new_number, false);
    let mut made = Vec::new();
    let result = (|| {
        for (ks, mem) in gen.sorted_tables() {
            let name = name(ks)?;
            if mem.is_empty() {
                continue;
            }
            let number = new_number();
            let (file, expired) =
                build_table(tables, number, &mem, (ks, &name), snapshots, &mut blobs)?;
            flushed.expired += expired;
            let Some(file) = file else {
                continue;
            };
            made.push(Arc::clone(&file));
            flushed.bytes += file.meta.size;
            flushed.edit.new_files.push((ks, 0, file.meta.clone()));
            flushed.opened.tables.insert(number, file);
        }
        Ok(())
    })();
    if let Err(e) = result {
        // The blob job removes its files when dropped unfinished; the tables go with their
        // handles.
        for f in made {
            f.obsolete.store(true, std::sync::atomic::Ordering::Release);
        }
        return Err(e);
    }
    let blob_files = match blobs.finish() {
        Ok(b) => b,
        Err(e) => {
            flushed.opened.abandon();
            return Err(e);
        }
    };
    for b in blob_files {
        flushed.bytes += b.meta.size;
        flushed.edit.new_blobs.push(b.meta);
        flushed.opened.blobs.insert(b.meta.number, b);
    }
    if !flushed.opened.tables.is_empty() || !flushed.opened.blobs.is_empty() {
        if let Err(e) = filename::sync_dir(tables.dir) {
            flushed.opened.abandon();
            return Err(e);
        }
    }
    Ok(flushed)
}

/// Writes the contents of `mem` (keyspace `ks` named `name`) to L0 table `number`, keeping what a compaction
/// would (RocksDB's flush runs the same iterator): per snapshot stripe (`snapshots`,
/// ascending) only the newest version of a key, tombstones, and expired entries as
/// tombstones. A memtable of overwrites thus flushes each key once (in random overwrites of
/// 2M keys, a 64 MiB memtable holds ~11% shadowed versions). Returns the table, `None` if
/// nothing was left to write (a non-empty memtable never is: each key's newest version
/// stays), and how many expired entries became tombstones.
fn build_table(
    tables: Tables<'_>,
    number: u64,
    mem: &Arc<Memtable>,
    (ks, name): (KeyspaceId, &str),
    snapshots: &[SeqNo],
    blobs: &mut BlobJob<'_>,
) -> Result<(Option<Arc<TableFile>>, u64)> {
    let level = 0;
    let opts = JobOptions {
        snapshots: snapshots.to_vec(),
        // Tombstones stay: older versions may lie in any table.
        bottommost: false,
        output_level: level,
        // One table, however large.
        target_file_size: u64::MAX,
        grandparents: Vec::new(),
        // Compaction filters run in compactions only (as in RocksDB by default).
        filter: None,
        now_ms: tables.options.clock.now_ms(),
        min_blob_size: tables.options.blob_threshold(),
    };
    let mut created = false;
    let result = job::run_with_blobs(
        &mut mem.iter(),
        &opts,
        || {
            created = true;
            Ok((number, tables.create(number, level, ks, name)?))
        },
        Some(blobs),
    );
    let (outputs, stats) = match result {
        Ok(r) => r,
        Err(e) => {
            if created {
                let _ = std::fs::remove_file(tables.path(number));
            }
            return Err(e.into());
        }
    };
    let Some(out) = outputs.into_iter().next() else {
        return Ok((None, stats.expired));
    };
    let table = Arc::new(tables.open(number)?);
    let file = TableFile::new(file_meta(number, &out.summary), table);
    Ok((Some(file), stats.expired))
}
