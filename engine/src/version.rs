//! A version: the immutable set of live tables of every keyspace, by level.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use strata_sstable::{compare_internal, parse_internal_key, SeqNo, Table};

use crate::blob::BlobFile;
use crate::error::Result;
use crate::ids::KeyspaceId;
use crate::manifest::{BlobMeta, FileMeta, VersionEdit};
use crate::options::NUM_LEVELS;

/// A live table and what the manifest says about it.
///
/// Versions, and iterators through the versions they pin, share a table by `Arc`. When a
/// compaction removes the table from the current version it marks it obsolete; the file is
/// deleted when the last holder drops it, so no reader ever loses a file it is using.
#[derive(Debug)]
pub(crate) struct TableFile {
    pub meta: FileMeta,
    pub table: Arc<Table>,
    pub obsolete: AtomicBool,
}

impl Drop for TableFile {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            // Best effort: a file that cannot be removed now is an orphan that the next open
            // removes.
            let _ = std::fs::remove_file(self.table.path());
        }
    }
}

impl TableFile {
    pub fn new(meta: FileMeta, table: Arc<Table>) -> Arc<TableFile> {
        Arc::new(TableFile {
            meta,
            table,
            obsolete: AtomicBool::new(false),
        })
    }

    pub fn smallest_user_key(&self) -> &[u8] {
        parse_internal_key(&self.meta.smallest).map_or(&[], |k| k.user_key)
    }

    pub fn largest_user_key(&self) -> &[u8] {
        parse_internal_key(&self.meta.largest).map_or(&[], |k| k.user_key)
    }

    /// True if `user_key` lies within the table's key range.
    pub fn covers(&self, user_key: &[u8]) -> bool {
        self.meta.size > 0
            && self.smallest_user_key() <= user_key
            && user_key <= self.largest_user_key()
    }
}

/// The levels of one keyspace. Invariant: L0 is ordered newest first (by largest sequence
/// number); L1 and deeper are sorted by smallest key and do not overlap.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    pub levels: [Vec<Arc<TableFile>>; NUM_LEVELS],
}

impl Tree {
    /// Tables that may hold `user_key`, in the order a read must consult them.
    pub fn candidates<'a>(
        &'a self,
        user_key: &'a [u8],
    ) -> impl Iterator<Item = &'a Arc<TableFile>> + 'a {
        let l0 = self.levels[0].iter().filter(move |f| f.covers(user_key));
        let deeper = self.levels[1..].iter().filter_map(move |files| {
            // Binary search for the first file whose largest key is >= user_key.
            let i = files.partition_point(|f| f.largest_user_key() < user_key);
            files.get(i).filter(|f| f.covers(user_key))
        });
        l0.chain(deeper)
    }

    pub fn all_files(&self) -> impl Iterator<Item = (usize, &Arc<TableFile>)> {
        self.levels
            .iter()
            .enumerate()
            .flat_map(|(l, files)| files.iter().map(move |f| (l, f)))
    }

    fn sort(&mut self) {
        self.levels[0].sort_by(|a, b| {
            b.meta
                .largest_seq
                .cmp(&a.meta.largest_seq)
                .then(b.meta.number.cmp(&a.meta.number))
        });
        for files in &mut self.levels[1..] {
            files.sort_by(|a, b| compare_internal(&a.meta.smallest, &b.meta.smallest));
        }
    }
}

/// Every keyspace's tree and the live blob files. Cheap to clone: trees share their table
/// handles.
#[derive(Debug, Clone, Default)]
pub(crate) struct Version {
    pub trees: BTreeMap<KeyspaceId, Tree>,
    /// Live blob files by number.
    pub blobs: BTreeMap<u64, Arc<BlobFile>>,
}

/// Files a flush or compaction made and opened, for the edit that installs them.
#[derive(Debug, Default)]
pub(crate) struct NewFiles {
    pub tables: std::collections::HashMap<u64, Arc<TableFile>>,
    pub blobs: std::collections::HashMap<u64, Arc<BlobFile>>,
}

