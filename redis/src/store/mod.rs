//! Redis keys over the engine.
//!
//! Five engine keyspaces:
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
//! Collections (`docs/format-redis.md`) keep their count and version in the metadata entry
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

use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard};

use strata::{Clock, CompactionFilter, Db, DbIterator, Keyspace, Options, ReadOptions};

use crate::gc::ElementGc;
use crate::key::{self, SLOTS};
use crate::meta::{self, Collection, Header, Meta, RedisType};
use crate::sub;

mod atomic;
#[cfg(test)]
mod collection_tests;
mod databases;
mod elements;
mod expire;
mod hash;
mod keys;
mod list;
mod scan;
mod set;
mod strings;
#[cfg(test)]
mod tests;
mod txn;
mod zset;

use scan::Cursors;
use txn::Txn;

use expire::expire_key;
pub use expire::ExpireCycle;
pub use keys::{EncodingLimits, RenameOutcome};
pub use list::{End, LposOptions, LsetOutcome, Popped};
pub use set::SetOp;
pub use strings::{Condition, Expiry, SetOptions, SetOutcome};
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

/// Errors of Redis operations, typed: the store knows nothing of the protocol, and the server
/// alone turns each into Redis's reply text (the messages here are Redis's, without the
/// `ERR`/`WRONGTYPE` prefix).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key holds a value of another type.
    #[error("Operation against a key holding the wrong kind of value")]
    WrongType,
    /// A string value is not a 64-bit integer (INCR and friends).
    #[error("value is not an integer or out of range")]
    NotInteger,
    /// A hash field's value is not a 64-bit integer (HINCRBY).
    #[error("hash value is not an integer")]
    HashNotInteger,
    /// A string value is not a float (INCRBYFLOAT).
    #[error("value is not a valid float")]
    NotFloat,
    /// A hash field's value is not a float (HINCRBYFLOAT).
    #[error("hash value is not a float")]
    HashNotFloat,
    /// An increment would leave the 64-bit integer range.
    #[error("increment or decrement would overflow")]
    Overflow,
    /// A float increment would produce NaN or an infinity.
    #[error("increment would produce NaN or Infinity")]
    NotFinite,
    /// A sorted-set score would become NaN (adding `+inf` to `-inf`).
    #[error("resulting score is not a number (NaN)")]
    ScoreNaN,
    /// A string would grow past the largest value the server accepts.
    #[error("string exceeds maximum allowed size (proto-max-bulk-len)")]
    TooLarge,
    /// A metadata entry that does not decode.
    #[error("{0}")]
    Corrupt(#[from] meta::DecodeError),
    /// The engine failed.
    #[error("{0}")]
    Engine(#[from] strata::Error),
}

/// Elements as (field or member, value) pairs.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One step of HSCAN, SSCAN or ZSCAN: where it resumes, which fields it returns, how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementScan<'a> {
    /// 0 to start; then the cursor the previous step returned.
    pub cursor: u64,
    /// `MATCH`: only fields (members) matching this glob pattern.
    pub pattern: Option<&'a [u8]>,
    /// `COUNT`: about how many elements to return.
    pub count: usize,
}

/// Result type of Redis operations.
pub type Result<T> = std::result::Result<T, Error>;

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
    /// Elements of dead collections compaction has dropped since open (and element keys
    /// that did not parse, counted again in `damaged_elements`).
    pub elements_collected: u64,
    /// Element keys compaction dropped because they did not parse.
    pub damaged_elements: u64,
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
    /// The keys removed because they expired, waiting for [`Store::report_expired`] (kept
    /// only while a listener is set: keyspace notifications).
    expired_log: Mutex<Vec<(u8, Vec<u8>)>>,
    expired_listener: RwLock<Option<Listener>>,
    listening_expired: AtomicBool,
    expired_logged: AtomicBool,
    /// The expire cycle deletes nothing before this time (ms; Redis's CLIENT PAUSE WRITE
    /// stops active expiry).
    expire_paused_until: AtomicU64,
    /// DEBUG SET-ACTIVE-EXPIRE 0 turns the expire cycle off.
    active_expire: AtomicBool,
    /// Batches of key changes written (Redis's `dirty`, roughly: one per writing command).
    changes: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Held shared by every command and exclusively by an atomic run (see `atomic.rs`).
    exec_lock: RwLock<()>,
}

/// Told of each key removed because it expired: (logical database, key).
pub type ExpiredListener = Arc<dyn Fn(u8, &[u8]) + Send + Sync>;

#[derive(Clone)]
struct Listener(ExpiredListener);

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExpiredListener")
    }
}

/// A held slot lock.
type SlotGuard<'a> = parking_lot::MutexGuard<'a, ()>;

