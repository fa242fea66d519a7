//! WATCH: the keys a client watches, and the writes that make its next EXEC fail.
//!
//! A watching client registers under each `(database, key)` it watches. A write command that
//! succeeds touches its keys (FLUSHDB, FLUSHALL and SWAPDB touch the watched keys of the
//! databases they change that exist), which marks every client watching them dirty. A key
//! that expires after it was watched makes the EXEC fail too: the watcher remembers the
//! expiry it saw and EXEC compares it with the clock (Redis's `isWatchedKeyExpired`). Writes
//! cost one atomic load while nobody watches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// One client's watch: dirty once a watched key is touched.
#[derive(Debug, Default)]
pub struct WatchState {
    dirty: AtomicBool,
}

type Registry = HashMap<(u8, Vec<u8>), Vec<Weak<WatchState>>>;

/// The registry of watched keys.
#[derive(Debug, Default)]
pub struct Watches {
    map: Mutex<Registry>,
    /// Registrations alive; zero means writes need not look.
    count: AtomicUsize,
}

impl Watches {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True if some client watches some key.
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Marks every client watching `key` of database `db` dirty.
    pub fn touch(&self, db: u8, key: &[u8]) {
        if !self.any() {
            return;
        }
        if let Some(list) = self.lock().get(&(db, key.to_vec())) {
            for w in list.iter().filter_map(Weak::upgrade) {
                w.dirty.store(true, Ordering::Release);
            }
        }
    }

    /// Marks dirty every client watching a key of database `db` for which `touched` says
    /// yes (FLUSHDB: the key exists; SWAPDB: it exists on either side).
    pub fn touch_db(&self, db: u8, touched: impl Fn(&[u8]) -> bool) {
        if !self.any() {
            return;
        }
        let keys: Vec<Vec<u8>> = self
            .lock()
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect();
        for k in keys {
            if touched(&k) {
                self.touch(db, &k);
            }
        }
    }
}

/// A client's watched keys; unregistered when dropped (UNWATCH, EXEC, DISCARD, disconnect).
#[derive(Debug)]
pub struct Watch {
    registry: Arc<Watches>,
    state: Arc<WatchState>,
    /// `(db, key, expiry seen at WATCH if the key was live and expiring)`.
    keys: Vec<(u8, Vec<u8>, Option<u64>)>,
}

impl Watch {
    /// An empty watch on `registry`.
    pub fn new(registry: Arc<Watches>) -> Watch {
        Watch {
            registry,
            state: Arc::default(),
            keys: Vec::new(),
        }
    }

    /// Watches `key` of database `db`, which expires at `expiry` (Unix ms) if it is live
    /// and expiring.
    pub fn add(&mut self, db: u8, key: &[u8], expiry: Option<u64>) {
        if self.keys.iter().any(|(d, k, _)| *d == db && k == key) {
            return;
        }
        self.registry
            .lock()
            .entry((db, key.to_vec()))
            .or_default()
            .push(Arc::downgrade(&self.state));
        self.registry.count.fetch_add(1, Ordering::Relaxed);
        self.keys.push((db, key.to_vec(), expiry));
    }

    /// True if a watched key was touched, or has expired at `now_ms` since it was watched.
    pub fn failed(&self, now_ms: u64) -> bool {
        self.state.dirty.load(Ordering::Acquire)
            || self
                .keys
                .iter()
                .any(|(_, _, e)| e.is_some_and(|at| at <= now_ms))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut map = self.registry.lock();
        for (db, key, _) in self.keys.drain(..) {
            let k = (db, key);
            if let Some(list) = map.get_mut(&k) {
                list.retain(|w| w.upgrade().is_some_and(|s| !Arc::ptr_eq(&s, &self.state)));
                if list.is_empty() {
                    map.remove(&k);
                }
            }
            self.registry.count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touches_mark_watchers_and_drops_unregister() {
        let reg = Arc::new(Watches::default());
        let mut a = Watch::new(Arc::clone(&reg));
        a.add(0, b"x", None);
        a.add(0, b"x", None);
        let mut b = Watch::new(Arc::clone(&reg));
        b.add(1, b"x", Some(500));
        assert!(reg.any());
        reg.touch(0, b"y");
        reg.touch(2, b"x");
        assert!(!a.failed(0) && !b.failed(0));
        reg.touch(0, b"x");
        assert!(a.failed(0) && !b.failed(0));
        assert!(b.failed(500), "expired since watched");
        reg.touch_db(1, |k| k == b"x");
        assert!(b.failed(0));
        drop(a);
        drop(b);
        assert!(!reg.any());
        assert!(reg.lock().is_empty());
    }
}
