//! Rebuilding a database whose MANIFEST or CURRENT is lost or damaged from the files that are
//! left (LevelDB's `RepairDB`, RocksDB's `Repairer`). Nothing is deleted: whatever cannot be
//! placed is moved to `lost/` in the directory, with the reason in the report.
//!
//! 1. The newest manifest that can be read (up to any damage) gives keyspace names, the
//!    database's identity, where each table was, and which tables compactions replaced.
//! 2. Every table is read in full. One that cannot be read, that a compaction replaced, that
//!    another database wrote, or whose keyspace nothing names goes to `lost/`.
//! 3. Every WAL is replayed (up to any damage) and written to L0 tables; the WAL goes to
//!    `lost/` once its records are in tables.
//! 4. A new manifest holds every table at L0 and points CURRENT at it; old manifests go to
//!    `lost/`.
//! 5. The database is opened and fully compacted: L0 tables from different levels overlap
//!    in sequence numbers, which only a merge puts right.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_sstable::{BlockCache, Properties, SeqNo, Table};
use strata_wal::RecoveryMode;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::filename::{self, FileKind};
use crate::flush::flush_memtables;
use crate::ids::{new_db_id, DbId, KeyspaceId, DEFAULT_KEYSPACE, DEFAULT_KEYSPACE_NAME};
use crate::manifest::{BlobMeta, FileMeta, Manifest, VersionEdit, MANIFEST_FORMAT_VERSION};
use crate::options::Options;
use crate::super_version::MemGen;
use crate::tables::Tables;
use crate::wal;

/// What [`repair`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RepairReport {
    /// The manifest the repair read keyspace names and table places from, if one was
    /// readable.
    pub manifest_read: Option<PathBuf>,
    /// The manifest written.
    pub manifest_written: PathBuf,
    /// Tables kept, by keyspace name.
    pub tables: BTreeMap<String, usize>,
    /// WALs whose records were written to tables, with how many records each gave.
    pub logs_converted: Vec<(PathBuf, u64)>,
    /// Damage met on the way that cost data (a WAL or manifest read up to it), by file.
    pub damage: Vec<(PathBuf, String)>,
    /// Files moved to `lost/`, each with why.
    pub lost: Vec<(PathBuf, String)>,
}

