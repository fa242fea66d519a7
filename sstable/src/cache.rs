//! A byte-budgeted cache of a table's blocks (decompressed data blocks, index blocks and
//! bloom filters), shareable by many tables and databases.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::block::Block;
use crate::filter::Filter;

/// Cache key: (process-unique table id, block offset in the table file).
type BlockKey = (u64, u64);

/// What the cache holds for one (table, offset).
#[derive(Clone)]
pub(crate) enum Cached {
    Data(Arc<Block>),
    Index(Arc<Block>),
    Filter(Arc<Filter>),
}

impl Cached {
    fn kind(&self) -> BlockKind {
        match self {
            Cached::Data(_) => BlockKind::Data,
            Cached::Index(_) => BlockKind::Index,
            Cached::Filter(_) => BlockKind::Filter,
        }
    }

    fn charge(&self) -> u64 {
        match self {
            Cached::Data(b) | Cached::Index(b) => b.charge(),
            Cached::Filter(f) => f.charge(),
        }
    }
}

/// The kinds of cached blocks, for [`CacheUsage`] and the hit counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockKind {
    Data = 0,
    Index = 1,
    Filter = 2,
}

/// Charges an entry its in-memory size.
#[derive(Clone, Debug)]
struct BlockWeighter;

impl Weighter<BlockKey, Cached> for BlockWeighter {
    fn weight(&self, _key: &BlockKey, cached: &Cached) -> u64 {
        cached.charge().max(1)
    }
}

/// Assumed average block charge, to size the cache's tables.
const TYPICAL_BLOCK_CHARGE: u64 = 4096;

/// Bytes and lookups of one kind of block in a [`BlockCache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindUsage {
    /// Bytes charged to cached blocks of this kind.
    pub bytes: u64,
    /// Cached blocks of this kind.
    pub blocks: u64,
    /// Lookups that found their block.
    pub hits: u64,
    /// Lookups that read it from the file.
    pub misses: u64,
}

impl KindUsage {
    /// `hits / (hits + misses)`, or 0 before the first lookup.
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

/// What a [`BlockCache`] holds, by kind (see [`BlockCache::usage`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheUsage {
    /// Decompressed data blocks.
    pub data: KindUsage,
    /// Index blocks.
    pub index: KindUsage,
    /// Bloom filters.
    pub filter: KindUsage,
}

/// A sharded, scan-resistant cache of table blocks with a byte budget: data blocks, and the
/// index blocks and bloom filters of tables opened with [`crate::MetaBlocks::Cached`], all
/// evicted by the same policy, so such tables cost no memory beyond the budget however many
/// there are (RocksDB's `cache_index_and_filter_blocks`).
///
/// The policy is CLOCK-Pro (via `quick_cache`): a block read once (a scan, a compaction)
/// enters as cold and leaves first, so a scan does not flush the blocks readers use
/// repeatedly. The cache is split into independently locked shards. Every
/// [`crate::Table`] gets a process-unique id when opened, so one cache can serve any number
/// of tables. A block larger than a shard's share of the budget is not cached (it is read
/// from the file each time).
pub struct BlockCache {
    cache: Cache<BlockKey, Cached, BlockWeighter>,
    capacity: u64,
    hits: [AtomicU64; 3],
    misses: [AtomicU64; 3],
    /// Bytes charged to every entry ever inserted.
    inserted: AtomicU64,
    /// Bytes held by live [`CacheReservation`]s. The lock also orders the capacity changes.
    reserved: Mutex<u64>,
    /// Bytes by which reservations ever grew or shrank.
    reservations_moved: AtomicU64,
}

/// Reservations shrink the cache to no less than this fraction of its capacity
/// (`capacity / MIN_SHARE_LEFT_BY_RESERVATIONS`).
const MIN_SHARE_LEFT_BY_RESERVATIONS: u64 = 4;

