//! Lists: element `head + i` at index key `head + i` (u64 BE), so both ends and any index are
//! one point access, and a range is one seek plus a scan.

use super::{Coll, ElementCursor, Result, Store, Txn};
use crate::key;
use crate::meta::{self, Collection, RedisType};
use crate::sub;

/// A key and the elements popped from it (`LMPOP`).
pub type Popped = (Vec<u8>, Vec<Vec<u8>>);

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The head (`LEFT`, `LPUSH`, `LPOP`).
    Left,
    /// The tail (`RIGHT`, `RPUSH`, `RPOP`).
    Right,
}

/// What `LSET` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LsetOutcome {
    /// Set.
    Set,
    /// The key does not exist (`ERR no such key`).
    NoSuchKey,
    /// The index is outside the list (`ERR index out of range`).
    OutOfRange,
}

/// The options of `LPOS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LposOptions {
    /// `RANK`: start at the rank-th match (negative: from the tail); never 0.
    pub rank: i64,
    /// `COUNT`: how many matches (0: all).
    pub count: u64,
    /// `MAXLEN`: compare at most this many elements (0: all).
    pub maxlen: u64,
}

/// The element key of list index `at` (absolute, `head + i`).
fn index_key(prefix: &[u8], at: u64) -> Vec<u8> {
    sub::join(prefix, &at.to_be_bytes())
}

/// `[start, stop]` of Redis's LRANGE/LTRIM/ZRANGE index rules (negative from the end, clamped), or
/// `None` if the range is empty.
pub(super) fn clamp_range(start: i64, stop: i64, len: u64) -> Option<(u64, u64)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    if start > stop || start >= len {
        return None;
    }
    Some((start.unsigned_abs(), stop.unsigned_abs()))
}

/// Index `i` (negative from the end) of a list of `len`, if inside it.
fn clamp_index(i: i64, len: u64) -> Option<u64> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then(|| i.unsigned_abs())
}

impl Store {
    /// A cursor over elements `from..to` (positions from the head) of the live list `c`.
    fn list_cursor(&self, c: &Coll, from: u64, to: u64) -> Result<Option<ElementCursor>> {
        let (Some(body), Some(prefix)) = (c.body, c.prefix()) else {
            return Ok(None);
        };
        if from >= to {
            return Ok(None);
        }
        let lower = index_key(&prefix, body.head + from);
        let upper = index_key(&prefix, body.head + to);
        Ok(Some(ElementCursor {
            it: self.cursor(&self.sub, &lower, Some(&upper))?,
            skip: prefix.len(),
            len: usize::try_from(to - from).unwrap_or(usize::MAX),
        }))
    }

    /// Reads elements `from..to` (positions from the head) of the live list `c`.
    fn list_slice(&self, c: &Coll, from: u64, to: u64) -> Result<Vec<Vec<u8>>> {
        match self.list_cursor(c, from, to)? {
            Some(cursor) => cursor.values(usize::MAX),
            None => Ok(Vec::new()),
        }
    }

    /// Rewrites positions `from..` of list `c` as `elements` (then `len` is
    /// `from + elements.len()`), deleting positions past the new end. For the O(n) commands
    /// (LREM, LINSERT).
    fn list_rewrite_tail(
        &self,
        txn: &mut Txn<'_>,
        c: &Coll,
        body: &mut Collection,
        from: u64,
        elements: &[Vec<u8>],
    ) {
        let prefix = sub::prefix(&c.ekey, body.version);
        for (i, e) in (from..).zip(elements) {
            txn.put_sub(index_key(&prefix, body.head + i), e);
        }
        let new_len = from + elements.len() as u64;
        for i in new_len..body.count {
            txn.delete_sub(index_key(&prefix, body.head + i));
        }
        body.count = new_len;
    }

    /// Pushes `elements` one by one at `end` of the list `c` (creating it), in `txn`.
    ///
    /// # Errors
    /// The list's end of the index space is reached (2^63 pushes to one side).
    fn list_push_in(
        &self,
        txn: &mut Txn<'_>,
        c: &Coll,
        body: &mut Collection,
        end: End,
        elements: &[impl AsRef<[u8]>],
    ) -> Result<()> {
        let prefix = sub::prefix(&c.ekey, body.version);
        let full = || meta::DecodeError::new("list index space exhausted");
        for e in elements {
            let at = match end {
                End::Left => {
                    body.head = body.head.checked_sub(1).ok_or_else(full)?;
                    body.head
                }
                End::Right => body
                    .head
                    .checked_add(body.count)
                    .filter(|&at| at < u64::MAX)
                    .ok_or_else(full)?,
            };
            body.count += 1;
            txn.put_sub(index_key(&prefix, at), e);
        }
        Ok(())
    }

