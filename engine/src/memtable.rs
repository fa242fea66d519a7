//! The memtable: a concurrent skiplist of internal keys, one per keyspace per generation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use strata_sstable::{
    encode_internal_key_into, encode_trailer, parse_internal_key, InternalIterator, SeqNo,
    ValueKind, KIND_FOR_SEEK,
};

use crate::skiplist::{prefetch, Node, SkipList};

/// What a memtable (or table) knows about a key at a sequence number and a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The newest visible entry is a live value, with its expiry if it has one.
    Value(Vec<u8>, Option<u64>),
    /// The newest visible entry is a tombstone or an expired value: the key is absent, and
    /// older versions are hidden.
    Deleted,
    /// No visible entry for the key here: look further down.
    Absent,
}

/// Interprets the newest visible entry of a key, `kind` + stored value, at the time `now_ms`
/// returns (asked only for an expiring entry: most reads never read the clock), keeping at
/// most the value's first `limit` bytes.
pub(crate) fn resolve(
    kind: u8,
    stored: &[u8],
    now_ms: impl FnOnce() -> u64,
    limit: usize,
) -> Lookup {
    let head = |v: &[u8]| v[..v.len().min(limit)].to_vec();
    match ValueKind::from_u8(kind) {
        Some(ValueKind::Put) => Lookup::Value(head(stored), None),
        Some(ValueKind::PutExpiring) => match strata_sstable::split_expiring(stored) {
            Some((expiry, value)) if expiry > now_ms() => Lookup::Value(head(value), Some(expiry)),
            _ => Lookup::Deleted,
        },
        _ => Lookup::Deleted,
    }
}

/// True if an entry of `kind` with `stored` value is live at `now_ms` (not a tombstone, not
/// expired).
pub(crate) fn is_live(kind: u8, stored: &[u8], now_ms: u64) -> bool {
    kind == ValueKind::Put as u8
        || kind == ValueKind::Blob as u8
        || (ValueKind::has_expiry(kind)
            && strata_sstable::split_expiring(stored).is_some_and(|(e, _)| e > now_ms))
}

/// A filter over a memtable's user keys, so a read of a key the memtable lacks costs a hash
/// and one cache line instead of a skiplist search (the larger part of a point read while
/// memtables are full). Blocked: all of a key's bits are in one 512-bit block.
struct KeyFilter {
    blocks: Box<[[AtomicU64; 8]]>,
}

/// Bits per expected key (about 1.5% false positives with 6 probes in a block).
const FILTER_BITS_PER_KEY: usize = 10;

/// The entry the key filter is sized for (internal key and value bytes): a small one, so
/// memtables of small entries keep their false-positive rate and typical ones get a lower
/// one.
const SIZING_KEY: usize = 24;
const SIZING_VALUE: usize = 40;

impl KeyFilter {
    /// A filter for the keys of a memtable of `capacity` bytes (none below 4 KiB of bits).
    fn new(capacity: usize) -> KeyFilter {
        let keys = capacity / SkipList::entry_bytes(SIZING_KEY, SIZING_VALUE);
        let bits = keys.saturating_mul(FILTER_BITS_PER_KEY);
        let blocks = (bits / 512).max(64);
        KeyFilter {
            blocks: (0..blocks).map(|_| Default::default()).collect(),
        }
    }

    /// A 64-bit hash of `key` (multiply-xorshift over 8-byte words; not for adversaries,
    /// who can at worst make the filter say "maybe").
    fn hash(key: &[u8]) -> u64 {
        const M: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut h = M ^ (key.len() as u64);
        for chunk in key.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(M);
            h ^= h >> 31;
        }
        h.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ (h >> 32)
    }

    /// The block and the six bit positions (0..512) of `key`.
    fn probes(&self, key: &[u8]) -> (&[AtomicU64; 8], [u32; 6]) {
        let h = Self::hash(key);
        let block = &self.blocks[((h >> 32) as usize) % self.blocks.len()];
        let bits = std::array::from_fn(|i| ((h >> (9 * i)) & 511) as u32);
        (block, bits)
    }

    /// Sets the bits [`probes`](Self::probes) returned.
    fn insert(block: &[AtomicU64; 8], bits: [u32; 6]) {
        for b in bits {
            block[(b / 64) as usize].fetch_or(1 << (b % 64), Ordering::Relaxed);
        }
    }

    /// False if `key` was never inserted. Inserts are published to readers by the sequence
    /// number they wait for (release/acquire), like the skiplist entries.
    fn may_contain(&self, key: &[u8]) -> bool {
        let (block, bits) = self.probes(key);
        bits.iter()
            .all(|b| block[(b / 64) as usize].load(Ordering::Relaxed) & (1 << (b % 64)) != 0)
    }

    fn bytes(&self) -> usize {
        self.blocks.len() * 64
    }
}