/// A [`CacheReservation`] moves in steps of this many bytes, so the cache's capacity changes
/// (which lock every shard) stay rare.
pub const RESERVATION_STEP: u64 = 256 << 10;

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("capacity", &self.capacity)
            .field("used_bytes", &self.used_bytes())
            .field("reserved_bytes", &self.reserved_bytes())
            .field("entries", &self.cache.len())
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .finish()
    }
}

impl BlockCache {
    /// A cache holding up to about `capacity_bytes` of blocks.
    pub fn new(capacity_bytes: u64) -> Self {
        let items = (capacity_bytes / TYPICAL_BLOCK_CHARGE).clamp(16, 1 << 20);
        BlockCache {
            cache: Cache::with_weighter(items as usize, capacity_bytes, BlockWeighter),
            capacity: capacity_bytes,
            hits: Default::default(),
            misses: Default::default(),
            inserted: AtomicU64::new(0),
            reserved: Mutex::new(0),
            reservations_moved: AtomicU64::new(0),
        }
    }

    /// A reservation of no bytes yet: memory held outside the cache (a table builder's
    /// buffers) that the cache makes room for by evicting blocks, so the two together stay
    /// within its capacity (RocksDB charges table building to its block cache the same way).
    /// Grow or shrink it with [`CacheReservation::set`]; dropping it gives the room back.
    ///
    /// Reservations shrink the cache to a quarter of its capacity at most: memory reserved
    /// beyond that is counted in [`reserved_bytes`](Self::reserved_bytes) but not made room
    /// for.
    pub fn reservation(self: &Arc<Self>) -> CacheReservation {
        CacheReservation {
            cache: Arc::clone(self),
            bytes: 0,
        }
    }

