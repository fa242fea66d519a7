//! TTL: expiring entries read as absent, iterators judge expiry once, compaction purges.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use strata::{Db, ManualClock, Options, ReadOptions, SyncMode, WriteBatch, WriteOptions};

const T0: u64 = 1_700_000_000_000;

fn options(clock: &Arc<ManualClock>) -> Options {
    let mut o = Options::default();
    o.sync_mode = SyncMode::Never;
    o.clock = Arc::clone(clock) as Arc<dyn strata::Clock>;
    o.memtable_size = 64 * 1024;
    o.max_bytes_for_level_base = 256 * 1024;
    o.target_file_size_base = 64 * 1024;
    o.ttl_check_interval = Duration::from_millis(10);
    o
}

fn all(db: &Db) -> Vec<(Vec<u8>, Vec<u8>)> {
    db.range(None, None).unwrap().map(|r| r.unwrap()).collect()
}

#[test]
fn expired_values_read_as_absent_and_hide_older_versions() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Db::open(dir.path(), options(&clock)).unwrap();
    db.put(b"k", b"forever").unwrap();
    db.put_with_ttl(b"k", b"brief", Duration::from_secs(10))
        .unwrap();
    db.put_expiring_at(b"past", b"gone", T0 - 1).unwrap();
    let mut b = WriteBatch::new();
    b.put_with_ttl(b"b1", b"x", Duration::from_secs(5))
        .put(b"b2", b"y");
    db.write(b, WriteOptions::default()).unwrap();

    assert_eq!(db.get(b"k").unwrap(), Some(b"brief".to_vec()));
    assert_eq!(db.ttl(b"k").unwrap(), Some(Duration::from_secs(10)));
    assert_eq!(db.ttl(b"b2").unwrap(), None);
    assert_eq!(
        db.get_with_expiry(b"b2").unwrap(),
        Some((b"y".to_vec(), None))
    );
    assert_eq!(db.get(b"past").unwrap(), None);
    assert_eq!(db.get(b"b1").unwrap(), Some(b"x".to_vec()));

    clock.advance(Duration::from_secs(5));
    assert_eq!(
        db.get(b"b1").unwrap(),
        None,
        "expires at exactly its expiry"
    );
    assert_eq!(db.ttl(b"k").unwrap(), Some(Duration::from_secs(5)));
    clock.advance(Duration::from_secs(5));
    // The expired value hides the older permanent one, in memtables and in tables alike.
    assert_eq!(db.get(b"k").unwrap(), None);
    db.flush().unwrap();
    // The flush wrote `k`, `past` and `b1` as tombstones (and dropped `k`'s older version).
    assert_eq!(db.stats().expired_dropped, 3);
    assert_eq!(db.get(b"k").unwrap(), None);
    assert_eq!(all(&db), vec![(b"b2".to_vec(), b"y".to_vec())]);
    let rev: Vec<_> = db
        .range(None, None)
        .unwrap()
        .rev()
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(rev, vec![b"b2".to_vec()]);
}

#[test]
fn an_iterator_judges_expiry_with_one_clock_reading() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let db = Db::open(dir.path(), options(&clock)).unwrap();
    for i in 0..100u32 {
        db.put_with_ttl(
            format!("k{i:03}"),
            b"v",
            Duration::from_millis(100 + u64::from(i)),
        )
        .unwrap();
    }
    let mut it = db.iter(&ReadOptions::default()).unwrap();
    it.seek_to_first();
    let mut seen = 0;
    while it.valid() {
        assert_eq!(it.value(), b"v");
        seen += 1;
        if seen == 50 {
            // Half the keys expire mid-scan: this iterator still sees all of them.
            clock.advance(Duration::from_millis(150));
        }
        it.next();
    }
    it.status().unwrap();
    assert_eq!(seen, 100);
    // A new iterator, created after the advance, sees only the unexpired half.
    assert_eq!(all(&db).len(), 49);
}