/// A sorted in-memory table: an arena skiplist of internal keys (see `skiplist.rs`) and a key
/// filter. Readers run beside the writer; only the write leader inserts.
pub(crate) struct Memtable {
    list: SkipList,
    filter: KeyFilter,
}

impl Default for Memtable {
    fn default() -> Self {
        Memtable::new(64 << 20)
    }
}

impl std::fmt::Debug for Memtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memtable")
            .field("entries", &self.list.len())
            .field("bytes", &self.approximate_bytes())
            .finish()
    }
}

/// Longest user key whose seek key is built on the stack.
const STACK_KEY: usize = 120;

/// Calls `f` with the internal key `user_key` + (`seq`, `kind`), built without allocating
/// when short.
fn with_internal_key<R>(user_key: &[u8], seq: SeqNo, kind: u8, f: impl FnOnce(&[u8]) -> R) -> R {
    if user_key.len() <= STACK_KEY {
        let mut buf = [0u8; STACK_KEY + 8];
        let n = user_key.len();
        buf[..n].copy_from_slice(user_key);
        buf[n..n + 8].copy_from_slice(&encode_trailer(seq, kind));
        f(&buf[..n + 8])
    } else {
        let mut key = Vec::with_capacity(user_key.len() + 8);
        encode_internal_key_into(&mut key, user_key, seq, kind);
        f(&key)
    }
}

impl Memtable {
    /// An empty memtable expected to hold up to about `capacity` bytes (it sizes the key
    /// filter and the arena's chunks; more still fits, with more false positives).
    pub fn new(capacity: usize) -> Memtable {
        Memtable {
            list: SkipList::new(capacity),
            filter: KeyFilter::new(capacity),
        }
    }

    pub fn insert(&self, user_key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        // The filter's block is a cache miss of its own: start loading it, and set its bits
        // once the skiplist search (many misses) has hidden that wait. Readers see neither
        // until the batch's sequence number is published.
        let (block, bits) = self.filter.probes(user_key);
        prefetch(block.as_ptr().cast());
        self.list
            .insert(user_key, encode_trailer(seq, kind as u8), value);
        KeyFilter::insert(block, bits);
    }

    /// The newest entry for `user_key` with a sequence number `<= seq`, judged at `now_ms()`.
    #[cfg(test)]
    pub fn get(&self, user_key: &[u8], seq: SeqNo, now_ms: impl FnOnce() -> u64) -> Lookup {
        self.get_limited(user_key, seq, now_ms, usize::MAX)
    }

    /// [`get`](Self::get), keeping at most the value's first `limit` bytes.
    pub fn get_limited(
        &self,
        user_key: &[u8],
        seq: SeqNo,
        now_ms: impl FnOnce() -> u64,
        limit: usize,
    ) -> Lookup {
        if !self.filter.may_contain(user_key) {
            return Lookup::Absent;
        }
        let Some(node) =
            with_internal_key(user_key, seq, KIND_FOR_SEEK, |probe| self.list.seek(probe))
        else {
            return Lookup::Absent;
        };
        match parse_internal_key(node.key()) {
            Some(k) if k.user_key == user_key => resolve(k.kind, node.value(), now_ms, limit),
            _ => Lookup::Absent,
        }
    }

    /// Bytes the memtable holds: its arena (exactly) and its key filter.
    pub fn approximate_bytes(&self) -> usize {
        self.list.bytes() + self.filter.bytes()
    }

    /// Whether no entry was ever inserted.
    pub fn is_empty(&self) -> bool {
        self.list.len() == 0
    }

    pub fn iter(self: &Arc<Self>) -> MemIter {
        MemIter {
            mem: Arc::clone(self),
            node: None,
        }
    }
}

