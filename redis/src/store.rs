//! Redis keys over the engine.
//!
//! Three engine keyspaces:
//!
//! ```text
//! redis.meta    db | slot | key           -> metadata entry (meta.rs): type, expiry, value
//! redis.expire  expire_ms: u64 BE | meta key -> ""     (the expiry index, oldest first)
//! redis.state   'c' | db | slot           -> keys: u64 LE, keys with an expiry: u64 LE
//!               'm'                       -> 256 bytes: physical db of each logical db
//!               'v'                       -> next collection version: u64 LE
//! redis.sub     element keys (sub.rs)     -> hash value, zset score, list element, or ""
//! redis.score   score keys (sub.rs)       -> ""  (sorted sets by score)
//! ```
//!
//! Collections (`docs/redis-encoding.md`) keep their count and version in the metadata entry
//! and one engine entry per element keyed by that version; deleting or replacing one changes
//! the metadata only, and [`ElementGc`] drops the orphaned elements during compaction.
//!
//! Every command is atomic and isolated against every other command on the same keys: it holds
//! the lock of each hash slot it touches (one lock per slot, so a slot's key count is guarded by
//! the same lock as its keys) and ends in one engine write carrying the data, the expiry index
//! and the slot counts together. The counts are therefore exact at every crash point, and
//! `DBSIZE` is a read of an in-memory sum.
//!
//! An expired key reads as absent at once; it stays counted (as in Redis) until the expire
//! cycle ([`Store::expire_cycle`], run in the background by [`Store::start_expire_cycle`])
//! finds it in the expiry index and deletes it, or a write to the key replaces it.
//!
//! `SWAPDB` swaps two entries of the logical-to-physical database map: O(1) whatever the sizes.
//! Every command resolves its database under a read lock of the map and keeps it to the end.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, Weak};
use std::time::Duration;

use strata::{
    Clock, CompactionFilter, Db, DbIterator, Keyspace, Options, ReadOptions, WriteBatch,
    WriteOptions,
};

use crate::gc::ElementGc;
use crate::key::{self, SLOTS};
use crate::meta::{self, Collection, Header, Meta, RedisType};
use crate::{pattern, sub};

#[cfg(test)]
mod collection_tests;
mod elements;
mod hash;
mod list;
mod set;
mod zset;

pub use list::{End, LposOptions, LsetOutcome, Popped};
pub use set::SetOp;
pub use zset::{
    Aggregate, LexBound, ScoreBound, Scored, ZOp, ZRange, ZRangeSpec, ZaddOptions, ZaddOutcome,
};

/// Name of the engine keyspace holding metadata entries.
pub const META_KEYSPACE: &str = "redis.meta";
/// Name of the engine keyspace holding the expiry index.
pub const EXPIRE_KEYSPACE: &str = "redis.expire";
/// Name of the engine keyspace holding slot counts, the database map and the version counter.
pub const STATE_KEYSPACE: &str = "redis.state";
/// Name of the engine keyspace holding collection elements.
pub const SUB_KEYSPACE: &str = "redis.sub";
/// Name of the engine keyspace holding the score index of sorted sets.
pub const SCORE_KEYSPACE: &str = "redis.score";

/// Number of databases the key encoding can address (`db` is one byte).
pub const MAX_DATABASES: usize = 256;

const COUNT_TAG: u8 = b'c';
const DBMAP_KEY: &[u8] = b"m";
const VERSION_KEY: &[u8] = b"v";
/// Collection versions reserved per write of the version counter.
const VERSION_BLOCK: u64 = 65536;
/// Keys deleted per engine write by FLUSHDB.
const FLUSH_CHUNK: usize = 4096;
/// Index entries handled per engine write by the expire cycle.
const SWEEP_CHUNK: usize = 512;
/// SCAN positions remembered for cursors that stop inside a slot.
const MAX_CURSORS: usize = 4096;

/// Errors of Redis operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key holds a value of another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// A metadata entry that does not decode.
    #[error("ERR {0}")]
    Corrupt(#[from] meta::DecodeError),
    /// The engine failed.
    #[error("ERR {0}")]
    Engine(#[from] strata::Error),
}

/// Elements as (field or member, value) pairs.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Result type of Redis operations.
pub type Result<T> = std::result::Result<T, Error>;

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

/// Key counts of one database, as `DBSIZE` and `INFO keyspace` report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DbCounts {
    /// Keys, including expired keys the expire cycle has not deleted yet (as in Redis).
    pub keys: u64,
    /// Of those, keys with an expiry.
    pub expires: u64,
}

/// Counters for `INFO stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Keys deleted because they expired (by the expire cycle or on access).
    pub expired_keys: u64,
    /// Lookups that found a key.
    pub keyspace_hits: u64,
    /// Lookups that found nothing.
    pub keyspace_misses: u64,
}

/// A metadata entry as read, expired or not.
#[derive(Debug)]
struct Entry {
    bytes: Vec<u8>,
    header: Header,
}

impl Entry {
    fn decode(bytes: Vec<u8>) -> Result<Entry> {
        let header = meta::header(&bytes)?;
        Ok(Entry { bytes, header })
    }

    /// The string value, or [`Error::WrongType`].
    fn string(&self) -> Result<&[u8]> {
        if self.header.ty != RedisType::String {
            return Err(Error::WrongType);
        }
        match meta::decode(&self.bytes)? {
            (_, Meta::String(v)) => Ok(v),
            (_, Meta::Collection(_)) => Err(Error::WrongType),
        }
    }
}

/// A collection key as read under its slot lock.
#[derive(Debug)]
struct Coll {
    ekey: Vec<u8>,
    /// The entry as stored, expired or not (for the batch's bookkeeping).
    raw: Option<Entry>,
    ty: RedisType,
    /// The collection, if the key holds a live one (of type `ty`).
    body: Option<Collection>,
}

impl Coll {
    /// The live collection's expiry.
    fn expiry(&self) -> Option<u64> {
        self.body
            .and(self.raw.as_ref())
            .and_then(|e| e.header.expiry)
    }

    /// The element-key prefix of the live collection.
    fn prefix(&self) -> Option<Vec<u8>> {
        self.body.map(|b| sub::prefix(&self.ekey, b.version))
    }

