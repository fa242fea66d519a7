//! Tests of strings, keys, counts, SCAN and the expire cycle.

use std::time::Duration;

use super::*;
use strata::{ManualClock, Options};

pub(super) fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Store {
    let mut o = Options::default();
    o.clock = Arc::clone(clock) as Arc<dyn Clock>;
    Store::open(dir, o, Arc::clone(clock) as Arc<dyn Clock>).unwrap()
}

pub(super) fn store() -> (tempfile::TempDir, Store, Arc<ManualClock>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let s = open(dir.path(), &clock);
    (dir, s, clock)
}

pub(super) fn set(s: &Store, db: u8, k: &[u8], v: &[u8], expiry: Expiry) {
    let opts = SetOptions {
        expiry,
        ..SetOptions::default()
    };
    assert!(s.set(db, k, v, opts).unwrap().written);
}

#[test]
fn set_get_conditions_and_expiry() {
    let (_d, s, clock) = store();
    assert_eq!(s.get(0, b"k").unwrap(), None);
    set(&s, 0, b"k", b"v1", Expiry::Clear);
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
    set(&s, 0, b"k", b"v3", Expiry::At(1_000_500));
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
    set(&s, 0, b"gone", b"x", Expiry::At(1));
    assert_eq!(s.exists(0, &[b"gone"]).unwrap(), 0);
}

#[test]
fn del_and_exists_count_keys() {
    let (_d, s, _c) = store();
    set(&s, 0, b"a", b"1", Expiry::Clear);
    set(&s, 0, b"b", b"2", Expiry::Clear);
    assert_eq!(s.exists(0, &[b"a", b"a", b"c"]).unwrap(), 2);
    assert_eq!(s.del(0, &[b"a", b"c", b"a"]).unwrap(), 1);
    assert_eq!(s.exists(0, &[b"a", b"b"]).unwrap(), 1);
    assert_eq!(s.counts_of(0).keys, 1);
}

#[test]
fn counts_stay_exact_through_every_write_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    {
        let s = open(dir.path(), &clock);
        for i in 0..100u32 {
            let expiry = if i % 4 == 0 {
                Expiry::At(1_000_100)
            } else {
                Expiry::Clear
            };
            set(&s, 0, format!("k{i}").as_bytes(), b"v", expiry);
        }
        set(&s, 0, b"k1", b"again", Expiry::Clear);
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"m", b"1"), (b"m", b"2"), (b"k2", b"x")];
        assert!(s.mset(0, &pairs, false).unwrap());
        assert_eq!(s.get(0, b"m").unwrap(), Some(b"2".to_vec()));
        assert_eq!(
            s.counts_of(0),
            DbCounts {
                keys: 101,
                expires: 25
            }
        );
        assert_eq!(
            s.rename(0, b"k1", b"k0", false).unwrap(),
            RenameOutcome::Renamed
        );
        assert_eq!(
            s.counts_of(0),
            DbCounts {
                keys: 100,
                expires: 24
            }
        );
        assert!(s.copy(0, b"k4", 1, b"k4", false).unwrap());
        assert!(s.move_key(0, b"k8", 2).unwrap());
        assert_eq!(
            s.counts_of(1),
            DbCounts {
                keys: 1,
                expires: 1
            }
        );
        assert_eq!(
            s.counts_of(2),
            DbCounts {
                keys: 1,
                expires: 1
            }
        );
        assert_eq!(
            s.counts_of(0),
            DbCounts {
                keys: 99,
                expires: 23
            }
        );
        assert!(s.set_expiry(0, b"k3", Some(2_000_000), |_| true).unwrap());
        assert!(s.set_expiry(0, b"k12", None, |_| true).unwrap());
        assert_eq!(
            s.counts_of(0),
            DbCounts {
                keys: 99,
                expires: 23
            }
        );
        // Expired keys stay counted until the expire cycle deletes them.
        clock.advance(Duration::from_millis(100));
        assert_eq!(s.counts_of(0).keys, 99);
        // A write over an expired key replaces it without counting it twice.
        set(&s, 0, b"k16", b"new", Expiry::Clear);
        assert_eq!(
            s.counts_of(0),
            DbCounts {
                keys: 99,
                expires: 22
            }
        );
        // 21 in db 0, the copy in db 1 and the moved key in db 2.
        assert_eq!(s.expire_cycle(1000).unwrap(), 23);
        assert_eq!(
            s.counts_of(0),
            DbCounts {
                keys: 78,
                expires: 1
            }
        );
        assert_eq!(s.counts_of(1), DbCounts::default());
        assert_eq!(s.counts_of(2), DbCounts::default());
        assert_eq!(s.stats().expired_keys, 24, "23 swept, 1 replaced");
        assert_eq!(s.expire_cycle(1000).unwrap(), 0);
        assert_eq!(s.keys(0, b"*").unwrap().len(), 78);
        s.swapdb(0, 3).unwrap();
    }
    let s = open(dir.path(), &clock);
    assert_eq!(
        s.counts_of(3),
        DbCounts {
            keys: 78,
            expires: 1
        }
    );
    assert_eq!(s.counts_of(0).keys, 0);
    assert_eq!(s.get(3, b"k0").unwrap(), Some(b"again".to_vec()));
    s.flushdb(3).unwrap();
    assert_eq!(s.counts_of(3).keys, 0);
    assert_eq!(s.keys(3, b"*").unwrap(), Vec::<Vec<u8>>::new());
    set(&s, 2, b"k8", b"v", Expiry::Clear);
    s.flushall().unwrap();
    assert_eq!(s.counts_of(2).keys, 0);
    drop(s);
    let s = open(dir.path(), &clock);
    for db in 0..4 {
        assert_eq!(s.counts_of(db), DbCounts::default());
    }
}

