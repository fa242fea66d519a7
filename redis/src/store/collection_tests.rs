//! Tests of hashes and sets through the store, and of the element collector.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::tests::{open, set, store};
use super::*;
use strata::ManualClock;

fn sub_entries(s: &Store) -> usize {
    s.sub.range(None, None).unwrap().count()
}

#[test]
fn hashes_count_fields_and_vanish_when_empty() {
    let (_d, s, _c) = store();
    assert_eq!(
        s.hset(0, b"h", &[(b"a", b"1"), (b"b", b"2"), (b"a", b"3")], false)
            .unwrap(),
        2
    );
    assert_eq!(s.hlen(0, b"h").unwrap(), 2);
    assert_eq!(
        s.hget(0, b"h", b"a").unwrap(),
        Some(b"3".to_vec()),
        "last value wins"
    );
    assert_eq!(
        s.hset(0, b"h", &[(b"a", b"x")], true).unwrap(),
        0,
        "HSETNX keeps"
    );
    assert_eq!(s.hget(0, b"h", b"a").unwrap(), Some(b"3".to_vec()));
    assert_eq!(
        s.hmget(0, b"h", &[&b"b"[..], b"zz"]).unwrap(),
        vec![Some(b"2".to_vec()), None]
    );
    assert_eq!(
        s.hgetall(0, b"h").unwrap(),
        vec![
            (b"a".to_vec(), b"3".to_vec()),
            (b"b".to_vec(), b"2".to_vec())
        ]
    );
    assert_eq!(s.counts_of(0).keys, 1);
    assert!(matches!(s.get(0, b"h"), Err(Error::WrongType)));
    assert!(matches!(s.sadd(0, b"h", &[b"m"]), Err(Error::WrongType)));
    assert_eq!(s.hdel(0, b"h", &[&b"a"[..], b"a", b"nope"]).unwrap(), 1);
    assert_eq!(s.hdel(0, b"h", &[b"b"]).unwrap(), 1);
    assert_eq!(
        s.key_type(0, b"h").unwrap(),
        None,
        "the last field took the key with it"
    );
    assert_eq!(s.counts_of(0).keys, 0);
    let r = s
        .hupdate(0, b"n", b"f", |old| {
            assert_eq!(old, None);
            Ok((b"5".to_vec(), 5))
        })
        .unwrap();
    assert_eq!(r, 5);
    assert_eq!(s.hlen(0, b"n").unwrap(), 1);
}