    /// Live elements (0 if absent).
    fn len(&self) -> u64 {
        self.body.map_or(0, |b| b.count)
    }
}

/// A walk over one collection's elements (see [`Store::element_cursor`]).
struct ElementCursor {
    it: DbIterator,
    /// Bytes of element-key prefix to drop.
    skip: usize,
    /// Expected number of elements (capacity hint).
    len: usize,
}

impl ElementCursor {
    /// The remaining (field, value) pairs.
    fn pairs(mut self) -> Result<Pairs> {
        let mut out = Vec::with_capacity(self.len);
        while self.it.valid() {
            out.push((
                self.it.key()[self.skip..].to_vec(),
                self.it.value().to_vec(),
            ));
            self.it.next();
        }
        self.it.status()?;
        Ok(out)
    }

    /// The remaining fields (values dropped).
    fn fields(mut self) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::with_capacity(self.len);
        while self.it.valid() {
            out.push(self.it.key()[self.skip..].to_vec());
            self.it.next();
        }
        self.it.status()?;
        Ok(out)
    }

    /// The remaining values, at most `n`.
    fn values(mut self, n: usize) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::with_capacity(self.len.min(n));
        while self.it.valid() && out.len() < n {
            out.push(self.it.value().to_vec());
            self.it.next();
        }
        self.it.status()?;
        Ok(out)
    }
}

/// The keys of a STORE command (SINTERSTORE, ZUNIONSTORE, ...) with all their slots locked.
struct StoreTarget<'a> {
    sources: Vec<Vec<u8>>,
    dst: Vec<u8>,
    _guards: Vec<SlotGuard<'a>>,
}

/// The version counter: versions below `bound` are reserved on disk.
#[derive(Debug)]
struct Versions {
    next: u64,
    bound: u64,
}

/// Per-slot counts of one physical database.
#[derive(Debug)]
struct SlotCounts {
    keys: AtomicU64,
    expires: AtomicU64,
}

#[derive(Debug, Default)]
struct DbTotals {
    keys: AtomicU64,
    expires: AtomicU64,
}

/// SCAN positions inside slots (and HSCAN/SSCAN/ZSCAN positions inside collections), by
/// token.
#[derive(Debug)]
struct Cursors<T> {
    next: u32,
    map: HashMap<u32, T>,
    order: VecDeque<u32>,
}

