//! Creating and opening the database's table files: where they live, the cache they read
//! through, and how a new table's memory is charged. Flush, compaction and recovery all go
//! through [`Tables`], so a table is made the same way whichever of them writes it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_sstable::{BlockCache, MetaBlocks, Table, TableBuilder, TableSummary};

use crate::blob::BlobFile;
use crate::error::{Error, Result};
use crate::filename;
use crate::ids::{DbId, KeyspaceId};
use crate::manifest::{BlobMeta, FileMeta};
use crate::options::Options;
use crate::version::{OpenFiles, TableFile};

/// The database directory, options and block cache, as table work needs them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tables<'a> {
    pub dir: &'a Path,
    pub options: &'a Options,
    pub cache: &'a Arc<BlockCache>,
    /// Recorded in every table written, so that recovery knows the files this database made.
    pub db_id: &'a DbId,
}

impl Tables<'_> {
    /// The path of table `number`.
    pub(crate) fn path(&self, number: u64) -> PathBuf {
        filename::table_path(self.dir, number)
    }

    /// Opens table `number` with the database's cache (none when the cache is off, capacity
    /// 0) and its choice of where index and filter live.
    pub(crate) fn open(&self, number: u64) -> Result<Table> {
        let cache = (self.cache.capacity() > 0).then(|| Arc::clone(self.cache));
        let meta = if self.options.cache_index_and_filter_blocks {
            MetaBlocks::Cached
        } else {
            MetaBlocks::Pinned
        };
        Ok(Table::open_with(&self.path(number), cache, meta)?)
    }

    /// Opens the live table `meta` describes; a missing file is corruption (the manifest
    /// names it).
    pub(crate) fn open_live(&self, meta: &FileMeta) -> Result<Arc<TableFile>> {
        let path = self.path(meta.number);
        if !path.exists() {
            return Err(Error::corruption(
                path,
                0,
                "table file named by the manifest is missing",
            ));
        }
        Ok(TableFile::new(
            meta.clone(),
            Arc::new(self.open(meta.number)?),
        ))
    }

    /// A builder for new table `number` at `level` of keyspace `ks` named `name` (both
    /// recorded in the table, with the database's identity). Under a memory budget its
    /// memory (8 bytes per key for the filter, the index block) is charged to the block
    /// cache, which shrinks while the table is built.
    pub(crate) fn create(
        &self,
        number: u64,
        level: usize,
        ks: KeyspaceId,
        name: &str,
    ) -> strata_sstable::Result<TableBuilder> {
        let mut builder =
            TableBuilder::create(&self.path(number), self.options.table_options(level))?;
        builder.set_db_id(self.db_id);
        builder.set_keyspace(ks, name);
        if self.options.memory_budget.is_some() {
            builder.charge_memory_to(self.cache);
        }
        Ok(builder)
    }
}

impl Tables<'_> {
    /// The identity of the database that wrote table `number` (empty if it recorded none);
    /// `None` if the file cannot be read as a table.
    pub(crate) fn identity(&self, number: u64) -> Option<Vec<u8>> {
        Table::open_with(&self.path(number), None, MetaBlocks::Cached)
            .ok()
            .map(|t| t.properties().db_id.clone())
    }
}

/// Opens the live files a manifest names, from the directory.
impl OpenFiles for Tables<'_> {
    fn table(&mut self, _ks: KeyspaceId, meta: &FileMeta) -> Result<Arc<TableFile>> {
        self.open_live(meta)
    }

    fn blob(&mut self, meta: &BlobMeta) -> Result<Arc<BlobFile>> {
        BlobFile::open(self.dir, meta)
    }
}

/// The manifest's record of table `number`, which a builder just finished as `summary`.
pub(crate) fn file_meta(number: u64, summary: &TableSummary) -> FileMeta {
    let p = &summary.properties;
    FileMeta {
        number,
        size: summary.file_size,
        smallest_seq: p.smallest_seq,
        largest_seq: p.largest_seq,
        smallest: p.smallest_key.clone(),
        largest: p.largest_key.clone(),
    }
}
