//! Sorted sets: `member -> score` elements (point lookups, member order for lex ranges) and a
//! score index `score | member -> ""` (score order, Redis's order) written in the same batch.

use std::collections::HashMap;

use super::list::clamp_range;
use super::{Coll, Condition, ElementScan, Error, Result, Store, Txn};
use crate::key;
use crate::meta::{self, Collection, RedisType};
use crate::sub;

/// Members with their scores, in the order asked for.
pub type Scored = Vec<(Vec<u8>, f64)>;

/// The options of `ZADD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZaddOptions {
    /// `NX` (only add) / `XX` (only update).
    pub condition: Condition,
    /// `GT`: update only to a greater score.
    pub gt: bool,
    /// `LT`: update only to a lower score.
    pub lt: bool,
    /// `CH`: count changed members too.
    pub ch: bool,
    /// `INCR`: add the score to the current one (one pair only).
    pub incr: bool,
}

/// What `ZADD` did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ZaddOutcome {
    /// Members added (with `CH`: added or changed).
    Count(u64),
    /// `INCR`: the new score, or `None` if a condition stopped it.
    Score(Option<f64>),
}

/// One end of a score range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreBound {
    /// The score (may be infinite).
    pub score: f64,
    /// `(`: the score itself is outside.
    pub exclusive: bool,
}

/// One end of a lexicographic range (`-`, `+`, `[member`, `(member`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: before every member.
    Min,
    /// `+`: after every member.
    Max,
    /// `[member`.
    Inclusive(Vec<u8>),
    /// `(member`.
    Exclusive(Vec<u8>),
}

/// Which members a range command selects.
#[derive(Debug, Clone, PartialEq)]
pub enum ZRange {
    /// Ranks `start..=stop` (negative from the end), counted from the highest with `rev`.
    Rank(i64, i64),
    /// Scores between two bounds (low, high).
    Score(ScoreBound, ScoreBound),
    /// Members between two bounds (low, high), for members of equal score.
    Lex(LexBound, LexBound),
}

/// A `ZRANGE`-family query.
#[derive(Debug, Clone, PartialEq)]
pub struct ZRangeSpec {
    /// The selection.
    pub range: ZRange,
    /// Highest first.
    pub rev: bool,
    /// `LIMIT offset count` (score and lex ranges): skip `offset`, then at most `count`.
    pub limit: Option<(u64, Option<u64>)>,
}

/// How `ZUNION`/`ZINTER` combine the scores of a member found in several inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregate {
    /// Add (the default).
    #[default]
    Sum,
    /// The lowest.
    Min,
    /// The highest.
    Max,
}

/// Which combination of sorted sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZOp {
    /// `ZUNION`.
    Union,
    /// `ZINTER`.
    Inter,
    /// `ZDIFF`: members of the first input in no other (scores of the first).
    Diff,
}

/// The index-key suffix of a score (8 bytes) as a number, and back, to step past a score.
fn bump(score: f64) -> [u8; 8] {
    (u64::from_be_bytes(sub::encode_score(score)) + 1).to_be_bytes()
}

/// Splits a score-index key into (member, score), given its collection prefix length.
fn index_entry(k: &[u8], plen: usize) -> Option<(Vec<u8>, f64)> {
    let rest = k.get(plen..)?;
    let (score, member) = rest.split_first_chunk::<8>()?;
    Some((member.to_vec(), sub::decode_score(*score)))
}

fn score_of(value: &[u8]) -> Result<f64> {
    sub::score_value(value).ok_or_else(|| meta::DecodeError::new("bad sorted-set score").into())
}

/// Adds two scores the way Redis does: `inf + -inf` is 0, not NaN.
fn add_scores(a: f64, b: f64) -> f64 {
    let s = a + b;
    if s.is_nan() {
        0.0
    } else {
        s
    }
}