    /// Pops up to `count` elements from `end` of the live list `c`, in `txn`.
    fn list_pop_in(
        &self,
        txn: &mut Txn<'_>,
        c: &Coll,
        body: &mut Collection,
        end: End,
        count: u64,
    ) -> Result<Vec<Vec<u8>>> {
        let n = count.min(body.count);
        let prefix = sub::prefix(&c.ekey, body.version);
        let (from, to) = match end {
            End::Left => (0, n),
            End::Right => (body.count - n, body.count),
        };
        let mut out = if n <= 4 {
            // A few point reads cost less than setting up a range scan.
            let mut v = Vec::with_capacity(n as usize);
            for i in from..to {
                v.extend(self.kv_get(&self.sub, index_key(&prefix, body.head + i))?);
            }
            v
        } else {
            self.list_slice(c, from, to)?
        };
        if end == End::Right {
            out.reverse();
        }
        for _ in 0..n {
            let at = match end {
                End::Left => {
                    body.head += 1;
                    body.head - 1
                }
                End::Right => body.head + body.count - 1,
            };
            body.count -= 1;
            txn.delete_sub(index_key(&prefix, at));
        }
        Ok(out)
    }

    /// `LPUSH`/`RPUSH` (and with `only_existing`, `LPUSHX`/`RPUSHX`): returns the new length
    /// (0 if `only_existing` and the key is absent).
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn push<E: AsRef<[u8]>>(
        &self,
        db: u8,
        k: &[u8],
        end: End,
        elements: &[E],
        only_existing: bool,
    ) -> Result<u64> {
        let (_guard, c, now) = self.locked_coll(db, k, RedisType::List)?;
        if only_existing && c.body.is_none() {
            return Ok(0);
        }
        let mut body = self.body_or_new(&c)?;
        let mut txn = Txn::new(self, now);
        self.list_push_in(&mut txn, &c, &mut body, end, elements)?;
        txn.put_coll(&c, &body)?;
        txn.commit()?;
        Ok(body.count)
    }