/// A command on one key, from [`Store::lock_key`]: the key's slot locked and the database map
/// held to the end of the command.
struct KeyLock<'a> {
    _slot: SlotGuard<'a>,
    _dbs: RwLockReadGuard<'a, [u8; MAX_DATABASES]>,
    /// The key's engine key.
    ekey: Vec<u8>,
    /// The command's time.
    now: u64,
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
            expired_log: Mutex::new(Vec::new()),
            expired_listener: RwLock::new(None),
            listening_expired: AtomicBool::new(false),
            expired_logged: AtomicBool::new(false),
            expire_paused_until: AtomicU64::new(0),
            active_expire: AtomicBool::new(true),
            changes: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            exec_lock: RwLock::new(()),
        };
        store.load_counts()?;
        Ok(store)
    }

    /// Reads the key counts of every slot from the engine (at open, and after a failed
    /// atomic commit left the in-memory ones ahead of it).
    fn reload_counts(&self) -> Result<()> {
        for (pdb, t) in self.totals.iter().enumerate() {
            t.keys.store(0, Ordering::Relaxed);
            t.expires.store(0, Ordering::Relaxed);
            if let Some(slots) = self.slot_counts[pdb].get() {
                for c in slots.iter() {
                    c.keys.store(0, Ordering::Relaxed);
                    c.expires.store(0, Ordering::Relaxed);
                }
            }
        }
        self.load_counts()
    }

    /// Adds the key counts the engine holds to the in-memory ones (all zero).
    fn load_counts(&self) -> Result<()> {
        let store = self;
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
        Ok(())
    }

    /// The engine database.
    pub fn engine(&self) -> &Db {
        &self.db
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
        let mut it = self.kv_iter(ks, &opts)?;
        it.seek(lower);
        Ok(it)
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

    /// Writes that changed keys since the store opened: one per command batch (Redis counts
    /// one per key changed; a command that changes nothing counts none here either).
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
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
    /// Holds the expire cycle until `until_ms` (0: releases it).
    pub fn pause_expire_cycle(&self, until_ms: u64) {
        self.expire_paused_until.store(until_ms, Ordering::Relaxed);
    }

    /// Turns the expire cycle on or off (Redis's DEBUG SET-ACTIVE-EXPIRE).
    pub fn set_active_expire(&self, on: bool) {
        self.active_expire.store(on, Ordering::Relaxed);
    }

    /// Whether the expire cycle is held now.
    pub(super) fn expire_paused(&self) -> bool {
        !self.active_expire.load(Ordering::Relaxed)
            || self.now_ms() < self.expire_paused_until.load(Ordering::Relaxed)
    }

    /// Calls `listener` with (logical database, key) for every key removed because it
    /// expired (by the expire cycle, or by a write that found it expired), from
    /// [`report_expired`](Self::report_expired); `None` stops it.
    pub fn set_expired_listener(&self, listener: Option<ExpiredListener>) {
        let on = listener.is_some();
        *self
            .expired_listener
            .write()
            .unwrap_or_else(|e| e.into_inner()) = listener.map(Listener);
        self.listening_expired.store(on, Ordering::Relaxed);
        if !on {
            self.expired_log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
    }

    /// Whether expired keys are being kept for the listener.
    pub(super) fn listening_expired(&self) -> bool {
        self.listening_expired.load(Ordering::Relaxed)
    }

    /// Keeps expired keys (physical database, key) for the listener.
    pub(super) fn log_expired(&self, keys: Vec<(u8, Vec<u8>)>) {
        self.expired_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(keys);
        self.expired_logged.store(true, Ordering::Release);
    }

    /// Whether expired keys wait to be reported (one atomic load).
    pub fn expired_pending(&self) -> bool {
        self.expired_logged.load(Ordering::Acquire)
    }

    /// Hands the keys removed because they expired to the listener, in removal order. Call
    /// with no key or database lock held (after a command, or from the expire cycle).
    pub fn report_expired(&self) {
        if !self.listening_expired() {
            return;
        }
        let keys = {
            let mut log = self.expired_log.lock().unwrap_or_else(|e| e.into_inner());
            self.expired_logged.store(false, Ordering::Release);
            std::mem::take(&mut *log)
        };
        if keys.is_empty() {
            return;
        }
        let listener = self
            .expired_listener
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(Listener(listener)) = listener else {
            return;
        };
        let map = *self.dbs();
        for (pdb, k) in keys {
            if let Some(db) = map.iter().position(|&p| p == pdb) {
                listener(db as u8, &k);
            }
        }
    }

    fn dbs(&self) -> RwLockReadGuard<'_, [u8; MAX_DATABASES]> {
        self.dbmap.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves `k` of logical database `db` and locks its slot for one command.
    fn lock_key(&self, db: u8, k: &[u8]) -> KeyLock<'_> {
        let dbs = self.dbs();
        let ekey = key::encode(dbs[usize::from(db)], k);
        KeyLock {
            _slot: self.lock_slot(slot_of(&ekey)),
            _dbs: dbs,
            ekey,
            now: self.now_ms(),
        }
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
        self.kv_get(&self.meta, ekey)?
            .map(Entry::decode)
            .transpose()
    }

    /// The entry at `ekey` with only its header read (a large string's value is not): for a
    /// write that replaces the entry whole and needs only its type and expiry. Its `bytes`
    /// hold the header alone.
    fn raw_header(&self, ekey: &[u8]) -> Result<Option<Entry>> {
        self.kv_get_prefix(&self.meta, ekey, meta::HEADER_LEN)?
            .map(Entry::decode)
            .transpose()
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
            elements_collected: self.gc.dropped(),
            damaged_elements: self.gc.damaged(),
        }
    }

    /// Zeroes the hit, miss and expired counters (`CONFIG RESETSTAT`).
    pub fn reset_stats(&self) {
        self.expired_keys.store(0, Ordering::Relaxed);
        self.hits.store(0, Ordering::Relaxed);
        self.misses.store(0, Ordering::Relaxed);
    }
}
