//! Large values in blob files: stored, read every way, kept through flush, compaction and
//! reopen, collected once nothing refers to them, and damage reported as errors.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use strata::{Db, Error, ManualClock, Options, ReadOptions};

/// Options under which values of 1 KiB and more go to blob files.
fn options() -> Options {
    let mut o = Options::default();
    o.min_blob_size = 1024;
    o
}

fn value(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j) as u8).collect()
}

fn blob_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".blob"))
        .collect();
    names.sort();
    names
}

/// Every key with its value, forwards and backwards, must equal `want`.
fn check_all(db: &Db, want: &[(Vec<u8>, Vec<u8>)]) {
    for (k, v) in want {
        assert_eq!(db.get(k).unwrap().as_ref(), Some(v), "get {k:?}");
    }
    let forward: Vec<(Vec<u8>, Vec<u8>)> = db
        .scan(&ReadOptions::default())
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(forward, want);
    let mut backward: Vec<(Vec<u8>, Vec<u8>)> = db
        .scan(&ReadOptions::default())
        .unwrap()
        .rev()
        .map(|r| r.unwrap())
        .collect();
    backward.reverse();
    assert_eq!(backward, want);
}

#[test]
fn large_values_live_in_blob_files_and_read_back_every_way() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let mut want = Vec::new();
    for i in 0..50 {
        let len = if i % 2 == 0 { 100 } else { 5000 + i };
        let k = format!("key{i:03}").into_bytes();
        db.put(&k, value(i, len)).unwrap();
        want.push((k, value(i, len)));
    }
    check_all(&db, &want);
    db.flush().unwrap();
    let stats = db.stats();
    assert_eq!(stats.blob_files, 1);
    assert!(stats.blob_bytes > 25 * 5000, "{stats}");
    check_all(&db, &want);
    db.compact_range(None, None).unwrap();
    check_all(&db, &want);
    db.close().unwrap();

    let db = Db::open(dir.path(), options()).unwrap();
    check_all(&db, &want);
    db.close().unwrap();
    let report = strata::verify_dir(dir.path()).unwrap();
    assert_eq!(report.blob_files, 1);
}

#[test]
fn a_value_longer_than_a_table_entry_is_stored_flushed_compacted_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    // The default threshold: only the size a table cannot hold forces the value out.
    let mut o = Options::default();
    o.min_blob_size = usize::MAX;
    let db = Db::open(dir.path(), o.clone()).unwrap();
    let big = value(7, strata_sstable::MAX_VALUE_LEN + 1);
    db.put("big", &big).unwrap();
    db.put_with_ttl("big-ttl", &big[..1 << 20], Duration::from_secs(3600))
        .unwrap();
    db.put("small", "s").unwrap();
    db.flush().unwrap();
    assert_eq!(db.stats().blob_files, 1);
    db.compact_range(None, None).unwrap();
    assert!(db.get("big").unwrap() == Some(big.clone()));
    db.close().unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    assert!(db.get("big").unwrap() == Some(big.clone()));
    assert_eq!(db.get("big-ttl").unwrap().map(|v| v.len()), Some(1 << 20));
    assert!(db.ttl("big-ttl").unwrap().is_some());
    assert_eq!(db.get("small").unwrap(), Some(b"s".to_vec()));
}

#[test]
fn expiring_large_values_expire_and_compaction_drops_their_blob_files() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut o = options();
    o.clock = Arc::clone(&clock) as Arc<dyn strata::Clock>;
    let db = Db::open(dir.path(), o).unwrap();
    db.put_with_ttl("brief", value(1, 4000), Duration::from_secs(10))
        .unwrap();
    db.put("lasting", value(2, 4000)).unwrap();
    db.flush().unwrap();
    assert_eq!(db.get("brief").unwrap(), Some(value(1, 4000)));
    assert_eq!(
        db.get_with_expiry("brief").unwrap().and_then(|(_, e)| e),
        Some(1_010_000)
    );
    clock.advance(Duration::from_secs(11));
    assert_eq!(db.get("brief").unwrap(), None);
    let keys: Vec<Vec<u8>> = db
        .scan(&ReadOptions::default())
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(keys, vec![b"lasting".to_vec()]);

    // Overwrite the other one: once compacted, no table refers to the first blob file.
    db.put("lasting", "small now").unwrap();
    db.compact_range(None, None).unwrap();
    assert_eq!(db.stats().blob_files, 0);
    assert_eq!(blob_files(dir.path()), Vec::<String>::new());
    assert_eq!(db.get("lasting").unwrap(), Some(b"small now".to_vec()));
}

