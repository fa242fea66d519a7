//! Tests of hashes and sets through the store, and of the element collector.

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
    assert_eq!(r, Ok(5));
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
            let (next, found) = s.hscan(0, b"h", cursor, None, count).unwrap();
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
    let (_, matched) = s.hscan(0, b"h", 0, Some(b"f1?"), 1000).unwrap();
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
    assert_eq!(s.element_gc().dropped(), 2020);
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