    /// Bytes held by live reservations.
    pub fn reserved_bytes(&self) -> u64 {
        *self.reserved.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes by which reservations ever grew or shrank. With
    /// [`inserted_bytes`](Self::inserted_bytes), it tells how much memory the cache and its
    /// reservations have freed to the allocator (blocks evicted to make room, builders'
    /// buffers given back), which an allocator such as glibc's may keep until asked.
    pub fn reservations_moved_bytes(&self) -> u64 {
        self.reservations_moved.load(Ordering::Relaxed)
    }

    /// Moves the reserved total from `old` to `new` bytes for one reservation and resizes
    /// the cache to what is left.
    fn move_reservation(&self, old: u64, new: u64) {
        let mut reserved = self.reserved.lock().unwrap_or_else(PoisonError::into_inner);
        *reserved = reserved.saturating_sub(old).saturating_add(new);
        self.reservations_moved
            .fetch_add(old.abs_diff(new), Ordering::Relaxed);
        let floor = self.capacity / MIN_SHARE_LEFT_BY_RESERVATIONS;
        let left = self.capacity.saturating_sub(*reserved).max(floor);
        if left != self.cache.capacity() {
            self.cache.set_capacity(left);
        }
    }

    /// The byte budget.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes currently charged to cached blocks of every kind.
    pub fn used_bytes(&self) -> u64 {
        self.cache.weight()
    }

    /// Number of cached blocks.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether no block is cached.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// Lookups of any kind that found their block.
    pub fn hits(&self) -> u64 {
        self.hits.iter().map(|h| h.load(Ordering::Relaxed)).sum()
    }

    /// Lookups of any kind that did not.
    pub fn misses(&self) -> u64 {
        self.misses.iter().map(|m| m.load(Ordering::Relaxed)).sum()
    }

    /// Bytes, blocks and lookups by kind. Walks the cache: O(cached blocks).
    pub fn usage(&self) -> CacheUsage {
        let mut kinds = [KindUsage::default(); 3];
        for (_, cached) in self.cache.iter() {
            let k = &mut kinds[cached.kind() as usize];
            k.bytes += cached.charge().max(1);
            k.blocks += 1;
        }
        for (i, k) in kinds.iter_mut().enumerate() {
            k.hits = self.hits[i].load(Ordering::Relaxed);
            k.misses = self.misses[i].load(Ordering::Relaxed);
        }
        let [data, index, filter] = kinds;
        CacheUsage {
            data,
            index,
            filter,
        }
    }

    /// Bytes charged to every block ever inserted (so the churn between two readings is
    /// their difference).
    pub fn inserted_bytes(&self) -> u64 {
        self.inserted.load(Ordering::Relaxed)
    }

    /// Drops every cached block.
    pub fn clear(&self) {
        self.cache.clear();
    }

    fn count(&self, kind: BlockKind, hit: bool) {
        let counters = if hit { &self.hits } else { &self.misses };
        counters[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The cached entry at `(table_id, offset)`, counted as a lookup of `kind`.
    pub(crate) fn get(&self, kind: BlockKind, table_id: u64, offset: u64) -> Option<Cached> {
        let found = self.cache.get(&(table_id, offset));
        self.count(kind, found.is_some());
        found
    }

    pub(crate) fn insert(&self, table_id: u64, offset: u64, cached: Cached) {
        self.inserted.fetch_add(cached.charge(), Ordering::Relaxed);
        self.cache.insert((table_id, offset), cached);
    }

    /// Drops the entry at `(table_id, offset)`, if cached.
    pub(crate) fn remove(&self, table_id: u64, offset: u64) {
        self.cache.remove(&(table_id, offset));
    }

    /// The cached entry at `(table_id, offset)`, or `load`'s result, cached. Concurrent
    /// misses on one key load it once; the others wait for it.
    pub(crate) fn get_or_load<E>(
        &self,
        kind: BlockKind,
        table_id: u64,
        offset: u64,
        load: impl FnOnce() -> Result<Cached, E>,
    ) -> Result<Cached, E> {
        let mut loaded = false;
        let result = self.cache.get_or_insert_with(&(table_id, offset), || {
            loaded = true;
            let cached = load()?;
            self.inserted.fetch_add(cached.charge(), Ordering::Relaxed);
            Ok(cached)
        });
        self.count(kind, !loaded);
        result
    }
}

/// Room held in a [`BlockCache`] for memory outside it (see [`BlockCache::reservation`]).
/// Released when dropped.
pub struct CacheReservation {
    cache: Arc<BlockCache>,
    /// Bytes reserved: a multiple of [`RESERVATION_STEP`].
    bytes: u64,
}

impl std::fmt::Debug for CacheReservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheReservation")
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl CacheReservation {
    /// Reserves `bytes` (rounded up to a [`RESERVATION_STEP`]) in place of what this
    /// reservation held. Cheap when the rounded amount is unchanged.
    pub fn set(&mut self, bytes: u64) {
        let rounded = bytes
            .div_ceil(RESERVATION_STEP)
            .saturating_mul(RESERVATION_STEP);
        if rounded != self.bytes {
            self.cache.move_reservation(self.bytes, rounded);
            self.bytes = rounded;
        }
    }

    /// Bytes reserved now (a multiple of [`RESERVATION_STEP`]).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for CacheReservation {
    fn drop(&mut self) {
        self.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockBuilder;

    fn block(n: usize) -> Cached {
        let mut b = BlockBuilder::new(16);
        b.add(&[b'k'; 8], &vec![0u8; n]);
        Cached::Data(Arc::new(Block::new(b.finish()).unwrap()))
    }

    #[test]
    fn budget_and_counters() {
        let cache = BlockCache::new(1 << 20);
        assert!(cache.get(BlockKind::Data, 1, 0).is_none());
        cache.insert(1, 0, block(1000));
        assert!(cache.get(BlockKind::Data, 1, 0).is_some());
        assert!(cache.get(BlockKind::Data, 2, 0).is_none());
        assert_eq!((cache.hits(), cache.misses()), (1, 2));
        assert!(cache.used_bytes() >= 1000);
        for i in 0..1000 {
            cache.insert(3, i, block(4000));
        }
        assert!(cache.used_bytes() <= cache.capacity());
        assert_eq!(cache.capacity(), 1 << 20);
    }

    #[test]
    fn a_reservation_evicts_blocks_and_gives_the_room_back() {
        let cache = Arc::new(BlockCache::new(8 << 20));
        for i in 0..2000 {
            cache.insert(1, i, block(4000));
        }
        let full = cache.used_bytes();
        assert!(full > 7 << 20, "the cache filled: {full}");
        let mut r = cache.reservation();
        r.set(3 << 20);
        assert_eq!((r.bytes(), cache.reserved_bytes()), (3 << 20, 3 << 20));
        assert!(cache.used_bytes() <= 5 << 20, "{}", cache.used_bytes());
        r.set((3 << 20) - 10);
        assert_eq!(r.bytes(), 3 << 20, "amounts round up to a step");
        r.set(1);
        assert_eq!(r.bytes(), RESERVATION_STEP);
        r.set(RESERVATION_STEP);
        assert_eq!(r.bytes(), RESERVATION_STEP);
        let mut second = cache.reservation();
        second.set(100 << 20);
        assert_eq!(cache.reserved_bytes(), (100 << 20) + RESERVATION_STEP);
        assert!(
            cache.used_bytes() <= 2 << 20 && cache.used_bytes() > 0,
            "the cache keeps a quarter of its capacity: {}",
            cache.used_bytes()
        );
        drop(second);
        drop(r);
        assert_eq!(cache.reserved_bytes(), 0);
        // Up 3 MiB, down 2.75, up 100, down 100, down 0.25.
        assert_eq!(cache.reservations_moved_bytes(), (206 << 20));
        for i in 0..2000 {
            cache.insert(2, i, block(4000));
        }
        assert!(cache.used_bytes() > 7 << 20, "the room came back");
        assert_eq!(cache.capacity(), 8 << 20);
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let cache = BlockCache::new(0);
        cache.insert(1, 0, block(10));
        assert!(cache.get(BlockKind::Data, 1, 0).is_none());
    }

    #[test]
    fn a_scan_does_not_flush_the_hot_blocks() {
        // About 256 blocks fit; 32 are read over and over, then 20,000 others once each. A
        // block enters cold and turns hot when used again, so the first two rounds may miss
        // (the shards are hashed at random, and one may get more new blocks than its cold
        // part holds); after that the hot blocks stay.
        const HOT: u64 = 32;
        let cache = BlockCache::new(1 << 20);
        for round in 0..4 {
            for i in 0..HOT {
                if cache.get(BlockKind::Data, 1, i).is_none() {
                    assert!(
                        round < 2,
                        "hot block {i} left in round {round}, before the scan"
                    );
                    cache.insert(1, i, block(4000));
                }
            }
        }
        for i in 0..20_000 {
            cache.insert(2, i, block(4000));
        }
        let kept = (0..HOT)
            .filter(|&i| cache.get(BlockKind::Data, 1, i).is_some())
            .count() as u64;
        assert!(
            kept >= HOT - 2,
            "only {kept} of {HOT} hot blocks survived a scan"
        );
        assert!(cache.used_bytes() <= cache.capacity());
    }

    #[test]
    fn usage_by_kind() {
        let cache = BlockCache::new(1 << 20);
        cache.insert(1, 0, block(100));
        cache.insert(1, 1, block(100));
        let index = match block(300) {
            Cached::Data(b) => Cached::Index(b),
            other => other,
        };
        cache.insert(1, 2, index);
        let mut called = false;
        let loaded = cache.get_or_load(BlockKind::Index, 1, 2, || -> Result<Cached, ()> {
            called = true;
            Err(())
        });
        assert!(
            matches!(loaded, Ok(Cached::Index(_))) && !called,
            "the index is cached"
        );
        let loaded =
            cache.get_or_load(BlockKind::Index, 1, 3, || -> Result<Cached, ()> { Err(()) });
        assert!(loaded.is_err(), "a failed load is returned and not cached");
        let usage = cache.usage();
        assert_eq!((usage.data.blocks, usage.index.blocks), (2, 1));
        assert_eq!(usage.index.hits, 1);
        assert_eq!(usage.index.misses, 1);
        assert_eq!(usage.data.bytes + usage.index.bytes, cache.used_bytes());
        assert_eq!(usage.filter, KindUsage::default());
    }
}