#[test]
fn garbage_collection_empties_old_blob_files_and_readers_keep_what_they_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options();
    o.blob_gc_age_cutoff = 1.0;
    let db = Db::open(dir.path(), o).unwrap();
    // Four flushes, four blob files.
    for round in 0..4 {
        for i in 0..10 {
            db.put(format!("k{round}-{i}"), value(round * 10 + i, 3000))
                .unwrap();
        }
        db.flush().unwrap();
    }
    assert_eq!(db.stats().blob_files, 4);
    let snapshot = db.snapshot();
    // One key per file rewritten: every file keeps live values.
    for round in 0..4 {
        db.put(format!("k{round}-0"), value(99, 3000)).unwrap();
    }
    let mut pinned = db
        .iter(&ReadOptions {
            snapshot: Some(&snapshot),
            ..ReadOptions::default()
        })
        .unwrap();
    pinned.seek(b"k1-0");
    db.compact_range(None, None).unwrap();
    // Garbage collection moved every live value out of the old files: none is left in the
    // current version.
    let stats = db.stats();
    assert_eq!(stats.blob_files, 1, "{stats}");
    assert!(stats.blob_bytes < 45 * 3000, "{stats}");
    for round in 0..4 {
        assert_eq!(
            db.get(format!("k{round}-0")).unwrap(),
            Some(value(99, 3000))
        );
        for i in 1..10 {
            assert_eq!(
                db.get(format!("k{round}-{i}")).unwrap(),
                Some(value(round * 10 + i, 3000))
            );
        }
    }
    // The snapshot and the iterator opened before still read the old values, from the old
    // files they pin.
    assert!(db.get_at("k0-0", &snapshot).unwrap() == Some(value(0, 3000)));
    assert!(pinned.valid());
    assert!(pinned.value() == value(10, 3000).as_slice());
    pinned.next();
    assert!(pinned.value() == value(11, 3000).as_slice());
    pinned.prev();
    assert!(pinned.value() == value(10, 3000).as_slice());
    drop(pinned);
    drop(snapshot);
    // Once they let go, the old files are deleted.
    db.compact_range(None, None).unwrap();
    assert_eq!(blob_files(dir.path()).len(), db.stats().blob_files);
    db.close().unwrap();
    let report = strata::verify_dir(dir.path()).unwrap();
    assert_eq!(report.blob_files, blob_files(dir.path()).len());
}

#[test]
fn a_value_prefix_comes_from_the_table_entry_without_reading_the_blob() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let big = value(3, 5000);
    db.put("big", &big).unwrap();
    db.put("small", "abc").unwrap();
    // From the memtable.
    assert_eq!(db.get_prefix("big", 10).unwrap(), Some(big[..10].to_vec()));
    db.flush().unwrap();
    assert_eq!(db.get_prefix("big", 10).unwrap(), Some(big[..10].to_vec()));
    assert_eq!(db.get_prefix("big", 16).unwrap(), Some(big[..16].to_vec()));
    assert_eq!(
        db.get_prefix("big", 100).unwrap(),
        Some(big[..100].to_vec())
    );
    assert_eq!(db.get_prefix("small", 10).unwrap(), Some(b"abc".to_vec()));
    assert_eq!(db.get_prefix("none", 10).unwrap(), None);
    db.close().unwrap();
    // With the blob file gone, 16 bytes or fewer still read; more do not.
    let name = blob_files(dir.path()).pop().unwrap();
    let path = dir.path().join(&name);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(db.get_prefix("big", 16).unwrap(), Some(big[..16].to_vec()));
    assert!(db.get_prefix("big", 17).is_err());
}

#[test]
fn a_damaged_blob_is_an_error_on_every_read_path() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    db.put("a", "small").unwrap();
    db.put("b", value(1, 5000)).unwrap();
    db.flush().unwrap();
    db.close().unwrap();
    let name = blob_files(dir.path()).pop().unwrap();
    let path = dir.path().join(&name);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(db.get("a").unwrap(), Some(b"small".to_vec()));
    match db.get("b") {
        Err(Error::Corruption { reason, .. }) => assert!(reason.contains("checksum"), "{reason}"),
        other => panic!("expected corruption, got {other:?}"),
    }
    let mut scan = db.scan(&ReadOptions::default()).unwrap();
    assert!(scan.next().unwrap().is_ok());
    assert!(matches!(scan.next(), Some(Err(Error::Corruption { .. }))));
    let mut back = db.scan(&ReadOptions::default()).unwrap().rev();
    assert!(matches!(back.next(), Some(Err(Error::Corruption { .. }))));
    db.close().unwrap();
    assert!(strata::verify_dir(dir.path()).is_err());

    // A blob file the manifest names but the directory lacks: the open says which.
    std::fs::remove_file(&path).unwrap();
    let e = Db::open(dir.path(), options()).unwrap_err().to_string();
    assert!(e.contains(&name) && e.contains("missing"), "{e}");
}

#[test]
fn blob_files_no_manifest_names_are_removed_only_if_this_database_made_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    db.put("b", value(1, 5000)).unwrap();
    db.flush().unwrap();
    db.close().unwrap();
    let live = blob_files(dir.path()).pop().unwrap();
    // An interrupted flush of ours (same identity, a number from after the manifest's
    // last edit), and another database's blob file.
    std::fs::copy(dir.path().join(&live), dir.path().join("000900.blob")).unwrap();
    let other = tempfile::tempdir().unwrap();
    let db = Db::open(other.path(), options()).unwrap();
    db.put("x", value(2, 5000)).unwrap();
    db.flush().unwrap();
    db.close().unwrap();
    let foreign = blob_files(other.path()).pop().unwrap();
    std::fs::copy(other.path().join(&foreign), dir.path().join("000901.blob")).unwrap();

    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(db.get("b").unwrap(), Some(value(1, 5000)));
    assert!(!dir.path().join("000900.blob").exists());
    assert!(dir.path().join("000901.blob").exists());
    assert_eq!(db.recovery_kept(), [dir.path().join("000901.blob")]);
}
