//! Strings: GET, SET and its options, read-modify-write updates (INCR, APPEND, SETRANGE),
//! GETDEL, GETEX, MSET.

use std::collections::HashSet;

use super::{Entry, Result, Store, Txn};
use crate::key;
use crate::meta;

/// What `SET` does with an existing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Condition {
    /// Always set.
    #[default]
    Always,
    /// `NX`: only if the key does not exist.
    IfAbsent,
    /// `XX`: only if the key exists.
    IfPresent,
}

/// What a write does with the key's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expiry {
    /// `SET` without an option, `PERSIST`, `GETEX PERSIST`: the key becomes persistent.
    #[default]
    Clear,
    /// `KEEPTTL`, `GETEX` without an option: keep the current expiry.
    Keep,
    /// `EX`/`PX`/`EXAT`/`PXAT`: expire at this Unix time in milliseconds (a time already
    /// past deletes the key).
    At(u64),
}

/// The options of `SET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetOptions {
    /// `NX` / `XX`.
    pub condition: Condition,
    /// Expiry handling.
    pub expiry: Expiry,
    /// `GET`: return the old value (an error if it is not a string).
    pub get: bool,
}

/// What `SET` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOutcome {
    /// The value was written.
    pub written: bool,
    /// The old string value (asked for with `GET`).
    pub old: Option<Vec<u8>>,
}

impl Store {
    /// `GET`: the string value of `key`.
    ///
    /// # Errors
    /// [`Error::WrongType`] for a non-string key; engine errors.
    pub fn get(&self, db: u8, k: &[u8]) -> Result<Option<Vec<u8>>> {
        let ekey = key::encode(self.dbs()[usize::from(db)], k);
        match self.live(&ekey, self.now_ms())? {
            Some(e) => Ok(Some(e.string()?.to_vec())),
            None => Ok(None),
        }
    }

    /// `SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL]`.
    ///
    /// # Errors
    /// [`Error::WrongType`] with `GET` on a non-string key; engine errors.
    pub fn set(
        &self,
        db: u8,
        k: &[u8],
        value: impl Into<Vec<u8>>,
        opts: SetOptions,
    ) -> Result<SetOutcome> {
        let lock = self.lock_key(db, k);
        let (ekey, now) = (lock.ekey.as_slice(), lock.now);
        // Without GET the old value is replaced unread (a large one costs no read).
        let raw = if opts.get {
            self.raw(ekey)?
        } else {
            self.raw_header(ekey)?
        };
        let live = raw.as_ref().filter(|e| !e.header.expired(now));
        let old = match (live, opts.get) {
            (Some(e), true) => Some(e.string()?.to_vec()),
            _ => None,
        };
        let allowed = match opts.condition {
            Condition::Always => true,
            Condition::IfAbsent => live.is_none(),
            Condition::IfPresent => live.is_some(),
        };
        if !allowed {
            return Ok(SetOutcome {
                written: false,
                old,
            });
        }
        let expiry = match opts.expiry {
            Expiry::Clear => None,
            Expiry::Keep => live.and_then(|e| e.header.expiry),
            Expiry::At(ms) => Some(ms),
        };
        // At most two copies of a large value are alive at once: the value and its entry,
        // the entry and the batch, the batch and the memtable.
        let entry = {
            let value: Vec<u8> = value.into();
            meta::encode_string(&value, expiry)
        };
        let mut txn = Txn::new(self, now);
        txn.put(ekey, raw.as_ref(), entry)?;
        txn.commit()?;
        Ok(SetOutcome { written: true, old })
    }

    /// Replaces the string at `key` with `f(old)`, keeping its expiry (INCR, APPEND, SETRANGE
    /// keep a key's TTL in Redis). `f` returns the new value and what to reply; `None` leaves
    /// the key untouched.
    ///
    /// # Errors
    /// [`Error::WrongType`] for a non-string key; what `f` returns; engine errors.
    pub fn update_string<T>(
        &self,
        db: u8,
        k: &[u8],
        f: impl FnOnce(Option<&[u8]>) -> Result<(Option<Vec<u8>>, T)>,
    ) -> Result<T> {
        let lock = self.lock_key(db, k);
        let (ekey, now) = (lock.ekey.as_slice(), lock.now);
        let raw = self.raw(ekey)?;
        let live = raw.as_ref().filter(|e| !e.header.expired(now));
        let value = live.map(Entry::string).transpose()?;
        let (new, reply) = f(value)?;
        if let Some(new) = new {
            let expiry = live.and_then(|e| e.header.expiry);
            let mut txn = Txn::new(self, now);
            txn.put(ekey, raw.as_ref(), meta::encode_string(&new, expiry))?;
            txn.commit()?;
        }
        Ok(reply)
    }