#[test]
fn scan_returns_every_key_once_across_slots_and_cursors() {
    let (_d, s, _c) = store();
    let mut want = Vec::new();
    for i in 0..500u32 {
        // Many keys share a slot through a hash tag, so cursors stop inside slots too.
        let k = if i % 2 == 0 {
            format!("{{tag}}:{i}")
        } else {
            format!("key:{i}")
        };
        set(&s, 0, k.as_bytes(), b"v", Expiry::Clear);
        want.push(k.into_bytes());
    }
    want.sort();
    for count in [1, 7, 100, 1000] {
        let mut got = Vec::new();
        let mut cursor = 0;
        loop {
            let (next, keys) = s.scan(0, cursor, None, count, None).unwrap();
            got.extend(keys);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        got.sort();
        assert_eq!(got, want, "COUNT {count}");
    }
    let (_, matched) = s.scan(0, 0, Some(b"key:1?"), 10_000, None).unwrap();
    assert_eq!(matched.len(), 5, "key:11 to key:19, odd");
    let (_, none) = s.scan(0, 0, None, 10_000, Some(RedisType::Hash)).unwrap();
    assert!(none.is_empty());
    let tagged = s.keys(0, b"{tag}:1*").unwrap();
    assert_eq!(tagged.len(), 55, "10..=18 and 100..=198, even");
}

#[test]
fn random_key_finds_live_keys_only() {
    let (_d, s, clock) = store();
    assert_eq!(s.random_key(0).unwrap(), None);
    set(&s, 0, b"dead", b"v", Expiry::At(1_000_001));
    set(&s, 0, b"live", b"v", Expiry::Clear);
    clock.advance(Duration::from_millis(5));
    for _ in 0..20 {
        assert_eq!(s.random_key(0).unwrap(), Some(b"live".to_vec()));
    }
}

#[test]
fn damaged_index_entries_are_dropped_without_panicking() {
    let (_d, s, clock) = store();
    // An index entry naming a key with an impossible slot, and one naming no key.
    s.expire
        .put(expire_key(1_000_001, b"\x00\xff\xffk"), [])
        .unwrap();
    s.expire.put(expire_key(1_000_001, b"\x00"), []).unwrap();
    set(&s, 0, b"k", b"v", Expiry::At(1_000_001));
    clock.advance(Duration::from_millis(5));
    assert_eq!(s.expire_cycle(100).unwrap(), 1);
    assert_eq!(s.counts_of(0), DbCounts::default());
    assert_eq!(s.expire.range(None, None).unwrap().count(), 0);
}

#[test]
fn background_cycle_deletes_expired_keys() {
    let (_d, s, clock) = store();
    let s = Arc::new(s);
    for i in 0..3000u32 {
        set(
            &s,
            0,
            format!("k{i}").as_bytes(),
            b"v",
            Expiry::At(1_000_010),
        );
    }
    let _cycle = s.start_expire_cycle(Duration::from_millis(5)).unwrap();
    clock.advance(Duration::from_millis(10));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.counts_of(0).keys > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(s.counts_of(0), DbCounts::default());
    assert_eq!(s.expire.range(None, None).unwrap().count(), 0);
}
