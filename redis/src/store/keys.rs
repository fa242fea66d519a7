//! Generic key commands: TYPE, DEL, EXISTS, RENAME, COPY, MOVE, and a key's expiry
//! (EXPIRE and friends, TTL, PERSIST).

use std::collections::HashSet;

use super::{Entry, Result, Store, Txn};
use crate::key;
use crate::meta::{self, Collection, Meta, RedisType};
use crate::sub;

/// What `RENAME`/`RENAMENX` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameOutcome {
    /// The source key does not exist (`ERR no such key`).
    NoSuchKey,
    /// `RENAMENX` and the destination exists: nothing changed.
    DestinationExists,
    /// Renamed.
    Renamed,
}

impl Store {
    /// Rewrites the live entry `e` at `ekey` with a new expiry (a past one deletes the key).
    /// Call with the key's slot locked.
    pub(super) fn change_expiry(
        &self,
        ekey: &[u8],
        e: &Entry,
        expiry: Option<u64>,
        now: u64,
    ) -> Result<()> {
        if expiry == e.header.expiry {
            return Ok(());
        }
        let mut bytes = e.bytes.clone();
        meta::set_expiry(&mut bytes, expiry)?;
        let mut txn = Txn::new(self, now);
        txn.put(ekey, Some(e), bytes)?;
        txn.commit()
    }

    /// The expiry of `key` (Unix ms): `None` if absent, `Some(None)` if persistent.
    ///
    /// # Errors
    /// Engine errors.
    pub fn expiry(&self, db: u8, k: &[u8]) -> Result<Option<Option<u64>>> {
        let ekey = key::encode(self.dbs()[usize::from(db)], k);
        Ok(self.live(&ekey, self.now_ms())?.map(|e| e.header.expiry))
    }

    /// The type of `key`, if it exists.
    ///
    /// # Errors
    /// A damaged entry; engine errors.
    pub fn key_type(&self, db: u8, k: &[u8]) -> Result<Option<RedisType>> {
        let ekey = key::encode(self.dbs()[usize::from(db)], k);
        Ok(self.live(&ekey, self.now_ms())?.map(|e| e.header.ty))
    }

    /// Sets (`Some(ms)`, a past time deletes the key) or removes (`None`) the expiry of an
    /// existing key, if `allow(current)` agrees. Returns whether the key existed and was
    /// changed.
    ///
    /// # Errors
    /// Engine errors.
    pub fn set_expiry(
        &self,
        db: u8,
        k: &[u8],
        expiry: Option<u64>,
        allow: impl FnOnce(Option<u64>) -> bool,
    ) -> Result<bool> {
        let lock = self.lock_key(db, k);
        let (ekey, now) = (lock.ekey.as_slice(), lock.now);
        let Some(e) = self.live(ekey, now)? else {
            return Ok(false);
        };
        if !allow(e.header.expiry) {
            return Ok(false);
        }
        self.change_expiry(ekey, &e, expiry, now)?;
        Ok(true)
    }

