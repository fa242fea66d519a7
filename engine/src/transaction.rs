//! Transactions: writes gathered into one batch, readable before they are committed
//! (RocksDB's `WriteBatchWithIndex`).
//!
//! A [`Transaction`] collects write batches. Its reads see the database with the gathered
//! writes on top: a point read looks in the gathered writes first, an iterator merges them in
//! as the newest source. [`Transaction::commit`] writes everything as one batch: one WAL
//! record, so after a crash either all of it exists or none; readers elsewhere see none of it
//! before, all of it after. Nothing is locked: the caller keeps other writers out of what the
//! transaction reads if it needs that (the Redis server runs EXEC under an exclusive lock).

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_sstable::{compare_internal, encode_internal_key, InternalIterator, MAX_SEQNO};

use crate::batch::WriteBatch;
use crate::db::Inner;
use crate::error::Result;
use crate::ids::KeyspaceId;
use crate::iter::{DbIterator, Scan};
use crate::keyspace::Keyspace;
use crate::memtable::{resolve, Lookup};
use crate::options::{ReadOptions, WriteOptions};

/// Writes gathered to be committed as one batch, and read before they are.
pub struct Transaction {
    inner: Arc<Inner>,
    batch: WriteBatch,
    /// The newest gathered operation of each key: its kind and stored value.
    overlay: BTreeMap<(KeyspaceId, Vec<u8>), (u8, Vec<u8>)>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("ops", &self.batch.len())
            .field("keys", &self.overlay.len())
            .finish()
    }
}

impl Transaction {
    pub(crate) fn new(inner: Arc<Inner>) -> Transaction {
        Transaction {
            inner,
            batch: WriteBatch::new(),
            overlay: BTreeMap::new(),
        }
    }

    /// Adds `batch` to the transaction: later reads through it see it; nothing is written
    /// until [`commit`](Self::commit).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a key or value too long,
    /// or a keyspace the database does not know (nothing is added).
    pub fn write(&mut self, mut batch: WriteBatch) -> Result<()> {
        batch.validate()?;
        if batch.has_relative_ttls() {
            // Expiries are fixed now, so reads see what the commit writes.
            batch.resolve_ttls(self.inner.options.clock.now_ms());
        }
        self.inner.check_batch(&batch)?;
        for op in batch.ops() {
            let op = op?;
            self.overlay.insert(
                (op.keyspace, op.key.to_vec()),
                (op.kind as u8, op.value.to_vec()),
            );
        }
        self.batch.append(&batch)
    }

