//! Corruption tests: a flipped byte in a table, the manifest or a WAL is reported as
//! `Error::Corruption` naming the file, never a panic and never a wrong value.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{content_len, copy_dir};

use std::path::{Path, PathBuf};

use strata::{Db, Error, Options, SyncMode};

fn options() -> Options {
    let mut o = Options::default();
    o.sync_mode = SyncMode::Never;
    o.block_size = 512;
    o
}

fn key(i: usize) -> String {
    format!("key{i:05}")
}

fn value(i: usize) -> Vec<u8> {
    format!("value-{i}-{}", "v".repeat(i % 40)).into_bytes()
}

fn files_with(dir: &Path, pred: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| pred(p.file_name().unwrap().to_str().unwrap()))
        .collect();
    v.sort();
    v
}

fn flip(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x5A;
    std::fs::write(path, bytes).unwrap();
}

fn names(err: &Error, file: &Path) -> bool {
    match err {
        Error::Corruption { file: f, .. } => f.file_name() == file.file_name(),
        _ => false,
    }
}

/// Every key reads back either correctly or as a corruption error naming `file`.
fn reads_are_right_or_corrupt(db: &Db, n: usize, file: &Path) {
    for i in 0..n {
        match db.get(key(i)) {
            Ok(Some(v)) => assert_eq!(v, value(i), "wrong value for {}", key(i)),
            Ok(None) => panic!("{} vanished without an error", key(i)),
            Err(e) => assert!(names(&e, file), "unexpected error {e}"),
        }
    }
}

#[test]
fn flipped_byte_in_a_table_is_detected() {
    let root = tempfile::tempdir().unwrap();
    let base = root.path().join("base");
    let n = 1500;
    {
        let db = Db::open(&base, options()).unwrap();
        for i in 0..n {
            db.put(key(i), value(i)).unwrap();
        }
        db.flush().unwrap();
        db.close().unwrap();
    }
    let table = files_with(&base, |n| n.ends_with(".sst")).pop().unwrap();
    let len = std::fs::metadata(&table).unwrap().len();
    let mut offsets: Vec<u64> = (0..len).step_by(211).collect();
    offsets.extend(len.saturating_sub(80)..len); // the whole footer and the index block's end
    for (trial, &off) in offsets.iter().enumerate() {
        let dir = root.path().join(format!("t{trial}"));
        copy_dir(&base, &dir);
        let victim = dir.join(table.file_name().unwrap());
        flip(&victim, off);
        match strata::verify_dir(&dir) {
            Err(e) => assert!(names(&e, &victim), "offset {off}: {e}"),
            Ok(_) => panic!("verify_dir missed a flipped byte at offset {off}"),
        }
        match Db::open(&dir, options()) {
            Err(e) => assert!(names(&e, &victim), "offset {off}: {e}"),
            Ok(db) => {
                let err = db.verify().expect_err("verify missed a flipped byte");
                assert!(names(&err, &victim), "offset {off}: {err}");
                reads_are_right_or_corrupt(&db, n, &victim);
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn flipped_byte_in_the_manifest_is_detected() {
    let root = tempfile::tempdir().unwrap();
    let base = root.path().join("base");
    {
        let db = Db::open(&base, options()).unwrap();
        db.keyspace("second").unwrap();
        for round in 0..5 {
            for i in 0..50 {
                db.put(key(i), value(i + round)).unwrap();
            }
            db.flush().unwrap();
        }
        // Leave the manifest as the flushes wrote it: no reopen after this.
        std::mem::forget(db);
    }
    let manifest = files_with(&base, |n| n.starts_with("MANIFEST-"))
        .pop()
        .unwrap();
    let len = std::fs::metadata(&manifest).unwrap().len();
    for off in 0..len {
        let dir = root.path().join(format!("m{off}"));
        copy_dir(&base, &dir);
        let victim = dir.join(manifest.file_name().unwrap());
        flip(&victim, off);
        match Db::open(&dir, options()) {
            Err(e) => assert!(names(&e, &victim), "offset {off}: {e}"),
            Ok(_) => panic!("a flipped byte at manifest offset {off} went unnoticed"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn flipped_byte_in_a_wal_is_detected_or_only_drops_a_tail() {
    let root = tempfile::tempdir().unwrap();
    let base = root.path().join("base");
    let n = 3000; // about 200 KiB of log: several 32 KiB blocks
    {
        let db = Db::open(&base, options()).unwrap();
        for i in 0..n {
            db.put(key(i), value(i)).unwrap();
        }
        db.sync_wal().unwrap();
        std::mem::forget(db);
    }
    let log = files_with(&base, |n| n.ends_with(".log")).pop().unwrap();
    let len = content_len(&log);
    let mut reported = 0;
    for (trial, off) in (0..len).step_by(997).enumerate() {
        let dir = root.path().join(format!("w{trial}"));
        copy_dir(&base, &dir);
        let victim = dir.join(log.file_name().unwrap());
        flip(&victim, off);
        match Db::open(&dir, options()) {
            Err(e) => assert!(names(&e, &victim), "offset {off}: {e}"),
            Ok(db) => {
                // Only a damaged final record may be dropped (a torn tail): what is there is
                // right and forms a prefix of the writes.
                let mut gap = false;
                for i in 0..n {
                    match db.get(key(i)).unwrap() {
                        Some(v) => {
                            assert_eq!(v, value(i));
                            assert!(!gap, "offset {off}: {} present after a gap", key(i));
                        }
                        None => gap = true,
                    }
                }
                assert!(
                    off + 32 * 1024 >= len,
                    "damage at {off}, far from the tail, went unnoticed"
                );
                // What was dropped is reported, naming the WAL and where the loss starts.
                if gap {
                    let dropped = db.recovery_dropped();
                    assert_eq!(dropped.len(), 1, "offset {off}: {dropped:?}");
                    assert_eq!(dropped[0].file.file_name(), victim.file_name());
                    assert!(dropped[0].offset <= off, "{dropped:?} vs {off}");
                    assert!(dropped[0].bytes > 0);
                    reported += 1;
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert!(reported > 0, "no trial damaged the tail");
}

#[test]
fn an_intact_log_reports_nothing_dropped() {
    let root = tempfile::tempdir().unwrap();
    let (base, dir) = (root.path().join("base"), root.path().join("copy"));
    {
        let db = Db::open(&base, options()).unwrap();
        db.put(key(1), value(1)).unwrap();
        db.sync_wal().unwrap();
        std::mem::forget(db); // no clean close: the WAL is replayed
    }
    copy_dir(&base, &dir);
    let db = Db::open(&dir, options()).unwrap();
    assert_eq!(db.get(key(1)).unwrap(), Some(value(1)));
    assert!(db.recovery_dropped().is_empty());
}
