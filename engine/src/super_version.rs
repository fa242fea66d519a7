//! What readers see: the memtables of each WAL (`MemGen`) and the current version, taken
//! together as one `SuperVersion`, and the two reads over it (a point lookup and a merging
//! iterator). A reader clones the `SuperVersion` under the state lock and then reads without
//! any lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use strata_compaction::{BoxedIter, MergingIter};
use strata_sstable::{SeqNo, ValueKind};

use crate::blob;
use crate::error::Result;
use crate::ids::KeyspaceId;
use crate::iter::DbIterator;
use crate::level_iter::LevelIter;
use crate::memtable::{resolve, Lookup, Memtable};
use crate::options::ReadOptions;
use crate::version::Version;

/// The memtables of one WAL: one per keyspace that was written while that WAL was active.
#[derive(Debug)]
pub(crate) struct MemGen {
    /// The WAL holding these memtables' writes.
    pub log_number: u64,
    tables: RwLock<HashMap<KeyspaceId, Arc<Memtable>>>,
    bytes: AtomicUsize,
    /// The memtable size this generation was created for (sizes each memtable's key filter).
    capacity: usize,
}

impl MemGen {
    pub(crate) fn new(log_number: u64, capacity: usize) -> Self {
        MemGen {
            log_number,
            tables: RwLock::new(HashMap::new()),
            bytes: AtomicUsize::new(0),
            capacity,
        }
    }

    /// The memtable of keyspace `ks`, if it was written in this generation.
    pub(crate) fn get(&self, ks: KeyspaceId) -> Option<Arc<Memtable>> {
        self.tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ks)
            .cloned()
    }

    fn get_or_create(&self, ks: KeyspaceId) -> Arc<Memtable> {
        if let Some(m) = self.get(ks) {
            return m;
        }
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(tables.entry(ks).or_insert_with(|| {
            let mem = Arc::new(Memtable::new(self.capacity));
            // A new memtable starts with its key filter: charge it.
            self.bytes
                .fetch_add(mem.approximate_bytes(), Ordering::Relaxed);
            mem
        }))
    }

    pub(crate) fn insert(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: &[u8],
    ) {
        let mem = self.get_or_create(ks);
        let before = mem.approximate_bytes();
        mem.insert(key, seq, kind, value);
        self.bytes
            .fetch_add(mem.approximate_bytes() - before, Ordering::Relaxed);
    }

    /// Bytes held by every memtable of the generation.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The memtables by keyspace id.
    pub(crate) fn sorted_tables(&self) -> Vec<(KeyspaceId, Arc<Memtable>)> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = tables.iter().map(|(k, m)| (*k, Arc::clone(m))).collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }
}

/// What readers need: the memtables and the version, taken together under the state lock.
#[derive(Debug, Clone)]
pub(crate) struct SuperVersion {
    pub mem: Arc<MemGen>,
    /// Frozen memtables, oldest first.
    pub imm: Vec<Arc<MemGen>>,
    pub version: Arc<Version>,
}

impl SuperVersion {
    /// The active and the frozen memtable generations, newest first.
    fn newest_first(&self) -> impl Iterator<Item = &Arc<MemGen>> {
        std::iter::once(&self.mem).chain(self.imm.iter().rev())
    }

    /// The live value of `key` in keyspace `ks` and its expiry (Unix ms), as of sequence
    /// number `seq`, with `now` telling the time for expiry: the first entry at or below
    /// `seq` decides, memtables newest first, then the tables.
    ///
    /// Only the value's first `limit` bytes are returned (and read, where the rest lives in a
    /// blob file and the reference holds them).
    pub(crate) fn get(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        seq: SeqNo,
        now: impl Fn() -> u64,
        limit: usize,
    ) -> Result<Option<(Vec<u8>, Option<u64>)>> {
        let found = |l: Lookup| match l {
            Lookup::Value(v, expiry) => Some(Some((v, expiry))),
            Lookup::Deleted => Some(None),
            Lookup::Absent => None,
        };
        for gen in self.newest_first() {
            if let Some(mem) = gen.get(ks) {
                if let Some(r) = found(mem.get_limited(key, seq, &now, limit)) {
                    return Ok(r);
                }
            }
        }
        let Some(tree) = self.version.tree(ks) else {
            return Ok(None);
        };
        for file in tree.candidates(key) {
            if let Some((_, kind, value)) = file.table.get(key, seq)? {
                if ValueKind::is_blob(kind) {
                    return self.blob_value(key, kind, &value, &now, limit);
                }
                return Ok(found(resolve(kind, &value, &now, limit)).flatten());
            }
        }
        Ok(None)
    }

    /// The value of a table entry of a blob kind, `None` if it has expired.
    fn blob_value(
        &self,
        key: &[u8],
        kind: u8,
        stored: &[u8],
        now: impl Fn() -> u64,
        limit: usize,
    ) -> Result<Option<(Vec<u8>, Option<u64>)>> {
        let (expiry, body) = if ValueKind::has_expiry(kind) {
            match strata_sstable::split_expiring(stored) {
                Some((e, body)) if e > now() => (Some(e), body),
                _ => return Ok(None),
            }
        } else {
            (None, stored)
        };
        let r = blob::decode_ref(body)?;
        if limit <= r.head().len() || r.value_len as usize <= r.head().len() {
            // The reference holds all that is asked for.
            let head = r.head();
            return Ok(Some((head[..head.len().min(limit)].to_vec(), expiry)));
        }
        let mut value = blob::read_value(&self.version.blobs, key, body)?;
        value.truncate(limit);
        Ok(Some((value, expiry)))
    }

    /// A cursor over keyspace `ks` as of `seq`, within `options`' bounds: every memtable,
    /// every L0 table (they overlap: each is a run), and one run per deeper level.
    pub(crate) fn iter(
        &self,
        ks: KeyspaceId,
        seq: SeqNo,
        options: &ReadOptions<'_>,
        now_ms: u64,
    ) -> DbIterator {
        self.iter_with(ks, seq, options, now_ms, None)
    }

    /// [`iter`](Self::iter) with `overlay` (a transaction's writes, at `MAX_SEQNO`) merged in
    /// as the newest source.
    pub(crate) fn iter_with(
        &self,
        ks: KeyspaceId,
        seq: SeqNo,
        options: &ReadOptions<'_>,
        now_ms: u64,
        overlay: Option<BoxedIter>,
    ) -> DbIterator {
        let has_overlay = overlay.is_some();
        let mut children: Vec<BoxedIter> = overlay.into_iter().collect();
        for gen in self.newest_first() {
            if let Some(mem) = gen.get(ks) {
                children.push(Box::new(mem.iter()));
            }
        }
        if let Some(tree) = self.version.tree(ks) {
            for f in &tree.levels[0] {
                children.push(Box::new(f.table.iter()));
            }
            for (level, files) in tree.levels.iter().enumerate().skip(1) {
                match files.as_slice() {
                    [] => {}
                    [f] => children.push(Box::new(f.table.iter())),
                    _ => children.push(Box::new(LevelIter::new(
                        Arc::clone(&self.version),
                        ks,
                        level,
                    ))),
                }
            }
        }
        let mut it = DbIterator::new(
            MergingIter::new(children),
            seq,
            options.lower_bound.clone(),
            options.upper_bound.clone(),
            Arc::clone(&self.version),
            now_ms,
        );
        it.overlay = has_overlay;
        it
    }
}