    /// `DEL key...`: deletes the keys in one atomic write; returns how many existed. Expired
    /// keys met on the way are deleted too (not counted, as in Redis).
    ///
    /// # Errors
    /// Engine errors.
    pub fn del<K: AsRef<[u8]>>(&self, db: u8, keys: &[K]) -> Result<u64> {
        let dbs = self.dbs();
        let pdb = dbs[usize::from(db)];
        let mut seen = HashSet::new();
        let ekeys: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| key::encode(pdb, k.as_ref()))
            .filter(|k| seen.insert(k.clone()))
            .collect();
        let _guards = self.lock_keys(&ekeys);
        let now = self.now_ms();
        let mut txn = Txn::new(self, now);
        let mut n = 0;
        for ekey in &ekeys {
            let raw = self.raw(ekey)?;
            if let Some(e) = &raw {
                n += u64::from(!e.header.expired(now));
                txn.delete(ekey, Some(e));
            }
        }
        txn.commit()?;
        Ok(n)
    }

    /// `EXISTS key...` (and `TOUCH`): how many of the keys exist (a key named twice counts
    /// twice).
    ///
    /// # Errors
    /// Engine errors.
    pub fn exists<K: AsRef<[u8]>>(&self, db: u8, keys: &[K]) -> Result<u64> {
        let dbs = self.dbs();
        let pdb = dbs[usize::from(db)];
        let now = self.now_ms();
        let mut n = 0;
        for k in keys {
            n += u64::from(self.live(&key::encode(pdb, k.as_ref()), now)?.is_some());
        }
        Ok(n)
    }

    /// `RENAME` / `RENAMENX` (`only_if_absent`): moves the value and expiry of `src` to `dst`
    /// in one atomic write.
    ///
    /// # Errors
    /// Engine errors.
    pub fn rename(
        &self,
        db: u8,
        src: &[u8],
        dst: &[u8],
        only_if_absent: bool,
    ) -> Result<RenameOutcome> {
        let dbs = self.dbs();
        let pdb = dbs[usize::from(db)];
        let (esrc, edst) = (key::encode(pdb, src), key::encode(pdb, dst));
        let _guards = self.lock_keys(&[&esrc, &edst]);
        let now = self.now_ms();
        let Some(from) = self.live(&esrc, now)? else {
            return Ok(RenameOutcome::NoSuchKey);
        };
        if esrc == edst {
            return Ok(if only_if_absent {
                RenameOutcome::DestinationExists
            } else {
                RenameOutcome::Renamed
            });
        }
        let to = self.raw(&edst)?;
        if only_if_absent && to.as_ref().is_some_and(|e| !e.header.expired(now)) {
            return Ok(RenameOutcome::DestinationExists);
        }
        let mut txn = Txn::new(self, now);
        txn.delete(&esrc, Some(&from));
        let value = self.copy_value(&mut txn, &from, &esrc, &edst)?;
        txn.put(&edst, to.as_ref(), value)?;
        txn.commit()?;
        Ok(RenameOutcome::Renamed)
    }

    /// `COPY src dst [DB dst_db] [REPLACE]`: copies value and expiry; returns whether it
    /// copied (not if `src` is missing, or `dst` exists without `replace`).
    ///
    /// # Errors
    /// Engine errors.
    pub fn copy(&self, db: u8, src: &[u8], dst_db: u8, dst: &[u8], replace: bool) -> Result<bool> {
        let dbs = self.dbs();
        let esrc = key::encode(dbs[usize::from(db)], src);
        let edst = key::encode(dbs[usize::from(dst_db)], dst);
        self.copy_key(&esrc, &edst, replace, false)
    }

    /// `MOVE key db`: moves a key to another database unless it exists there.
    ///
    /// # Errors
    /// Engine errors.
    pub fn move_key(&self, db: u8, k: &[u8], dst_db: u8) -> Result<bool> {
        let dbs = self.dbs();
        let esrc = key::encode(dbs[usize::from(db)], k);
        let edst = key::encode(dbs[usize::from(dst_db)], k);
        self.copy_key(&esrc, &edst, false, true)
    }

    /// COPY and MOVE: copies the live key at `esrc` to `edst` unless that is the same key
    /// or (without `replace`) holds a live key; with `remove_source` the source is deleted in
    /// the same batch. Returns whether it copied.
    fn copy_key(
        &self,
        esrc: &[u8],
        edst: &[u8],
        replace: bool,
        remove_source: bool,
    ) -> Result<bool> {
        let _guards = self.lock_keys(&[esrc, edst]);
        let now = self.now_ms();
        let Some(from) = self.live(esrc, now)? else {
            return Ok(false);
        };
        if esrc == edst {
            return Ok(false);
        }
        let to = self.raw(edst)?;
        if !replace && to.as_ref().is_some_and(|e| !e.header.expired(now)) {
            return Ok(false);
        }
        let mut txn = Txn::new(self, now);
        if remove_source {
            txn.delete(esrc, Some(&from));
        }
        let value = self.copy_value(&mut txn, &from, esrc, edst)?;
        txn.put(edst, to.as_ref(), value)?;
        txn.commit()?;
        Ok(true)
    }

    /// Writes a copy of the elements of `from` (the live entry at `src`) for the key `dst`
    /// into `txn` under a new version, and returns the metadata entry to store at `dst`
    /// (RENAME, COPY, MOVE). A string is its entry.
    pub(super) fn copy_value(
        &self,
        txn: &mut Txn<'_>,
        from: &Entry,
        src: &[u8],
        dst: &[u8],
    ) -> Result<Vec<u8>> {
        let (h, m) = meta::decode(&from.bytes)?;
        let Meta::Collection(body) = m else {
            return Ok(from.bytes.clone());
        };
        let new = Collection {
            version: self.new_version()?,
            ..body
        };
        let (old_prefix, new_prefix) = (
            sub::prefix(src, body.version),
            sub::prefix(dst, new.version),
        );
        let mut keyspaces = vec![&self.sub];
        if h.ty == RedisType::ZSet {
            keyspaces.push(&self.score);
        }
        for ks in keyspaces {
            for item in ks.prefix(&old_prefix)? {
                let (k, v) = item?;
                txn.batch
                    .put_in(ks, sub::join(&new_prefix, &k[old_prefix.len()..]), v);
            }
        }
        Ok(meta::encode_collection(h.ty, h.expiry, &new))
    }
}

