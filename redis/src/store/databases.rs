//! Whole databases: FLUSHDB, FLUSHALL, SWAPDB (the logical-to-physical database map).

use std::sync::atomic::Ordering;

use strata::WriteBatch;

use super::{Result, Store, Txn, DBMAP_KEY, FLUSH_CHUNK};
use crate::key;
use crate::meta;

impl Store {
    /// `FLUSHDB`: deletes every key of `db`. Holds every slot lock while it runs (like Redis's
    /// synchronous FLUSHDB, other writers wait); each engine write keeps counts exact, so a
    /// crash part-way leaves a consistent, partly flushed database.
    ///
    /// # Errors
    /// Engine errors.
    pub fn flushdb(&self, db: u8) -> Result<()> {
        let dbs = self.dbs();
        let _guards = self.lock_all();
        self.flush_physical(dbs[usize::from(db)])
    }

    /// `FLUSHALL`: deletes every key of every database.
    ///
    /// # Errors
    /// Engine errors.
    pub fn flushall(&self) -> Result<()> {
        let _dbs = self.dbs();
        let _guards = self.lock_all();
        for pdb in 0..=u8::MAX {
            if self.totals[usize::from(pdb)].keys.load(Ordering::Relaxed) > 0 {
                self.flush_physical(pdb)?;
            }
        }
        Ok(())
    }

    /// Deletes every key of physical database `pdb`. Call with every slot locked.
    pub(super) fn flush_physical(&self, pdb: u8) -> Result<()> {
        let now = self.now_ms();
        let mut txn = Txn::new(self, now);
        let mut pending = 0;
        for item in self.kv_prefix(&self.meta, key::db_prefix(pdb))? {
            let (ekey, value) = item?;
            txn.remove(&ekey, meta::header(&value).ok().and_then(|h| h.expiry));
            pending += 1;
            if pending == FLUSH_CHUNK {
                txn.commit()?;
                txn = Txn::new(self, now);
                pending = 0;
            }
        }
        txn.commit()
    }

    /// `SWAPDB a b`: swaps two databases, in O(1) (a persisted map from logical to physical
    /// databases). Waits for commands in flight to finish.
    ///
    /// # Errors
    /// Engine errors writing the map.
    pub fn swapdb(&self, a: u8, b: u8) -> Result<()> {
        let mut map = self.dbmap.write().unwrap_or_else(|e| e.into_inner());
        let mut new = *map;
        new.swap(usize::from(a), usize::from(b));
        let mut batch = WriteBatch::new();
        batch.put_in(&self.state, DBMAP_KEY, new);
        self.kv_write(batch)?;
        *map = new;
        Ok(())
    }
}