#[test]
fn sets_combine_like_redis() {
    let (_d, s, _c) = store();
    assert_eq!(s.sadd(0, b"a", &[&b"1"[..], b"2", b"3", b"2"]).unwrap(), 3);
    assert_eq!(s.sadd(0, b"b", &[&b"2"[..], b"3", b"4"]).unwrap(), 3);
    let strs = |v: Vec<Vec<u8>>| -> Vec<String> {
        v.into_iter()
            .map(|m| String::from_utf8(m).unwrap())
            .collect()
    };
    assert_eq!(
        strs(s.set_combine(0, &[b"a", b"b"], SetOp::Inter, 0).unwrap()),
        ["2", "3"]
    );
    assert_eq!(
        strs(s.set_combine(0, &[b"a", b"b"], SetOp::Union, 0).unwrap()),
        ["1", "2", "3", "4"]
    );
    assert_eq!(
        strs(s.set_combine(0, &[b"a", b"b"], SetOp::Diff, 0).unwrap()),
        ["1"]
    );
    assert_eq!(
        s.set_combine(0, &[b"a", b"a"], SetOp::Diff, 0)
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        s.set_combine(0, &[&b"a"[..], b"none"], SetOp::Inter, 0)
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        s.set_combine(0, &[b"a", b"b"], SetOp::Inter, 1)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.set_combine_store(0, b"d", &[b"a", b"b"], SetOp::Union,)
            .unwrap(),
        4
    );
    assert_eq!(s.scard(0, b"d").unwrap(), 4);
    assert_eq!(
        s.set_combine_store(0, b"a", &[b"a", b"b"], SetOp::Diff)
            .unwrap(),
        1,
        "dst among sources"
    );
    assert_eq!(strs(s.smembers(0, b"a").unwrap()), ["1"]);
    assert_eq!(
        s.set_combine_store(0, b"a", &[b"nope"], SetOp::Union)
            .unwrap(),
        0
    );
    assert_eq!(
        s.key_type(0, b"a").unwrap(),
        None,
        "an empty result deletes the destination"
    );
    assert!(s.smove(0, b"b", b"c", b"4").unwrap());
    assert!(!s.smove(0, b"b", b"c", b"4").unwrap());
    assert_eq!(
        s.smismember(0, b"c", &[&b"4"[..], b"5"]).unwrap(),
        vec![true, false]
    );
    set(&s, 0, b"str", b"v", Expiry::Clear);
    assert!(matches!(
        s.set_combine(0, &[&b"b"[..], b"str"], SetOp::Union, 0),
        Err(Error::WrongType)
    ));
    assert!(matches!(
        s.smove(0, b"b", b"str", b"2"),
        Err(Error::WrongType)
    ));
    assert!(
        !s.smove(0, b"missing", b"str", b"2").unwrap(),
        "a missing source wins over WRONGTYPE"
    );
    let popped = s.spop(0, b"b", 10).unwrap();
    assert_eq!(popped.len(), 2);
    assert_eq!(s.key_type(0, b"b").unwrap(), None);
    assert_eq!(s.counts_of(0).keys, 3, "d, c, str");
}

#[test]
fn random_members_follow_the_count_rules() {
    let (_d, s, _c) = store();
    let members: Vec<Vec<u8>> = (0..50u32).map(|i| i.to_string().into_bytes()).collect();
    s.sadd(0, b"s", &members).unwrap();
    for count in [1i64, 7, 49] {
        let got = s.srandmember(0, b"s", count).unwrap();
        assert_eq!(got.len(), count as usize);
        let distinct: HashSet<_> = got.iter().collect();
        assert_eq!(distinct.len(), got.len(), "positive count: distinct");
    }
    assert_eq!(s.srandmember(0, b"s", 500).unwrap().len(), 50);
    assert_eq!(
        s.srandmember(0, b"s", -200).unwrap().len(),
        200,
        "negative: exactly, repeats"
    );
    assert!(s
        .srandmember(0, b"s", -3)
        .unwrap()
        .iter()
        .all(|m| members.contains(m)));
    assert_eq!(s.srandmember(0, b"nope", 5).unwrap().len(), 0);
}

#[test]
fn element_scans_return_every_element_once() {
    let (_d, s, _c) = store();
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..300u32)
        .map(|i| (format!("f{i}").into_bytes(), b"v".to_vec()))
        .collect();
    let refs: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(f, v)| (f.as_slice(), v.as_slice()))
        .collect();
    s.hset(0, b"h", &refs, false).unwrap();
    for count in [1, 10, 1000] {
        let (mut cursor, mut got) = (0, Vec::new());
        loop {
            let (next, found) = s
                .hscan(
                    0,
                    b"h",
                    ElementScan {
                        cursor,
                        pattern: None,
                        count,
                    },
                )
                .unwrap();
            got.extend(found.into_iter().map(|(f, _)| f));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        got.sort();
        let mut want: Vec<Vec<u8>> = pairs.iter().map(|(f, _)| f.clone()).collect();
        want.sort();
        assert_eq!(got, want, "COUNT {count}");
    }
    let (_, matched) = s
        .hscan(
            0,
            b"h",
            ElementScan {
                cursor: 0,
                pattern: Some(b"f1?"),
                count: 1000,
            },
        )
        .unwrap();
    assert_eq!(matched.len(), 10);
}

