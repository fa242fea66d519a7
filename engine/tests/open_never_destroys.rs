//! Opening never destroys: a directory that holds database files but no CURRENT is refused
//! (and left as it was), and files the engine did not make are never deleted.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use strata::{Db, Error, Options};

/// Every file in `dir` with its contents.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn assert_refused(dir: &Path) -> String {
    match Db::open(dir, Options::default()) {
        Err(e @ Error::Corruption { .. }) => e.to_string(),
        Err(e) => panic!("expected a corruption error, got {e}"),
        Ok(_) => panic!("opened a directory holding data without CURRENT"),
    }
}

#[test]
fn a_missing_current_is_refused_and_nothing_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        for i in 0..1000 {
            db.put(format!("key{i:04}"), "value").unwrap();
        }
        db.flush().unwrap();
        db.put("in-the-wal", "only").unwrap();
        db.close().unwrap();
    }
    let current = std::fs::read(dir.path().join("CURRENT")).unwrap();
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    let before = snapshot(dir.path());

    let message = assert_refused(dir.path());
    assert!(message.contains("CURRENT is missing"), "{message}");
    assert!(
        message.contains("MANIFEST-"),
        "names the files found: {message}"
    );
    // Twice: a refused open changes nothing, so a second attempt sees the same.
    assert_refused(dir.path());
    let mut after = snapshot(dir.path());
    after.remove("LOCK");
    let mut expected = before.clone();
    expected.remove("LOCK");
    assert_eq!(after, expected, "a refused open left every file as it was");

    // Putting CURRENT back brings everything back.
    std::fs::write(dir.path().join("CURRENT"), current).unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get("key0999").unwrap(), Some(b"value".to_vec()));
    assert_eq!(db.get("in-the-wal").unwrap(), Some(b"only".to_vec()));
}

#[test]
fn files_that_only_look_like_ours_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("000050.sst"), b"somebody's table").unwrap();
    std::fs::write(dir.path().join("MANIFEST-000099"), b"somebody's manifest").unwrap();
    std::fs::write(dir.path().join("000007.log"), b"somebody's log").unwrap();
    let before = snapshot(dir.path());
    let message = assert_refused(dir.path());
    assert!(message.contains("000050.sst"), "{message}");
    let mut after = snapshot(dir.path());
    after.remove("LOCK");
    assert_eq!(after, before);
}

#[test]
fn foreign_temporary_files_survive_recovery() {
    let dir = tempfile::tempdir().unwrap();
    Db::open(dir.path(), Options::default())
        .unwrap()
        .close()
        .unwrap();
    std::fs::write(dir.path().join("backup.tmp"), b"keep me").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"and me").unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put("k", "v").unwrap();
    db.close().unwrap();
    Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("backup.tmp")).unwrap(),
        b"keep me"
    );
    assert_eq!(
        std::fs::read(dir.path().join("notes.txt")).unwrap(),
        b"and me"
    );
}

/// In a live directory, unreferenced files named like the engine's are deleted only when this
/// database made them (their identity says so): another database's table and manifest, and a
/// look-alike that is no table at all under a number the database never handed out, survive
/// any number of reopens; an orphan this database wrote (a copy of one of its tables under an
/// unused number stands in for the output of an interrupted flush) is deleted, and so is an
/// unreadable table numbered after the manifest's last edit (an interrupted write's).
#[test]
fn only_files_this_database_made_are_deleted() {
    let other = tempfile::tempdir().unwrap();
    {
        let db = Db::open(other.path(), Options::default()).unwrap();
        db.put("theirs", "value").unwrap();
        db.flush().unwrap();
        db.close().unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        db.put("ours", "value").unwrap();
        db.flush().unwrap();
        db.close().unwrap();
    }
    let names = |d: &Path, suffix: &str| -> Vec<String> {
        let mut v: Vec<String> = snapshot(d)
            .into_keys()
            .filter(|n| n.ends_with(suffix) || n.starts_with(suffix))
            .collect();
        v.sort();
        v
    };
    let their_table = names(other.path(), ".sst").pop().unwrap();
    let their_manifest = names(other.path(), "MANIFEST-").pop().unwrap();
    let our_table = names(dir.path(), ".sst").pop().unwrap();
    let copy = |from: &Path, to: &str| std::fs::copy(from, dir.path().join(to)).unwrap();
    copy(&other.path().join(&their_table), "000900.sst");
    copy(&other.path().join(&their_manifest), "MANIFEST-000901");
    std::fs::write(dir.path().join("000000.sst"), b"not a table").unwrap();
    copy(&dir.path().join(&our_table), "000903.sst");
    let torn = std::fs::read(dir.path().join(&our_table)).unwrap();
    std::fs::write(dir.path().join("000904.sst"), &torn[..torn.len() / 2]).unwrap();

    for _ in 0..2 {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let mut kept: Vec<String> = db
            .recovery_kept()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        kept.sort();
        assert_eq!(kept, ["000000.sst", "000900.sst", "MANIFEST-000901"]);
        assert_eq!(db.get("ours").unwrap().as_deref(), Some(&b"value"[..]));
        assert_eq!(db.get("theirs").unwrap(), None);
        db.put("more", "writes").unwrap();
        db.flush().unwrap();
        db.close().unwrap();
        let files = snapshot(dir.path());
        assert!(files.contains_key("000900.sst"));
        assert!(files.contains_key("MANIFEST-000901"));
        assert_eq!(files["000000.sst"], b"not a table");
        assert!(!files.contains_key("000903.sst"), "our orphan is deleted");
        assert!(
            !files.contains_key("000904.sst"),
            "a torn output is deleted"
        );
    }
}