impl<T> Default for Cursors<T> {
    fn default() -> Self {
        Cursors {
            next: 0,
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<T> Cursors<T> {
    fn remember(&mut self, position: T) -> u32 {
        self.next = self.next.wrapping_add(1).max(1);
        let token = self.next;
        if self.order.len() >= MAX_CURSORS {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        self.map.insert(token, position);
        self.order.push_back(token);
        token
    }
}

/// The Redis data model over one open engine database.
#[derive(Debug)]
pub struct Store {
    db: Db,
    meta: Keyspace,
    expire: Keyspace,
    state: Keyspace,
    sub: Keyspace,
    score: Keyspace,
    gc: Arc<ElementGc>,
    versions: parking_lot::Mutex<Versions>,
    clock: Arc<dyn Clock>,
    /// One lock per hash slot (parking_lot: spins briefly before sleeping, and an unlock
    /// with no sleeper costs no syscall; critical sections here are microseconds).
    locks: Box<[parking_lot::Mutex<()>]>,
    /// Per physical database: per-slot counts, allocated on first use.
    slot_counts: Box<[OnceLock<Box<[SlotCounts]>>]>,
    totals: Box<[DbTotals]>,
    dbmap: RwLock<[u8; MAX_DATABASES]>,
    cursors: Mutex<Cursors<(u8, Vec<u8>)>>,
    /// Element scans: metadata key and the last element key returned.
    element_cursors: Mutex<Cursors<(Vec<u8>, Vec<u8>)>>,
    expired_keys: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A held slot lock.
type SlotGuard<'a> = parking_lot::MutexGuard<'a, ()>;

/// Index key of the expiry index.
fn expire_key(at: u64, ekey: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + ekey.len());
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(ekey);
    k
}

fn count_key(pdb: u8, slot: u16) -> [u8; 4] {
    let s = slot.to_be_bytes();
    [COUNT_TAG, pdb, s[0], s[1]]
}

/// The slot of an engine key built by [`key::encode`] (masked into range, so a damaged key
/// read from disk picks some lock instead of indexing out of bounds).
fn slot_of(ekey: &[u8]) -> u16 {
    key::decode(ekey).map_or(0, |(_, slot, _)| slot & (SLOTS - 1))
}

/// One command's writes: data, expiry index and slot counts in one engine batch.
struct Txn<'s> {
    store: &'s Store,
    batch: WriteBatch,
    /// `(physical db, slot)` -> change in (keys, expires).
    deltas: HashMap<(u8, u16), (i64, i64)>,
    now: u64,
    expired: u64,
}

impl<'s> Txn<'s> {
    fn new(store: &'s Store, now: u64) -> Self {
        Txn {
            store,
            batch: WriteBatch::new(),
            deltas: HashMap::new(),
            now,
            expired: 0,
        }
    }

    fn delta(&mut self, ekey: &[u8], keys: i64, expires: i64) {
        // A key whose slot is out of range was never counted (only a damaged entry has one).
        if let Some((pdb, slot, _)) = key::decode(ekey).filter(|(_, slot, _)| *slot < SLOTS) {
            let d = self.deltas.entry((pdb, slot)).or_default();
            d.0 += keys;
            d.1 += expires;
        }
    }

    /// Writes `new` (an encoded entry carrying its expiry) at `ekey`, whose entry as read
    /// under the lock is `old` (expired or not). An expiry already past deletes the key.
    fn put(&mut self, ekey: &[u8], old: Option<&Entry>, new: Vec<u8>) -> Result<()> {
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
        if let Some(e) = old.filter(|e| e.header.expired(self.now)) {
            self.expired += u64::from(e.header.expiry.is_some());
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
    fn put_coll(&mut self, c: &Coll, body: &Collection) -> Result<()> {
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
    fn put_sub(&mut self, k: Vec<u8>, v: impl AsRef<[u8]>) {
        self.batch.put_in(&self.store.sub, k, v);
    }

    /// Deletes an element entry.
    fn delete_sub(&mut self, k: Vec<u8>) {
        self.batch.delete_in(&self.store.sub, k);
    }

    /// Deletes the score-index entry of sorted-set `member` whose element value is `value`
    /// (its score), in the collection with element prefix `prefix`.
    fn delete_score(&mut self, prefix: &[u8], value: &[u8], member: &[u8]) -> Result<()> {
        let score = sub::score_value(value)
            .ok_or_else(|| meta::DecodeError::new("bad sorted-set score"))?;
        self.batch
            .delete_in(&self.store.score, sub::score_key(prefix, score, member));
        Ok(())
    }

    /// Deletes the key at `ekey`, whose entry as read under the lock is `old`.
    fn delete(&mut self, ekey: &[u8], old: Option<&Entry>) {
        let Some(old) = old else { return };
        self.remove(ekey, old.header.expiry);
        if old.header.expired(self.now) {
            self.expired += 1;
        }
    }

    /// Deletes an existing key whose expiry is `expiry` (for entries that may not decode).
    fn remove(&mut self, ekey: &[u8], expiry: Option<u64>) {
        if let Some(at) = expiry {
            self.batch
                .delete_in(&self.store.expire, expire_key(at, ekey));
        }
        self.batch.delete_in(&self.store.meta, ekey);
        self.delta(ekey, -1, -i64::from(expiry.is_some()));
    }

    /// Writes the batch with the new counts of every slot it changed. Call with every such
    /// slot's lock held.
    fn commit(mut self) -> Result<()> {
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
        self.store.db.write(batch, WriteOptions::default())?;
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
        Ok(())
    }
}

fn apply(v: u64, d: i64) -> u64 {
    if d >= 0 {
        v.saturating_add(d.unsigned_abs())
    } else {
        v.saturating_sub(d.unsigned_abs())
    }
}

fn add(a: &AtomicU64, d: i64) {
    if d >= 0 {
        a.fetch_add(d.unsigned_abs(), Ordering::Relaxed);
    } else {
        let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(d.unsigned_abs()))
        });
    }
}

/// A pseudo-random number (for `RANDOMKEY`; not for anything that needs real randomness).
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

impl Store {
    /// Opens (or creates) the engine database in `dir` with `options` plus the element
    /// collector ([`ElementGc`] as the compaction filter of the element keyspaces), creates
    /// the keyspaces the model needs and loads the key counts. Expiry is judged by `clock`.
    ///
    /// # Errors
    /// Engine errors; a damaged counts entry, database map or version counter.
    pub fn open(dir: impl AsRef<Path>, options: Options, clock: Arc<dyn Clock>) -> Result<Store> {
        let gc = Arc::new(ElementGc::new(Arc::clone(&clock)));
        let filter = Arc::clone(&gc) as Arc<dyn CompactionFilter>;
        let options = options
            .compaction_filter(SUB_KEYSPACE, Arc::clone(&filter))
            .compaction_filter(SCORE_KEYSPACE, filter);
        let db = Db::open(dir.as_ref(), options)?;
        let meta = db.keyspace(META_KEYSPACE)?;
        let expire = db.keyspace(EXPIRE_KEYSPACE)?;
        let state = db.keyspace(STATE_KEYSPACE)?;
        let sub = db.keyspace(SUB_KEYSPACE)?;
        let score = db.keyspace(SCORE_KEYSPACE)?;
        gc.attach(meta.downgrade());
        let next = match state.get(VERSION_KEY)? {
            None => 0,
            Some(v) => u64::from_le_bytes(
                <[u8; 8]>::try_from(v.as_slice())
                    .map_err(|_| meta::DecodeError::new("bad version counter"))?,
            ),
        };
        let bound = next
            .checked_add(VERSION_BLOCK)
            .ok_or_else(|| meta::DecodeError::new("version counter exhausted"))?;
        state.put(VERSION_KEY, bound.to_le_bytes())?;
        let mut map = [0u8; MAX_DATABASES];
        for (i, m) in map.iter_mut().enumerate() {
            *m = i as u8;
        }
        if let Some(stored) = state.get(DBMAP_KEY)? {
            let ok = stored.len() == MAX_DATABASES && {
                let mut seen = stored.clone();
                seen.sort_unstable();
                seen.iter().enumerate().all(|(i, &b)| usize::from(b) == i)
            };
            if !ok {
                return Err(meta::DecodeError::new("database map is not a permutation").into());
            }
            map.copy_from_slice(&stored);
        }
        let store = Store {
            db,
            meta,
            expire,
            state,
            sub,
            score,
            gc,
            versions: parking_lot::Mutex::new(Versions { next, bound }),
            clock,
            locks: (0..SLOTS).map(|_| parking_lot::Mutex::new(())).collect(),
            slot_counts: (0..MAX_DATABASES).map(|_| OnceLock::new()).collect(),
            totals: (0..MAX_DATABASES).map(|_| DbTotals::default()).collect(),
            dbmap: RwLock::new(map),
            cursors: Mutex::new(Cursors::default()),
            element_cursors: Mutex::new(Cursors::default()),
            expired_keys: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        };
        for item in store.state.prefix([COUNT_TAG])? {
            let (k, v) = item?;
            let (&[_, pdb, s0, s1], Ok(v)) = (k.as_slice(), <[u8; 16]>::try_from(v.as_slice()))
            else {
                return Err(meta::DecodeError::new("bad slot count entry").into());
            };
            let slot = u16::from_be_bytes([s0, s1]);
            if slot >= SLOTS {
                return Err(meta::DecodeError::new("slot count of a slot out of range").into());
            }
            let keys = u64::from_le_bytes(v[..8].try_into().unwrap_or_default());
            let expires = u64::from_le_bytes(v[8..].try_into().unwrap_or_default());
            let c = &store.counts(pdb)[usize::from(slot)];
            c.keys.store(keys, Ordering::Relaxed);
            c.expires.store(expires, Ordering::Relaxed);
            let t = &store.totals[usize::from(pdb)];
            t.keys.fetch_add(keys, Ordering::Relaxed);
            t.expires.fetch_add(expires, Ordering::Relaxed);
        }
        Ok(store)
    }

    /// The engine database.
    pub fn engine(&self) -> &Db {
        &self.db
    }

    /// The compaction filter collecting the elements of dead collections.
    pub fn element_gc(&self) -> &ElementGc {
        &self.gc
    }

    /// A version no collection of this database has used. The counter's new bound reaches
    /// the WAL before any batch using a version below it.
    fn new_version(&self) -> Result<u64> {
        let mut v = self.versions.lock();
        if v.next == v.bound {
            let bound = v
                .bound
                .checked_add(VERSION_BLOCK)
                .ok_or_else(|| meta::DecodeError::new("version counter exhausted"))?;
            self.state.put(VERSION_KEY, bound.to_le_bytes())?;
            v.bound = bound;
        }
        let version = v.next;
        v.next += 1;
        Ok(version)
    }

    /// Reads the collection at `ekey` expecting type `ty`: [`Error::WrongType`] if it holds a
    /// live key of another type. Call with its slot locked if the result guides a write.
    fn coll(&self, ekey: Vec<u8>, ty: RedisType, now: u64) -> Result<Coll> {
        let raw = self.raw(&ekey)?;
        let live = raw.as_ref().filter(|e| !e.header.expired(now));
        let counter = if live.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let body = match live {
            None => None,
            Some(e) if e.header.ty != ty => return Err(Error::WrongType),
            Some(e) => match meta::decode(&e.bytes)? {
                (_, Meta::Collection(c)) => Some(c),
                (_, Meta::String(_)) => return Err(Error::WrongType),
            },
        };
        Ok(Coll {
            ekey,
            raw,
            ty,
            body,
        })
    }

    /// The collection `k` of database `db` (logical) with its slot locked.
    fn locked_coll(&self, db: u8, k: &[u8], ty: RedisType) -> Result<(SlotGuard<'_>, Coll, u64)> {
        let ekey = key::encode(self.dbs()[usize::from(db)], k);
        let guard = self.lock_slot(slot_of(&ekey));
        let now = self.now_ms();
        let c = self.coll(ekey, ty, now)?;
        Ok((guard, c, now))
    }

    /// Encodes `keys` and `dst` of logical database `db` and locks all their slots.
    fn lock_for_store<K: AsRef<[u8]>>(&self, db: u8, keys: &[K], dst: &[u8]) -> StoreTarget<'_> {
        let pdb = self.dbs()[usize::from(db)];
        let sources: Vec<Vec<u8>> = keys.iter().map(|k| key::encode(pdb, k.as_ref())).collect();
        let dst = key::encode(pdb, dst);
        let mut all = sources.clone();
        all.push(dst.clone());
        let _guards = self.lock_keys(&all);
        StoreTarget {
            sources,
            dst,
            _guards,
        }
    }

    /// The body to grow `c` with: its own, or a new empty collection.
    fn body_or_new(&self, c: &Coll) -> Result<Collection> {
        match c.body {
            Some(b) => Ok(b),
            None => Ok(Collection::new(self.new_version()?)),
        }
    }

    /// Every element entry (key after the prefix, value) of the live collection `c`.
    fn elements(&self, c: &Coll) -> Result<Pairs> {
        match self.element_cursor(c)? {
            Some(cursor) => cursor.pairs(),
            None => Ok(Vec::new()),
        }
    }

    /// A cursor over the elements of the live collection `c`, fixed at the state it is
    /// created in: create it with the key's slot locked, then the lock can go before the
    /// (possibly long) walk.
    fn element_cursor(&self, c: &Coll) -> Result<Option<ElementCursor>> {
        let Some(prefix) = c.prefix() else {
            return Ok(None);
        };
        let end = sub::prefix_end(&prefix);
        let cursor = self.cursor(&self.sub, &prefix, end.as_deref())?;
        Ok(Some(ElementCursor {
            it: cursor,
            skip: prefix.len(),
            len: usize::try_from(c.len()).unwrap_or(0),
        }))
    }

    /// An engine iterator over `[lower, upper)` of `ks`, positioned at `lower`.
    fn cursor(&self, ks: &Keyspace, lower: &[u8], upper: Option<&[u8]>) -> Result<DbIterator> {
        let opts = ReadOptions {
            lower_bound: Some(lower.to_vec()),
            upper_bound: upper.map(<[u8]>::to_vec),
            ..ReadOptions::default()
        };
        let mut it = ks.iter(&opts)?;
        it.seek(lower);
        Ok(it)
    }

    /// Writes a copy of the elements of `from` (the live entry at `src`) for the key `dst`
    /// into `txn` under a new version, and returns the metadata entry to store at `dst`
    /// (RENAME, COPY, MOVE). A string is its entry.
    fn copy_value(
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

    /// Makes every write done so far durable (and everything any read has returned): the
    /// `appendfsync always` contract. Call it after the writes, with no slot lock held, before
    /// acknowledging: concurrent callers share one fsync (group commit), and writers are not
    /// blocked while it runs.
    ///
    /// # Errors
    /// The engine's I/O error (the database is then poisoned).
    pub fn sync(&self) -> Result<()> {
        self.db.sync_wal_to(self.db.latest_sequence())?;
        Ok(())
    }

    /// The clock expiry is judged by (Unix ms).
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn counts(&self, pdb: u8) -> &[SlotCounts] {
        self.slot_counts[usize::from(pdb)].get_or_init(|| {
            (0..SLOTS)
                .map(|_| SlotCounts {
                    keys: AtomicU64::new(0),
                    expires: AtomicU64::new(0),
                })
                .collect()
        })
    }

    /// The database map, read-locked for the rest of a command.
    fn dbs(&self) -> RwLockReadGuard<'_, [u8; MAX_DATABASES]> {
        self.dbmap.read().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_slot(&self, slot: u16) -> SlotGuard<'_> {
        self.locks[usize::from(slot)].lock()
    }

    /// Locks the slots of `ekeys`, in slot order so that multi-key commands cannot deadlock.
    fn lock_keys<K: AsRef<[u8]>>(&self, ekeys: &[K]) -> Vec<SlotGuard<'_>> {
        let mut slots: Vec<u16> = ekeys.iter().map(|k| slot_of(k.as_ref())).collect();
        slots.sort_unstable();
        slots.dedup();
        slots.into_iter().map(|s| self.lock_slot(s)).collect()
    }

    fn lock_all(&self) -> Vec<SlotGuard<'_>> {
        (0..SLOTS).map(|s| self.lock_slot(s)).collect()
    }

