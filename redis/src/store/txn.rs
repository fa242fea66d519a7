//! One command's writes: data, expiry index and slot counts, committed as one engine batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use strata::WriteBatch;

use super::{count_key, expire_key, Coll, Entry, Result, Store};
use crate::key::{self, SLOTS};
use crate::meta::{self, Collection};
use crate::sub;

/// One command's writes: data, expiry index and slot counts in one engine batch.
pub(super) struct Txn<'s> {
    pub(super) store: &'s Store,
    pub(super) batch: WriteBatch,
    /// `(physical db, slot)` -> change in (keys, expires).
    pub(super) deltas: HashMap<(u8, u16), (i64, i64)>,
    pub(super) now: u64,
    pub(super) expired: u64,
    /// The keys it removed because they expired (only while the store reports them).
    expired_keys: Vec<(u8, Vec<u8>)>,
}

impl<'s> Txn<'s> {
    pub(super) fn new(store: &'s Store, now: u64) -> Self {
        Txn {
            store,
            batch: WriteBatch::new(),
            deltas: HashMap::new(),
            now,
            expired: 0,
            expired_keys: Vec::new(),
        }
    }

    /// Counts (and, for a listener, keeps) a key removed or replaced because it expired.
    fn note_expired(&mut self, ekey: &[u8]) {
        self.expired += 1;
        if self.store.listening_expired() {
            if let Some((pdb, _, k)) = key::decode(ekey) {
                self.expired_keys.push((pdb, k.to_vec()));
            }
        }
    }

    pub(super) fn delta(&mut self, ekey: &[u8], keys: i64, expires: i64) {
        // A key whose slot is out of range was never counted (only a damaged entry has one).
        if let Some((pdb, slot, _)) = key::decode(ekey).filter(|(_, slot, _)| *slot < SLOTS) {
            let d = self.deltas.entry((pdb, slot)).or_default();
            d.0 += keys;
            d.1 += expires;
        }
    }

    /// Writes `new` (an encoded entry carrying its expiry) at `ekey`, whose entry as read
    /// under the lock is `old` (expired or not). An expiry already past deletes the key.
    pub(super) fn put(&mut self, ekey: &[u8], old: Option<&Entry>, new: Vec<u8>) -> Result<()> {
        let h = meta::header(&new)?;
        if h.expired(self.now) {
            self.delete(ekey, old);
            return Ok(());
        }
        let old_expiry = old.and_then(|e| e.header.expiry);
        if old_expiry != h.expiry {
            if let Some(at) = old_expiry {
                self.batch
                    .delete_in(&self.store.expire, expire_key(at, ekey));
            }
            if let Some(at) = h.expiry {
                self.batch
                    .put_in(&self.store.expire, expire_key(at, ekey), []);
            }
        }
        if old.is_some_and(|e| e.header.expired(self.now) && e.header.expiry.is_some()) {
            self.note_expired(ekey);
        }
        self.batch.put_in(&self.store.meta, ekey, new);
        self.delta(
            ekey,
            1 - i64::from(old.is_some()),
            i64::from(h.expiry.is_some()) - i64::from(old_expiry.is_some()),
        );
        Ok(())
    }

    /// Stores `body` as the collection `c` (keeping its expiry), or deletes the key if
    /// `body` has no elements left.
    pub(super) fn put_coll(&mut self, c: &Coll, body: &Collection) -> Result<()> {
        if body.count == 0 {
            self.delete(&c.ekey, c.raw.as_ref());
            return Ok(());
        }
        self.put(
            &c.ekey,
            c.raw.as_ref(),
            meta::encode_collection(c.ty, c.expiry(), body),
        )
    }

    /// Writes an element entry.
    pub(super) fn put_sub(&mut self, k: Vec<u8>, v: impl AsRef<[u8]>) {
        self.batch.put_in(&self.store.sub, k, v);
    }

    /// Deletes an element entry.
    pub(super) fn delete_sub(&mut self, k: Vec<u8>) {
        self.batch.delete_in(&self.store.sub, k);
    }

    /// Deletes the score-index entry of sorted-set `member` whose element value is `value`
    /// (its score), in the collection with element prefix `prefix`.
    pub(super) fn delete_score(
        &mut self,
        prefix: &[u8],
        value: &[u8],
        member: &[u8],
    ) -> Result<()> {
        let score = sub::score_value(value)
            .ok_or_else(|| meta::DecodeError::new("bad sorted-set score"))?;
        self.batch
            .delete_in(&self.store.score, sub::score_key(prefix, score, member));
        Ok(())
    }

    /// Deletes the key at `ekey`, whose entry as read under the lock is `old`.
    pub(super) fn delete(&mut self, ekey: &[u8], old: Option<&Entry>) {
        let Some(old) = old else { return };
        self.remove(ekey, old.header.expiry);
        if old.header.expired(self.now) {
            self.note_expired(ekey);
        }
    }

    /// Deletes an existing key whose expiry is `expiry` (for entries that may not decode).
    pub(super) fn remove(&mut self, ekey: &[u8], expiry: Option<u64>) {
        if let Some(at) = expiry {
            self.batch
                .delete_in(&self.store.expire, expire_key(at, ekey));
        }
        self.batch.delete_in(&self.store.meta, ekey);
        self.delta(ekey, -1, -i64::from(expiry.is_some()));
    }

    /// Writes the batch with the new counts of every slot it changed. Call with every such
    /// slot's lock held.
    pub(super) fn commit(mut self) -> Result<()> {
        let mut updates = Vec::with_capacity(self.deltas.len());
        for (&(pdb, slot), &(dk, de)) in &self.deltas {
            if dk == 0 && de == 0 {
                continue;
            }
            let c = &self.store.counts(pdb)[usize::from(slot)];
            let keys = apply(c.keys.load(Ordering::Relaxed), dk);
            let expires = apply(c.expires.load(Ordering::Relaxed), de);
            let mut v = [0u8; 16];
            v[..8].copy_from_slice(&keys.to_le_bytes());
            v[8..].copy_from_slice(&expires.to_le_bytes());
            self.batch
                .put_in(&self.store.state, count_key(pdb, slot), v);
            updates.push((pdb, slot, keys, expires, dk, de));
        }
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.store.kv_write(batch)?;
        for (pdb, slot, keys, expires, dk, de) in updates {
            let c = &self.store.counts(pdb)[usize::from(slot)];
            c.keys.store(keys, Ordering::Relaxed);
            c.expires.store(expires, Ordering::Relaxed);
            let t = &self.store.totals[usize::from(pdb)];
            add(&t.keys, dk);
            add(&t.expires, de);
        }
        self.store
            .expired_keys
            .fetch_add(self.expired, Ordering::Relaxed);
        if !self.expired_keys.is_empty() {
            self.store
                .log_expired(std::mem::take(&mut self.expired_keys));
        }
        self.store.changes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

pub(super) fn apply(v: u64, d: i64) -> u64 {
    if d >= 0 {
        v.saturating_add(d.unsigned_abs())
    } else {
        v.saturating_sub(d.unsigned_abs())
    }
}

pub(super) fn add(a: &AtomicU64, d: i64) {
    if d >= 0 {
        a.fetch_add(d.unsigned_abs(), Ordering::Relaxed);
    } else {
        let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(d.unsigned_abs()))
        });
    }
}
