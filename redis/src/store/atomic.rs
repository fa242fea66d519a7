//! Running commands atomically (EXEC, and scripts next): every write they make gathers in one
//! engine [`Transaction`], committed as one batch when they are done, and every read they make
//! sees those writes on top of the database.
//!
//! The store reads and writes the engine only through the helpers here (`get`, `range`,
//! `write`, ...), which consult the transaction of the calling thread when
//! [`Store::atomically`] runs one. Commands need no other change: they keep taking their slot
//! locks and building their own [`Txn`](super::txn::Txn)s, whose commits land in the
//! transaction instead of the engine.
//!
//! Isolation comes from the execution lock: [`Store::atomically`] holds it exclusively, every
//! command ([`Store::shared`]) and the expire cycle hold it shared, so nothing else reads or
//! writes while a transaction runs, and nothing sees part of it.

use std::cell::RefCell;
use std::sync::{RwLockReadGuard, RwLockWriteGuard};

use strata::{DbIterator, Keyspace, ReadOptions, Scan, Transaction, WriteBatch, WriteOptions};

use super::{Result, Store};

thread_local! {
    /// The transaction `Store::atomically` runs on this thread, with the store it is for.
    static CURRENT: RefCell<Option<(usize, Transaction)>> = const { RefCell::new(None) };
}

/// Clears this thread's transaction when dropped (also on a panic inside).
struct Clear;

impl Drop for Clear {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

impl Store {
    fn id(&self) -> usize {
        self as *const Store as usize
    }

    /// Runs `f` with this thread's transaction for this store, if one is running.
    fn with_txn<R>(&self, f: impl FnOnce(Option<&Transaction>) -> R) -> R {
        CURRENT.with(|c| match c.borrow().as_ref() {
            Some((id, t)) if *id == self.id() => f(Some(t)),
            _ => f(None),
        })
    }

    /// Holds the execution lock shared: every command does, for as long as it runs.
    pub fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.exec_lock.read().unwrap_or_else(|e| e.into_inner())
    }

    /// [`shared`](Self::shared) if the lock is free now, `None` while an atomic run holds it
    /// (or waits for it).
    pub fn try_shared(&self) -> Option<RwLockReadGuard<'_, ()>> {
        match self.exec_lock.try_read() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Runs `f` alone (the execution lock held exclusively), gathering every write it makes
    /// into one transaction, committed as one batch when `f` returns: readers see none of it
    /// before and all of it after, and after a crash it exists whole or not at all. Reads
    /// inside `f` see its own writes. Called inside another atomic run on the same thread
    /// (a script inside EXEC), `f` simply joins it.
    ///
    /// # Errors
    /// The commit's engine error: nothing of `f`'s writes was written then, and the key
    /// counts are read back from the engine.
    pub fn atomically<R>(&self, f: impl FnOnce() -> R) -> Result<R> {
        if self.with_txn(|t| t.is_some()) {
            // Already inside one on this thread (a script run by EXEC): part of it.
            return Ok(f());
        }
        let _exclusive: RwLockWriteGuard<'_, ()> =
            self.exec_lock.write().unwrap_or_else(|e| e.into_inner());
        let map_before = *self.dbmap.read().unwrap_or_else(|e| e.into_inner());
        CURRENT.with(|c| *c.borrow_mut() = Some((self.id(), self.db.transaction())));
        let clear = Clear;
        let result = f();
        let txn = CURRENT.with(|c| c.borrow_mut().take()).map(|(_, t)| t);
        drop(clear);
        if let Some(txn) = txn {
            if let Err(e) = txn.commit(WriteOptions::default()) {
                // What the commands did in memory (key counts, a swapped database map) goes
                // back to what the engine holds.
                *self.dbmap.write().unwrap_or_else(|e| e.into_inner()) = map_before;
                self.reload_counts()?;
                return Err(e.into());
            }
        }
        Ok(result)
    }

