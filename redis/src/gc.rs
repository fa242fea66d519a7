//! The compaction filter that removes the elements of deleted, replaced and expired
//! collections (`docs/format-redis.md`, "Compaction filter").
//!
//! Deleting a collection only removes its metadata entry; its elements become unreachable
//! (their version is not the metadata's any more) and this filter drops them when compaction
//! rewrites them. Versions are never reused, so a drop is final.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use strata::{Clock, CompactionFilter, Decision, WeakKeyspace};

use crate::meta::{self, Meta};
use crate::sub;

/// Filter of the element and score keyspaces. It reads the metadata keyspace, which exists
/// only once the database is open: until [`ElementGc::attach`] it keeps everything.
#[derive(Debug)]
pub struct ElementGc {
    meta: OnceLock<WeakKeyspace>,
    clock: Arc<dyn Clock>,
    dropped: AtomicU64,
    damaged: AtomicU64,
}

impl ElementGc {
    /// A filter judging expiry by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        ElementGc {
            meta: OnceLock::new(),
            clock,
            dropped: AtomicU64::new(0),
            damaged: AtomicU64::new(0),
        }
    }

    /// Gives the filter the metadata keyspace to judge elements by.
    pub fn attach(&self, meta: WeakKeyspace) {
        let _ = self.meta.set(meta);
    }

    /// Elements dropped so far (of dead collections, plus damaged keys).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Of those, keys that did not parse.
    pub fn damaged(&self) -> u64 {
        self.damaged.load(Ordering::Relaxed)
    }

    fn decide(&self, key: &[u8]) -> Decision {
        let Some((ekey, version, _)) = sub::split(key) else {
            self.damaged.fetch_add(1, Ordering::Relaxed);
            return Decision::Remove;
        };
        let Some(meta_ks) = self.meta.get().and_then(WeakKeyspace::upgrade) else {
            return Decision::Keep;
        };
        let stored = match meta_ks.get(&ekey) {
            Ok(v) => v,
            // Never drop on a failed read (a closing database, an I/O error).
            Err(_) => return Decision::Keep,
        };
        let live = stored.is_some_and(|v| match meta::decode(&v) {
            Ok((h, Meta::Collection(c))) => c.version == version && !h.expired(self.clock.now_ms()),
            Ok((_, Meta::String(_))) => false,
            // A damaged metadata entry: keep its elements (a repair may still use them).
            Err(_) => true,
        });
        if live {
            Decision::Keep
        } else {
            Decision::Remove
        }
    }
}

impl CompactionFilter for ElementGc {
    fn filter(&self, _level: usize, key: &[u8], _value: &[u8]) -> Decision {
        let d = self.decide(key);
        if d == Decision::Remove {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        d
    }

    /// The decision needs only the key: a large element value kept in a blob file is never
    /// read to be filtered.
    fn filter_by_key(&self, level: usize, key: &[u8]) -> Option<Decision> {
        Some(self.filter(level, key, &[]))
    }
}