impl Store {
    /// Writes `member` with `score` (replacing `old`) into the sorted set with element prefix
    /// `prefix`.
    fn zset_put(txn: &mut Txn<'_>, prefix: &[u8], member: &[u8], old: Option<f64>, score: f64) {
        let store = txn.store;
        if let Some(old) = old {
            txn.batch
                .delete_in(&store.score, sub::score_key(prefix, old, member));
        }
        txn.put_sub(sub::join(prefix, member), score.to_bits().to_le_bytes());
        txn.batch
            .put_in(&store.score, sub::score_key(prefix, score, member), []);
    }

    /// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member...` (and `ZINCRBY` as `INCR`).
    /// Scores must not be NaN (the caller parses them); an `INCR` that would produce NaN is
    /// the error message `Err`.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn zadd(
        &self,
        db: u8,
        k: &[u8],
        opts: ZaddOptions,
        pairs: &[(f64, &[u8])],
    ) -> Result<ZaddOutcome> {
        let (_guard, c, now) = self.locked_coll(db, k, RedisType::ZSet)?;
        if c.body.is_none() && opts.condition == Condition::IfPresent {
            return Ok(if opts.incr {
                ZaddOutcome::Score(None)
            } else {
                ZaddOutcome::Count(0)
            });
        }
        let mut body = self.body_or_new(&c)?;
        let prefix = sub::prefix(&c.ekey, body.version);
        let mut txn = Txn::new(self, now);
        // Scores as this command leaves them (a member named twice sees its first write).
        let mut pending: HashMap<&[u8], f64> = HashMap::new();
        let (mut added, mut changed) = (0u64, 0u64);
        let mut last = None;
        for &(score, member) in pairs {
            let old = match pending.get(member) {
                Some(&s) => Some(s),
                None if c.body.is_some() => self
                    .sub
                    .get(sub::join(&prefix, member))?
                    .map(|v| score_of(&v))
                    .transpose()?,
                None => None,
            };
            let new = match (opts.incr, old) {
                (true, Some(o)) => o + score,
                _ => score,
            };
            if new.is_nan() {
                return Err(Error::ScoreNaN);
            }
            match old {
                Some(_) if opts.condition == Condition::IfAbsent => continue,
                None if opts.condition == Condition::IfPresent => continue,
                Some(o) if (opts.gt && new <= o) || (opts.lt && new >= o) => continue,
                Some(o) => {
                    if o != new {
                        Self::zset_put(&mut txn, &prefix, member, Some(o), new);
                        changed += 1;
                    }
                }
                None => {
                    Self::zset_put(&mut txn, &prefix, member, None, new);
                    added += 1;
                }
            }
            pending.insert(member, new);
            last = Some(new);
        }
        if !txn.batch.is_empty() {
            body.count += added;
            txn.put_coll(&c, &body)?;
            txn.commit()?;
        }
        Ok(if opts.incr {
            ZaddOutcome::Score(last)
        } else if opts.ch {
            ZaddOutcome::Count(added + changed)
        } else {
            ZaddOutcome::Count(added)
        })
    }

    /// `ZMSCORE key member...` (and `ZSCORE`).
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn zscores<M: AsRef<[u8]>>(
        &self,
        db: u8,
        k: &[u8],
        members: &[M],
    ) -> Result<Vec<Option<f64>>> {
        self.get_elements(db, k, RedisType::ZSet, members)?
            .into_iter()
            .map(|v| v.map(|v| score_of(&v)).transpose())
            .collect()
    }

    /// `ZREM key member...`.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn zrem<M: AsRef<[u8]>>(&self, db: u8, k: &[u8], members: &[M]) -> Result<u64> {
        self.remove_elements(db, k, RedisType::ZSet, members)
    }

    /// `ZCARD key`.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn zcard(&self, db: u8, k: &[u8]) -> Result<u64> {
        self.collection_len(db, k, RedisType::ZSet)
    }

    /// The members of the live sorted set `c` that `spec` selects, in its order.
    fn zselect(&self, c: &Coll, spec: &ZRangeSpec) -> Result<Scored> {
        let (Some(body), Some(prefix)) = (c.body, c.prefix()) else {
            return Ok(Vec::new());
        };
        let plen = prefix.len();
        let (offset, count) = spec.limit.unwrap_or((0, None));
        let count = count.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        let mut take = |item: Option<(Vec<u8>, f64)>, skipped: &mut u64| -> bool {
            if (out.len() as u64) >= count {
                // `LIMIT offset 0` selects nothing.
                return false;
            }
            if let Some(e) = item {
                if *skipped < offset {
                    *skipped += 1;
                } else {
                    out.push(e);
                }
            }
            (out.len() as u64) < count
        };
        let mut skipped = 0;
        match &spec.range {
            ZRange::Rank(start, stop) => {
                let Some((from, to)) = clamp_range(*start, *stop, body.count) else {
                    return Ok(Vec::new());
                };
                let scan = self.kv_prefix(&self.score, &prefix)?;
                let iter: Box<dyn Iterator<Item = _>> = if spec.rev {
                    Box::new(scan.rev())
                } else {
                    Box::new(scan)
                };
                for item in iter.skip(from as usize).take((to - from + 1) as usize) {
                    let (k, _) = item?;
                    if !take(index_entry(&k, plen), &mut skipped) {
                        break;
                    }
                }
            }
            ZRange::Score(lo, hi) => {
                let lower = sub::join(
                    &prefix,
                    &if lo.exclusive {
                        bump(lo.score)
                    } else {
                        sub::encode_score(lo.score)
                    },
                );
                let upper = sub::join(
                    &prefix,
                    &if hi.exclusive {
                        sub::encode_score(hi.score)
                    } else {
                        bump(hi.score)
                    },
                );
                if lower >= upper {
                    return Ok(Vec::new());
                }
                let scan = self.kv_range(&self.score, Some(&lower), Some(&upper))?;
                let iter: Box<dyn Iterator<Item = _>> = if spec.rev {
                    Box::new(scan.rev())
                } else {
                    Box::new(scan)
                };
                for item in iter {
                    let (k, _) = item?;
                    if !take(index_entry(&k, plen), &mut skipped) {
                        break;
                    }
                }
            }
            ZRange::Lex(lo, hi) => {
                let Some((lower, upper)) = lex_keys(&prefix, lo, hi) else {
                    return Ok(Vec::new());
                };
                let scan = self.kv_range(&self.sub, Some(&lower), upper.as_deref())?;
                let iter: Box<dyn Iterator<Item = _>> = if spec.rev {
                    Box::new(scan.rev())
                } else {
                    Box::new(scan)
                };
                for item in iter {
                    let (k, v) = item?;
                    let e = (k[plen..].to_vec(), score_of(&v)?);
                    if !take(Some(e), &mut skipped) {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// `ZRANGE` and its older forms: the selected members with their scores.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn zrange(&self, db: u8, k: &[u8], spec: &ZRangeSpec) -> Result<Scored> {
        let (_guard, c, _) = self.locked_coll(db, k, RedisType::ZSet)?;
        self.zselect(&c, spec)
    }

    /// `ZCOUNT` (score range) and `ZLEXCOUNT` (lex range): members in the range.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn zcount(&self, db: u8, k: &[u8], range: ZRange) -> Result<u64> {
        let spec = ZRangeSpec {
            range,
            rev: false,
            limit: None,
        };
        Ok(self.zrange(db, k, &spec)?.len() as u64)
    }

    /// `ZRANK`/`ZREVRANK`: the member's rank (0 = lowest, or highest with `rev`) and score.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn zrank(&self, db: u8, k: &[u8], member: &[u8], rev: bool) -> Result<Option<(u64, f64)>> {
        let (_guard, c, _) = self.locked_coll(db, k, RedisType::ZSet)?;
        let (Some(body), Some(prefix)) = (c.body, c.prefix()) else {
            return Ok(None);
        };
        let Some(v) = self.kv_get(&self.sub, sub::join(&prefix, member))? else {
            return Ok(None);
        };
        let score = score_of(&v)?;
        let upper = sub::score_key(&prefix, score, member);
        let mut below = 0u64;
        for item in self.kv_range(&self.score, Some(&prefix), Some(&upper))? {
            item?;
            below += 1;
        }
        let rank = if rev {
            body.count.saturating_sub(below + 1)
        } else {
            below
        };
        Ok(Some((rank, score)))
    }

    /// `ZREMRANGEBYRANK`, `ZREMRANGEBYSCORE`, `ZREMRANGEBYLEX`: removes the members in the
    /// range; returns how many.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn zremrange(&self, db: u8, k: &[u8], range: ZRange) -> Result<u64> {
        let (_guard, c, now) = self.locked_coll(db, k, RedisType::ZSet)?;
        let spec = ZRangeSpec {
            range,
            rev: false,
            limit: None,
        };
        let victims = self.zselect(&c, &spec)?;
        self.zdelete(&c, now, &victims)?;
        Ok(victims.len() as u64)
    }

    /// Deletes `victims` (members of the live sorted set `c`) in one batch.
    fn zdelete(&self, c: &Coll, now: u64, victims: &Scored) -> Result<()> {
        let (Some(mut body), Some(prefix)) = (c.body, c.prefix()) else {
            return Ok(());
        };
        if victims.is_empty() {
            return Ok(());
        }
        let mut txn = Txn::new(self, now);
        for (m, s) in victims {
            txn.delete_sub(sub::join(&prefix, m));
            txn.batch
                .delete_in(&self.score, sub::score_key(&prefix, *s, m));
        }
        body.count -= (victims.len() as u64).min(body.count);
        txn.put_coll(c, &body)?;
        txn.commit()
    }

    /// `ZPOPMIN`/`ZPOPMAX key count` (`max`: the highest first): removes and returns up to
    /// `count` members; `None` if the key is absent.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn zpop(&self, db: u8, k: &[u8], max: bool, count: u64) -> Result<Option<Scored>> {
        let (_guard, c, now) = self.locked_coll(db, k, RedisType::ZSet)?;
        if c.body.is_none() {
            return Ok(None);
        }
        let spec = ZRangeSpec {
            range: ZRange::Rank(0, -1),
            rev: max,
            limit: Some((0, Some(count))),
        };
        let popped = if count == 0 {
            Vec::new()
        } else {
            self.zselect(&c, &spec)?
        };
        self.zdelete(&c, now, &popped)?;
        Ok(Some(popped))
    }

    /// Reads every input of a ZUNION/ZINTER/ZDIFF: sorted sets, or sets (score 1).
    fn zinputs(&self, ekeys: Vec<Vec<u8>>, now: u64) -> Result<Vec<Scored>> {
        let mut out = Vec::with_capacity(ekeys.len());
        for ekey in ekeys {
            let elements = match self.coll(ekey.clone(), RedisType::ZSet, now) {
                Ok(c) => self
                    .elements(&c)?
                    .into_iter()
                    .map(|(m, v)| Ok((m, score_of(&v)?)))
                    .collect::<Result<Scored>>()?,
                Err(super::Error::WrongType) => {
                    let c = self.coll(ekey, RedisType::Set, now)?;
                    self.elements(&c)?
                        .into_iter()
                        .map(|(m, _)| (m, 1.0))
                        .collect()
                }
                Err(e) => return Err(e),
            };
            out.push(elements);
        }
        Ok(out)
    }

    /// Combines inputs with weights and an aggregate, sorted by score then member.
    fn zcombine_inputs(inputs: Vec<Scored>, weights: &[f64], agg: Aggregate, op: ZOp) -> Scored {
        let mut acc: HashMap<Vec<u8>, (f64, usize)> = HashMap::new();
        let n = inputs.len();
        for (i, input) in inputs.into_iter().enumerate() {
            let w = weights.get(i).copied().unwrap_or(1.0);
            for (m, s) in input {
                let mut s = w * s;
                if s.is_nan() {
                    s = 0.0;
                }
                match (op, acc.get_mut(&m)) {
                    (ZOp::Diff, Some(e)) => e.1 += 1,
                    (ZOp::Diff, None) if i == 0 => {
                        acc.insert(m, (s, 1));
                    }
                    (ZOp::Diff, None) => {}
                    (_, Some(e)) => {
                        e.0 = match agg {
                            Aggregate::Sum => add_scores(e.0, s),
                            Aggregate::Min => e.0.min(s),
                            Aggregate::Max => e.0.max(s),
                        };
                        e.1 += 1;
                    }
                    (_, None) => {
                        // ZINTER: a member missing from the first input can never be in all.
                        if op == ZOp::Union || i == 0 {
                            acc.insert(m, (s, 1));
                        }
                    }
                }
            }
        }
        let mut out: Scored = acc
            .into_iter()
            .filter(|(_, (_, seen))| match op {
                ZOp::Union => true,
                ZOp::Inter => *seen == n,
                ZOp::Diff => *seen == 1,
            })
            .map(|(m, (s, _))| (m, s))
            .collect();
        out.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// `ZUNION`, `ZINTER`, `ZDIFF` of `keys` (sets count as score 1), with one weight per key
    /// (none: all 1) and the aggregate; sorted by score then member.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType) if a key is neither a set nor a sorted
    /// set; engine errors.
    pub fn zcombine<K: AsRef<[u8]>>(
        &self,
        db: u8,
        keys: &[K],
        weights: &[f64],
        agg: Aggregate,
        op: ZOp,
    ) -> Result<Scored> {
        let pdb = self.dbs()[usize::from(db)];
        let ekeys: Vec<Vec<u8>> = keys.iter().map(|k| key::encode(pdb, k.as_ref())).collect();
        let _guards = self.lock_keys(&ekeys);
        let now = self.now_ms();
        let inputs = self.zinputs(ekeys, now)?;
        Ok(Self::zcombine_inputs(inputs, weights, agg, op))
    }

    /// `ZUNIONSTORE`, `ZINTERSTORE`, `ZDIFFSTORE`: stores the combination at `dst` (replacing
    /// any value; empty deletes it); returns its size.
    ///
    /// # Errors
    /// As [`Store::zcombine`].
    pub fn zcombine_store<K: AsRef<[u8]>>(
        &self,
        db: u8,
        dst: &[u8],
        keys: &[K],
        weights: &[f64],
        agg: Aggregate,
        op: ZOp,
    ) -> Result<u64> {
        let t = self.lock_for_store(db, keys, dst);
        let now = self.now_ms();
        let inputs = self.zinputs(t.sources, now)?;
        let result = Self::zcombine_inputs(inputs, weights, agg, op);
        self.zstore(&t.dst, now, &result)?;
        Ok(result.len() as u64)
    }

    /// `ZRANGESTORE dst src ...`: stores the selection at `dst`; returns its size.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType) if `src` is not a sorted set; engine
    /// errors.
    pub fn zrangestore(&self, db: u8, dst: &[u8], src: &[u8], spec: &ZRangeSpec) -> Result<u64> {
        let pdb = self.dbs()[usize::from(db)];
        let (esrc, edst) = (key::encode(pdb, src), key::encode(pdb, dst));
        let _guards = self.lock_keys(&[&esrc, &edst]);
        let now = self.now_ms();
        let c = self.coll(esrc, RedisType::ZSet, now)?;
        let result = self.zselect(&c, spec)?;
        self.zstore(&edst, now, &result)?;
        Ok(result.len() as u64)
    }

    /// Replaces whatever is at `edst` with a new sorted set of `members` (distinct), or
    /// deletes it if there are none. Call with its slot locked.
    fn zstore(&self, edst: &[u8], now: u64, members: &Scored) -> Result<()> {
        let old = self.raw(edst)?;
        let mut txn = Txn::new(self, now);
        if members.is_empty() {
            txn.delete(edst, old.as_ref());
        } else {
            let body = Collection {
                count: members.len() as u64,
                ..Collection::new(self.new_version()?)
            };
            let prefix = sub::prefix(edst, body.version);
            for (m, s) in members {
                Self::zset_put(&mut txn, &prefix, m, None, *s);
            }
            txn.put(
                edst,
                old.as_ref(),
                meta::encode_collection(RedisType::ZSet, None, &body),
            )?;
        }
        txn.commit()
    }

    /// `ZRANDMEMBER key count` (see [`Store::random_elements`]): members with scores.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn zrandmember(&self, db: u8, k: &[u8], count: i64) -> Result<Scored> {
        self.random_elements(db, k, RedisType::ZSet, count)?
            .into_iter()
            .map(|(m, v)| Ok((m, score_of(&v)?)))
            .collect()
    }

    /// `ZSCAN key cursor [MATCH pattern] [COUNT count]`.
    ///
    /// # Errors
    /// [`Error::WrongType`](super::Error::WrongType); engine errors.
    pub fn zscan(&self, db: u8, k: &[u8], scan: ElementScan<'_>) -> Result<(u64, Scored)> {
        let (next, found) = self.scan_elements(db, k, RedisType::ZSet, scan)?;
        let found = found
            .into_iter()
            .map(|(m, v)| Ok((m, score_of(&v)?)))
            .collect::<Result<Scored>>()?;
        Ok((next, found))
    }
}

