//! Operations shared by the keyed collections (hashes, sets, sorted sets): elements named by
//! a field or member, looked up with one point read each.

use std::collections::HashSet;

use super::{random_u64, Coll, ElementScan, Pairs, Result, Store, Txn};
use crate::meta::RedisType;
use crate::{pattern, sub};

impl Store {
    /// Sets elements `field -> value` of the `ty` collection `k` in one batch, creating it if
    /// absent; returns how many fields are new. With `only_new` existing fields are kept.
    pub(super) fn put_elements<F: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        db: u8,
        k: &[u8],
        ty: RedisType,
        pairs: &[(F, V)],
        only_new: bool,
    ) -> Result<u64> {
        let (_guard, c, now) = self.locked_coll(db, k, ty)?;
        let mut body = self.body_or_new(&c)?;
        let prefix = sub::prefix(&c.ekey, body.version);
        let mut txn = Txn::new(self, now);
        let mut added = HashSet::new();
        let mut new = 0;
        for (field, value) in pairs {
            let fk = sub::join(&prefix, field.as_ref());
            let exists =
                added.contains(&fk) || (c.body.is_some() && self.kv_get(&self.sub, &fk)?.is_some());
            // A set member that is already there has nothing to rewrite.
            if exists && (only_new || ty == RedisType::Set) {
                continue;
            }
            if !exists {
                new += 1;
                added.insert(fk.clone());
            }
            txn.put_sub(fk, value);
        }
        if txn.batch.is_empty() {
            return Ok(0);
        }
        if new > 0 {
            // Only a new field changes the metadata (a new collection always has one).
            body.count += new;
            txn.put_coll(&c, &body)?;
        }
        txn.commit()?;
        Ok(new)
    }

    /// The values of `fields` in the `ty` collection `k` (`None` where absent).
    pub(super) fn get_elements<F: AsRef<[u8]>>(
        &self,
        db: u8,
        k: &[u8],
        ty: RedisType,
        fields: &[F],
    ) -> Result<Vec<Option<Vec<u8>>>> {
        let (_guard, c, _) = self.locked_coll(db, k, ty)?;
        let Some(prefix) = c.prefix() else {
            return Ok(vec![None; fields.len()]);
        };
        fields
            .iter()
            .map(|f| self.kv_get(&self.sub, sub::join(&prefix, f.as_ref())))
            .collect()
    }

    /// Removes `fields` from the `ty` collection `k` (and, for a sorted set, their score
    /// index entries); returns how many existed. The last one out deletes the key.
    pub(super) fn remove_elements<F: AsRef<[u8]>>(
        &self,
        db: u8,
        k: &[u8],
        ty: RedisType,
        fields: &[F],
    ) -> Result<u64> {
        let (_guard, c, now) = self.locked_coll(db, k, ty)?;
        let (Some(mut body), Some(prefix)) = (c.body, c.prefix()) else {
            return Ok(0);
        };
        let mut txn = Txn::new(self, now);
        let mut removed = HashSet::new();
        for f in fields {
            let fk = sub::join(&prefix, f.as_ref());
            if removed.contains(&fk) {
                continue;
            }
            if let Some(value) = self.kv_get(&self.sub, &fk)? {
                if ty == RedisType::ZSet {
                    txn.delete_score(&prefix, &value, f.as_ref())?;
                }
                txn.delete_sub(fk.clone());
                removed.insert(fk);
            }
        }
        if removed.is_empty() {
            return Ok(0);
        }
        body.count -= (removed.len() as u64).min(body.count);
        txn.put_coll(&c, &body)?;
        txn.commit()?;
        Ok(removed.len() as u64)
    }

    /// The element count of the `ty` collection `k` (0 if absent): the metadata alone.
    pub(super) fn collection_len(&self, db: u8, k: &[u8], ty: RedisType) -> Result<u64> {
        let ekey = super::key::encode(self.dbs()[usize::from(db)], k);
        Ok(self.coll(ekey, ty, self.now_ms())?.len())
    }

    /// Random elements of the `ty` collection `k`, as HRANDFIELD, SRANDMEMBER and
    /// ZRANDMEMBER count them: `count >= 0` gives that many distinct elements (all if the
    /// collection is smaller), `count < 0` gives exactly `-count`, possibly repeated. One walk
    /// over the collection at most.
    pub(super) fn random_elements(
        &self,
        db: u8,
        k: &[u8],
        ty: RedisType,
        count: i64,
    ) -> Result<Pairs> {
        let (_guard, c, _) = self.locked_coll(db, k, ty)?;
        self.sample(&c, count)
    }

    /// [`random_elements`](Self::random_elements) of a collection already read.
    pub(super) fn sample(&self, c: &Coll, count: i64) -> Result<Pairs> {
        let n = c.len();
        if n == 0 || count == 0 {
            return Ok(Vec::new());
        }
        let wanted = count.unsigned_abs();
        if count > 0 && wanted >= n {
            return self.elements(c);
        }
        // Positions to pick (with repeats for a negative count), then one ordered walk.
        let positions: Vec<u64> = if count > 0 {
            // Floyd's sampling: `wanted` distinct positions in O(wanted).
            let mut chosen = HashSet::new();
            for j in n - wanted..n {
                let t = random_u64() % (j + 1);
                if !chosen.insert(t) {
                    chosen.insert(j);
                }
            }
            chosen.into_iter().collect()
        } else {
            (0..wanted).map(|_| random_u64() % n).collect()
        };
        let mut order: Vec<usize> = (0..positions.len()).collect();
        order.sort_unstable_by_key(|&i| positions[i]);
        let mut out: Vec<Option<(Vec<u8>, Vec<u8>)>> = vec![None; positions.len()];
        let mut want = order.iter().peekable();
        self.walk(c, |pos, field, value| {
            while let Some(&&i) = want.peek() {
                if positions[i] != pos {
                    break;
                }
                out[i] = Some((field.to_vec(), value.to_vec()));
                want.next();
            }
            want.peek().is_some()
        })?;
        Ok(out.into_iter().flatten().collect())
    }

    /// Calls `visit(position, field, value)` for the elements of `c` in order until it
    /// returns false.
    fn walk(&self, c: &Coll, mut visit: impl FnMut(u64, &[u8], &[u8]) -> bool) -> Result<()> {
        let Some(prefix) = c.prefix() else {
            return Ok(());
        };
        for (pos, item) in (0u64..).zip(self.kv_prefix(&self.sub, &prefix)?) {
            let (k, v) = item?;
            if !visit(pos, &k[prefix.len()..], &v) {
                break;
            }
        }
        Ok(())
    }

    /// One step of HSCAN/SSCAN/ZSCAN over the `ty` collection `k`: up to `scan.count`
    /// elements (field, value) after `scan.cursor` whose field matches `scan.pattern`, and the
    /// cursor to continue with (0 when done). Cursors are tokens for the last field returned, so the walk keeps
    /// no state in the collection; an unknown token starts over (every element present
    /// throughout is still returned, possibly twice, as SCAN promises).
    pub(super) fn scan_elements(
        &self,
        db: u8,
        k: &[u8],
        ty: RedisType,
        scan: ElementScan<'_>,
    ) -> Result<(u64, Pairs)> {
        let ElementScan {
            cursor,
            pattern: pat,
            count,
        } = scan;
        let (_guard, c, _) = self.locked_coll(db, k, ty)?;
        let Some(prefix) = c.prefix() else {
            return Ok((0, Vec::new()));
        };
        let mut start = prefix.clone();
        if let Ok(token) = u32::try_from(cursor) {
            let cursors = self
                .element_cursors
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some((ekey, last)) = cursors.map.get(&token) {
                if *ekey == c.ekey && last.starts_with(&prefix) {
                    start = last.clone();
                    start.push(0);
                }
            }
        }
        let end = sub::prefix_end(&prefix);
        let mut out = Vec::new();
        let mut last: Option<Vec<u8>> = None;
        for (visited, item) in self
            .kv_range(&self.sub, Some(&start), end.as_deref())?
            .enumerate()
        {
            let (ek, v) = item?;
            if let (true, Some(last)) = (visited == count.max(1), last.take()) {
                let token = self
                    .element_cursors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remember((c.ekey.clone(), last));
                return Ok((u64::from(token), out));
            }
            let field = &ek[prefix.len()..];
            if pat.is_none_or(|p| pattern::matches(p, field)) {
                out.push((field.to_vec(), v));
            }
            last = Some(ek);
        }
        Ok((0, out))
    }
}