    /// The entry at `ekey`, expired or not.
    fn raw(&self, ekey: &[u8]) -> Result<Option<Entry>> {
        self.meta.get(ekey)?.map(Entry::decode).transpose()
    }

    /// The entry at `ekey` if it has not expired at `now`.
    fn live(&self, ekey: &[u8], now: u64) -> Result<Option<Entry>> {
        let e = self.raw(ekey)?.filter(|e| !e.header.expired(now));
        let counter = if e.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(e)
    }

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
    pub fn set(&self, db: u8, k: &[u8], value: &[u8], opts: SetOptions) -> Result<SetOutcome> {
        let dbs = self.dbs();
        let ekey = key::encode(dbs[usize::from(db)], k);
        let _guard = self.lock_slot(slot_of(&ekey));
        let now = self.now_ms();
        let raw = self.raw(&ekey)?;
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
        let mut txn = Txn::new(self, now);
        txn.put(&ekey, raw.as_ref(), meta::encode_string(value, expiry))?;
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
        f: impl FnOnce(Option<&[u8]>) -> std::result::Result<(Option<Vec<u8>>, T), String>,
    ) -> Result<std::result::Result<T, String>> {
        let dbs = self.dbs();
        let ekey = key::encode(dbs[usize::from(db)], k);
        let _guard = self.lock_slot(slot_of(&ekey));
        let now = self.now_ms();
        let raw = self.raw(&ekey)?;
        let live = raw.as_ref().filter(|e| !e.header.expired(now));
        let value = live.map(Entry::string).transpose()?;
        match f(value) {
            Ok((Some(new), reply)) => {
                let expiry = live.and_then(|e| e.header.expiry);
                let mut txn = Txn::new(self, now);
                txn.put(&ekey, raw.as_ref(), meta::encode_string(&new, expiry))?;
                txn.commit()?;
                Ok(Ok(reply))
            }
            Ok((None, reply)) => Ok(Ok(reply)),
            Err(msg) => Ok(Err(msg)),
        }
    }