#[test]
fn rename_copy_and_move_carry_the_elements() {
    let (_d, s, _c) = store();
    s.sadd(0, b"s", &[&b"x"[..], b"y"]).unwrap();
    s.hset(0, b"h", &[(b"f", b"v")], false).unwrap();
    assert_eq!(
        s.rename(0, b"s", b"t", false).unwrap(),
        RenameOutcome::Renamed
    );
    assert_eq!(
        s.smembers(0, b"t").unwrap(),
        vec![b"x".to_vec(), b"y".to_vec()]
    );
    assert!(s.copy(0, b"t", 0, b"u", false).unwrap());
    s.srem(0, b"t", &[b"x"]).unwrap();
    assert_eq!(s.scard(0, b"u").unwrap(), 2, "a copy is independent");
    assert!(
        s.copy(0, b"u", 0, b"h", true).unwrap(),
        "REPLACE over a hash"
    );
    assert_eq!(s.scard(0, b"h").unwrap(), 2);
    assert!(s.move_key(0, b"h", 3).unwrap());
    assert_eq!(s.scard(3, b"h").unwrap(), 2);
    assert_eq!(s.scard(0, b"h").unwrap(), 0);
}

#[test]
fn dead_collections_leave_the_disk_through_compaction() {
    let (_d, s, clock) = store();
    let fields: Vec<(Vec<u8>, Vec<u8>)> = (0..2000u32)
        .map(|i| (format!("f{i:05}").into_bytes(), vec![b'v'; 20]))
        .collect();
    let refs: Vec<(&[u8], &[u8])> = fields
        .iter()
        .map(|(f, v)| (f.as_slice(), v.as_slice()))
        .collect();
    s.hset(0, b"dead", &refs, false).unwrap();
    s.hset(0, b"live", &refs[..10], false).unwrap();
    s.hset(0, b"expiring", &refs[..10], false).unwrap();
    s.hset(0, b"replaced", &refs[..10], false).unwrap();
    assert!(s
        .set_expiry(0, b"expiring", Some(1_000_050), |_| true)
        .unwrap());
    set(&s, 0, b"replaced", b"now a string", Expiry::Clear);
    assert_eq!(sub_entries(&s), 2030);
    assert_eq!(s.del(0, &[b"dead"]).unwrap(), 1);
    clock.advance(Duration::from_millis(100));
    s.sub.compact_range(None, None).unwrap();
    assert_eq!(sub_entries(&s), 10, "only the live hash's fields stay");
    assert_eq!(s.stats().elements_collected, 2020);
    assert_eq!(s.hlen(0, b"live").unwrap(), 10);
    // A new hash under a deleted one's name starts empty (a new version).
    s.hset(0, b"dead", &refs[..1], false).unwrap();
    assert_eq!(s.hlen(0, b"dead").unwrap(), 1);
    assert_eq!(s.hgetall(0, b"dead").unwrap().len(), 1);
}

#[test]
fn versions_are_never_reused_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let first = {
        let s = open(dir.path(), &clock);
        let v = s.new_version().unwrap();
        for _ in 0..VERSION_BLOCK + 3 {
            s.new_version().unwrap();
        }
        v
    };
    let s = open(dir.path(), &clock);
    let after = s.new_version().unwrap();
    assert!(after > first + VERSION_BLOCK + 3, "{after} after {first}");
}