/// Element-key bounds `[lower, upper)` of a lex range in the collection with `prefix`
/// (`upper = None`: to the end of the collection), or `None` if it is empty.
fn lex_keys(prefix: &[u8], lo: &LexBound, hi: &LexBound) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let after = |m: &[u8]| {
        let mut k = sub::join(prefix, m);
        k.push(0);
        k
    };
    let lower = match lo {
        LexBound::Min => prefix.to_vec(),
        LexBound::Max => return None,
        LexBound::Inclusive(m) => sub::join(prefix, m),
        LexBound::Exclusive(m) => after(m),
    };
    let upper = match hi {
        LexBound::Min => return None,
        LexBound::Max => sub::prefix_end(prefix),
        LexBound::Inclusive(m) => Some(after(m)),
        LexBound::Exclusive(m) => Some(sub::join(prefix, m)),
    };
    if upper.as_ref().is_some_and(|u| *u <= lower) {
        return None;
    }
    Some((lower, upper))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_follow_redis() {
        let a: Scored = vec![(b"x".to_vec(), 1.0), (b"y".to_vec(), f64::INFINITY)];
        let b: Scored = vec![
            (b"x".to_vec(), 2.0),
            (b"y".to_vec(), f64::NEG_INFINITY),
            (b"z".to_vec(), 0.5),
        ];
        let u = Store::zcombine_inputs(vec![a.clone(), b.clone()], &[], Aggregate::Sum, ZOp::Union);
        assert_eq!(
            u,
            vec![
                (b"y".to_vec(), 0.0),
                (b"z".to_vec(), 0.5),
                (b"x".to_vec(), 3.0)
            ]
        );
        let i = Store::zcombine_inputs(
            vec![a.clone(), b.clone()],
            &[2.0, 1.0],
            Aggregate::Max,
            ZOp::Inter,
        );
        assert_eq!(
            i,
            vec![(b"x".to_vec(), 2.0), (b"y".to_vec(), f64::INFINITY)]
        );
        let d = Store::zcombine_inputs(vec![b, a], &[], Aggregate::Sum, ZOp::Diff);
        assert_eq!(d, vec![(b"z".to_vec(), 0.5)]);
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(5, 6, 3), None);
    }

    #[test]
    fn lex_bounds() {
        let p = b"P".to_vec();
        assert!(lex_keys(&p, &LexBound::Max, &LexBound::Max).is_none());
        assert!(lex_keys(
            &p,
            &LexBound::Inclusive(b"b".to_vec()),
            &LexBound::Exclusive(b"b".to_vec())
        )
        .is_none());
        let (lo, hi) = lex_keys(
            &p,
            &LexBound::Inclusive(b"b".to_vec()),
            &LexBound::Inclusive(b"b".to_vec()),
        )
        .unwrap();
        assert!(lo < hi.unwrap());
    }
}
