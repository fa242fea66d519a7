//! A byte-budgeted cache of decompressed data blocks, shareable by many tables and databases.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use crate::block::Block;

/// Cache key: (process-unique table id, block offset in the table file).
type BlockKey = (u64, u64);

/// Charges a block its in-memory size.
#[derive(Clone, Debug)]
struct BlockWeighter;

impl Weighter<BlockKey, Arc<Block>> for BlockWeighter {
    fn weight(&self, _key: &BlockKey, block: &Arc<Block>) -> u64 {
        block.charge().max(1)
    }
}

/// Assumed average block charge, to size the cache's tables.
const TYPICAL_BLOCK_CHARGE: u64 = 4096;

/// An LRU-like (CLOCK-Pro, via `quick_cache`) cache of decompressed data blocks with a byte
/// budget. Every [`crate::Table`] gets a process-unique id when opened, so one cache can
/// serve any number of tables. Blocks larger than a cache shard's share of the budget are
/// not cached.
pub struct BlockCache {
    cache: Cache<BlockKey, Arc<Block>, BlockWeighter>,
    capacity: u64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("capacity", &self.capacity)
            .field("used_bytes", &self.used_bytes())
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
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The byte budget.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes currently charged to cached blocks.
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

    /// Lookups that found their block.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that did not.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Drops every cached block.
    pub fn clear(&self) {
        self.cache.clear();
    }

    pub(crate) fn get(&self, table_id: u64, offset: u64) -> Option<Arc<Block>> {
        let found = self.cache.get(&(table_id, offset));
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub(crate) fn insert(&self, table_id: u64, offset: u64, block: Arc<Block>) {
        self.cache.insert((table_id, offset), block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockBuilder;

    fn block(n: usize) -> Arc<Block> {
        let mut b = BlockBuilder::new(16);
        b.add(&[b'k'; 8], &vec![0u8; n]);
        Arc::new(Block::new(b.finish()).unwrap())
    }

    #[test]
    fn budget_and_counters() {
        let cache = BlockCache::new(1 << 20);
        assert!(cache.get(1, 0).is_none());
        cache.insert(1, 0, block(1000));
        assert!(cache.get(1, 0).is_some());
        assert!(cache.get(2, 0).is_none());
        assert_eq!((cache.hits(), cache.misses()), (1, 2));
        assert!(cache.used_bytes() >= 1000);
        for i in 0..1000 {
            cache.insert(3, i, block(4000));
        }
        assert!(cache.used_bytes() <= cache.capacity());
        assert_eq!(cache.capacity(), 1 << 20);
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let cache = BlockCache::new(0);
        cache.insert(1, 0, block(10));
        assert!(cache.get(1, 0).is_none());
    }
}