/// A cursor over a memtable, implementing the table iterator trait.
pub(crate) struct MemIter {
    mem: Arc<Memtable>,
    /// The current node, in `mem`'s arena.
    node: Option<Node>,
}

// SAFETY: `node` points into the arena of the memtable this iterator keeps alive through
// `mem`; a published node never changes but for its atomic links, so the cursor may move to
// and be used from another thread.
unsafe impl Send for MemIter {}

impl InternalIterator for MemIter {
    fn valid(&self) -> bool {
        self.node.is_some()
    }

    fn seek_to_first(&mut self) {
        self.node = self.mem.list.first();
    }

    fn seek_to_last(&mut self) {
        self.node = self.mem.list.last();
    }

    fn seek(&mut self, target: &[u8]) {
        self.node = self.mem.list.seek(target);
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        self.node = self.mem.list.seek_for_prev(target);
    }

    fn next(&mut self) {
        self.node = self.node.and_then(|n| self.mem.list.next(n));
    }

    fn prev(&mut self) {
        self.node = self.node.and_then(|n| self.mem.list.prev(n));
    }

    fn key(&self) -> &[u8] {
        // The node lives in `self.mem`, which outlives the borrow of `self`.
        self.node.map_or(&[], |n| n.key())
    }

    fn value(&self) -> &[u8] {
        self.node.map_or(&[], |n| n.value())
    }

    fn status(&self) -> strata_sstable::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_sstable::encode_internal_key;

    #[test]
    fn get_sees_newest_visible_version() {
        let m = Memtable::default();
        m.insert(b"k", 1, ValueKind::Put, b"v1");
        m.insert(b"k", 3, ValueKind::Delete, b"");
        m.insert(b"k", 5, ValueKind::Put, b"v5");
        assert_eq!(m.get(b"k", 0, || 0), Lookup::Absent);
        assert_eq!(m.get(b"k", 1, || 0), Lookup::Value(b"v1".to_vec(), None));
        assert_eq!(m.get(b"k", 2, || 0), Lookup::Value(b"v1".to_vec(), None));
        assert_eq!(m.get(b"k", 4, || 0), Lookup::Deleted);
        assert_eq!(m.get(b"k", 9, || 0), Lookup::Value(b"v5".to_vec(), None));
        assert_eq!(m.get(b"j", 9, || 0), Lookup::Absent);
        assert_eq!(m.get(b"kk", 9, || 0), Lookup::Absent);
    }

    #[test]
    fn expired_entries_read_as_deleted_and_hide_older_versions() {
        let m = Memtable::default();
        m.insert(b"k", 1, ValueKind::Put, b"forever");
        let v = strata_sstable::encode_expiring(1000, b"brief");
        m.insert(b"k", 2, ValueKind::PutExpiring, &v);
        assert_eq!(
            m.get(b"k", 9, || 999),
            Lookup::Value(b"brief".to_vec(), Some(1000))
        );
        assert_eq!(m.get(b"k", 9, || 1000), Lookup::Deleted);
        assert_eq!(
            m.get(b"k", 1, || 5000),
            Lookup::Value(b"forever".to_vec(), None)
        );
    }

    #[test]
    fn iterator_walks_both_ways() {
        let m = Arc::new(Memtable::default());
        for (i, k) in [b"a", b"c", b"e"].iter().enumerate() {
            m.insert(*k, i as u64 + 1, ValueKind::Put, b"x");
        }
        let mut it = m.iter();
        it.seek_to_first();
        let mut fwd = vec![];
        while it.valid() {
            fwd.push(parse_internal_key(it.key()).unwrap().user_key.to_vec());
            it.next();
        }
        assert_eq!(fwd, vec![b"a".to_vec(), b"c".to_vec(), b"e".to_vec()]);
        it.seek(&encode_internal_key(b"b", 100, KIND_FOR_SEEK));
        assert_eq!(parse_internal_key(it.key()).unwrap().user_key, b"c");
        it.prev();
        assert_eq!(parse_internal_key(it.key()).unwrap().user_key, b"a");
        it.prev();
        assert!(!it.valid());
        it.seek_for_prev(&encode_internal_key(b"d", 0, 0));
        assert_eq!(parse_internal_key(it.key()).unwrap().user_key, b"c");
    }
}