impl NewFiles {
    /// Marks every file obsolete: deleted when the last handle goes (the edit that would
    /// have installed them failed).
    pub fn abandon(&self) {
        for f in self.tables.values() {
            f.obsolete.store(true, Ordering::Release);
        }
        for b in self.blobs.values() {
            b.obsolete.store(true, Ordering::Release);
        }
    }
}

impl OpenFiles for &NewFiles {
    fn table(&mut self, _ks: KeyspaceId, meta: &FileMeta) -> Result<Arc<TableFile>> {
        self.tables.get(&meta.number).cloned().ok_or_else(|| {
            crate::Error::InvalidArgument(format!("version edit lost table {}", meta.number))
        })
    }

    fn blob(&mut self, meta: &BlobMeta) -> Result<Arc<BlobFile>> {
        self.blobs.get(&meta.number).cloned().ok_or_else(|| {
            crate::Error::InvalidArgument(format!("version edit lost blob file {}", meta.number))
        })
    }
}

/// Opens the files a version edit adds.
pub(crate) trait OpenFiles {
    /// The table `meta` describes, of keyspace `ks`.
    fn table(&mut self, ks: KeyspaceId, meta: &FileMeta) -> Result<Arc<TableFile>>;
    /// The blob file `meta` describes.
    fn blob(&mut self, meta: &BlobMeta) -> Result<Arc<BlobFile>>;
}

impl Version {
    pub fn tree(&self, ks: KeyspaceId) -> Option<&Tree> {
        self.trees.get(&ks)
    }

    /// A new version with `edit` applied. `open` opens the tables and blob files it adds.
    pub fn apply(&self, edit: &VersionEdit, open: &mut dyn OpenFiles) -> Result<Version> {
        let mut next = self.clone();
        for (id, _) in &edit.keyspaces {
            next.trees.entry(*id).or_default();
        }
        for (ks, level, number) in &edit.deleted_files {
            if let Some(tree) = next.trees.get_mut(ks) {
                tree.levels[*level].retain(|f| f.meta.number != *number);
            }
        }
        for (ks, level, meta) in &edit.new_files {
            let file = open.table(*ks, meta)?;
            next.trees.entry(*ks).or_default().levels[*level].push(file);
        }
        for tree in next.trees.values_mut() {
            tree.sort();
        }
        for number in &edit.deleted_blobs {
            next.blobs.remove(number);
        }
        for meta in &edit.new_blobs {
            next.blobs.insert(meta.number, open.blob(meta)?);
        }
        Ok(next)
    }

    /// The live blob files no table refers to (ascending).
    pub fn unreferenced_blobs(&self) -> Vec<u64> {
        let mut referenced = std::collections::BTreeSet::new();
        for tree in self.trees.values() {
            for (_, f) in tree.all_files() {
                referenced.extend(f.table.properties().blob_files.iter().copied());
            }
        }
        self.blobs
            .keys()
            .filter(|n| !referenced.contains(n))
            .copied()
            .collect()
    }

    /// An edit that recreates this version from nothing (the first record of a new manifest).
    pub fn snapshot_edit(&self) -> VersionEdit {
        let mut edit = VersionEdit::default();
        for (ks, tree) in &self.trees {
            for (level, f) in tree.all_files() {
                edit.new_files.push((*ks, level, f.meta.clone()));
            }
        }
        edit.new_blobs = self.blobs.values().map(|b| b.meta).collect();
        edit
    }

    /// The most L0 files any keyspace has (drives write stalls).
    pub fn max_l0_files(&self) -> usize {
        self.trees
            .values()
            .map(|t| t.levels[0].len())
            .max()
            .unwrap_or(0)
    }

    pub fn max_seq(&self) -> SeqNo {
        self.trees
            .values()
            .flat_map(|t| t.all_files())
            .map(|(_, f)| f.meta.largest_seq)
            .max()
            .unwrap_or(0)
    }
}