    /// Writes `batch`: into the running transaction, or to the engine.
    pub(super) fn kv_write(&self, batch: WriteBatch) -> Result<()> {
        let mut batch = Some(batch);
        let gathered = CURRENT.with(|c| match c.borrow_mut().as_mut() {
            Some((id, t)) if *id == self.id() => batch.take().map(|b| t.write(b)),
            _ => None,
        });
        match (gathered, batch) {
            (Some(r), _) => Ok(r?),
            (None, Some(b)) => Ok(self.db.write(b, WriteOptions::default())?),
            (None, None) => Ok(()),
        }
    }

    /// The value of `key` in `ks`.
    pub(super) fn kv_get(&self, ks: &Keyspace, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.with_txn(|t| match t {
            Some(t) => t.get(ks, key),
            None => ks.get(key),
        })?)
    }

    /// The first `n` bytes of the value of `key` in `ks`.
    pub(super) fn kv_get_prefix(
        &self,
        ks: &Keyspace,
        key: impl AsRef<[u8]>,
        n: usize,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self.with_txn(|t| match t {
            Some(t) => t.get_prefix(ks, key, n),
            None => ks.get_prefix(key, n),
        })?)
    }

    /// A cursor over `ks` within `options`' bounds.
    pub(super) fn kv_iter(&self, ks: &Keyspace, options: &ReadOptions<'_>) -> Result<DbIterator> {
        Ok(self.with_txn(|t| match t {
            Some(t) => t.iter(ks, options),
            None => ks.iter(options),
        })?)
    }

    /// The pairs of `ks` in `[lower, upper)`.
    pub(super) fn kv_range(
        &self,
        ks: &Keyspace,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
    ) -> Result<Scan> {
        Ok(self.with_txn(|t| match t {
            Some(t) => t.range(ks, lower, upper),
            None => ks.range(lower, upper),
        })?)
    }

    /// The pairs of `ks` whose keys start with `prefix`.
    pub(super) fn kv_prefix(&self, ks: &Keyspace, prefix: impl AsRef<[u8]>) -> Result<Scan> {
        Ok(self.with_txn(|t| match t {
            Some(t) => t.prefix(ks, prefix),
            None => ks.prefix(prefix),
        })?)
    }
}

/// Tag of a function library's entry in `redis.state`: `'f' | library name` -> its code.
const FUNCTION_TAG: u8 = b'f';

impl Store {
    /// The function libraries kept (FUNCTION LOAD), by name, with their code.
    ///
    /// # Errors
    /// Engine errors.
    pub fn function_libraries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self.kv_prefix(&self.state, [FUNCTION_TAG])? {
            let (k, v) = item?;
            out.push((k[1..].to_vec(), v));
        }
        Ok(out)
    }

    /// Keeps library `name` with `code` (replacing one of that name).
    ///
    /// # Errors
    /// Engine errors.
    pub fn put_function_library(&self, name: &[u8], code: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put_in(&self.state, [&[FUNCTION_TAG][..], name].concat(), code);
        self.kv_write(batch)
    }

    /// Keeps exactly `libraries` (name, code), in one batch: the others are forgotten
    /// (FUNCTION FLUSH, FUNCTION RESTORE).
    ///
    /// # Errors
    /// Engine errors; then nothing changed.
    pub fn set_function_libraries(&self, libraries: &[(String, Vec<u8>)]) -> Result<()> {
        let mut batch = WriteBatch::new();
        for (name, _) in self.function_libraries()? {
            if !libraries.iter().any(|(n, _)| n.as_bytes() == name) {
                batch.delete_in(&self.state, [&[FUNCTION_TAG][..], &name].concat());
            }
        }
        for (name, code) in libraries {
            batch.put_in(
                &self.state,
                [&[FUNCTION_TAG][..], name.as_bytes()].concat(),
                code,
            );
        }
        self.kv_write(batch)
    }

    /// Forgets library `name`.
    ///
    /// # Errors
    /// Engine errors.
    pub fn delete_function_library(&self, name: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete_in(&self.state, [&[FUNCTION_TAG][..], name].concat());
        self.kv_write(batch)
    }
}
