//! Opening an existing database (docs/durability.md, "Recovery").
//!
//! 1. Read CURRENT and replay the MANIFEST's edits into the set of live tables and counters.
//! 2. Open every live table (a missing one is corruption).
//! 3. Replay the WALs numbered at or above the manifest's log number, oldest first: older logs
//!    must be complete (they were fsynced when the next one started); the newest may end in a
//!    torn record, which `Options::recovery_mode` drops (default) or reports.
//! 4. Flush what was replayed to L0 tables, start a new WAL, write a new MANIFEST describing the
//!    whole state, point CURRENT at it.
//! 5. Delete every file no longer referenced: old WALs and manifests, orphan tables of
//!    interrupted flushes, temp files.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_sstable::BlockCache;
use strata_wal::RecoveryMode;

use strata_sstable::SeqNo;

use crate::error::{Error, Result};
use crate::filename::{self, FileKind};
use crate::flush::flush_memtables;
use crate::ids::{new_db_id, DbId, KeyspaceId};
use crate::manifest::{self, BlobMeta, FileMeta, Manifest, VersionEdit};
use crate::options::Options;
use crate::stats::DroppedTail;
use crate::super_version::MemGen;
use crate::tables::Tables;
use crate::version::Version;
use crate::wal;

/// What recovery hands to `Inner`.
pub(crate) struct Recovered {
    pub version: Version,
    pub wal: strata_wal::Writer,
    pub manifest: Manifest,
    pub log_number: u64,
    pub next_file: u64,
    pub last_seq: SeqNo,
    pub keyspaces: HashMap<String, KeyspaceId>,
    /// Damaged WAL tails recovery dropped.
    pub dropped: Vec<DroppedTail>,
    /// Unreferenced files named like the engine's that this database did not make.
    pub kept: Vec<PathBuf>,
    pub db_id: DbId,
}

