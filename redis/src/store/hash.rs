//! Hashes: one element entry per field (`field -> value`), the count in the metadata.

use super::{ElementCursor, ElementScan, Pairs, Result, Store, Txn};
use crate::meta::RedisType;
use crate::sub;

impl Store {
    /// `HSET key field value [field value ...]` (and `HMSET`): sets the fields in one batch;
    /// returns how many of them are new. With `only_new` (`HSETNX`, one pair) an existing
    /// field is left alone.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType) if `key` is not a hash; engine errors.
    pub fn hset(&self, db: u8, k: &[u8], pairs: &[(&[u8], &[u8])], only_new: bool) -> Result<u64> {
        self.put_elements(db, k, RedisType::Hash, pairs, only_new)
    }

    /// `HGET key field`.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn hget(&self, db: u8, k: &[u8], field: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.hmget(db, k, &[field])?.pop().flatten())
    }

    /// `HMGET key field...`: each field's value, `None` for a missing one.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn hmget<F: AsRef<[u8]>>(
        &self,
        db: u8,
        k: &[u8],
        fields: &[F],
    ) -> Result<Vec<Option<Vec<u8>>>> {
        self.get_elements(db, k, RedisType::Hash, fields)
    }

    /// `HDEL key field...`: removes the fields; returns how many existed. Removing the last
    /// one deletes the key.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn hdel<F: AsRef<[u8]>>(&self, db: u8, k: &[u8], fields: &[F]) -> Result<u64> {
        self.remove_elements(db, k, RedisType::Hash, fields)
    }

    /// `HLEN key` (the metadata's count).
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn hlen(&self, db: u8, k: &[u8]) -> Result<u64> {
        self.collection_len(db, k, RedisType::Hash)
    }

    /// `HGETALL key`: every field and value, in field order.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn hgetall(&self, db: u8, k: &[u8]) -> Result<Pairs> {
        let (guard, c, _) = self.locked_coll(db, k, RedisType::Hash)?;
        let cursor = self.element_cursor(&c)?;
        drop(guard);
        cursor.map_or(Ok(Vec::new()), ElementCursor::pairs)
    }

    /// Replaces the value of `field` with `f(old)` (HINCRBY, HINCRBYFLOAT): `f` returns the
    /// new value and the reply, or an error message that leaves the hash untouched.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn hupdate<T>(
        &self,
        db: u8,
        k: &[u8],
        field: &[u8],
        f: impl FnOnce(Option<&[u8]>) -> Result<(Vec<u8>, T)>,
    ) -> Result<T> {
        let (_guard, c, now) = self.locked_coll(db, k, RedisType::Hash)?;
        let mut body = self.body_or_new(&c)?;
        let fk = sub::join(&sub::prefix(&c.ekey, body.version), field);
        let old = match c.body {
            Some(_) => self.kv_get(&self.sub, &fk)?,
            None => None,
        };
        let (new, reply) = f(old.as_deref())?;
        let mut txn = Txn::new(self, now);
        txn.put_sub(fk, new);
        if old.is_none() {
            body.count += 1;
            txn.put_coll(&c, &body)?;
        }
        txn.commit()?;
        Ok(reply)
    }

    /// `HRANDFIELD key count` (see [`Store::random_elements`] for `count`): fields with their
    /// values.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn hrandfield(&self, db: u8, k: &[u8], count: i64) -> Result<Pairs> {
        self.random_elements(db, k, RedisType::Hash, count)
    }

    /// `HSCAN key cursor [MATCH pattern] [COUNT count]`: fields with their values.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn hscan(&self, db: u8, k: &[u8], scan: ElementScan<'_>) -> Result<(u64, Pairs)> {
        self.scan_elements(db, k, RedisType::Hash, scan)
    }
}