#[test]
fn deleting_a_million_field_hash_is_instant_and_compaction_reclaims_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let s = open(dir.path(), &clock);
    let value = [b'v'; 16];
    for chunk in 0..1000u32 {
        let fields: Vec<[u8; 8]> = (0..1000u32)
            .map(|i| u64::from(chunk * 1000 + i).to_be_bytes())
            .collect();
        let pairs: Vec<(&[u8], &[u8])> = fields.iter().map(|f| (&f[..], &value[..])).collect();
        s.hset(0, b"big", &pairs, false).unwrap();
    }
    s.hset(0, b"small", &[(b"f", b"v")], false).unwrap();
    assert_eq!(s.hlen(0, b"big").unwrap(), 1_000_000);
    let started = std::time::Instant::now();
    assert_eq!(s.del(0, &[b"big"]).unwrap(), 1);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(50), "DEL took {took:?}");
    assert_eq!(s.hlen(0, b"big").unwrap(), 0);
    s.sub.compact_range(None, None).unwrap();
    assert_eq!(
        sub_entries(&s),
        1,
        "only the small hash's field is left on disk"
    );
    let level_bytes: u64 = s
        .engine()
        .stats()
        .keyspaces
        .iter()
        .filter(|k| k.name == SUB_KEYSPACE)
        .flat_map(|k| k.levels.iter().map(|l| l.bytes))
        .sum();
    assert!(
        level_bytes < 64 * 1024,
        "{level_bytes} bytes of elements left"
    );
}

/// The model: what every key should hold.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Hash(std::collections::BTreeMap<Vec<u8>, Vec<u8>>),
    Set(std::collections::BTreeSet<Vec<u8>>),
    List(VecDeque<Vec<u8>>),
    ZSet(std::collections::BTreeMap<Vec<u8>, f64>),
}

/// xorshift64*: a deterministic generator for the model test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick(&mut self, from: &[&'static [u8]]) -> Vec<u8> {
        from[self.below(from.len() as u64) as usize].to_vec()
    }
}

const KEYS: &[&[u8]] = &[b"k1", b"k2", b"k3", b"{t}a", b"{t}ab"];
const FIELDS: &[&[u8]] = &[b"a", b"b", b"c", b"d", b"", b"\xff"];

/// Reads the whole of `k` back through the store.
fn read_back(s: &Store, k: &[u8]) -> Option<Val> {
    match s.key_type(0, k).unwrap()? {
        RedisType::Hash => Some(Val::Hash(s.hgetall(0, k).unwrap().into_iter().collect())),
        RedisType::Set => Some(Val::Set(s.smembers(0, k).unwrap().into_iter().collect())),
        RedisType::List => Some(Val::List(s.lrange(0, k, 0, -1).unwrap().into())),
        RedisType::ZSet => {
            let spec = ZRangeSpec {
                range: ZRange::Rank(0, -1),
                rev: false,
                limit: None,
            };
            let all = s.zrange(0, k, &spec).unwrap();
            // The score order must agree with the member map.
            let mut sorted = all.clone();
            sorted.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            assert_eq!(all, sorted, "score index order");
            Some(Val::ZSet(all.into_iter().collect()))
        }
        RedisType::String => panic!("no strings in this test"),
    }
}

fn check_all(s: &Store, model: &HashMap<Vec<u8>, Val>, step: usize) {
    for k in KEYS {
        assert_eq!(
            read_back(s, k).as_ref(),
            model.get(*k),
            "key {k:?} at step {step}"
        );
        let len = match model.get(*k) {
            None => 0,
            Some(Val::Hash(h)) => h.len(),
            Some(Val::Set(m)) => m.len(),
            Some(Val::List(l)) => l.len(),
            Some(Val::ZSet(z)) => z.len(),
        } as u64;
        let stored = match model.get(*k) {
            None => 0,
            Some(Val::Hash(_)) => s.hlen(0, k).unwrap(),
            Some(Val::Set(_)) => s.scard(0, k).unwrap(),
            Some(Val::List(_)) => s.llen(0, k).unwrap(),
            Some(Val::ZSet(_)) => s.zcard(0, k).unwrap(),
        };
        assert_eq!(stored, len, "count of {k:?} at step {step}");
    }
    assert_eq!(
        s.counts_of(0).keys,
        model.len() as u64,
        "DBSIZE at step {step}"
    );
}

