//! The memtable: a concurrent skiplist of internal keys, one per keyspace per generation.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_skiplist::map::Entry;
use crossbeam_skiplist::SkipMap;
use strata_sstable::{
    compare_internal, encode_internal_key, encode_trailer, parse_internal_key, InternalIterator,
    SeqNo, ValueKind, KIND_FOR_SEEK,
};

/// Bytes charged per entry on top of key and value: skiplist node, tower and allocations.
const ENTRY_OVERHEAD: usize = 80;

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
/// returns (asked only for an expiring entry: most reads never read the clock).
pub(crate) fn resolve(kind: u8, stored: &[u8], now_ms: impl FnOnce() -> u64) -> Lookup {
    match ValueKind::from_u8(kind) {
        Some(ValueKind::Put) => Lookup::Value(stored.to_vec(), None),
        Some(ValueKind::PutExpiring) => match strata_sstable::split_expiring(stored) {
            Some((expiry, value)) if expiry > now_ms() => {
                Lookup::Value(value.to_vec(), Some(expiry))
            }
            _ => Lookup::Deleted,
        },
        _ => Lookup::Deleted,
    }
}

/// True if an entry of `kind` with `stored` value is live at `now_ms` (not a tombstone, not
/// expired).
pub(crate) fn is_live(kind: u8, stored: &[u8], now_ms: u64) -> bool {
    kind == ValueKind::Put as u8
        || (kind == ValueKind::PutExpiring as u8
            && strata_sstable::split_expiring(stored).is_some_and(|(e, _)| e > now_ms))
}

/// Internal-key bytes kept inside the skiplist node (user keys up to 54 bytes).
const INLINE_KEY: usize = 62;

/// A memtable key: an encoded internal key, stored in the skiplist node itself when short
/// (most keys), so a search compares bytes it has already loaded with the node instead of
/// following one more pointer per comparison (the insert profile's largest cost).
#[derive(Clone)]
enum MemKey {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

impl MemKey {
    fn from_encoded(encoded: &[u8]) -> MemKey {
        if encoded.len() <= INLINE_KEY {
            let mut bytes = [0u8; INLINE_KEY];
            bytes[..encoded.len()].copy_from_slice(encoded);
            MemKey::Inline {
                len: encoded.len() as u8,
                bytes,
            }
        } else {
            MemKey::Heap(encoded.into())
        }
    }

    fn new(user_key: &[u8], seq: SeqNo, kind: u8) -> MemKey {
        if user_key.len() + 8 <= INLINE_KEY {
            let mut bytes = [0u8; INLINE_KEY];
            bytes[..user_key.len()].copy_from_slice(user_key);
            bytes[user_key.len()..user_key.len() + 8].copy_from_slice(&encode_trailer(seq, kind));
            MemKey::Inline {
                len: (user_key.len() + 8) as u8,
                bytes,
            }
        } else {
            MemKey::Heap(encode_internal_key(user_key, seq, kind).into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            MemKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            MemKey::Heap(b) => b,
        }
    }
}

impl PartialEq for MemKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for MemKey {}

impl Ord for MemKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        compare_internal(self.as_bytes(), other.as_bytes())
    }
}

impl PartialOrd for MemKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A filter over a memtable's user keys, so a read of a key the memtable lacks costs a hash
/// and one cache line instead of a skiplist search (the larger part of a point read while
/// memtables are full). Blocked: all of a key's bits are in one 512-bit block.
struct KeyFilter {
    blocks: Box<[[AtomicU64; 8]]>,
}

/// Bits per expected key (about 1.5% false positives with 6 probes in a block).
const FILTER_BITS_PER_KEY: usize = 10;
/// The smallest memtable entry as charged (key and value empty): bounds how many keys fit.
const MIN_ENTRY: usize = 8 + ENTRY_OVERHEAD;

impl KeyFilter {
    /// A filter for the keys of a memtable of `capacity` bytes (none below 4 KiB of bits).
    fn new(capacity: usize) -> KeyFilter {
        let bits = (capacity / MIN_ENTRY).saturating_mul(FILTER_BITS_PER_KEY);
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

    fn insert(&self, key: &[u8]) {
        let (block, bits) = self.probes(key);
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

/// A sorted in-memory table. Writers insert concurrently with readers; only the write leader
/// inserts, so inserts never race each other.
pub(crate) struct Memtable {
    map: SkipMap<MemKey, Vec<u8>>,
    filter: KeyFilter,
    bytes: AtomicUsize,
}

impl Default for Memtable {
    fn default() -> Self {
        Memtable::new(64 << 20)
    }
}

impl std::fmt::Debug for Memtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memtable")
            .field("entries", &self.map.len())
            .field("bytes", &self.approximate_bytes())
            .finish()
    }
}

impl Memtable {
    /// An empty memtable expected to hold up to about `capacity` bytes (it sizes the key
    /// filter; more still fits, with more false positives).
    pub fn new(capacity: usize) -> Memtable {
        let filter = KeyFilter::new(capacity);
        Memtable {
            map: SkipMap::new(),
            bytes: AtomicUsize::new(filter.bytes()),
            filter,
        }
    }

