//! Behaviour of the public API: keyspaces, batches, snapshots, iterators, locking, reopen.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use strata::{Db, Error, Options, ReadOptions, SyncMode, WriteBatch, WriteOptions};

fn small_options() -> Options {
    let mut o = Options::default();
    o.memtable_size = 16 * 1024;
    o.sync_mode = SyncMode::Never;
    o
}

fn collect(scan: strata::Scan) -> Vec<(Vec<u8>, Vec<u8>)> {
    scan.collect::<strata::Result<Vec<_>>>().unwrap()
}

#[test]
fn put_get_delete_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), small_options()).unwrap();
        db.put(b"a", b"1").unwrap();
        db.put(b"b", b"2").unwrap();
        db.delete(b"a").unwrap();
        assert_eq!(db.get(b"a").unwrap(), None);
        assert_eq!(db.get(b"b").unwrap(), Some(b"2".to_vec()));
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), small_options()).unwrap();
    assert_eq!(db.get(b"a").unwrap(), None);
    assert_eq!(db.get(b"b").unwrap(), Some(b"2".to_vec()));
}

#[test]
fn second_open_of_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small_options()).unwrap();
    match Db::open(dir.path(), small_options()) {
        Err(Error::Locked(_)) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(db);
    Db::open(dir.path(), small_options()).unwrap();
}

#[test]
fn missing_database_without_create_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = small_options();
    o.create_if_missing = false;
    assert!(matches!(
        Db::open(dir.path().join("nope"), o),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn keyspaces_are_separate_and_batches_span_them_atomically() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), small_options()).unwrap();
        let users = db.keyspace("users").unwrap();
        let orders = db.keyspace("orders").unwrap();
        let mut b = WriteBatch::new();
        b.put(b"k", b"default")
            .put_in(&users, b"k", b"user")
            .put_in(&orders, b"k", b"order");
        db.write(b, WriteOptions::sync()).unwrap();
        assert_eq!(db.get(b"k").unwrap(), Some(b"default".to_vec()));
        assert_eq!(users.get(b"k").unwrap(), Some(b"user".to_vec()));
        assert_eq!(orders.get(b"k").unwrap(), Some(b"order".to_vec()));
        users.delete(b"k").unwrap();
        assert_eq!(users.get(b"k").unwrap(), None);
        assert_eq!(orders.get(b"k").unwrap(), Some(b"order".to_vec()));
        db.flush().unwrap();
    }
    let db = Db::open(dir.path(), small_options()).unwrap();
    assert_eq!(db.keyspace_names(), vec!["default", "orders", "users"]);
    let users = db.keyspace("users").unwrap();
    let orders = db.keyspace("orders").unwrap();
    assert_eq!(users.get(b"k").unwrap(), None);
    assert_eq!(orders.get(b"k").unwrap(), Some(b"order".to_vec()));
    assert_eq!(db.get(b"k").unwrap(), Some(b"default".to_vec()));
}

#[test]
fn snapshots_see_the_past_across_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small_options()).unwrap();
    db.put(b"k", b"old").unwrap();
    let snap = db.snapshot();
    db.put(b"k", b"new").unwrap();
    db.put(b"other", b"x").unwrap();
    db.flush().unwrap();
    assert_eq!(db.get_at(b"k", &snap).unwrap(), Some(b"old".to_vec()));
    assert_eq!(db.get_at(b"other", &snap).unwrap(), None);
    assert_eq!(db.get(b"k").unwrap(), Some(b"new".to_vec()));
    let at_snap = collect(db.scan(&ReadOptions::at(&snap)).unwrap());
    assert_eq!(at_snap, vec![(b"k".to_vec(), b"old".to_vec())]);
}

#[test]
fn iterators_bounds_prefix_and_reverse() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small_options()).unwrap();
    for k in ["a", "ab", "abc", "b", "ba", "c"] {
        db.put(k, k.to_uppercase()).unwrap();
    }
    db.flush().unwrap();
    db.put(b"abd", b"ABD").unwrap();
    db.delete(b"ba").unwrap();
    let keys = |s: strata::Scan| -> Vec<String> {
        collect(s)
            .into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect()
    };
    assert_eq!(
        keys(db.range(None, None).unwrap()),
        ["a", "ab", "abc", "abd", "b", "c"]
    );
    assert_eq!(keys(db.prefix(b"ab").unwrap()), ["ab", "abc", "abd"]);
    let rev: Vec<String> = db
        .prefix(b"ab")
        .unwrap()
        .rev()
        .map(|r| String::from_utf8(r.unwrap().0).unwrap())
        .collect();
    assert_eq!(rev, ["abd", "abc", "ab"]);
    assert_eq!(
        keys(db.range(Some(b"abc"), Some(b"c")).unwrap()),
        ["abc", "abd", "b"]
    );

    // Both ends of one Scan meet without overlap.
    let mut s = db.range(None, None).unwrap();
    assert_eq!(s.next().unwrap().unwrap().0, b"a");
    assert_eq!(s.next_back().unwrap().unwrap().0, b"c");
    assert_eq!(s.next().unwrap().unwrap().0, b"ab");
    assert_eq!(s.next_back().unwrap().unwrap().0, b"b");
    assert_eq!(s.next().unwrap().unwrap().0, b"abc");
    assert_eq!(s.next_back().unwrap().unwrap().0, b"abd");
    assert!(s.next().is_none());

    // The cursor changes direction in place.
    let mut it = db.iter(&ReadOptions::default()).unwrap();
    it.seek(b"abc");
    assert_eq!(it.key(), b"abc");
    it.next();
    assert_eq!(it.key(), b"abd");
    it.prev();
    assert_eq!(it.key(), b"abc");
    it.prev();
    assert_eq!(it.key(), b"ab");
    it.seek_for_prev(b"bz");
    assert_eq!(it.key(), b"b");
    it.next();
    assert_eq!(it.key(), b"c");
    it.next();
    assert!(!it.valid());
    it.status().unwrap();
}

