//! Redis keys over the engine: one metadata entry per key in the `redis.meta` keyspace, the
//! key's expiry carried by the engine's TTL. Every command is atomic and isolated against
//! every other command on the same keys: a read-modify-write holds the key's lock stripe
//! and ends in one engine write.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Mutex, MutexGuard};

use strata::{Clock, Db, Keyspace, WriteBatch, WriteOptions};

use crate::key;
use crate::meta::{self, Meta, RedisType};

/// Name of the engine keyspace holding metadata entries.
pub const META_KEYSPACE: &str = "redis.meta";

const STRIPES: usize = 1024;

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

/// What `SET` does with the key's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expiry {
    /// No option: the key becomes persistent.
    #[default]
    Clear,
    /// `KEEPTTL`: keep the current expiry.
    Keep,
    /// `EX`/`PX`/`EXAT`/`PXAT`: expire at this Unix time in milliseconds.
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

/// The Redis data model over one open engine database.
#[derive(Debug)]
pub struct Store {
    meta: Keyspace,
    clock: std::sync::Arc<dyn Clock>,
    locks: Vec<Mutex<()>>,
    hasher: std::collections::hash_map::RandomState,
    db: Db,
}

impl Store {
    /// Wraps an open database, creating the keyspaces the model needs.
    ///
    /// # Errors
    /// Engine errors creating keyspaces.
    pub fn new(db: Db, clock: std::sync::Arc<dyn Clock>) -> Result<Store> {
        let meta = db.keyspace(META_KEYSPACE)?;
        Ok(Store {
            meta,
            clock,
            locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            db,
        })
    }

    /// The engine database.
    pub fn engine(&self) -> &Db {
        &self.db
    }

    fn stripe(&self, ekey: &[u8]) -> usize {
        let mut h = self.hasher.build_hasher();
        h.write(ekey);
        (h.finish() as usize) % STRIPES
    }

    fn lock(&self, ekey: &[u8]) -> MutexGuard<'_, ()> {
        self.locks[self.stripe(ekey)]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The live metadata entry of a key and its expiry.
    fn load(&self, ekey: &[u8]) -> Result<Option<(Vec<u8>, Option<u64>)>> {
        Ok(self.meta.get_with_expiry(ekey)?)
    }