#[test]
fn expired_keys_give_their_disk_space_back_without_new_writes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut o = options(&clock);
    o.memtable_size = 4 << 20;
    o.target_file_size_base = 4 << 20;
    o.max_bytes_for_level_base = 16 << 20;
    let db = Db::open(dir.path(), o).unwrap();
    let empty = dir_bytes(dir.path());
    let n = 1_000_000u64;
    for i in 0..n {
        // 32 bytes that do not compress, so the table sizes are honest.
        let mut value = [0u8; 32];
        for (j, chunk) in value.chunks_mut(8).enumerate() {
            let x = (i * 4 + j as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let x = (x ^ (x >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        db.put_with_ttl(format!("key{i:08}"), value, Duration::from_secs(1))
            .unwrap();
    }
    db.flush().unwrap();
    db.wait_for_background_work().unwrap();
    let full = dir_bytes(dir.path());
    let stats = db.stats();
    assert_eq!(stats.expired_bytes_estimate, 0);

    clock.advance(Duration::from_secs(2));
    assert!(db.stats().expired_bytes_estimate > 0);
    let start = Instant::now();
    while dir_bytes(dir.path()) > empty + 64 * 1024 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "expired data never purged: {}",
            db.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let after = dir_bytes(dir.path());
    eprintln!(
        "1,000,000 keys with a 1 s TTL: empty DB {empty} bytes, loaded {full} bytes, \
         {:.1} s after expiry {after} bytes\n{}",
        start.elapsed().as_secs_f64(),
        db.stats()
    );
    assert_eq!(db.range(None, None).unwrap().count(), 0);
    assert_eq!(db.get(b"key00000042").unwrap(), None);
    assert!(db.stats().expired_dropped >= n);
    assert_eq!(db.stats().expired_bytes_estimate, 0);
}

/// Bytes of tables in the directory.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum()
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    PutTtl(u8, u8, u16),
    Delete(u8),
    Get(u8),
    Scan(bool),
    Advance(u16),
    Flush,
    Compact,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..30u8, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        6 => (0..30u8, any::<u8>(), 1..300u16).prop_map(|(k, v, t)| Op::PutTtl(k, v, t)),
        2 => (0..30u8).prop_map(Op::Delete),
        5 => (0..30u8).prop_map(Op::Get),
        2 => any::<bool>().prop_map(Op::Scan),
        4 => (0..200u16).prop_map(Op::Advance),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

/// key -> (value, expiry)
type Model = BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

fn live(m: &Model, now: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    m.iter()
        .filter(|(_, (_, e))| e.is_none_or(|e| e > now))
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect()
}

fn run_model(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut db = Db::open(dir.path(), options(&clock)).unwrap();
    let mut model = Model::new();
    let key = |k: u8| format!("key{k:02}").into_bytes();
    for op in ops {
        let now = clock.now_ms();
        match op {
            Op::Put(k, v) => {
                db.put(key(k), [v; 20]).unwrap();
                model.insert(key(k), (vec![v; 20], None));
            }
            Op::PutTtl(k, v, t) => {
                db.put_with_ttl(key(k), [v; 20], Duration::from_millis(u64::from(t)))
                    .unwrap();
                model.insert(key(k), (vec![v; 20], Some(now + u64::from(t))));
            }
            Op::Delete(k) => {
                db.delete(key(k)).unwrap();
                model.remove(&key(k));
            }
            Op::Get(k) => {
                let want = model
                    .get(&key(k))
                    .filter(|(_, e)| e.is_none_or(|e| e > now))
                    .map(|(v, _)| v.clone());
                assert_eq!(db.get(key(k)).unwrap(), want);
            }
            Op::Scan(rev) => {
                let mut want = live(&model, now);
                let got: Vec<_> = if rev {
                    want.reverse();
                    db.range(None, None)
                        .unwrap()
                        .rev()
                        .map(|r| r.unwrap())
                        .collect()
                } else {
                    all(&db)
                };
                assert_eq!(got, want);
            }
            Op::Advance(ms) => clock.advance(Duration::from_millis(u64::from(ms))),
            Op::Flush => db.flush().unwrap(),
            Op::Compact => db.compact_range(None, None).unwrap(),
            Op::Reopen => {
                db.close().unwrap();
                db = Db::open(dir.path(), options(&clock)).unwrap();
            }
        }
    }
    assert_eq!(all(&db), live(&model, clock.now_ms()));
}

use strata::Clock as _;

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn ttl_engine_matches_model(ops in prop::collection::vec(op(), 1..200)) {
        run_model(ops);
    }
}

#[derive(Debug)]
struct DropDead;

impl strata::CompactionFilter for DropDead {
    fn filter(&self, _level: usize, _key: &[u8], value: &[u8]) -> strata::Decision {
        if value.starts_with(b"dead:") {
            strata::Decision::Remove
        } else if value == b"shout" {
            strata::Decision::Change(b"SHOUT".to_vec())
        } else {
            strata::Decision::Keep
        }
    }
}

#[test]
fn a_keyspace_compaction_filter_removes_and_changes_only_in_its_keyspace() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let opts = || options(&clock).compaction_filter("sessions", Arc::new(DropDead));
    let db = Db::open(dir.path(), opts()).unwrap();
    let sessions = db.keyspace("sessions").unwrap();
    for (k, v) in [("a", "dead:1"), ("b", "live"), ("c", "shout")] {
        sessions.put(k, v).unwrap();
        db.put(k, v).unwrap();
    }
    sessions
        .put_with_ttl(b"d", b"shout", Duration::from_secs(60))
        .unwrap();
    // Before compaction the filter has not run: reads see the data as written.
    assert_eq!(sessions.get(b"a").unwrap(), Some(b"dead:1".to_vec()));
    let snap = db.snapshot();
    sessions.compact_range(None, None).unwrap();
    // A snapshot taken before the compaction keeps what it saw.
    assert_eq!(
        sessions.get_at(b"a", &snap).unwrap(),
        Some(b"dead:1".to_vec())
    );
    drop(snap);
    sessions.compact_range(None, None).unwrap();
    db.compact_range(None, None).unwrap();
    assert_eq!(sessions.get(b"a").unwrap(), None);
    assert_eq!(sessions.get(b"b").unwrap(), Some(b"live".to_vec()));
    assert_eq!(sessions.get(b"c").unwrap(), Some(b"SHOUT".to_vec()));
    // A changed expiring value keeps its expiry.
    assert_eq!(sessions.get(b"d").unwrap(), Some(b"SHOUT".to_vec()));
    assert_eq!(sessions.ttl(b"d").unwrap(), Some(Duration::from_secs(60)));
    // The default keyspace has no filter.
    assert_eq!(db.get(b"a").unwrap(), Some(b"dead:1".to_vec()));
    assert_eq!(db.get(b"c").unwrap(), Some(b"shout".to_vec()));
}
