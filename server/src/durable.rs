//! Group commit for `appendfsync always`: connections await durability without blocking a
//! thread, and one syncer thread runs the fsyncs.
//!
//! A connection runs its commands (each a plain WAL append), then, before sending the
//! replies, awaits [`GroupSync::wait_durable`] for the newest sequence number. The syncer
//! fsyncs everything appended so far and publishes how far the log is durable; every
//! connection waiting at or below that point wakes. While one fsync runs, the writes of all
//! other connections pile up behind it and the next fsync covers them all.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use strata_redis::Store;
use tokio::sync::watch;

/// How far the WAL is durable, and why the last fsync round failed, if it did.
#[derive(Debug, Clone, Default)]
struct Durable {
    synced: u64,
    /// The round that failed and its error; cleared by a round that succeeds (once the
    /// engine resumed after a full disk).
    error: Option<(u64, String)>,
}

#[derive(Debug, Default)]
struct Requests {
    pending: bool,
    stop: bool,
    /// Fsync rounds started so far.
    started: u64,
}

#[derive(Debug)]
struct Shared {
    requests: Mutex<Requests>,
    wake: Condvar,
    durable: watch::Sender<Durable>,
}

fn lock(m: &Mutex<Requests>) -> MutexGuard<'_, Requests> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The syncer thread and what connections wait on. Dropping it stops the thread.
#[derive(Debug)]
pub struct GroupSync {
    store: Arc<Store>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl GroupSync {
    /// Starts the syncer thread for `store`.
    ///
    /// # Errors
    /// The thread cannot be spawned.
    pub fn start(store: Arc<Store>) -> std::io::Result<GroupSync> {
        let shared = Arc::new(Shared {
            requests: Mutex::new(Requests::default()),
            wake: Condvar::new(),
            durable: watch::Sender::new(Durable {
                synced: store.engine().synced_sequence(),
                error: None,
            }),
        });
        let thread = {
            let store = Arc::clone(&store);
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("strata-syncer".into())
                .spawn(move || syncer(&store, &shared))?
        };
        Ok(GroupSync {
            store,
            shared,
            thread: Some(thread),
        })
    }

    /// Returns once every write up to sequence number `seq` is durable (at once if it already
    /// is), or with the error that poisoned the WAL.
    ///
    /// # Errors
    /// The fsync that was to cover it failed (the database refuses writes until it resumes,
    /// or for good), or the syncer stopped.
    pub async fn wait_durable(&self, seq: u64) -> Result<(), String> {
        if self.store.engine().synced_sequence() >= seq {
            return Ok(());
        }
        let mut rx = self.shared.durable.subscribe();
        // Only a round that starts after this request covers its write, so only such a
        // round's failure is this write's.
        let asked = {
            let mut r = lock(&self.shared.requests);
            r.pending = true;
            r.started
        };
        self.shared.wake.notify_one();
        let failed = |d: &Durable| {
            d.error
                .as_ref()
                .filter(|(round, _)| *round > asked)
                .cloned()
        };
        let durable = rx
            .wait_for(|d| d.synced >= seq || failed(d).is_some())
            .await
            .map_err(|_| "the WAL syncer stopped".to_string())?;
        match failed(&durable) {
            Some((_, e)) if durable.synced < seq => Err(e),
            _ => Ok(()),
        }
    }

    /// The sequence number to wait for so that everything done so far is durable.
    pub fn latest(&self) -> u64 {
        self.store.engine().latest_sequence()
    }
}

impl Drop for GroupSync {
    fn drop(&mut self) {
        lock(&self.shared.requests).stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn syncer(store: &Store, shared: &Shared) {
    loop {
        let round = {
            let mut r = lock(&shared.requests);
            while !r.pending && !r.stop {
                r = shared.wake.wait(r).unwrap_or_else(|e| e.into_inner());
            }
            if r.stop {
                return;
            }
            r.pending = false;
            r.started += 1;
            r.started
        };
        // Requests arriving during this fsync set `pending` again: the next round covers them.
        let result = store.sync();
        let synced = store.engine().synced_sequence();
        shared.durable.send_modify(|d| {
            d.synced = d.synced.max(synced);
            d.error = result.err().map(|e| (round, e.to_string()));
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strata::{Options, SyncMode, SystemClock};
    use strata_redis::SetOptions;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_waiter_wakes_with_its_write_durable() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = Options::default();
        options.sync_mode = SyncMode::Never;
        let store = Arc::new(Store::open(dir.path(), options, Arc::new(SystemClock)).unwrap());
        let sync = Arc::new(GroupSync::start(Arc::clone(&store)).unwrap());
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (store, sync) = (Arc::clone(&store), Arc::clone(&sync));
                tokio::spawn(async move {
                    for j in 0..20 {
                        store
                            .set(
                                0,
                                format!("k{i}-{j}").as_bytes(),
                                b"v",
                                SetOptions::default(),
                            )
                            .unwrap();
                        let seq = sync.latest();
                        sync.wait_durable(seq).await.unwrap();
                        assert!(store.engine().synced_sequence() >= seq);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let stats = store.engine().stats();
        assert!(stats.wal_syncs >= 1);
        assert!(stats.wal_syncs <= 400, "never more fsyncs than waits");
        assert_eq!(
            store.engine().synced_sequence(),
            store.engine().latest_sequence()
        );
    }
}