    /// `GETDEL`: the string value of `key`, deleting the key.
    ///
    /// # Errors
    /// [`Error::WrongType`] for a non-string key (which is then left alone); engine errors.
    pub fn getdel(&self, db: u8, k: &[u8]) -> Result<Option<Vec<u8>>> {
        let dbs = self.dbs();
        let ekey = key::encode(dbs[usize::from(db)], k);
        let _guard = self.lock_slot(slot_of(&ekey));
        let now = self.now_ms();
        let Some(e) = self.live(&ekey, now)? else {
            return Ok(None);
        };
        let value = e.string()?.to_vec();
        let mut txn = Txn::new(self, now);
        txn.delete(&ekey, Some(&e));
        txn.commit()?;
        Ok(Some(value))
    }

    /// `GETEX`: the string value of `key`, changing its expiry as `expiry` says.
    ///
    /// # Errors
    /// [`Error::WrongType`] for a non-string key; engine errors.
    pub fn getex(&self, db: u8, k: &[u8], expiry: Expiry) -> Result<Option<Vec<u8>>> {
        let dbs = self.dbs();
        let ekey = key::encode(dbs[usize::from(db)], k);
        let _guard = self.lock_slot(slot_of(&ekey));
        let now = self.now_ms();
        let Some(e) = self.live(&ekey, now)? else {
            return Ok(None);
        };
        let value = e.string()?.to_vec();
        let new_expiry = match expiry {
            Expiry::Keep => return Ok(Some(value)),
            Expiry::Clear => None,
            Expiry::At(at) => Some(at),
        };
        self.change_expiry(&ekey, &e, new_expiry, now)?;
        Ok(Some(value))
    }

    /// Rewrites the live entry `e` at `ekey` with a new expiry (a past one deletes the key).
    /// Call with the key's slot locked.
    fn change_expiry(&self, ekey: &[u8], e: &Entry, expiry: Option<u64>, now: u64) -> Result<()> {
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
        let dbs = self.dbs();
        let ekey = key::encode(dbs[usize::from(db)], k);
        let _guard = self.lock_slot(slot_of(&ekey));
        let now = self.now_ms();
        let Some(e) = self.live(&ekey, now)? else {
            return Ok(false);
        };
        if !allow(e.header.expiry) {
            return Ok(false);
        }
        self.change_expiry(&ekey, &e, expiry, now)?;
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
        let _guards = self.lock_keys(&[&esrc, &edst]);
        let now = self.now_ms();
        let Some(from) = self.live(&esrc, now)? else {
            return Ok(false);
        };
        if esrc == edst {
            return Ok(false);
        }
        let to = self.raw(&edst)?;
        if !replace && to.as_ref().is_some_and(|e| !e.header.expired(now)) {
            return Ok(false);
        }
        let mut txn = Txn::new(self, now);
        let value = self.copy_value(&mut txn, &from, &esrc, &edst)?;
        txn.put(&edst, to.as_ref(), value)?;
        txn.commit()?;
        Ok(true)
    }

    /// `MOVE key db`: moves a key to another database unless it exists there.
    ///
    /// # Errors
    /// Engine errors.
    pub fn move_key(&self, db: u8, k: &[u8], dst_db: u8) -> Result<bool> {
        let dbs = self.dbs();
        let esrc = key::encode(dbs[usize::from(db)], k);
        let edst = key::encode(dbs[usize::from(dst_db)], k);
        let _guard = self.lock_slot(slot_of(&esrc));
        let now = self.now_ms();
        let Some(from) = self.live(&esrc, now)? else {
            return Ok(false);
        };
        if esrc == edst {
            return Ok(false);
        }
        let to = self.raw(&edst)?;
        if to.as_ref().is_some_and(|e| !e.header.expired(now)) {
            return Ok(false);
        }
        let mut txn = Txn::new(self, now);
        txn.delete(&esrc, Some(&from));
        let value = self.copy_value(&mut txn, &from, &esrc, &edst)?;
        txn.put(&edst, to.as_ref(), value)?;
        txn.commit()?;
        Ok(true)
    }