    /// Operations gathered so far.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// True if nothing was gathered.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Writes everything gathered as one batch (one WAL record).
    ///
    /// # Errors
    /// As [`Db::write`](crate::Db::write); nothing was written then.
    pub fn commit(self, options: WriteOptions) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.inner.write(self.batch, options)
    }

    /// The gathered entry of `key` in keyspace `ks`, as a memtable lookup at `now`,
    /// keeping at most `limit` bytes of the value.
    fn lookup(&self, ks: KeyspaceId, key: &[u8], limit: usize) -> Lookup {
        match self.overlay.get(&(ks, key.to_vec())) {
            Some((kind, stored)) => {
                let clock = &self.inner.options.clock;
                resolve(*kind, stored, || clock.now_ms(), limit)
            }
            None => Lookup::Absent,
        }
    }

    fn get_entry(
        &self,
        ks: &Keyspace,
        key: &[u8],
        limit: usize,
    ) -> Result<Option<(Vec<u8>, Option<u64>)>> {
        match self.lookup(ks.id, key, limit) {
            Lookup::Value(v, expiry) => Ok(Some((v, expiry))),
            Lookup::Deleted => Ok(None),
            Lookup::Absent => self.inner.get_entry(ks.id, key, None, limit),
        }
    }

    /// The value of `key` in `ks` with the transaction's writes applied.
    ///
    /// # Errors
    /// As [`Keyspace::get`].
    pub fn get(&self, ks: &Keyspace, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self
            .get_entry(ks, key.as_ref(), usize::MAX)?
            .map(|(v, _)| v))
    }

    /// [`Keyspace::get_prefix`] with the transaction's writes applied.
    ///
    /// # Errors
    /// As [`Keyspace::get`].
    pub fn get_prefix(
        &self,
        ks: &Keyspace,
        key: impl AsRef<[u8]>,
        n: usize,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self.get_entry(ks, key.as_ref(), n)?.map(|(v, _)| v))
    }

    /// [`Keyspace::iter`] with the transaction's writes merged in (a snapshot in `options`
    /// is ignored: a transaction reads the latest state).
    ///
    /// # Errors
    /// As [`Keyspace::iter`].
    pub fn iter(&self, ks: &Keyspace, options: &ReadOptions<'_>) -> Result<DbIterator> {
        let lower = options.lower_bound.as_deref();
        let upper = options.upper_bound.as_deref();
        let entries: Vec<(Vec<u8>, Vec<u8>)> = self
            .overlay
            .range((ks.id, lower.unwrap_or_default().to_vec())..)
            .take_while(|((id, k), _)| *id == ks.id && upper.is_none_or(|u| k.as_slice() < u))
            .map(|((_, k), (kind, stored))| {
                (encode_internal_key(k, MAX_SEQNO, *kind), stored.clone())
            })
            .collect();
        let latest = ReadOptions {
            snapshot: None,
            ..options.clone()
        };
        self.inner
            .iter_with_overlay(ks.id, &latest, Box::new(OverlayIter::new(entries)))
    }

    /// [`Keyspace::range`] with the transaction's writes merged in.
    ///
    /// # Errors
    /// As [`Keyspace::range`].
    pub fn range(&self, ks: &Keyspace, lower: Option<&[u8]>, upper: Option<&[u8]>) -> Result<Scan> {
        let opts = ReadOptions {
            lower_bound: lower.map(<[u8]>::to_vec),
            upper_bound: upper.map(<[u8]>::to_vec),
            ..ReadOptions::default()
        };
        Scan::new(self.iter(ks, &opts)?, self.iter(ks, &opts)?)
    }

    /// [`Keyspace::prefix`] with the transaction's writes merged in.
    ///
    /// # Errors
    /// As [`Keyspace::prefix`].
    pub fn prefix(&self, ks: &Keyspace, prefix: impl AsRef<[u8]>) -> Result<Scan> {
        let opts = ReadOptions::default().prefix(prefix.as_ref());
        Scan::new(self.iter(ks, &opts)?, self.iter(ks, &opts)?)
    }
}

/// The gathered writes of one keyspace as a sorted source, every entry at sequence number
/// `MAX_SEQNO` (which no write ever has): newer than anything in the database, and visible to
/// the iterator that merges them in.
struct OverlayIter {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    pos: Option<usize>,
}

impl OverlayIter {
    fn new(entries: Vec<(Vec<u8>, Vec<u8>)>) -> OverlayIter {
        OverlayIter { entries, pos: None }
    }
}

impl InternalIterator for OverlayIter {
    fn valid(&self) -> bool {
        self.pos.is_some_and(|p| p < self.entries.len())
    }
    fn seek_to_first(&mut self) {
        self.pos = Some(0);
    }
    fn seek_to_last(&mut self) {
        self.pos = self.entries.len().checked_sub(1);
    }
    fn seek(&mut self, target: &[u8]) {
        self.pos = Some(
            self.entries
                .partition_point(|(k, _)| compare_internal(k, target).is_lt()),
        );
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        self.pos = self
            .entries
            .partition_point(|(k, _)| compare_internal(k, target).is_le())
            .checked_sub(1);
    }
    fn next(&mut self) {
        self.pos = self.pos.map(|p| p + 1);
    }
    fn prev(&mut self) {
        self.pos = self.pos.and_then(|p| p.checked_sub(1));
    }
    fn key(&self) -> &[u8] {
        self.pos
            .and_then(|p| self.entries.get(p))
            .map_or(&[], |e| &e.0)
    }
    fn value(&self) -> &[u8] {
        self.pos
            .and_then(|p| self.entries.get(p))
            .map_or(&[], |e| &e.1)
    }
    fn status(&self) -> strata_sstable::Result<()> {
        Ok(())
    }
}