/// Rebuilds the MANIFEST of the database in `dir` from the tables and WALs present, keeping
/// everything it cannot place in `dir/lost/`, then opens the database with `options` and
/// compacts it fully. For a database that does not open because its CURRENT or MANIFEST is
/// missing or damaged; a database that opens needs none of this.
///
/// What can come back: a table that a compaction had replaced but not yet deleted when the
/// manifest was lost can bring back keys deleted since (when a manifest is readable, its
/// record of replaced tables keeps them out).
///
/// # Errors
/// [`Error::Locked`] if the database is open; I/O errors reading the directory or writing
/// the new files; errors of the final open and compaction.
pub fn repair(dir: &Path, options: Options) -> Result<RepairReport> {
    let lock_file = filename::lock_dir(dir)?;
    let mut report = RepairReport::default();
    let mut lost = Lost::new(dir);

    let (mut tables, mut logs, mut manifests) = (Vec::new(), Vec::new(), Vec::new());
    let mut blob_numbers = Vec::new();
    let mut max_number = 1;
    for entry in fs::read_dir(dir).map_err(|e| Error::io_at(dir, e))? {
        let name = entry.map_err(|e| Error::io_at(dir, e))?.file_name();
        let Some(name) = name.to_str() else { continue };
        let (list, n) = match filename::parse(name) {
            Some(FileKind::Table(n)) => (&mut tables, n),
            Some(FileKind::Log(n)) => (&mut logs, n),
            Some(FileKind::Manifest(n)) => (&mut manifests, n),
            Some(FileKind::Blob(n)) => (&mut blob_numbers, n),
            _ => continue,
        };
        list.push(n);
        max_number = max_number.max(n);
    }
    tables.sort_unstable();
    logs.sort_unstable();
    manifests.sort_unstable_by(|a, b| b.cmp(a));

    // 1. The newest manifest that says anything.
    let mut known = Known::default();
    for &n in &manifests {
        let path = dir.join(filename::manifest_name(n));
        let (read, damage) = read_manifest(&path);
        if let Some(reason) = damage {
            report.damage.push((path.clone(), reason));
        }
        if let Some(k) = read {
            known = k;
            report.manifest_read = Some(path);
            break;
        }
    }
    let mut names: BTreeMap<KeyspaceId, String> = known.keyspaces.clone();
    names
        .entry(DEFAULT_KEYSPACE)
        .or_insert_with(|| DEFAULT_KEYSPACE_NAME.to_string());

    // 2. Tables: read in full; without a manifest, the identity most of them carry is the
    // database's.
    let mut readable = Vec::new();
    for n in tables {
        let path = filename::table_path(dir, n);
        match read_table(&path) {
            Ok(props) => readable.push((n, path, props)),
            Err(reason) => lost.keep(&path, reason, &mut report)?,
        }
    }
    let db_id = known
        .db_id
        .or_else(|| most_common_id(readable.iter().map(|(_, _, p)| &p.db_id)))
        .unwrap_or_else(new_db_id);
    // Blob files: read in full.
    let mut blobs = Vec::new();
    for n in blob_numbers {
        let path = filename::blob_path(dir, n);
        match read_blob(&path) {
            Ok(meta) => blobs.push(meta),
            Err(reason) => lost.keep(&path, reason, &mut report)?,
        }
    }
    let mut placed: Vec<(KeyspaceId, FileMeta)> = Vec::new();
    let mut last_seq: SeqNo = 0;
    for (n, path, props) in readable {
        for b in &props.blob_files {
            if !blobs.iter().any(|m| m.number == *b) {
                report.damage.push((
                    path.clone(),
                    format!(
                        "refers to blob file {b:06}.blob, which is missing or damaged: reading \
                         its values kept there fails"
                    ),
                ));
            }
        }
        match place_table(&path, n, &props, &db_id, &known) {
            Ok((ks, name, meta)) => {
                if let Some(name) = name {
                    names.entry(ks).or_insert(name);
                }
                last_seq = last_seq.max(meta.largest_seq);
                placed.push((ks, meta));
            }
            Err(reason) => lost.keep(&path, reason, &mut report)?,
        }
    }

    // 3. WALs, oldest first, into L0 tables.
    let cache = Arc::new(BlockCache::new(0));
    let t = Tables {
        dir,
        options: &options,
        cache: &cache,
        db_id: &db_id,
    };
    let mut next_file = max_number + 1;
    for n in logs {
        let path = filename::log_path(dir, n);
        let gen = MemGen::new(0, options.memtable_size);
        let mut read = wal::Read::default();
        match wal::replay_into(&path, RecoveryMode::TolerateTornTail, &gen, &mut read) {
            Ok(None) => {}
            Ok(Some(t)) => report.damage.push((
                path.clone(),
                format!("torn tail at offset {}: {}", t.offset, t.reason),
            )),
            // What was read before the damage is in `gen`.
            Err(e) => report.damage.push((path.clone(), e.to_string())),
        }
        let (max_seq, records) = (read.max_seq, read.records);
        let numbers = std::cell::Cell::new(next_file);
        let flushed = flush_memtables(
            t,
            &gen,
            &[],
            &|| {
                numbers.set(numbers.get() + 1);
                numbers.get() - 1
            },
            |ks| {
                Ok(names
                    .get(&ks)
                    .cloned()
                    .unwrap_or_else(|| format!("keyspace-{ks}")))
            },
        )?;
        next_file = numbers.get();
        blobs.extend(flushed.edit.new_blobs);
        for (ks, _, meta) in flushed.edit.new_files {
            names.entry(ks).or_insert_with(|| format!("keyspace-{ks}"));
            placed.push((ks, meta));
        }
        last_seq = last_seq.max(max_seq);
        report.logs_converted.push((path.clone(), records));
        lost.keep(
            &path,
            "its records were written to tables".into(),
            &mut report,
        )?;
    }

    // 4. The new manifest, every table at L0.
    let manifest_number = next_file;
    let edit = VersionEdit {
        format_version: Some(MANIFEST_FORMAT_VERSION),
        db_id: Some(db_id),
        // No WAL is left (each went to lost/ once in tables): none is live.
        log_number: Some(0),
        next_file: Some(manifest_number + 1),
        last_seq: Some(last_seq),
        keyspaces: names.iter().map(|(id, n)| (*id, n.clone())).collect(),
        new_files: placed.iter().map(|(ks, m)| (*ks, 0, m.clone())).collect(),
        deleted_files: Vec::new(),
        // Those no table refers to go at the open below.
        new_blobs: blobs,
        deleted_blobs: Vec::new(),
    };
    for (ks, _) in &placed {
        let name = names.get(ks).cloned().unwrap_or_default();
        *report.tables.entry(name).or_default() += 1;
    }
    Manifest::create(dir, manifest_number, &edit)?;
    report.manifest_written = dir.join(filename::manifest_name(manifest_number));
    for n in manifests {
        let path = dir.join(filename::manifest_name(n));
        lost.keep(
            &path,
            format!("replaced by MANIFEST-{manifest_number:06}"),
            &mut report,
        )?;
    }
    drop(lock_file);

    // 5. Merge what overlaps.
    let db = Db::open(dir, options)?;
    for name in db.keyspace_names() {
        db.keyspace(&name)?.compact_range(None, None)?;
    }
    db.close()?;
    Ok(report)
}