/// Bytes an engine entry costs beyond its key and value: the internal key's sequence number
/// and kind (8), length prefixes and block or memtable bookkeeping (about 8).
const ENTRY_OVERHEAD: u64 = 16;

impl Store {
    /// `MEMORY USAGE`: an estimate of the bytes the live key `k` takes in storage: its
    /// metadata entry, and for a collection its elements as stored, from the first `samples`
    /// of them scaled to the count (all of them for `samples` = 0), each entry with
    /// [`ENTRY_OVERHEAD`]. `None` if the key does not exist. Redis's figure is memory; here
    /// most of a key lives on disk, compressed or not, so this counts the uncompressed
    /// bytes it stores.
    ///
    /// # Errors
    /// Engine errors.
    pub fn memory_usage(&self, db: u8, k: &[u8], samples: usize) -> Result<Option<u64>> {
        let ekey = key::encode(self.dbs()[usize::from(db)], k);
        let now = self.now_ms();
        let Some(e) = self.raw(&ekey)?.filter(|e| !e.header.expired(now)) else {
            return Ok(None);
        };
        let mut bytes = (ekey.len() + e.bytes.len()) as u64 + ENTRY_OVERHEAD;
        if e.header.ty == RedisType::String {
            return Ok(Some(bytes));
        }
        let (guard, c, _) = self.locked_coll(db, k, e.header.ty)?;
        let count = c.len();
        let Some(mut cursor) = self.element_cursor(&c)? else {
            return Ok(Some(bytes));
        };
        drop(guard);
        let limit = if samples == 0 { usize::MAX } else { samples };
        let (mut seen, mut sampled) = (0u64, 0u64);
        while cursor.it.valid() && (seen as usize) < limit {
            sampled += (cursor.it.key().len() + cursor.it.value().len()) as u64;
            seen += 1;
            cursor.it.next();
        }
        cursor.it.status()?;
        if let Some(average) = sampled.checked_div(seen) {
            bytes += (average + ENTRY_OVERHEAD).saturating_mul(count);
        }
        Ok(Some(bytes))
    }
}

/// The thresholds of Redis's `*-max-*` settings, which decide what `OBJECT ENCODING` reports
/// for a collection.
#[derive(Debug, Clone, Copy)]
pub struct EncodingLimits {
    /// `hash-max-listpack-entries`, `hash-max-listpack-value`.
    pub hash_entries: u64,
    pub hash_value: u64,
    /// `set-max-intset-entries`, `set-max-listpack-entries`, `set-max-listpack-value`.
    pub set_intset_entries: u64,
    pub set_entries: u64,
    pub set_value: u64,
    /// `zset-max-listpack-entries`, `zset-max-listpack-value`.
    pub zset_entries: u64,
    pub zset_value: u64,
    /// `list-max-listpack-size`: entries per node if positive; -1 to -5 are 4 to 64 KiB.
    pub list_size: i64,
}