#[test]
fn hundreds_of_l0_tables_read_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = small_options();
    o.disable_auto_compactions = true; // let the tables stack up in L0
    let db = Db::open(dir.path(), o).unwrap();
    for round in 0..300u32 {
        db.put(format!("key{:03}", round % 50), format!("v{round}"))
            .unwrap();
        db.put(format!("only{round:03}"), b"x").unwrap();
        db.flush().unwrap();
    }
    let l0 = db.stats().keyspaces[0].levels[0].files;
    assert!(l0 >= 300, "expected one table per flush, got {l0}");
    for k in 0..50u32 {
        let last = (0..300).filter(|r| r % 50 == k).max().unwrap();
        assert_eq!(
            db.get(format!("key{k:03}")).unwrap(),
            Some(format!("v{last}").into_bytes())
        );
    }
    assert_eq!(collect(db.prefix(b"only").unwrap()).len(), 300);
    assert_eq!(db.prefix(b"key").unwrap().rev().count(), 50);
    db.verify().unwrap();
}

#[test]
fn large_keys_and_values_round_trip_through_tables() {
    let dir = tempfile::tempdir().unwrap();
    let big_key = vec![b'k'; 64 * 1024];
    let big_value: Vec<u8> = (0..16 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    {
        let db = Db::open(dir.path(), small_options()).unwrap();
        db.put(&big_key, b"small").unwrap();
        db.put(b"big", &big_value).unwrap();
        assert_eq!(
            db.get(b"big").unwrap().as_deref(),
            Some(big_value.as_slice())
        );
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), small_options()).unwrap();
    assert_eq!(db.get(&big_key).unwrap(), Some(b"small".to_vec()));
    assert_eq!(
        db.get(b"big").unwrap().as_deref(),
        Some(big_value.as_slice())
    );
}

#[test]
fn concurrent_writers_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(Db::open(dir.path(), small_options()).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let db = std::sync::Arc::clone(&db);
            std::thread::spawn(move || {
                for i in 0..2000 {
                    db.put(format!("t{t}-{i:05}"), format!("{i}")).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(collect(db.range(None, None).unwrap()).len(), 8000);
    let stats = db.stats();
    assert_eq!(stats.last_sequence, 8000);
    assert!(stats.flush_count > 0);
}

/// A database written by the engine before write batches were varint-encoded (WAL record
/// format 0, WAL file header version 1), stopped without closing so its data is only in its
/// WAL: `tests/data/format0-wal`, made by commit 334eb8b.
#[test]
fn a_wal_in_the_first_batch_format_is_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/format0-wal");
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let check = |db: &Db| {
        let other = db.keyspace("other").unwrap();
        assert_eq!(db.get("alpha").unwrap(), Some(b"1".to_vec()));
        assert_eq!(db.get("beta").unwrap(), Some(b"2".to_vec()));
        assert_eq!(db.get("doomed").unwrap(), None);
        assert_eq!(db.get("gamma").unwrap(), Some(vec![b'g'; 300]));
        assert_eq!(db.get("far").unwrap(), Some(b"future".to_vec()));
        assert_eq!(db.get("past").unwrap(), None);
        assert_eq!(other.get("o1").unwrap(), Some(b"in other".to_vec()));
        assert_eq!(other.get("o2").unwrap(), None);
    };
    {
        let db = Db::open(dir.path(), small_options()).unwrap();
        check(&db);
        db.put("new", "in format 1").unwrap();
        let other = db.keyspace("other").unwrap();
        let mut batch = WriteBatch::new();
        batch.put_in(&other, "o3", "3").delete("beta");
        db.write(batch, WriteOptions::default()).unwrap();
        // Dropping closes without a flush: the reopen replays the new WAL (format 1).
    }
    let db = Db::open(dir.path(), small_options()).unwrap();
    let other = db.keyspace("other").unwrap();
    assert_eq!(db.get("new").unwrap(), Some(b"in format 1".to_vec()));
    assert_eq!(other.get("o3").unwrap(), Some(b"3".to_vec()));
    assert_eq!(db.get("beta").unwrap(), None);
    assert_eq!(db.get("alpha").unwrap(), Some(b"1".to_vec()));
    assert_eq!(other.get("o1").unwrap(), Some(b"in other".to_vec()));
}