/// The manifest's record of the blob file at `path`, once every record in it checks out;
/// the damage if not.
fn read_blob(path: &Path) -> std::result::Result<BlobMeta, String> {
    let r = strata_sstable::BlobReader::open(path).map_err(|e| e.to_string())?;
    let (records, value_bytes) = r.verify().map_err(|e| e.to_string())?;
    let number = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    Ok(BlobMeta {
        number,
        size: r.size(),
        records,
        value_bytes,
    })
}

/// What a readable manifest says.
#[derive(Debug, Default)]
struct Known {
    db_id: Option<DbId>,
    keyspaces: BTreeMap<KeyspaceId, String>,
    /// Where each table was last placed.
    placed: HashMap<u64, KeyspaceId>,
    /// Tables a compaction replaced (deleted and not added back).
    replaced: HashSet<u64>,
}

/// Reads the edits of a manifest up to any damage; `None` if not even the first one can be
/// read. The second value describes the damage, if any.
fn read_manifest(path: &Path) -> (Option<Known>, Option<String>) {
    let mut reader = match strata_wal::Reader::open(path, RecoveryMode::TolerateIncompleteTail) {
        Ok(r) => r,
        Err(e) => return (None, Some(e.to_string())),
    };
    let mut known = Known::default();
    let mut edits = 0;
    let damage = loop {
        let record = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        };
        let edit = match VersionEdit::decode(&record) {
            Ok(e) => e,
            Err(reason) => break Some(reason),
        };
        edits += 1;
        known.db_id = known.db_id.or(edit.db_id);
        for (id, name) in edit.keyspaces {
            known.keyspaces.insert(id, name);
        }
        for (_, _, n) in edit.deleted_files {
            known.placed.remove(&n);
            known.replaced.insert(n);
        }
        for (ks, _, meta) in edit.new_files {
            known.replaced.remove(&meta.number);
            known.placed.insert(meta.number, ks);
        }
    };
    ((edits > 0).then_some(known), damage)
}

/// Reads and checks every block of the table at `path`; returns its properties, or why it
/// goes to `lost/`.
fn read_table(path: &Path) -> std::result::Result<Properties, String> {
    let table = Table::open(path, None).map_err(|e| format!("cannot be read: {e}"))?;
    table.verify().map_err(|e| format!("damaged: {e}"))?;
    Ok(table.properties().clone())
}

/// The identity most tables carry (tables that record none do not count).
fn most_common_id<'a>(ids: impl Iterator<Item = &'a Vec<u8>>) -> Option<DbId> {
    let mut counts: HashMap<DbId, usize> = HashMap::new();
    for id in ids {
        if let Ok(id) = DbId::try_from(id.as_slice()) {
            *counts.entry(id).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|&(id, n)| (n, id))
        .map(|(id, _)| id)
}

/// Decides where table `number` (with properties `p`) goes: its keyspace (and the keyspace's
/// name, if the table records it) and its manifest record; or why it goes to `lost/`.
fn place_table(
    path: &Path,
    number: u64,
    p: &Properties,
    db_id: &DbId,
    known: &Known,
) -> std::result::Result<(KeyspaceId, Option<String>, FileMeta), String> {
    if known.replaced.contains(&number) {
        return Err("a compaction replaced it (the manifest says)".into());
    }
    if !p.db_id.is_empty() && p.db_id != db_id {
        return Err("another database wrote it".into());
    }
    let (ks, name) = match (p.keyspace_id, known.placed.get(&number)) {
        (Some(ks), _) => (ks, Some(p.keyspace_name.clone())),
        (None, Some(&ks)) => (ks, None),
        (None, None) => return Err("no keyspace is recorded for it".into()),
    };
    let size = fs::metadata(path).map_err(|e| e.to_string())?.len();
    let meta = FileMeta {
        number,
        size,
        smallest_seq: p.smallest_seq,
        largest_seq: p.largest_seq,
        smallest: p.smallest_key.clone(),
        largest: p.largest_key.clone(),
    };
    Ok((ks, name, meta))
}

/// The `lost/` folder, made when first needed.
struct Lost {
    dir: PathBuf,
    made: bool,
}

impl Lost {
    fn new(db_dir: &Path) -> Lost {
        Lost {
            dir: db_dir.join("lost"),
            made: false,
        }
    }

    /// Moves `path` into `lost/` (never over a file already there) and records why.
    fn keep(&mut self, path: &Path, reason: String, report: &mut RepairReport) -> Result<()> {
        if !self.made {
            fs::create_dir_all(&self.dir).map_err(|e| Error::io_at(&self.dir, e))?;
            self.made = true;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut to = self.dir.join(&name);
        let mut i = 1;
        while to.exists() {
            to = self.dir.join(format!("{name}.{i}"));
            i += 1;
        }
        fs::rename(path, &to).map_err(|e| Error::io_at(path, e))?;
        report.lost.push((to, reason));
        Ok(())
    }
}
