//! Transactions: reads see the gathered writes, nobody else does before the commit, and the
//! commit is one WAL record: a log cut anywhere in it keeps all of it or none.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{content_len, copy_dir, newest_log};

use std::fs::OpenOptions;
use std::time::Duration;

use strata::{Db, Options, ReadOptions, SyncMode, WriteBatch, WriteOptions};

fn batch(ops: &[(&str, Option<&str>)]) -> WriteBatch {
    let mut b = WriteBatch::new();
    for (k, v) in ops {
        match v {
            Some(v) => b.put(k, v),
            None => b.delete(k),
        };
    }
    b
}

fn pairs(scan: impl Iterator<Item = strata::Result<(Vec<u8>, Vec<u8>)>>) -> Vec<(String, String)> {
    scan.map(|r| {
        let (k, v) = r.unwrap();
        (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
    })
    .collect()
}

#[test]
fn reads_see_the_gathered_writes_and_nobody_else_does_until_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let other = db.keyspace("other").unwrap();
    for k in ["a", "b", "c", "d"] {
        db.put(k, format!("db-{k}")).unwrap();
    }
    db.flush().unwrap();
    db.put("e", "db-e").unwrap();

    let mut txn = db.transaction();
    txn.write(batch(&[
        ("b", Some("txn-b")),
        ("c", None),
        ("bb", Some("txn-bb")),
    ]))
    .unwrap();
    // Later writes of the same key win.
    txn.write(batch(&[("bb", Some("txn-bb2")), ("z", Some("txn-z"))]))
        .unwrap();
    let mut ob = WriteBatch::new();
    ob.put_in(&other, "o", "txn-o");
    txn.write(ob).unwrap();
    assert_eq!(txn.len(), 6);

    assert_eq!(txn.get(&db, "a").unwrap(), Some(b"db-a".to_vec()));
    assert_eq!(txn.get(&db, "b").unwrap(), Some(b"txn-b".to_vec()));
    assert_eq!(txn.get(&db, "c").unwrap(), None);
    assert_eq!(txn.get(&db, "bb").unwrap(), Some(b"txn-bb2".to_vec()));
    assert_eq!(
        txn.get_prefix(&db, "bb", 5).unwrap(),
        Some(b"txn-b".to_vec())
    );
    assert_eq!(txn.get(&other, "o").unwrap(), Some(b"txn-o".to_vec()));
    assert_eq!(txn.get(&other, "b").unwrap(), None);

    let want: Vec<(String, String)> = [
        ("a", "db-a"),
        ("b", "txn-b"),
        ("bb", "txn-bb2"),
        ("d", "db-d"),
        ("e", "db-e"),
        ("z", "txn-z"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(pairs(txn.range(&db, None, None).unwrap()), want);
    let mut back = pairs(txn.range(&db, None, None).unwrap().rev());
    back.reverse();
    assert_eq!(back, want);
    assert_eq!(
        pairs(txn.range(&db, Some(b"b"), Some(b"d")).unwrap()),
        want[1..3].to_vec()
    );
    assert_eq!(pairs(txn.prefix(&db, "b").unwrap()), want[1..3].to_vec());
    let mut it = txn.iter(&db, &ReadOptions::default()).unwrap();
    it.seek(b"bb");
    assert_eq!(it.value(), b"txn-bb2");
    it.seek(b"c");
    assert_eq!(it.key(), b"d", "the deleted key is skipped");
    it.prev();
    assert_eq!(it.key(), b"bb");

    // The database does not see any of it yet.
    assert_eq!(db.get("b").unwrap(), Some(b"db-b".to_vec()));
    assert_eq!(db.get("z").unwrap(), None);
    assert_eq!(other.get("o").unwrap(), None);

    txn.commit(WriteOptions::default()).unwrap();
    assert_eq!(db.get("b").unwrap(), Some(b"txn-b".to_vec()));
    assert_eq!(db.get("c").unwrap(), None);
    assert_eq!(db.get("bb").unwrap(), Some(b"txn-bb2".to_vec()));
    assert_eq!(other.get("o").unwrap(), Some(b"txn-o".to_vec()));
    let all: Vec<(String, String)> = pairs(db.range(None, None).unwrap());
    assert_eq!(all, want);
}

#[test]
fn expiring_writes_and_refused_batches() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut txn = db.transaction();
    let mut b = WriteBatch::new();
    b.put_with_ttl("brief", "v", Duration::from_millis(30));
    b.put_with_ttl("long", "v", Duration::from_secs(3600));
    txn.write(b).unwrap();
    assert_eq!(txn.get(&db, "brief").unwrap(), Some(b"v".to_vec()));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(txn.get(&db, "brief").unwrap(), None);
    assert_eq!(pairs(txn.range(&db, None, None).unwrap()).len(), 1);

    let mut bad = WriteBatch::new();
    bad.put(vec![b'k'; strata::MAX_KEY_LEN + 1], "v");
    assert!(txn.write(bad).is_err());
    assert_eq!(txn.len(), 2, "a refused batch adds nothing");
    txn.commit(WriteOptions::default()).unwrap();
    assert!(db.ttl("long").unwrap().is_some());
}

/// The commit is one WAL record: wherever the log is cut inside it, a reopen finds all of the
/// transaction or none of it.
#[test]
fn a_commit_cut_anywhere_in_the_log_keeps_all_or_nothing() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let mut o = Options::default();
    o.sync_mode = SyncMode::Never;
    let db = Db::open(&live, o.clone()).unwrap();
    db.put("before", "x").unwrap();
    db.sync_wal().unwrap();
    let before_len = content_len(&newest_log(&live));
    let mut txn = db.transaction();
    for i in 0..200 {
        // Large enough that the record spans several WAL blocks.
        txn.write(batch(&[(&format!("k{i:03}"), Some(&"v".repeat(300)))]))
            .unwrap();
    }
    txn.commit(WriteOptions::default()).unwrap();
    let image = root.path().join("image");
    copy_dir(&live, &image);
    drop(db);
    let full_len = content_len(&newest_log(&image));
    assert!(full_len > before_len + 60_000);
    let step = ((full_len - before_len) / 16).max(1);
    for (trial, cut) in (before_len..=full_len).step_by(step as usize).enumerate() {
        let dir = root.path().join(format!("cut{trial}"));
        copy_dir(&image, &dir);
        let f = OpenOptions::new()
            .write(true)
            .open(newest_log(&dir))
            .unwrap();
        f.set_len(cut).unwrap();
        let db = Db::open(&dir, o.clone()).unwrap();
        assert_eq!(db.get("before").unwrap(), Some(b"x".to_vec()));
        let present = (0..200)
            .filter(|i| db.get(format!("k{i:03}")).unwrap().is_some())
            .count();
        let whole = cut == full_len;
        assert_eq!(
            present,
            if whole { 200 } else { 0 },
            "cut at {cut} of {full_len}: {present} of 200 keys"
        );
    }
}