    /// `GET`: the string value of `key`.
    ///
    /// # Errors
    /// [`Error::WrongType`] for a non-string key; engine errors.
    pub fn get(&self, db: u8, k: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some((stored, _)) = self.load(&key::encode(db, k))? else {
            return Ok(None);
        };
        match meta::decode(&stored) {
            Ok(Meta::String(v)) => Ok(Some(v.to_vec())),
            Err(_) if meta::peek_type(&stored).is_ok_and(|t| t != RedisType::String) => {
                Err(Error::WrongType)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL]`.
    ///
    /// # Errors
    /// [`Error::WrongType`] with `GET` on a non-string key; engine errors.
    pub fn set(&self, db: u8, k: &[u8], value: &[u8], opts: SetOptions) -> Result<SetOutcome> {
        let ekey = key::encode(db, k);
        let _guard = self.lock(&ekey);
        let current = self.load(&ekey)?;
        let old = match (&current, opts.get) {
            (Some((stored, _)), true) => match meta::peek_type(stored)? {
                RedisType::String => match meta::decode(stored)? {
                    Meta::String(v) => Some(v.to_vec()),
                },
                _ => return Err(Error::WrongType),
            },
            _ => None,
        };
        let exists = current.is_some();
        let allowed = match opts.condition {
            Condition::Always => true,
            Condition::IfAbsent => !exists,
            Condition::IfPresent => exists,
        };
        if !allowed {
            return Ok(SetOutcome {
                written: false,
                old,
            });
        }
        let expiry = match opts.expiry {
            Expiry::Clear => None,
            Expiry::Keep => current.as_ref().and_then(|(_, e)| *e),
            Expiry::At(ms) => Some(ms),
        };
        let stored = meta::encode_string(value);
        let mut batch = WriteBatch::new();
        match expiry {
            Some(ms) if ms <= self.clock.now_ms() => {
                // Redis deletes a key set with an expiry in the past.
                batch.delete_in(&self.meta, &ekey);
            }
            Some(ms) => {
                batch.put_expiring_at_in(&self.meta, &ekey, &stored, ms);
            }
            None => {
                batch.put_in(&self.meta, &ekey, &stored);
            }
        }
        self.db.write(batch, WriteOptions::default())?;
        Ok(SetOutcome { written: true, old })
    }

    /// Reads a string for a read-modify-write: `None` if absent, the value and its expiry if a
    /// string, [`Error::WrongType`] otherwise. Call with the key's lock held.
    fn load_string(&self, ekey: &[u8]) -> Result<Option<(Vec<u8>, Option<u64>)>> {
        let Some((stored, expiry)) = self.load(ekey)? else {
            return Ok(None);
        };
        match meta::peek_type(&stored)? {
            RedisType::String => match meta::decode(&stored)? {
                Meta::String(v) => Ok(Some((v.to_vec(), expiry))),
            },
            _ => Err(Error::WrongType),
        }
    }

    /// Writes a string keeping `expiry` (a past expiry deletes it).
    fn write_string(&self, ekey: &[u8], value: &[u8], expiry: Option<u64>) -> Result<()> {
        let stored = meta::encode_string(value);
        match expiry {
            Some(ms) if ms <= self.clock.now_ms() => self.meta.delete(ekey)?,
            Some(ms) => self.meta.put_expiring_at(ekey, &stored, ms)?,
            None => self.meta.put(ekey, &stored)?,
        }
        Ok(())
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
        let ekey = key::encode(db, k);
        let _guard = self.lock(&ekey);
        let current = self.load_string(&ekey)?;
        let (value, expiry) = match &current {
            Some((v, e)) => (Some(v.as_slice()), *e),
            None => (None, None),
        };
        match f(value) {
            Ok((Some(new), reply)) => {
                self.write_string(&ekey, &new, expiry)?;
                Ok(Ok(reply))
            }
            Ok((None, reply)) => Ok(Ok(reply)),
            Err(msg) => Ok(Err(msg)),
        }
    }

    /// The expiry of `key` (Unix ms): `None` if absent, `Some(None)` if persistent.
    ///
    /// # Errors
    /// Engine errors.
    pub fn expiry(&self, db: u8, k: &[u8]) -> Result<Option<Option<u64>>> {
        Ok(self.load(&key::encode(db, k))?.map(|(_, e)| e))
    }

    /// The type of `key`, if it exists.
    ///
    /// # Errors
    /// A damaged entry; engine errors.
    pub fn key_type(&self, db: u8, k: &[u8]) -> Result<Option<RedisType>> {
        match self.load(&key::encode(db, k))? {
            Some((stored, _)) => Ok(Some(meta::peek_type(&stored)?)),
            None => Ok(None),
        }
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
        let ekey = key::encode(db, k);
        let _guard = self.lock(&ekey);
        let Some((stored, current)) = self.load(&ekey)? else {
            return Ok(false);
        };
        if !allow(current) {
            return Ok(false);
        }
        match expiry {
            Some(ms) if ms <= self.clock.now_ms() => self.meta.delete(&ekey)?,
            Some(ms) => self.meta.put_expiring_at(&ekey, &stored, ms)?,
            None => self.meta.put(&ekey, &stored)?,
        }
        Ok(true)
    }

    /// `DEL key...`: how many of the keys existed.
    ///
    /// # Errors
    /// Engine errors.
    pub fn del(&self, db: u8, keys: &[&[u8]]) -> Result<u64> {
        let mut n = 0;
        for k in keys {
            let ekey = key::encode(db, k);
            let _guard = self.lock(&ekey);
            if self.load(&ekey)?.is_some() {
                self.meta.delete(&ekey)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// `MSET`: sets every pair in one atomic write, clearing expiries. With `only_if_none_exist`
    /// (`MSETNX`) nothing is written if any key exists; returns whether it wrote.
    ///
    /// # Errors
    /// Engine errors.
    pub fn mset(&self, db: u8, pairs: &[(&[u8], &[u8])], only_if_none_exist: bool) -> Result<bool> {
        let ekeys: Vec<Vec<u8>> = pairs.iter().map(|(k, _)| key::encode(db, k)).collect();
        // Lock every stripe involved, in index order, so concurrent multi-key commands cannot
        // deadlock.
        let mut stripes: Vec<usize> = ekeys.iter().map(|k| self.stripe(k)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let _guards: Vec<MutexGuard<'_, ()>> = stripes
            .iter()
            .map(|&i| self.locks[i].lock().unwrap_or_else(|e| e.into_inner()))
            .collect();
        if only_if_none_exist {
            for k in &ekeys {
                if self.load(k)?.is_some() {
                    return Ok(false);
                }
            }
        }
        let mut batch = WriteBatch::new();
        for (k, (_, v)) in ekeys.iter().zip(pairs) {
            batch.put_in(&self.meta, k, meta::encode_string(v));
        }
        self.db.write(batch, WriteOptions::default())?;
        Ok(true)
    }

    /// `EXISTS key...`: how many of the keys exist (a key named twice counts twice).
    ///
    /// # Errors
    /// Engine errors.
    pub fn exists(&self, db: u8, keys: &[&[u8]]) -> Result<u64> {
        let mut n = 0;
        for k in keys {
            if self.load(&key::encode(db, k))?.is_some() {
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;
    use strata::{ManualClock, Options};

    fn store() -> (tempfile::TempDir, Store, Arc<ManualClock>) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let mut o = Options::default();
        o.clock = Arc::clone(&clock) as Arc<dyn Clock>;
        let db = Db::open(dir.path(), o).unwrap();
        let s = Store::new(db, Arc::clone(&clock) as Arc<dyn Clock>).unwrap();
        (dir, s, clock)
    }

    #[test]
    fn set_get_conditions_and_expiry() {
        let (_d, s, clock) = store();
        assert_eq!(s.get(0, b"k").unwrap(), None);
        assert!(
            s.set(0, b"k", b"v1", SetOptions::default())
                .unwrap()
                .written
        );
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
        let ex = SetOptions {
            expiry: Expiry::At(1_000_500),
            ..SetOptions::default()
        };
        s.set(0, b"k", b"v3", ex).unwrap();
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
        let past = SetOptions {
            expiry: Expiry::At(1),
            ..SetOptions::default()
        };
        s.set(0, b"gone", b"x", past).unwrap();
        assert_eq!(s.exists(0, &[b"gone"]).unwrap(), 0);
    }

    #[test]
    fn del_and_exists_count_keys() {
        let (_d, s, _c) = store();
        s.set(0, b"a", b"1", SetOptions::default()).unwrap();
        s.set(0, b"b", b"2", SetOptions::default()).unwrap();
        assert_eq!(s.exists(0, &[b"a", b"a", b"c"]).unwrap(), 2);
        assert_eq!(s.del(0, &[b"a", b"c", b"a"]).unwrap(), 1);
        assert_eq!(s.exists(0, &[b"a", b"b"]).unwrap(), 1);
    }
}