pub(crate) fn recover(dir: &Path, options: &Options, cache: &Arc<BlockCache>) -> Result<Recovered> {
    let (manifest_path, _) = manifest::read_current(dir)?;
    let read = manifest::read_edits(&manifest_path)?;
    let edits = &read.edits;

    let mut log_number = 0;
    let mut next_file = 2;
    let mut last_seq = 0;
    let mut keyspaces: HashMap<String, KeyspaceId> = HashMap::new();
    let mut files: BTreeMap<(KeyspaceId, usize, u64), FileMeta> = BTreeMap::new();
    let mut blobs: BTreeMap<u64, BlobMeta> = BTreeMap::new();
    // A manifest written before identities were recorded: this open gives the database one.
    let db_id = edits.iter().find_map(|e| e.db_id).unwrap_or_else(new_db_id);
    for e in edits {
        if let Some(n) = e.log_number {
            log_number = log_number.max(n);
        }
        if let Some(n) = e.next_file {
            next_file = next_file.max(n);
        }
        if let Some(s) = e.last_seq {
            last_seq = last_seq.max(s);
        }
        for (id, name) in &e.keyspaces {
            keyspaces.insert(name.clone(), *id);
        }
        for (ks, level, number) in &e.deleted_files {
            files.remove(&(*ks, *level, *number));
        }
        for (ks, level, meta) in &e.new_files {
            files.insert((*ks, *level, meta.number), meta.clone());
        }
        for number in &e.deleted_blobs {
            blobs.remove(number);
        }
        for meta in &e.new_blobs {
            blobs.insert(meta.number, *meta);
        }
    }

    let all = VersionEdit {
        keyspaces: keyspaces.iter().map(|(n, id)| (*id, n.clone())).collect(),
        new_files: files
            .iter()
            .map(|((ks, level, _), meta)| (*ks, *level, meta.clone()))
            .collect(),
        new_blobs: blobs.values().copied().collect(),
        ..VersionEdit::default()
    };
    let tables = Tables {
        dir,
        options,
        cache,
        db_id: &db_id,
    };
    let mut version = Version::default()
        .apply(&all, &mut { tables })
        .map_err(|e| read.explain_missing(&manifest_path, e))?;

    // Numbers from here on were handed out after the manifest's last edit: a table with one
    // is the output of a flush or compaction that never got installed.
    let unrecorded_from = next_file;
    // Every number in use must stay below next_file (a WAL may exist that no edit mentions).
    let mut logs = Vec::new();
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io_at(dir, e))? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(kind) = filename::parse(name) else {
            continue;
        };
        match kind {
            FileKind::Log(n) | FileKind::Table(n) | FileKind::Blob(n) | FileKind::Manifest(n) => {
                next_file = next_file.max(n + 1);
            }
            _ => {}
        }
        if let FileKind::Log(n) = kind {
            if n >= log_number {
                logs.push(n);
            }
        }
        entries.push((name.to_string(), kind));
    }
    logs.sort_unstable();
    check_live_log(&manifest_path, log_number, &logs)
        .map_err(|e| read.explain_missing(&manifest_path, e))?;

    let gen = MemGen::new(0, options.memtable_size);
    let mut dropped = Vec::new();
    for (i, &n) in logs.iter().enumerate() {
        let mode = if i + 1 == logs.len() {
            options.recovery_mode
        } else {
            RecoveryMode::Strict
        };
        let replayed = wal::replay(&filename::log_path(dir, n), mode, &gen)?;
        last_seq = last_seq.max(replayed.max_seq);
        dropped.extend(replayed.dropped);
    }
    last_seq = last_seq.max(version.max_seq());

    // No snapshot exists yet: only each key's newest version is kept.
    let numbers = Cell::new(next_file);
    let flushed = flush_memtables(
        tables,
        &gen,
        &[],
        &|| {
            numbers.set(numbers.get() + 1);
            numbers.get() - 1
        },
        |ks| {
            if let Some((name, _)) = keyspaces.iter().find(|(_, &id)| id == ks) {
                return Ok(name.clone());
            }
            Err(Error::corruption(
                filename::log_path(dir, logs.last().copied().unwrap_or(0)),
                0,
                format!("WAL writes to keyspace id {ks}, which the manifest does not know"),
            ))
        },
    )?;
    let mut next_file = numbers.get();
    version = version.apply(&flushed.edit, &mut &flushed.opened)?;
    // Blob files no table refers to any more (their last reference went in an edit that a
    // crash cut short of deleting them) are left out of the new manifest and removed below.
    for n in version.unreferenced_blobs() {
        version.blobs.remove(&n);
    }

    let new_log = next_file;
    let manifest_number = next_file + 1;
    next_file += 2;
    let wal = wal::create(dir, new_log, options.sync_mode)?;
    let mut snapshot = version.snapshot_edit();
    snapshot.keyspaces = all.keyspaces.clone();
    snapshot.db_id = Some(db_id);
    snapshot.log_number = Some(new_log);
    snapshot.next_file = Some(next_file);
    snapshot.last_seq = Some(last_seq);
    let manifest = Manifest::create(dir, manifest_number, &snapshot)?;

    // The new state is durable: remove what it no longer references.
    let live: Vec<u64> = version
        .trees
        .values()
        .flat_map(|t| t.all_files().map(|(_, f)| f.meta.number))
        .collect();
    let mut removed = false;
    let mut kept = Vec::new();
    for (name, kind) in entries {
        let obsolete = match kind {
            FileKind::Log(n) => n < new_log,
            FileKind::Manifest(n) => n != manifest_number,
            FileKind::Table(n) => !live.contains(&n),
            FileKind::Blob(n) => !version.blobs.contains_key(&n),
            FileKind::Temp => true,
            FileKind::Current | FileKind::Lock => false,
        };
        // Only what this database made: the manifest CURRENT named, manifests and tables
        // carrying its identity, and tables it was still writing.
        let made_here = match kind {
            FileKind::Manifest(_) => {
                dir.join(&name) == manifest_path || manifest_db_id(&dir.join(&name)) == Some(db_id)
            }
            FileKind::Table(n) => match tables.identity(n) {
                Some(id) => id == db_id,
                // Unreadable: an interrupted write never reaches the table's last blocks,
                // where its identity is, so a number handed out after the manifest's last
                // edit is taken for one of ours; any other is not.
                None => n >= unrecorded_from,
            },
            FileKind::Blob(n) => {
                match strata_sstable::BlobReader::open(&filename::blob_path(dir, n)) {
                    Ok(r) => r.db_id() == &db_id,
                    // Unreadable: incomplete (no footer yet) if it was being written.
                    Err(_) => n >= unrecorded_from,
                }
            }
            _ => true,
        };
        if obsolete && !made_here {
            kept.push(dir.join(&name));
            continue;
        }
        if obsolete {
            let path = dir.join(name);
            match fs::remove_file(&path) {
                Ok(()) => removed = true,
                // CURRENT.tmp left by an earlier failed rename was renamed over CURRENT by
                // this open.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io_at(&path, e)),
            }
        }
    }
    if removed {
        filename::sync_dir(dir)?;
    }

    Ok(Recovered {
        version,
        wal,
        manifest,
        log_number: new_log,
        next_file,
        last_seq,
        keyspaces,
        dropped,
        kept,
        db_id,
    })
}

