//! Walking the keyspace: KEYS, SCAN (slot by slot, with remembered cursors), RANDOMKEY.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;

use super::{random_u64, slot_of, Result, Store, MAX_CURSORS};
use crate::key::{self, SLOTS};
use crate::meta::{self, RedisType};
use crate::pattern;

/// SCAN positions inside slots (and HSCAN/SSCAN/ZSCAN positions inside collections), by
/// token.
#[derive(Debug)]
pub(super) struct Cursors<T> {
    pub(super) next: u32,
    pub(super) map: HashMap<u32, T>,
    pub(super) order: VecDeque<u32>,
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
    pub(super) fn remember(&mut self, position: T) -> u32 {
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

impl Store {
    /// The engine-key range a pattern can match in physical database `pdb`: one slot's range
    /// when the pattern's literal prefix fixes the hash slot (`{user1}:*`), else the database.
    pub(super) fn pattern_range(pdb: u8, pattern: &[u8]) -> (Vec<u8>, Vec<u8>) {
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
        for item in self.kv_range(&self.meta, Some(&lower), upper.as_deref())? {
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
        let iter = self.kv_range(&self.meta, Some(&start), upper.as_deref())?;
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
            if let Some(item) = self
                .kv_prefix(&self.meta, key::slot_prefix(pdb, slot))?
                .nth(skip)
            {
                let (ekey, value) = item?;
                if !meta::header(&value)?.expired(now) {
                    return Ok(key::decode(&ekey).map(|(_, _, k)| k.to_vec()));
                }
            }
        }
        // Mostly expired keys: take the first live one, if any.
        for item in self.kv_prefix(&self.meta, key::db_prefix(pdb))? {
            let (ekey, value) = item?;
            if !meta::header(&value)?.expired(now) {
                return Ok(key::decode(&ekey).map(|(_, _, k)| k.to_vec()));
            }
        }
        Ok(None)
    }
}