    /// Key counts of database `db` (`DBSIZE` is `.keys`): kept counters, never a scan.
    pub fn counts_of(&self, db: u8) -> DbCounts {
        let t = &self.totals[usize::from(self.dbs()[usize::from(db)])];
        DbCounts {
            keys: t.keys.load(Ordering::Relaxed),
            expires: t.expires.load(Ordering::Relaxed),
        }
    }

    /// Counters for `INFO stats`.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            expired_keys: self.expired_keys.load(Ordering::Relaxed),
            keyspace_hits: self.hits.load(Ordering::Relaxed),
            keyspace_misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Zeroes the hit, miss and expired counters (`CONFIG RESETSTAT`).
    pub fn reset_stats(&self) {
        self.expired_keys.store(0, Ordering::Relaxed);
        self.hits.store(0, Ordering::Relaxed);
        self.misses.store(0, Ordering::Relaxed);
    }

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
    fn flush_physical(&self, pdb: u8) -> Result<()> {
        let now = self.now_ms();
        let mut txn = Txn::new(self, now);
        let mut pending = 0;
        for item in self.meta.prefix(key::db_prefix(pdb))? {
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
        self.db.write(batch, WriteOptions::default())?;
        *map = new;
        Ok(())
    }

    /// The engine-key range a pattern can match in physical database `pdb`: one slot's range
    /// when the pattern's literal prefix fixes the hash slot (`{user1}:*`), else the database.
    fn pattern_range(pdb: u8, pattern: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let lit = pattern::literal_prefix(pattern);
        let fixed_tag = lit.iter().position(|&b| b == b'{').is_some_and(|open| {
            lit[open + 1..]
                .iter()
                .position(|&b| b == b'}')
                .is_some_and(|close| close > 0)
        });
        if fixed_tag {
            let lower = key::encode(pdb, &lit);
            let mut upper = lower.clone();
            // Every key with this literal prefix sorts within [lower, lower + 0xFF...).
            while upper.last() == Some(&0xFF) {
                upper.pop();
            }
            if let Some(last) = upper.last_mut() {
                *last += 1;
            }
            if upper.len() > key::PREFIX_LEN {
                return (lower, upper);
            }
        }
        (vec![pdb], vec![pdb.wrapping_add(1)])
    }

    /// `KEYS pattern`: every live key of `db` matching the glob `pattern`, in engine order
    /// (slot by slot). Reads a consistent snapshot and takes no locks: other clients go on.
    ///
    /// # Errors
    /// Engine errors.
    pub fn keys(&self, db: u8, pat: &[u8]) -> Result<Vec<Vec<u8>>> {
        let pdb = self.dbs()[usize::from(db)];
        let now = self.now_ms();
        let (lower, upper) = Self::pattern_range(pdb, pat);
        let upper = (pdb != u8::MAX || upper.len() > 1).then_some(upper);
        let mut out = Vec::new();
        for item in self.meta.range(Some(&lower), upper.as_deref())? {
            let (ekey, value) = item?;
            let Some((_, _, k)) = key::decode(&ekey) else {
                continue;
            };
            if pattern::matches(pat, k) && !meta::header(&value)?.expired(now) {
                out.push(k.to_vec());
            }
        }
        Ok(out)
    }

    /// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`: visits about `count` keys
    /// from `cursor` and returns the next cursor (0 at the end) and the live keys matching.
    ///
    /// A cursor is `slot << 32 | token`: keys are walked slot by slot, and when a call stops
    /// inside a slot the token names the last key returned (kept in a bounded table; a
    /// forgotten token restarts its slot, which only repeats keys, as SCAN allows). Every key
    /// present for the whole iteration is returned at least once.
    ///
    /// # Errors
    /// Engine errors.
    pub fn scan(
        &self,
        db: u8,
        cursor: u64,
        pat: Option<&[u8]>,
        count: usize,
        ty: Option<RedisType>,
    ) -> Result<(u64, Vec<Vec<u8>>)> {
        let pdb = self.dbs()[usize::from(db)];
        let now = self.now_ms();
        let slot = cursor >> 32;
        let Ok(slot) = u16::try_from(slot) else {
            return Ok((0, Vec::new()));
        };
        if slot >= SLOTS {
            return Ok((0, Vec::new()));
        }
        let token = cursor as u32;
        let mut start = key::slot_prefix(pdb, slot).to_vec();
        if token != 0 {
            let cursors = self.cursors.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((p, last)) = cursors.map.get(&token) {
                if *p == pdb && slot_of(last) == slot && last.first() == Some(&pdb) {
                    start = last.clone();
                    start.push(0);
                }
            }
        }
        let upper = (pdb != u8::MAX).then(|| vec![pdb + 1]);
        let iter = self.meta.range(Some(&start), upper.as_deref())?;
        let mut out = Vec::new();
        let mut last: Option<Vec<u8>> = None;
        for (visited, item) in iter.enumerate() {
            let (ekey, value) = item?;
            if visited >= count.max(1) {
                // Stop at the next key: a slot boundary needs no remembered position.
                let next_slot = slot_of(&ekey);
                let last = last.unwrap_or_default();
                if next_slot != slot_of(&last) {
                    return Ok(((u64::from(next_slot)) << 32, out));
                }
                let token = self
                    .cursors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remember((pdb, last.clone()));
                return Ok(((u64::from(slot_of(&last)) << 32) | u64::from(token), out));
            }
            if let Some((_, _, k)) = key::decode(&ekey) {
                let h = meta::header(&value)?;
                if !h.expired(now)
                    && pat.is_none_or(|p| pattern::matches(p, k))
                    && ty.is_none_or(|t| t == h.ty)
                {
                    out.push(k.to_vec());
                }
            }
            last = Some(ekey);
        }
        Ok((0, out))
    }

    /// `RANDOMKEY`: a key of `db` picked uniformly (by the kept slot counts), or `None` if the
    /// database has no live key.
    ///
    /// # Errors
    /// Engine errors.
    pub fn random_key(&self, db: u8) -> Result<Option<Vec<u8>>> {
        let pdb = self.dbs()[usize::from(db)];
        let now = self.now_ms();
        let counts = self.counts(pdb);
        for _ in 0..16 {
            let total = self.totals[usize::from(pdb)].keys.load(Ordering::Relaxed);
            if total == 0 {
                return Ok(None);
            }
            let mut r = random_u64() % total;
            let Some(slot) = (0..SLOTS).find(|&s| {
                let n = counts[usize::from(s)].keys.load(Ordering::Relaxed);
                if r < n {
                    true
                } else {
                    r -= n;
                    false
                }
            }) else {
                continue;
            };
            let skip = usize::try_from(r).unwrap_or(usize::MAX);
            if let Some(item) = self.meta.prefix(key::slot_prefix(pdb, slot))?.nth(skip) {
                let (ekey, value) = item?;
                if !meta::header(&value)?.expired(now) {
                    return Ok(key::decode(&ekey).map(|(_, _, k)| k.to_vec()));
                }
            }
        }
        // Mostly expired keys: take the first live one, if any.
        for item in self.meta.prefix(key::db_prefix(pdb))? {
            let (ekey, value) = item?;
            if !meta::header(&value)?.expired(now) {
                return Ok(key::decode(&ekey).map(|(_, _, k)| k.to_vec()));
            }
        }
        Ok(None)
    }

    /// One pass of the expire cycle: deletes up to `limit` keys whose expiry has passed, found
    /// through the expiry index (never a scan of the keys), and updates the counts. Returns how
    /// many keys it deleted.
    ///
    /// # Errors
    /// Engine errors.
    pub fn expire_cycle(&self, limit: usize) -> Result<usize> {
        let now = self.now_ms();
        let upper = now.saturating_add(1).to_be_bytes();
        let mut removed = 0;
        let mut seen = 0;
        while seen < limit {
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

#[cfg(test)]
mod tests {
    use super::*;
    use strata::{ManualClock, Options};

    pub(super) fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Store {
        let mut o = Options::default();
        o.clock = Arc::clone(clock) as Arc<dyn Clock>;
        Store::open(dir, o, Arc::clone(clock) as Arc<dyn Clock>).unwrap()
    }

    pub(super) fn store() -> (tempfile::TempDir, Store, Arc<ManualClock>) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let s = open(dir.path(), &clock);
        (dir, s, clock)
    }

    pub(super) fn set(s: &Store, db: u8, k: &[u8], v: &[u8], expiry: Expiry) {
        let opts = SetOptions {
            expiry,
            ..SetOptions::default()
        };
        assert!(s.set(db, k, v, opts).unwrap().written);
    }

    #[test]
    fn set_get_conditions_and_expiry() {
        let (_d, s, clock) = store();
        assert_eq!(s.get(0, b"k").unwrap(), None);
        set(&s, 0, b"k", b"v1", Expiry::Clear);
        assert_eq!(s.get(0, b"k").unwrap(), Some(b"v1".to_vec()));
        assert_eq!(s.get(1, b"k").unwrap(), None, "databases are separate");
        let nx = SetOptions {
            condition: Condition::IfAbsent,
            get: true,
            ..SetOptions::default()
        };
        let out = s.set(0, b"k", b"v2", nx).unwrap();
        assert_eq!(
            out,
            SetOutcome {
                written: false,
                old: Some(b"v1".to_vec())
            }
        );
        set(&s, 0, b"k", b"v3", Expiry::At(1_000_500));
        let keep = SetOptions {
            expiry: Expiry::Keep,
            condition: Condition::IfPresent,
            ..SetOptions::default()
        };
        assert!(s.set(0, b"k", b"v4", keep).unwrap().written);
        clock.advance(Duration::from_millis(499));
        assert_eq!(s.get(0, b"k").unwrap(), Some(b"v4".to_vec()));
        clock.advance(Duration::from_millis(1));
        assert_eq!(s.get(0, b"k").unwrap(), None, "KEEPTTL kept the expiry");
        assert!(
            !s.set(0, b"k", b"v5", keep).unwrap().written,
            "XX on an expired key"
        );
        set(&s, 0, b"gone", b"x", Expiry::At(1));
        assert_eq!(s.exists(0, &[b"gone"]).unwrap(), 0);
    }

    #[test]
    fn del_and_exists_count_keys() {
        let (_d, s, _c) = store();
        set(&s, 0, b"a", b"1", Expiry::Clear);
        set(&s, 0, b"b", b"2", Expiry::Clear);
        assert_eq!(s.exists(0, &[b"a", b"a", b"c"]).unwrap(), 2);
        assert_eq!(s.del(0, &[b"a", b"c", b"a"]).unwrap(), 1);
        assert_eq!(s.exists(0, &[b"a", b"b"]).unwrap(), 1);
        assert_eq!(s.counts_of(0).keys, 1);
    }

    #[test]
    fn counts_stay_exact_through_every_write_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        {
            let s = open(dir.path(), &clock);
            for i in 0..100u32 {
                let expiry = if i % 4 == 0 {
                    Expiry::At(1_000_100)
                } else {
                    Expiry::Clear
                };
                set(&s, 0, format!("k{i}").as_bytes(), b"v", expiry);
            }
            set(&s, 0, b"k1", b"again", Expiry::Clear);
            let pairs: Vec<(&[u8], &[u8])> = vec![(b"m", b"1"), (b"m", b"2"), (b"k2", b"x")];
            assert!(s.mset(0, &pairs, false).unwrap());
            assert_eq!(s.get(0, b"m").unwrap(), Some(b"2".to_vec()));
            assert_eq!(
                s.counts_of(0),
                DbCounts {
                    keys: 101,
                    expires: 25
                }
            );
            assert_eq!(
                s.rename(0, b"k1", b"k0", false).unwrap(),
                RenameOutcome::Renamed
            );
            assert_eq!(
                s.counts_of(0),
                DbCounts {
                    keys: 100,
                    expires: 24
                }
            );
            assert!(s.copy(0, b"k4", 1, b"k4", false).unwrap());
            assert!(s.move_key(0, b"k8", 2).unwrap());
            assert_eq!(
                s.counts_of(1),
                DbCounts {
                    keys: 1,
                    expires: 1
                }
            );
            assert_eq!(
                s.counts_of(2),
                DbCounts {
                    keys: 1,
                    expires: 1
                }
            );
            assert_eq!(
                s.counts_of(0),
                DbCounts {
                    keys: 99,
                    expires: 23
                }
            );
            assert!(s.set_expiry(0, b"k3", Some(2_000_000), |_| true).unwrap());
            assert!(s.set_expiry(0, b"k12", None, |_| true).unwrap());
            assert_eq!(
                s.counts_of(0),
                DbCounts {
                    keys: 99,
                    expires: 23
                }
            );
            // Expired keys stay counted until the expire cycle deletes them.
            clock.advance(Duration::from_millis(100));
            assert_eq!(s.counts_of(0).keys, 99);
            // A write over an expired key replaces it without counting it twice.
            set(&s, 0, b"k16", b"new", Expiry::Clear);
            assert_eq!(
                s.counts_of(0),
                DbCounts {
                    keys: 99,
                    expires: 22
                }
            );
            // 21 in db 0, the copy in db 1 and the moved key in db 2.
            assert_eq!(s.expire_cycle(1000).unwrap(), 23);
            assert_eq!(
                s.counts_of(0),
                DbCounts {
                    keys: 78,
                    expires: 1
                }
            );
            assert_eq!(s.counts_of(1), DbCounts::default());
            assert_eq!(s.counts_of(2), DbCounts::default());
            assert_eq!(s.stats().expired_keys, 24, "23 swept, 1 replaced");
            assert_eq!(s.expire_cycle(1000).unwrap(), 0);
            assert_eq!(s.keys(0, b"*").unwrap().len(), 78);
            s.swapdb(0, 3).unwrap();
        }
        let s = open(dir.path(), &clock);
        assert_eq!(
            s.counts_of(3),
            DbCounts {
                keys: 78,
                expires: 1
            }
        );
        assert_eq!(s.counts_of(0).keys, 0);
        assert_eq!(s.get(3, b"k0").unwrap(), Some(b"again".to_vec()));
        s.flushdb(3).unwrap();
        assert_eq!(s.counts_of(3).keys, 0);
        assert_eq!(s.keys(3, b"*").unwrap(), Vec::<Vec<u8>>::new());
        set(&s, 2, b"k8", b"v", Expiry::Clear);
        s.flushall().unwrap();
        assert_eq!(s.counts_of(2).keys, 0);
        drop(s);
        let s = open(dir.path(), &clock);
        for db in 0..4 {
            assert_eq!(s.counts_of(db), DbCounts::default());
        }
    }

    #[test]
    fn scan_returns_every_key_once_across_slots_and_cursors() {
        let (_d, s, _c) = store();
        let mut want = Vec::new();
        for i in 0..500u32 {
            // Many keys share a slot through a hash tag, so cursors stop inside slots too.
            let k = if i % 2 == 0 {
                format!("{{tag}}:{i}")
            } else {
                format!("key:{i}")
            };
            set(&s, 0, k.as_bytes(), b"v", Expiry::Clear);
            want.push(k.into_bytes());
        }
        want.sort();
        for count in [1, 7, 100, 1000] {
            let mut got = Vec::new();
            let mut cursor = 0;
            loop {
                let (next, keys) = s.scan(0, cursor, None, count, None).unwrap();
                got.extend(keys);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            got.sort();
            assert_eq!(got, want, "COUNT {count}");
        }
        let (_, matched) = s.scan(0, 0, Some(b"key:1?"), 10_000, None).unwrap();
        assert_eq!(matched.len(), 5, "key:11 to key:19, odd");
        let (_, none) = s.scan(0, 0, None, 10_000, Some(RedisType::Hash)).unwrap();
        assert!(none.is_empty());
        let tagged = s.keys(0, b"{tag}:1*").unwrap();
        assert_eq!(tagged.len(), 55, "10..=18 and 100..=198, even");
    }

    #[test]
    fn random_key_finds_live_keys_only() {
        let (_d, s, clock) = store();
        assert_eq!(s.random_key(0).unwrap(), None);
        set(&s, 0, b"dead", b"v", Expiry::At(1_000_001));
        set(&s, 0, b"live", b"v", Expiry::Clear);
        clock.advance(Duration::from_millis(5));
        for _ in 0..20 {
            assert_eq!(s.random_key(0).unwrap(), Some(b"live".to_vec()));
        }
    }

    #[test]
    fn damaged_index_entries_are_dropped_without_panicking() {
        let (_d, s, clock) = store();
        // An index entry naming a key with an impossible slot, and one naming no key.
        s.expire
            .put(expire_key(1_000_001, b"\x00\xff\xffk"), [])
            .unwrap();
        s.expire.put(expire_key(1_000_001, b"\x00"), []).unwrap();
        set(&s, 0, b"k", b"v", Expiry::At(1_000_001));
        clock.advance(Duration::from_millis(5));
        assert_eq!(s.expire_cycle(100).unwrap(), 1);
        assert_eq!(s.counts_of(0), DbCounts::default());
        assert_eq!(s.expire.range(None, None).unwrap().count(), 0);
    }

    #[test]
    fn background_cycle_deletes_expired_keys() {
        let (_d, s, clock) = store();
        let s = Arc::new(s);
        for i in 0..3000u32 {
            set(
                &s,
                0,
                format!("k{i}").as_bytes(),
                b"v",
                Expiry::At(1_000_010),
            );
        }
        let _cycle = s.start_expire_cycle(Duration::from_millis(5)).unwrap();
        clock.advance(Duration::from_millis(10));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while s.counts_of(0).keys > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(s.counts_of(0), DbCounts::default());
        assert_eq!(s.expire.range(None, None).unwrap().count(), 0);
    }
}