    pub fn insert(&self, user_key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        self.filter.insert(user_key);
        let key = MemKey::new(user_key, seq, kind as u8);
        self.bytes.fetch_add(
            user_key.len() + value.len() + 8 + ENTRY_OVERHEAD,
            Ordering::Relaxed,
        );
        self.map.insert(key, value.to_vec());
    }

    /// The newest entry for `user_key` with a sequence number `<= seq`, judged at `now_ms()`.
    pub fn get(&self, user_key: &[u8], seq: SeqNo, now_ms: impl FnOnce() -> u64) -> Lookup {
        if !self.filter.may_contain(user_key) {
            return Lookup::Absent;
        }
        let probe = MemKey::new(user_key, seq, KIND_FOR_SEEK);
        let Some(entry) = self.map.lower_bound(Bound::Included(&probe)) else {
            return Lookup::Absent;
        };
        match parse_internal_key(entry.key().as_bytes()) {
            Some(k) if k.user_key == user_key => resolve(k.kind, entry.value(), now_ms),
            _ => Lookup::Absent,
        }
    }

    pub fn approximate_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Whether no entry was ever inserted (its size counts the key filter).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(self: &Arc<Self>) -> MemIter {
        MemIter {
            cur: None,
            mem: Arc::clone(self),
        }
    }
}

/// A cursor over a memtable, implementing the table iterator trait.
pub(crate) struct MemIter {
    // Field order matters: `cur` borrows from the skiplist owned by `mem` and must drop first.
    cur: Option<Entry<'static, MemKey, Vec<u8>>>,
    mem: Arc<Memtable>,
}

type Map = SkipMap<MemKey, Vec<u8>>;

impl MemIter {
    /// Positions the cursor at the entry `find` picks from the skiplist.
    fn reposition(
        &mut self,
        find: impl for<'a> FnOnce(&'a Map) -> Option<Entry<'a, MemKey, Vec<u8>>>,
    ) {
        let entry = find(&self.mem.map);
        // SAFETY: the entry borrows `self.mem.map`, which lives in an `Arc` this iterator owns
        // and so outlives `self.cur` (declared first, dropped first). The skiplist never moves
        // its nodes, and an `Entry` keeps its node alive by reference count, so extending the
        // borrow to 'static cannot dangle while `self` exists.
        self.cur = entry.map(|e| unsafe {
            std::mem::transmute::<Entry<'_, MemKey, Vec<u8>>, Entry<'static, MemKey, Vec<u8>>>(e)
        });
    }
}

impl InternalIterator for MemIter {
    fn valid(&self) -> bool {
        self.cur.is_some()
    }

    fn seek_to_first(&mut self) {
        self.reposition(|m| m.front());
    }

    fn seek_to_last(&mut self) {
        self.reposition(|m| m.back());
    }

    fn seek(&mut self, target: &[u8]) {
        let probe = MemKey::from_encoded(target);
        self.reposition(|m| m.lower_bound(Bound::Included(&probe)));
    }

    fn seek_for_prev(&mut self, target: &[u8]) {
        let probe = MemKey::from_encoded(target);
        self.reposition(|m| m.upper_bound(Bound::Included(&probe)));
    }

    fn next(&mut self) {
        let e = self.cur.as_ref().and_then(|c| c.next());
        self.cur = e;
    }

    fn prev(&mut self) {
        let e = self.cur.as_ref().and_then(|c| c.prev());
        self.cur = e;
    }

    fn key(&self) -> &[u8] {
        self.cur.as_ref().map_or(&[], |c| c.key().as_bytes())
    }

    fn value(&self) -> &[u8] {
        self.cur.as_ref().map_or(&[], |c| c.value().as_slice())
    }

    fn status(&self) -> strata_sstable::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Inline and heap keys order exactly as encoded internal keys do.
        #[test]
        fn mem_keys_order_like_internal_keys(
            a in prop::collection::vec(any::<u8>(), 0..80),
            b in prop::collection::vec(any::<u8>(), 0..80),
            sa in any::<u64>(), sb in any::<u64>(), ka in any::<u8>(), kb in any::<u8>(),
        ) {
            let (ea, eb) = (encode_internal_key(&a, sa, ka), encode_internal_key(&b, sb, kb));
            let (ma, mb) = (MemKey::new(&a, sa, ka), MemKey::new(&b, sb, kb));
            prop_assert_eq!(ma.as_bytes(), ea.as_slice());
            let decoded = MemKey::from_encoded(&ea);
            prop_assert_eq!(decoded.as_bytes(), ea.as_slice());
            prop_assert_eq!(ma.cmp(&mb), compare_internal(&ea, &eb));
            prop_assert_eq!(ma == mb, ea == eb);
        }
    }

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
