//! Sets: one element entry per member (with an empty value), the count in the metadata.

use std::collections::{BTreeSet, HashSet};

use super::{Coll, ElementCursor, ElementScan, Result, Store, Txn};
use crate::key;
use crate::meta::{self, Collection, RedisType};
use crate::sub;

/// What [`Store::set_combine`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// `SINTER`: members of every set.
    Inter,
    /// `SUNION`: members of any set.
    Union,
    /// `SDIFF`: members of the first set in none of the others.
    Diff,
}

impl Store {
    /// `SADD key member...`: returns how many members are new.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType) if `key` is not a set; engine errors.
    pub fn sadd<M: AsRef<[u8]>>(&self, db: u8, k: &[u8], members: &[M]) -> Result<u64> {
        let pairs: Vec<(&[u8], &[u8])> = members.iter().map(|m| (m.as_ref(), &b""[..])).collect();
        self.put_elements(db, k, RedisType::Set, &pairs, false)
    }

    /// `SREM key member...`: returns how many were members. The last one out deletes the key.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn srem<M: AsRef<[u8]>>(&self, db: u8, k: &[u8], members: &[M]) -> Result<u64> {
        self.remove_elements(db, k, RedisType::Set, members)
    }

    /// `SMISMEMBER key member...` (and `SISMEMBER`): whether each is a member.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn smismember<M: AsRef<[u8]>>(&self, db: u8, k: &[u8], members: &[M]) -> Result<Vec<bool>> {
        Ok(self
            .get_elements(db, k, RedisType::Set, members)?
            .into_iter()
            .map(|v| v.is_some())
            .collect())
    }

    /// `SCARD key`.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn scard(&self, db: u8, k: &[u8]) -> Result<u64> {
        self.collection_len(db, k, RedisType::Set)
    }

    /// `SMEMBERS key`, in byte order.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn smembers(&self, db: u8, k: &[u8]) -> Result<Vec<Vec<u8>>> {
        let (guard, c, _) = self.locked_coll(db, k, RedisType::Set)?;
        let cursor = self.element_cursor(&c)?;
        drop(guard);
        cursor.map_or(Ok(Vec::new()), ElementCursor::fields)
    }

    /// `SRANDMEMBER key count` (positive: distinct, negative: with repeats).
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn srandmember(&self, db: u8, k: &[u8], count: i64) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .random_elements(db, k, RedisType::Set, count)?
            .into_iter()
            .map(|(m, _)| m)
            .collect())
    }

    /// `SPOP key count`: removes and returns up to `count` random members.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn spop(&self, db: u8, k: &[u8], count: u64) -> Result<Vec<Vec<u8>>> {
        let (_guard, c, now) = self.locked_coll(db, k, RedisType::Set)?;
        let (Some(mut body), Some(prefix)) = (c.body, c.prefix()) else {
            return Ok(Vec::new());
        };
        let picked = self.sample(&c, i64::try_from(count).unwrap_or(i64::MAX))?;
        if picked.is_empty() {
            return Ok(Vec::new());
        }
        let mut txn = Txn::new(self, now);
        for (m, _) in &picked {
            txn.delete_sub(sub::join(&prefix, m));
        }
        body.count -= (picked.len() as u64).min(body.count);
        txn.put_coll(&c, &body)?;
        txn.commit()?;
        Ok(picked.into_iter().map(|(m, _)| m).collect())
    }

    /// `SMOVE src dst member`: moves `member` in one batch; returns whether it was in `src`.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType) if `src` exists and either key is not
    /// a set; engine errors.
    pub fn smove(&self, db: u8, src: &[u8], dst: &[u8], member: &[u8]) -> Result<bool> {
        let pdb = self.dbs()[usize::from(db)];
        let (esrc, edst) = (key::encode(pdb, src), key::encode(pdb, dst));
        let _guards = self.lock_keys(&[&esrc, &edst]);
        let now = self.now_ms();
        let from = self.coll(esrc.clone(), RedisType::Set, now)?;
        let (Some(mut from_body), Some(from_prefix)) = (from.body, from.prefix()) else {
            return Ok(false);
        };
        let to = self.coll(edst.clone(), RedisType::Set, now)?;
        let fk = sub::join(&from_prefix, member);
        let present = self.kv_get(&self.sub, &fk)?.is_some();
        if esrc == edst || !present {
            return Ok(present);
        }
        let mut to_body = self.body_or_new(&to)?;
        let tk = sub::join(&sub::prefix(&edst, to_body.version), member);
        let mut txn = Txn::new(self, now);
        txn.delete_sub(fk);
        from_body.count -= 1;
        txn.put_coll(&from, &from_body)?;
        if to.body.is_none() || self.kv_get(&self.sub, &tk)?.is_none() {
            to_body.count += 1;
            txn.put_sub(tk, b"");
            txn.put_coll(&to, &to_body)?;
        }
        txn.commit()?;
        Ok(true)
    }

    /// `SINTER`, `SUNION`, `SDIFF` of `keys` (a missing key is an empty set), in byte order;
    /// at most `limit` members (`SINTERCARD LIMIT`; 0: no limit).
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType) if any key is not a set; engine errors.
    pub fn set_combine<K: AsRef<[u8]>>(
        &self,
        db: u8,
        keys: &[K],
        op: SetOp,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>> {
        let pdb = self.dbs()[usize::from(db)];
        let ekeys: Vec<Vec<u8>> = keys.iter().map(|k| key::encode(pdb, k.as_ref())).collect();
        let _guards = self.lock_keys(&ekeys);
        let now = self.now_ms();
        let sets = ekeys
            .into_iter()
            .map(|e| self.coll(e, RedisType::Set, now))
            .collect::<Result<Vec<_>>>()?;
        self.combine(&sets, op, limit)
    }

    /// `SINTERSTORE`, `SUNIONSTORE`, `SDIFFSTORE`: stores the result at `dst` (replacing any
    /// value; an empty result deletes `dst`) in one batch; returns its size.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType) if a source is not a set; engine errors.
    pub fn set_combine_store<K: AsRef<[u8]>>(
        &self,
        db: u8,
        dst: &[u8],
        keys: &[K],
        op: SetOp,
    ) -> Result<u64> {
        let t = self.lock_for_store(db, keys, dst);
        let edst = t.dst;
        let now = self.now_ms();
        let sets = t
            .sources
            .into_iter()
            .map(|e| self.coll(e, RedisType::Set, now))
            .collect::<Result<Vec<_>>>()?;
        let members = self.combine(&sets, op, 0)?;
        let old = self.raw(&edst)?;
        let mut txn = Txn::new(self, now);
        if members.is_empty() {
            txn.delete(&edst, old.as_ref());
        } else {
            let body = Collection {
                count: members.len() as u64,
                ..Collection::new(self.new_version()?)
            };
            let prefix = sub::prefix(&edst, body.version);
            for m in &members {
                txn.put_sub(sub::join(&prefix, m), b"");
            }
            txn.put(
                &edst,
                old.as_ref(),
                meta::encode_collection(RedisType::Set, None, &body),
            )?;
        }
        txn.commit()?;
        Ok(members.len() as u64)
    }

    fn combine(&self, sets: &[Coll], op: SetOp, limit: usize) -> Result<Vec<Vec<u8>>> {
        let limit = if limit == 0 { usize::MAX } else { limit };
        let members = |c: &Coll| -> Result<Vec<Vec<u8>>> {
            Ok(self.elements(c)?.into_iter().map(|(m, _)| m).collect())
        };
        let contains = |c: &Coll, m: &[u8]| -> Result<bool> {
            match c.prefix() {
                Some(p) => Ok(self.kv_get(&self.sub, sub::join(&p, m))?.is_some()),
                None => Ok(false),
            }
        };
        match op {
            SetOp::Union => {
                let mut out = BTreeSet::new();
                for c in sets {
                    out.extend(members(c)?);
                }
                Ok(out.into_iter().take(limit).collect())
            }
            SetOp::Inter | SetOp::Diff => {
                let Some(first) = (match op {
                    // Walk the smallest set and probe the others.
                    SetOp::Inter => sets.iter().min_by_key(|c| c.len()),
                    _ => sets.first(),
                }) else {
                    return Ok(Vec::new());
                };
                let mut out = Vec::new();
                let mut seen = HashSet::new();
                for m in members(first)? {
                    if out.len() == limit {
                        break;
                    }
                    // A key named twice is probed like any other: SDIFF k k is empty.
                    let mut keep = true;
                    for other in sets.iter().filter(|c| !std::ptr::eq(*c, first)) {
                        if contains(other, &m)? != (op == SetOp::Inter) {
                            keep = false;
                            break;
                        }
                    }
                    if keep && seen.insert(m.clone()) {
                        out.push(m);
                    }
                }
                Ok(out)
            }
        }
    }

    /// `SSCAN key cursor [MATCH pattern] [COUNT count]`.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn sscan(&self, db: u8, k: &[u8], scan: ElementScan<'_>) -> Result<(u64, Vec<Vec<u8>>)> {
        let (next, found) = self.scan_elements(db, k, RedisType::Set, scan)?;
        Ok((next, found.into_iter().map(|(m, _)| m).collect()))
    }
}