    /// `LPOP`/`RPOP key [count]`: up to `count` elements, or `None` if the key is absent.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn pop(&self, db: u8, k: &[u8], end: End, count: u64) -> Result<Option<Vec<Vec<u8>>>> {
        let (_guard, c, now) = self.locked_coll(db, k, RedisType::List)?;
        let Some(mut body) = c.body else {
            return Ok(None);
        };
        let mut txn = Txn::new(self, now);
        let out = self.list_pop_in(&mut txn, &c, &mut body, end, count)?;
        txn.put_coll(&c, &body)?;
        txn.commit()?;
        Ok(Some(out))
    }

    /// `LMPOP`: pops up to `count` from `end` of the first non-empty list of `keys`; returns
    /// that key and the elements.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType) for a key met before a non-empty list
    /// that is not a list; engine errors.
    pub fn mpop<K: AsRef<[u8]>>(
        &self,
        db: u8,
        keys: &[K],
        end: End,
        count: u64,
    ) -> Result<Option<Popped>> {
        for k in keys {
            if let Some(popped) = self.pop(db, k.as_ref(), end, count)? {
                return Ok(Some((k.as_ref().to_vec(), popped)));
            }
        }
        Ok(None)
    }

    /// `LLEN key`.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn llen(&self, db: u8, k: &[u8]) -> Result<u64> {
        self.collection_len(db, k, RedisType::List)
    }

    /// `LINDEX key index`.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn lindex(&self, db: u8, k: &[u8], index: i64) -> Result<Option<Vec<u8>>> {
        let (_guard, c, _) = self.locked_coll(db, k, RedisType::List)?;
        let (Some(body), Some(prefix)) = (c.body, c.prefix()) else {
            return Ok(None);
        };
        match clamp_index(index, body.count) {
            Some(i) => Ok(self.kv_get(&self.sub, index_key(&prefix, body.head + i))?),
            None => Ok(None),
        }
    }

    /// `LRANGE key start stop`.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn lrange(&self, db: u8, k: &[u8], start: i64, stop: i64) -> Result<Vec<Vec<u8>>> {
        let (guard, c, _) = self.locked_coll(db, k, RedisType::List)?;
        let Some((from, to)) = clamp_range(start, stop, c.len()) else {
            return Ok(Vec::new());
        };
        // The cursor sees the list as it is now; other commands may go on meanwhile.
        let cursor = self.list_cursor(&c, from, to + 1)?;
        drop(guard);
        match cursor {
            Some(cursor) => cursor.values(usize::MAX),
            None => Ok(Vec::new()),
        }
    }

    /// `LSET key index element`.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn lset(&self, db: u8, k: &[u8], index: i64, element: &[u8]) -> Result<LsetOutcome> {
        let (_guard, c, now) = self.locked_coll(db, k, RedisType::List)?;
        let (Some(body), Some(prefix)) = (c.body, c.prefix()) else {
            return Ok(LsetOutcome::NoSuchKey);
        };
        let Some(i) = clamp_index(index, body.count) else {
            return Ok(LsetOutcome::OutOfRange);
        };
        let mut txn = Txn::new(self, now);
        txn.put_sub(index_key(&prefix, body.head + i), element);
        txn.commit()?;
        Ok(LsetOutcome::Set)
    }

    /// `LTRIM key start stop`: keeps `[start, stop]`, deleting the other elements (an empty
    /// range deletes the key).
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn ltrim(&self, db: u8, k: &[u8], start: i64, stop: i64) -> Result<()> {
        let (_guard, c, now) = self.locked_coll(db, k, RedisType::List)?;
        let (Some(mut body), Some(prefix)) = (c.body, c.prefix()) else {
            return Ok(());
        };
        let (from, to) = clamp_range(start, stop, body.count).unwrap_or((body.count, body.count));
        let mut txn = Txn::new(self, now);
        for i in (0..from).chain(to.saturating_add(1)..body.count) {
            txn.delete_sub(index_key(&prefix, body.head + i));
        }
        if from >= body.count {
            body.count = 0;
        } else {
            body.head += from;
            body.count = to - from + 1;
        }
        txn.put_coll(&c, &body)?;
        txn.commit()?;
        Ok(())
    }

    /// `LREM key count element`: removes matches (count > 0 from the head, < 0 from the
    /// tail, 0 all); returns how many. Rewrites the elements after the first removed one.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn lrem(&self, db: u8, k: &[u8], count: i64, element: &[u8]) -> Result<u64> {
        let (_guard, c, now) = self.locked_coll(db, k, RedisType::List)?;
        let Some(mut body) = c.body else {
            return Ok(0);
        };
        let all = self.list_slice(&c, 0, body.count)?;
        let limit = if count == 0 {
            u64::MAX
        } else {
            count.unsigned_abs()
        };
        let mut drop = vec![false; all.len()];
        let mut removed = 0u64;
        let order: Box<dyn Iterator<Item = usize>> = if count < 0 {
            Box::new((0..all.len()).rev())
        } else {
            Box::new(0..all.len())
        };
        for i in order {
            if removed == limit {
                break;
            }
            if all[i] == element {
                drop[i] = true;
                removed += 1;
            }
        }
        let Some(first) = drop.iter().position(|&d| d) else {
            return Ok(0);
        };
        let kept: Vec<Vec<u8>> = all
            .into_iter()
            .zip(&drop)
            .skip(first)
            .filter(|(_, &d)| !d)
            .map(|(e, _)| e)
            .collect();
        let mut txn = Txn::new(self, now);
        self.list_rewrite_tail(&mut txn, &c, &mut body, first as u64, &kept);
        txn.put_coll(&c, &body)?;
        txn.commit()?;
        Ok(removed)
    }

    /// `LINSERT key BEFORE|AFTER pivot element`: the new length, 0 if the key is absent, -1
    /// if `pivot` is not in the list.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn linsert(
        &self,
        db: u8,
        k: &[u8],
        after: bool,
        pivot: &[u8],
        element: &[u8],
    ) -> Result<i64> {
        let (_guard, c, now) = self.locked_coll(db, k, RedisType::List)?;
        let Some(mut body) = c.body else {
            return Ok(0);
        };
        let all = self.list_slice(&c, 0, body.count)?;
        let Some(p) = all.iter().position(|e| e == pivot) else {
            return Ok(-1);
        };
        let at = p + usize::from(after);
        let mut tail = Vec::with_capacity(all.len() - at + 1);
        tail.push(element.to_vec());
        tail.extend_from_slice(&all[at..]);
        let mut txn = Txn::new(self, now);
        self.list_rewrite_tail(&mut txn, &c, &mut body, at as u64, &tail);
        txn.put_coll(&c, &body)?;
        txn.commit()?;
        Ok(i64::try_from(body.count).unwrap_or(i64::MAX))
    }

    /// `LPOS key element [RANK r] [COUNT n] [MAXLEN m]`: positions of matches.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn lpos(&self, db: u8, k: &[u8], element: &[u8], opts: LposOptions) -> Result<Vec<u64>> {
        let (_guard, c, _) = self.locked_coll(db, k, RedisType::List)?;
        let (Some(body), Some(prefix)) = (c.body, c.prefix()) else {
            return Ok(Vec::new());
        };
        let limit = if opts.count == 0 {
            u64::MAX
        } else {
            opts.count
        };
        let maxlen = if opts.maxlen == 0 {
            u64::MAX
        } else {
            opts.maxlen
        };
        let mut skip = opts.rank.unsigned_abs().saturating_sub(1);
        let mut out = Vec::new();
        let lower = index_key(&prefix, body.head);
        let upper = index_key(&prefix, body.head + body.count);
        let scan = self.kv_range(&self.sub, Some(&lower), Some(&upper))?;
        let items: Box<dyn Iterator<Item = _>> = if opts.rank < 0 {
            Box::new(scan.rev())
        } else {
            Box::new(scan)
        };
        for (seen, item) in (0u64..).zip(items) {
            if seen == maxlen || out.len() as u64 == limit {
                break;
            }
            let (_, v) = item?;
            if v == element {
                if skip > 0 {
                    skip -= 1;
                } else {
                    out.push(if opts.rank < 0 {
                        body.count - 1 - seen
                    } else {
                        seen
                    });
                }
            }
        }
        Ok(out)
    }

    /// `LMOVE src dst LEFT|RIGHT LEFT|RIGHT` (and `RPOPLPUSH`): pops from `src`, pushes to
    /// `dst` in one batch; `None` if `src` is absent.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType) if `src` exists and either key is not a
    /// list; engine errors.
    pub fn lmove(
        &self,
        db: u8,
        src: &[u8],
        dst: &[u8],
        from: End,
        to: End,
    ) -> Result<Option<Vec<u8>>> {
        let pdb = self.dbs()[usize::from(db)];
        let (esrc, edst) = (key::encode(pdb, src), key::encode(pdb, dst));
        let _guards = self.lock_keys(&[&esrc, &edst]);
        let now = self.now_ms();
        let s = self.coll(esrc.clone(), RedisType::List, now)?;
        let Some(mut sbody) = s.body else {
            return Ok(None);
        };
        let mut txn = Txn::new(self, now);
        let Some(element) = self.list_pop_in(&mut txn, &s, &mut sbody, from, 1)?.pop() else {
            return Ok(None);
        };
        if esrc == edst {
            // Rotation: push onto the same list.
            self.list_push_in(&mut txn, &s, &mut sbody, to, &[&element])?;
            txn.put_coll(&s, &sbody)?;
        } else {
            let d = self.coll(edst, RedisType::List, now)?;
            let mut dbody = self.body_or_new(&d)?;
            self.list_push_in(&mut txn, &d, &mut dbody, to, &[&element])?;
            txn.put_coll(&s, &sbody)?;
            txn.put_coll(&d, &dbody)?;
        }
        txn.commit()?;
        Ok(Some(element))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_redis_rules() {
        assert_eq!(clamp_range(0, -1, 5), Some((0, 4)));
        assert_eq!(clamp_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(clamp_range(3, 1, 5), None);
        assert_eq!(clamp_range(5, 10, 5), None);
        assert_eq!(clamp_range(-2, -1, 5), Some((3, 4)));
        assert_eq!(clamp_range(0, -6, 5), None);
        assert_eq!(clamp_range(0, 0, 0), None);
        assert_eq!(clamp_index(-1, 5), Some(4));
        assert_eq!(clamp_index(5, 5), None);
        assert_eq!(clamp_index(-6, 5), None);
        assert_eq!(clamp_index(i64::MIN, 5), None);
    }
}