    /// `BITOP`, `PFMERGE`: stores `f` of the string values of `keys` (a missing key `None`)
    /// at `dst` (replacing any value; an empty result deletes `dst`; `None` writes nothing),
    /// all under the keys' locks, in one batch; returns the result's length. `dst` keeps its
    /// TTL with `keep_ttl` (PFMERGE), loses it without (BITOP, as SET).
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType) if a source is not a string; engine
    /// errors.
    pub fn strings_combine_store<K: AsRef<[u8]>>(
        &self,
        db: u8,
        dst: &[u8],
        keys: &[K],
        keep_ttl: bool,
        f: impl FnOnce(&[Option<Vec<u8>>]) -> Option<Vec<u8>>,
    ) -> Result<Option<u64>> {
        let t = self.lock_for_store(db, keys, dst);
        let now = self.now_ms();
        let mut values = Vec::with_capacity(t.sources.len());
        for ekey in &t.sources {
            let raw = self.raw(ekey)?;
            let live = raw.filter(|e| !e.header.expired(now));
            values.push(live.map(|e| e.string().map(<[u8]>::to_vec)).transpose()?);
        }
        let Some(out) = f(&values) else {
            return Ok(None);
        };
        let old = self.raw_header(&t.dst)?;
        let mut txn = Txn::new(self, now);
        if out.is_empty() {
            txn.delete(&t.dst, old.as_ref());
        } else {
            let ttl = old
                .as_ref()
                .filter(|e| keep_ttl && !e.header.expired(now))
                .and_then(|e| e.header.expiry);
            txn.put(&t.dst, old.as_ref(), meta::encode_string(&out, ttl))?;
        }
        txn.commit()?;
        Ok(Some(out.len() as u64))
    }

    /// `GETDEL`: the string value of `key`, deleting the key.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType) for a non-string key (which is then left
    /// alone); engine errors.
    pub fn getdel(&self, db: u8, k: &[u8]) -> Result<Option<Vec<u8>>> {
        self.take_string(db, k, |ekey, e, now| {
            let mut txn = Txn::new(self, now);
            txn.delete(ekey, Some(e));
            txn.commit()
        })
    }

    /// `GETEX`: the string value of `key`, changing its expiry as `expiry` says.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType) for a non-string key; engine errors.
    pub fn getex(&self, db: u8, k: &[u8], expiry: Expiry) -> Result<Option<Vec<u8>>> {
        self.take_string(db, k, |ekey, e, now| {
            let new_expiry = match expiry {
                Expiry::Keep => return Ok(()),
                Expiry::Clear => None,
                Expiry::At(at) => Some(at),
            };
            self.change_expiry(ekey, e, new_expiry, now)
        })
    }

    /// The live string value of `key`, after `then(engine key, entry, now)` ran under the
    /// key's slot lock (GETDEL, GETEX); `None`, and `then` not run, for a missing key.
    fn take_string(
        &self,
        db: u8,
        k: &[u8],
        then: impl FnOnce(&[u8], &Entry, u64) -> Result<()>,
    ) -> Result<Option<Vec<u8>>> {
        let lock = self.lock_key(db, k);
        let (ekey, now) = (lock.ekey.as_slice(), lock.now);
        let Some(e) = self.live(ekey, now)? else {
            return Ok(None);
        };
        let value = e.string()?.to_vec();
        then(ekey, &e, now)?;
        Ok(Some(value))
    }

    /// `MSET`: sets every pair in one atomic write, clearing expiries (the last value of a key
    /// named twice wins). With `only_if_none_exist` (`MSETNX`) nothing is written if any key
    /// exists; returns whether it wrote.
    ///
    /// # Errors
    /// Engine errors.
    pub fn mset(&self, db: u8, pairs: &[(&[u8], &[u8])], only_if_none_exist: bool) -> Result<bool> {
        let dbs = self.dbs();
        let pdb = dbs[usize::from(db)];
        let mut seen = HashSet::new();
        let mut last: Vec<(Vec<u8>, &[u8])> = pairs
            .iter()
            .rev()
            .map(|(k, v)| (key::encode(pdb, k), *v))
            .filter(|(k, _)| seen.insert(k.clone()))
            .collect();
        last.reverse();
        let ekeys: Vec<&[u8]> = last.iter().map(|(k, _)| k.as_slice()).collect();
        let _guards = self.lock_keys(&ekeys);
        let now = self.now_ms();
        let mut txn = Txn::new(self, now);
        for (ekey, value) in &last {
            let raw = self.raw(ekey)?;
            if only_if_none_exist && raw.as_ref().is_some_and(|e| !e.header.expired(now)) {
                return Ok(false);
            }
            txn.put(ekey, raw.as_ref(), meta::encode_string(value, None))?;
        }
        txn.commit()?;
        Ok(true)
    }
}
