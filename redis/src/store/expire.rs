//! The active expire cycle: deleting expired keys found in the expiry index, soon after
//! they expire, so counts stay exact and dead collections start being collected.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{Result, Store, Txn, SWEEP_CHUNK};

/// Index key of the expiry index.
pub(super) fn expire_key(at: u64, ekey: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + ekey.len());
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(ekey);
    k
}

impl Store {
    /// One pass of the expire cycle: deletes up to `limit` keys whose expiry has passed, found
    /// through the expiry index (never a scan of the keys), and updates the counts. Returns how
    /// many keys it deleted.
    ///
    /// # Errors
    /// Engine errors.
    pub fn expire_cycle(&self, limit: usize) -> Result<usize> {
        if self.expire_paused() {
            return Ok(0);
        }
        let now = self.now_ms();
        let upper = now.saturating_add(1).to_be_bytes();
        let mut removed = 0;
        let mut seen = 0;
        while seen < limit {
            // Never inside an atomic run (EXEC): a sweep is like a command.
            let _shared = self.shared();
            let mut due: Vec<(u64, Vec<u8>)> = Vec::new();
            for item in self
                .expire
                .range(None, Some(&upper))?
                .take(SWEEP_CHUNK.min(limit - seen))
            {
                let (k, _) = item?;
                let Some((at, ekey)) = k.split_first_chunk::<8>() else {
                    continue;
                };
                due.push((u64::from_be_bytes(*at), ekey.to_vec()));
            }
            if due.is_empty() {
                break;
            }
            seen += due.len();
            let ekeys: Vec<&[u8]> = due.iter().map(|(_, k)| k.as_slice()).collect();
            let _guards = self.lock_keys(&ekeys);
            let mut txn = Txn::new(self, now);
            for (at, ekey) in &due {
                match self.raw(ekey)? {
                    Some(e) if e.header.expiry == Some(*at) => {
                        txn.delete(ekey, Some(&e));
                        removed += 1;
                    }
                    // An index entry the key no longer matches (cannot happen while every
                    // write goes through Txn; removed so it is not met again).
                    _ => {
                        txn.batch.delete_in(&self.expire, expire_key(*at, ekey));
                    }
                }
            }
            txn.commit()?;
        }
        // No lock is held here: tell the listener.
        self.report_expired();
        Ok(removed)
    }

    /// Runs [`expire_cycle`](Self::expire_cycle) every `interval` on a background thread (like
    /// Redis's active expire cycle) until the returned handle is dropped or the store is.
    pub fn start_expire_cycle(
        self: &Arc<Self>,
        interval: Duration,
    ) -> std::io::Result<ExpireCycle> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let store: Weak<Store> = Arc::downgrade(self);
        let thread = std::thread::Builder::new()
            .name("strata-expire".into())
            .spawn(move || loop {
                match stopped.recv_timeout(interval) {
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let Some(store) = store.upgrade() else { return };
                // Keep going while whole chunks come back: a backlog is cleared at once.
                while let Ok(n) = store.expire_cycle(4 * SWEEP_CHUNK) {
                    if n < 4 * SWEEP_CHUNK {
                        break;
                    }
                }
            })?;
        Ok(ExpireCycle {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// The background expire cycle; stops (and joins its thread) when dropped.
#[derive(Debug)]
pub struct ExpireCycle {
    stop: Option<crossbeam_channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ExpireCycle {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