/// The identity in the first record of the manifest at `path`, if it can be read.
fn manifest_db_id(path: &Path) -> Option<DbId> {
    let mut reader = strata_wal::Reader::open(path, RecoveryMode::TolerateIncompleteTail).ok()?;
    let record = reader.next_record().ok()??;
    VersionEdit::decode(&record).ok()?.db_id
}

/// Checks that a directory without CURRENT holds no database files before a new database is
/// created in it: files that look like a database's without the CURRENT naming its manifest
/// are a damaged database (CURRENT deleted or lost) or somebody else's files, and creating a
/// database there would, at its first recovery, delete them as obsolete. The one exception is
/// the manifest of a first open that stopped before it wrote CURRENT (MANIFEST-000001 holding
/// only the initial, empty edit): it is removed, and the new database writes it again.
///
/// # Errors
/// [`Error::Corruption`] naming CURRENT, listing the files, and saying what to do.
pub(crate) fn check_no_data_without_current(dir: &Path) -> Result<()> {
    let mut found = Vec::new();
    let mut interrupted = None;
    for entry in fs::read_dir(dir).map_err(|e| Error::io_at(dir, e))? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        match filename::parse(name) {
            Some(FileKind::Manifest(1)) if is_interrupted_first_manifest(&dir.join(name)) => {
                interrupted = Some(dir.join(name));
            }
            Some(FileKind::Log(_) | FileKind::Table(_) | FileKind::Manifest(_)) => {
                found.push(name.to_string());
            }
            _ => {}
        }
    }
    if found.is_empty() {
        if let Some(path) = interrupted {
            fs::remove_file(path)?;
        }
        return Ok(());
    }
    found.sort();
    let shown = found.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    let more = found.len().saturating_sub(5);
    Err(Error::corruption(
        filename::current_path(dir),
        0,
        format!(
            "CURRENT is missing but the directory holds {} database file(s) ({shown}{}); \
             refusing to create a new database over them. Restore CURRENT (one line naming \
             the newest MANIFEST-NNNNNN file), rebuild it with `strata repair DIR`, or move \
             the files out of the directory",
            found.len(),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    ))
}

/// Whether `path` (MANIFEST-000001) is what a first open writes before CURRENT: one edit,
/// naming no table, or part of it.
fn is_interrupted_first_manifest(path: &Path) -> bool {
    match manifest::read_edits(path) {
        Ok(read) => {
            read.edits.len() == 1
                && read.edits[0].new_files.is_empty()
                && read.edits[0].deleted_files.is_empty()
        }
        // Not even one complete record (empty, or a torn header or first edit): the open
        // stopped while writing it.
        Err(_) => strata_wal::Reader::open(path, RecoveryMode::TolerateIncompleteTail)
            .and_then(|mut reader| reader.next_record())
            .is_ok_and(|record| record.is_none()),
    }
}

/// The manifest's log number names the oldest WAL not yet flushed. That WAL is deleted only after
/// a later edit raising the log number is durable, so if it is gone the manifest has lost an
/// edit: its tail was damaged in a way that looks like a torn append (a flipped length field
/// can). Opening anyway would silently drop the tables that edit added.
pub(crate) fn check_live_log(manifest: &Path, log_number: u64, logs: &[u64]) -> Result<()> {
    if log_number > 0 && !logs.contains(&log_number) {
        return Err(Error::corruption(
            manifest,
            0,
            format!(
                "the manifest names WAL {log_number} as live but it does not exist: \
                 the manifest has lost an edit"
            ),
        ));
    }
    Ok(())
}