/// Applies one random command to the store and the model, comparing replies.
fn step(s: &Store, model: &mut HashMap<Vec<u8>, Val>, rng: &mut Rng) {
    let k = rng.pick(KEYS);
    let f = rng.pick(FIELDS);
    let cur = model.get(&k).cloned();
    let wrong = |want: fn(&Val) -> bool| cur.as_ref().is_some_and(|v| !want(v));
    match rng.below(16) {
        0 => {
            let v = rng.next().to_string().into_bytes();
            let r = s.hset(0, &k, &[(&f, &v)], false);
            if wrong(|v| matches!(v, Val::Hash(_))) {
                assert!(matches!(r, Err(Error::WrongType)));
                return;
            }
            let Val::Hash(mut h) = cur.unwrap_or(Val::Hash(Default::default())) else {
                return;
            };
            let new = h.insert(f, v).is_none();
            assert_eq!(r.unwrap(), u64::from(new));
            model.insert(k, Val::Hash(h));
        }
        1 => {
            let r = s.hdel(0, &k, &[&f]);
            if wrong(|v| matches!(v, Val::Hash(_))) {
                assert!(matches!(r, Err(Error::WrongType)));
                return;
            }
            let Some(Val::Hash(mut h)) = cur else {
                assert_eq!(r.unwrap(), 0);
                return;
            };
            assert_eq!(r.unwrap(), u64::from(h.remove(&f).is_some()));
            if h.is_empty() {
                model.remove(&k);
            } else {
                model.insert(k, Val::Hash(h));
            }
        }
        2 => {
            let r = s.sadd(0, &k, &[&f]);
            if wrong(|v| matches!(v, Val::Set(_))) {
                assert!(matches!(r, Err(Error::WrongType)));
                return;
            }
            let Val::Set(mut m) = cur.unwrap_or(Val::Set(Default::default())) else {
                return;
            };
            assert_eq!(r.unwrap(), u64::from(m.insert(f)));
            model.insert(k, Val::Set(m));
        }
        3 => {
            let r = s.srem(0, &k, &[&f]);
            if wrong(|v| matches!(v, Val::Set(_))) {
                assert!(matches!(r, Err(Error::WrongType)));
                return;
            }
            let Some(Val::Set(mut m)) = cur else {
                assert_eq!(r.unwrap(), 0);
                return;
            };
            assert_eq!(r.unwrap(), u64::from(m.remove(&f)));
            if m.is_empty() {
                model.remove(&k);
            } else {
                model.insert(k, Val::Set(m));
            }
        }
        4 | 5 => {
            let end = if rng.below(2) == 0 {
                End::Left
            } else {
                End::Right
            };
            let r = s.push(0, &k, end, &[&f], false);
            if wrong(|v| matches!(v, Val::List(_))) {
                assert!(matches!(r, Err(Error::WrongType)));
                return;
            }
            let Val::List(mut l) = cur.unwrap_or(Val::List(Default::default())) else {
                return;
            };
            match end {
                End::Left => l.push_front(f),
                End::Right => l.push_back(f),
            }
            assert_eq!(r.unwrap(), l.len() as u64);
            model.insert(k, Val::List(l));
        }
        6 => {
            let end = if rng.below(2) == 0 {
                End::Left
            } else {
                End::Right
            };
            let n = rng.below(3);
            let r = s.pop(0, &k, end, n);
            if wrong(|v| matches!(v, Val::List(_))) {
                assert!(matches!(r, Err(Error::WrongType)));
                return;
            }
            let Some(Val::List(mut l)) = cur else {
                assert_eq!(r.unwrap(), None);
                return;
            };
            let mut want = Vec::new();
            for _ in 0..n {
                let e = match end {
                    End::Left => l.pop_front(),
                    End::Right => l.pop_back(),
                };
                want.extend(e);
            }
            assert_eq!(r.unwrap(), Some(want));
            if l.is_empty() {
                model.remove(&k);
            } else {
                model.insert(k, Val::List(l));
            }
        }
        7 => {
            // LSET / LTRIM / LREM / LINSERT on lists only (other types: WRONGTYPE).
            let Some(Val::List(mut l)) = cur else {
                let r = s.lrem(0, &k, 0, &f);
                assert_eq!(r.is_err(), cur.is_some());
                return;
            };
            match rng.below(4) {
                0 => {
                    let i = rng.below(l.len() as u64 + 1) as i64 - 1;
                    let out = s.lset(0, &k, i, b"set").unwrap();
                    let idx = if i < 0 { l.len() as i64 + i } else { i };
                    if (0..l.len() as i64).contains(&idx) {
                        l[idx as usize] = b"set".to_vec();
                        assert_eq!(out, LsetOutcome::Set);
                    } else {
                        assert_eq!(out, LsetOutcome::OutOfRange);
                    }
                }
                1 => {
                    let (a, b) = (rng.below(4) as i64 - 1, rng.below(4) as i64 - 2);
                    s.ltrim(0, &k, a, b).unwrap();
                    let len = l.len() as i64;
                    let a2 = if a < 0 { (len + a).max(0) } else { a };
                    let b2 = if b < 0 { len + b } else { b.min(len - 1) };
                    l = if a2 > b2 || a2 >= len {
                        VecDeque::new()
                    } else {
                        l.range(a2 as usize..=b2 as usize).cloned().collect()
                    };
                }
                2 => {
                    let count = rng.below(5) as i64 - 2;
                    let got = s.lrem(0, &k, count, &f).unwrap();
                    let mut v: Vec<Vec<u8>> = l.into_iter().collect();
                    let mut removed = 0;
                    let limit = if count == 0 {
                        usize::MAX
                    } else {
                        count.unsigned_abs() as usize
                    };
                    if count >= 0 {
                        let mut i = 0;
                        while i < v.len() {
                            if removed < limit && v[i] == f {
                                v.remove(i);
                                removed += 1;
                            } else {
                                i += 1;
                            }
                        }
                    } else {
                        let mut i = v.len();
                        while i > 0 {
                            i -= 1;
                            if removed < limit && v[i] == f {
                                v.remove(i);
                                removed += 1;
                            }
                        }
                    }
                    assert_eq!(got, removed as u64);
                    l = v.into();
                }
                _ => {
                    let after = rng.below(2) == 0;
                    let got = s.linsert(0, &k, after, &f, b"ins").unwrap();
                    match l.iter().position(|e| *e == f) {
                        Some(p) => {
                            l.insert(p + usize::from(after), b"ins".to_vec());
                            assert_eq!(got, l.len() as i64);
                        }
                        None => assert_eq!(got, -1),
                    }
                }
            }
            if l.is_empty() {
                model.remove(&k);
            } else {
                model.insert(k, Val::List(l));
            }
        }
        8 | 9 => {
            let score = (rng.below(7) as f64) - 3.0;
            let incr = rng.below(3) == 0;
            let opts = ZaddOptions {
                incr,
                ..ZaddOptions::default()
            };
            let r = s.zadd(0, &k, opts, &[(score, &f)]);
            if wrong(|v| matches!(v, Val::ZSet(_))) {
                assert!(matches!(r, Err(Error::WrongType)));
                return;
            }
            let Val::ZSet(mut z) = cur.unwrap_or(Val::ZSet(Default::default())) else {
                return;
            };
            let old = z.get(&f).copied();
            let new = if incr {
                old.unwrap_or(0.0) + score
            } else {
                score
            };
            z.insert(f, new);
            let want = if incr {
                ZaddOutcome::Score(Some(new))
            } else {
                ZaddOutcome::Count(u64::from(old.is_none()))
            };
            assert_eq!(r.unwrap(), want);
            model.insert(k, Val::ZSet(z));
        }
        10 => {
            let r = s.zrem(0, &k, &[&f]);
            if wrong(|v| matches!(v, Val::ZSet(_))) {
                assert!(matches!(r, Err(Error::WrongType)));
                return;
            }
            let Some(Val::ZSet(mut z)) = cur else {
                assert_eq!(r.unwrap(), 0);
                return;
            };
            assert_eq!(r.unwrap(), u64::from(z.remove(&f).is_some()));
            if z.is_empty() {
                model.remove(&k);
            } else {
                model.insert(k, Val::ZSet(z));
            }
        }
        11 => {
            let max = rng.below(2) == 0;
            let r = s.zpop(0, &k, max, 1);
            if wrong(|v| matches!(v, Val::ZSet(_))) {
                assert!(matches!(r, Err(Error::WrongType)));
                return;
            }
            let Some(Val::ZSet(mut z)) = cur else {
                assert_eq!(r.unwrap(), None);
                return;
            };
            let mut order: Vec<(Vec<u8>, f64)> = z.clone().into_iter().collect();
            order.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            let want = if max {
                order.pop()
            } else {
                order.first().cloned()
            };
            assert_eq!(r.unwrap(), Some(want.clone().into_iter().collect()));
            if let Some((m, _)) = want {
                z.remove(&m);
            }
            if z.is_empty() {
                model.remove(&k);
            } else {
                model.insert(k, Val::ZSet(z));
            }
        }
        12 => {
            assert_eq!(s.del(0, &[&k]).unwrap(), u64::from(cur.is_some()));
            model.remove(&k);
        }
        13 => {
            let dst = rng.pick(KEYS);
            let out = s.rename(0, &k, &dst, false).unwrap();
            match cur {
                None => assert_eq!(out, RenameOutcome::NoSuchKey),
                Some(v) => {
                    assert_eq!(out, RenameOutcome::Renamed);
                    model.remove(&k);
                    model.insert(dst, v);
                }
            }
        }
        14 => {
            let dst = rng.pick(KEYS);
            let copied = s.copy(0, &k, 0, &dst, true).unwrap();
            assert_eq!(copied, cur.is_some() && k != dst);
            if let (Some(v), true) = (cur, copied) {
                model.insert(dst, v);
            }
        }
        _ => {
            // LMOVE between two keys (or a rotation).
            let dst = rng.pick(KEYS);
            let r = s.lmove(0, &k, &dst, End::Right, End::Left);
            let dst_cur = model.get(&dst).cloned();
            let src_list = matches!(cur, Some(Val::List(_)));
            if cur.is_some() && !src_list
                || (src_list && dst_cur.as_ref().is_some_and(|v| !matches!(v, Val::List(_))))
            {
                assert!(matches!(r, Err(Error::WrongType)), "{r:?}");
                return;
            }
            let Some(Val::List(mut l)) = cur else {
                assert_eq!(r.unwrap(), None);
                return;
            };
            let e = l.pop_back().unwrap();
            assert_eq!(r.unwrap(), Some(e.clone()));
            if k == dst {
                l.push_front(e);
                model.insert(k, Val::List(l));
            } else {
                let Some(Val::List(mut d)) = dst_cur.or(Some(Val::List(VecDeque::new()))) else {
                    return;
                };
                d.push_front(e);
                if l.is_empty() {
                    model.remove(&k);
                } else {
                    model.insert(k, Val::List(l));
                }
                model.insert(dst, Val::List(d));
            }
        }
    }
}

#[test]
fn random_collection_commands_match_a_model_across_restarts_and_compactions() {
    for seed in [1u64, 7, 0x5EED] {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let mut s = open(dir.path(), &clock);
        let mut model: HashMap<Vec<u8>, Val> = HashMap::new();
        let mut rng = Rng(seed);
        for i in 0..3000 {
            step(&s, &mut model, &mut rng);
            if i % 500 == 499 {
                // The collector must never take a live element.
                s.sub.compact_range(None, None).unwrap();
                s.score.compact_range(None, None).unwrap();
                check_all(&s, &model, i);
            }
            if i % 300 == 299 {
                drop(s);
                s = open(dir.path(), &clock);
                check_all(&s, &model, i);
            }
        }
        check_all(&s, &model, usize::MAX);
    }
}
