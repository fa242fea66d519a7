//! The compaction filter hook.

/// What a [`CompactionFilter`] decides for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Keep the entry as it is.
    Keep,
    /// Remove the entry: it becomes a tombstone (or vanishes at the bottom level).
    Remove,
    /// Keep the key with this value instead.
    Change(Vec<u8>),
}

/// A user hook that sees entries as compaction rewrites them and may drop or change them.
///
/// Guarantees and duties:
/// - It is called only for the newest version of a key, and only when no snapshot can see that
///   version (a version a live snapshot reads is never shown to the filter).
/// - It may be called more than once for the same entry (each time the entry is compacted
///   again) and never for entries that stay in memtables or L0 until read: it is a garbage
///   collector, not a read-time transformation.
/// - It must be deterministic and cheap; it runs on compaction threads.
pub trait CompactionFilter: Send + Sync + std::fmt::Debug {
    /// Decides the fate of `key` = `value` being written to `level`.
    fn filter(&self, level: usize, key: &[u8], value: &[u8]) -> Decision;

    /// Decides by the key alone, or `None` to be asked with the value
    /// ([`filter`](Self::filter)). Asked first; a filter that needs no value answers here, so
    /// a value kept in a blob file is not read just to be filtered (RocksDB's
    /// `FilterBlobByKey`).
    fn filter_by_key(&self, _level: usize, _key: &[u8]) -> Option<Decision> {
        None
    }
}