/// Whether `b` is an integer as Redis writes one (what an intset or an `int` string holds).
fn is_canonical_integer(b: &[u8]) -> bool {
    b.len() <= 20
        && std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .is_some_and(|n| n.to_string().as_bytes() == b)
}

impl Store {
    /// `OBJECT ENCODING`: what Redis would report for a key with these contents under
    /// `limits` (Strata stores every type the same way, as entries in sorted tables):
    /// `int`/`embstr`/`raw` for strings, `listpack` for a collection small enough for one
    /// (`intset` for a small set of integers), else `hashtable`, `quicklist` or `skiplist`.
    /// `None` if the key does not exist.
    ///
    /// # Errors
    /// Engine errors.
    pub fn object_encoding(
        &self,
        db: u8,
        k: &[u8],
        limits: &EncodingLimits,
    ) -> Result<Option<&'static str>> {
        let ekey = key::encode(self.dbs()[usize::from(db)], k);
        let now = self.now_ms();
        let Some(e) = self.raw(&ekey)?.filter(|e| !e.header.expired(now)) else {
            return Ok(None);
        };
        let ty = e.header.ty;
        if ty == RedisType::String {
            let v = e.string()?;
            return Ok(Some(if is_canonical_integer(v) {
                "int"
            } else if v.len() <= 44 {
                "embstr"
            } else {
                "raw"
            }));
        }
        let (guard, c, _) = self.locked_coll(db, k, ty)?;
        let count = c.len();
        // Beyond this many elements no small encoding applies: no need to look at them.
        let small = match ty {
            RedisType::Hash => limits.hash_entries,
            RedisType::Set => limits.set_intset_entries.max(limits.set_entries),
            RedisType::ZSet => limits.zset_entries,
            // A size-limited node (a negative setting) holds at most 64 Ki (tiny) entries.
            _ => u64::try_from(limits.list_size).unwrap_or(64 * 1024),
        };
        let (mut longest_name, mut longest_value, mut bytes, mut integers) = (0, 0, 0, true);
        if count <= small {
            if let Some(mut cursor) = self.element_cursor(&c)? {
                drop(guard);
                while cursor.it.valid() {
                    let name = &cursor.it.key()[cursor.skip..];
                    let value = cursor.it.value();
                    longest_name = longest_name.max(name.len() as u64);
                    longest_value = longest_value.max(value.len() as u64);
                    bytes += (name.len() + value.len()) as u64 + 2;
                    integers &= is_canonical_integer(name);
                    cursor.it.next();
                }
                cursor.it.status()?;
            }
        }
        Ok(Some(match ty {
            RedisType::Hash => {
                if count <= limits.hash_entries
                    && longest_name <= limits.hash_value
                    && longest_value <= limits.hash_value
                {
                    "listpack"
                } else {
                    "hashtable"
                }
            }
            RedisType::Set => {
                if integers && count <= limits.set_intset_entries {
                    "intset"
                } else if count <= limits.set_entries && longest_name <= limits.set_value {
                    "listpack"
                } else {
                    "hashtable"
                }
            }
            RedisType::ZSet => {
                if count <= limits.zset_entries && longest_name <= limits.zset_value {
                    "listpack"
                } else {
                    "skiplist"
                }
            }
            _ => {
                let fits = match u64::try_from(limits.list_size) {
                    Ok(entries) => count <= entries,
                    // -1 .. -5: 4 KiB .. 64 KiB in one node.
                    Err(_) => {
                        let shift = limits.list_size.unsigned_abs().clamp(1, 5) - 1;
                        count <= small && bytes <= 4096 << shift
                    }
                };
                if fits {
                    "listpack"
                } else {
                    "quicklist"
                }
            }
        }))
    }
}
