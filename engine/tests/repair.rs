//! `strata::repair`: a database whose CURRENT or MANIFEST is lost or damaged is rebuilt from
//! its tables and WALs; what cannot be placed is moved to `lost/`, never deleted.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use strata::{repair, Db, Options};

fn options() -> Options {
    let mut o = Options::default();
    o.memtable_size = 64 << 10;
    o
}

/// A database with data in every place: the bottom level, L0, the WAL, a second keyspace,
/// overwrites and deletes across them.
fn populate(dir: &Path) {
    let db = Db::open(dir, options()).unwrap();
    let other = db.keyspace("other").unwrap();
    for i in 0..3000 {
        db.put(format!("key{i:05}"), format!("old{i}")).unwrap();
        other.put(format!("o{i:05}"), format!("v{i}")).unwrap();
    }
    db.put("gone", "soon").unwrap();
    db.flush().unwrap();
    db.compact_range(None, None).unwrap();
    for i in (0..3000).step_by(3) {
        db.put(format!("key{i:05}"), format!("new{i}")).unwrap();
    }
    db.delete("gone").unwrap();
    db.flush().unwrap();
    for i in (0..3000).step_by(5) {
        db.put(format!("key{i:05}"), format!("newest{i}")).unwrap();
    }
    db.put("wal-only", "yes").unwrap();
    db.close().unwrap();
}

fn expected(i: usize) -> String {
    if i.is_multiple_of(5) {
        format!("newest{i}")
    } else if i.is_multiple_of(3) {
        format!("new{i}")
    } else {
        format!("old{i}")
    }
}

fn check(dir: &Path) {
    let db = Db::open(dir, options()).unwrap();
    let other = db.keyspace("other").unwrap();
    for i in 0..3000 {
        assert_eq!(
            db.get(format!("key{i:05}")).unwrap(),
            Some(expected(i).into_bytes()),
            "key{i:05}"
        );
        assert_eq!(
            other.get(format!("o{i:05}")).unwrap(),
            Some(format!("v{i}").into_bytes())
        );
    }
    assert_eq!(db.get("gone").unwrap(), None, "a deleted key stays deleted");
    assert_eq!(db.get("wal-only").unwrap().as_deref(), Some(&b"yes"[..]));
    db.verify().unwrap();
    db.check_level_invariants().unwrap();
    db.put("writable", "yes").unwrap();
    db.close().unwrap();
}

fn manifests(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("MANIFEST-")
        })
        .collect()
}

#[test]
fn a_lost_current_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    assert!(Db::open(dir.path(), options()).is_err());
    let report = repair(dir.path(), options()).unwrap();
    assert!(report.manifest_read.is_some());
    assert_eq!(report.logs_converted.len(), 1, "{report:?}");
    assert!(report.damage.is_empty(), "{report:?}");
    assert!(report.tables.contains_key("other"), "{report:?}");
    // Nothing deleted: the old manifest and the converted WAL are in lost/.
    let lost: Vec<String> = report
        .lost
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(lost.iter().any(|n| n.starts_with("MANIFEST-")), "{lost:?}");
    assert!(lost.iter().any(|n| n.ends_with(".log")), "{lost:?}");
    for (p, _) in &report.lost {
        assert!(p.exists(), "{} is kept", p.display());
    }
    check(dir.path());
}

#[test]
fn a_damaged_current_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    std::fs::write(dir.path().join("CURRENT"), b"MANIFEST-9999\n").unwrap();
    assert!(Db::open(dir.path(), options()).is_err());
    repair(dir.path(), options()).unwrap();
    check(dir.path());
}

#[test]
fn a_lost_manifest_is_rebuilt_from_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    for m in manifests(dir.path()) {
        std::fs::remove_file(m).unwrap();
    }
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    let report = repair(dir.path(), options()).unwrap();
    assert!(report.manifest_read.is_none());
    check(dir.path());
}

#[test]
fn a_damaged_manifest_is_read_up_to_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let m = manifests(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&m).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xFF;
    std::fs::write(&m, &bytes).unwrap();
    assert!(Db::open(dir.path(), options()).is_err());
    let report = repair(dir.path(), options()).unwrap();
    assert!(!report.damage.is_empty(), "{report:?}");
    check(dir.path());
}

#[test]
fn a_damaged_or_foreign_table_goes_to_lost() {
    let other = tempfile::tempdir().unwrap();
    {
        let db = Db::open(other.path(), options()).unwrap();
        db.put("theirs", "x").unwrap();
        db.flush().unwrap();
        db.close().unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), options()).unwrap();
        db.put("a", "1").unwrap();
        db.flush().unwrap();
        db.put("b", "2").unwrap();
        db.flush().unwrap();
        db.close().unwrap();
    }
    let mut tables: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect();
    tables.sort();
    // Damage the table holding "b" (the newer one).
    let damaged = tables.pop().unwrap();
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[10] ^= 0xFF;
    std::fs::write(&damaged, &bytes).unwrap();
    let theirs = std::fs::read_dir(other.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sst"))
        .unwrap();
    std::fs::copy(&theirs, dir.path().join("000500.sst")).unwrap();

    let report = repair(dir.path(), options()).unwrap();
    let reasons: Vec<&str> = report.lost.iter().map(|(_, r)| r.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("damaged")),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"another database wrote it"),
        "{reasons:?}"
    );
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(db.get("a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get("theirs").unwrap(), None);
    db.verify().unwrap();
}

#[test]
fn an_open_database_is_not_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    assert!(matches!(
        repair(dir.path(), options()),
        Err(strata::Error::Locked(_))
    ));
    drop(db);
}

/// A WAL that was flushed but not yet deleted when the manifest was lost holds the same
/// entries (same sequence numbers) as the table it became: repair replays it anyway, and the
/// merge keeps one copy of each.
#[test]
fn a_wal_already_flushed_to_a_table_is_merged_once() {
    let dir = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), options()).unwrap();
        for i in 0..500 {
            db.put(format!("k{i:04}"), format!("v{i}")).unwrap();
        }
        db.delete("k0007").unwrap();
        db.sync_wal().unwrap();
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "log") {
                std::fs::copy(&p, saved.path().join(p.file_name().unwrap())).unwrap();
            }
        }
        db.flush().unwrap();
        db.put("k0001", "newer").unwrap();
        db.close().unwrap();
    }
    for e in std::fs::read_dir(saved.path()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    repair(dir.path(), options()).unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let entries: Vec<_> = db.range(None, None).unwrap().map(|e| e.unwrap()).collect();
    assert_eq!(entries.len(), 499, "each key once, the deleted one absent");
    assert_eq!(db.get("k0001").unwrap().as_deref(), Some(&b"newer"[..]));
    assert_eq!(db.get("k0002").unwrap().as_deref(), Some(&b"v2"[..]));
    assert_eq!(db.get("k0007").unwrap(), None);
    db.verify().unwrap();
    db.check_level_invariants().unwrap();
}

/// Large values live in blob files: a repair without any manifest keeps them (blob files
/// written since, by the WAL's conversion, too); a damaged blob file goes to `lost/`, the
/// table referring to it is reported, and its other values still read.
#[test]
fn blob_files_are_kept_and_a_damaged_one_goes_to_lost() {
    let mut o = options();
    o.min_blob_size = 1000;
    let big = |i: usize| vec![(i % 251) as u8; 1000 + i];
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), o.clone()).unwrap();
        for i in 0..40 {
            db.put(format!("big{i:02}"), big(i)).unwrap();
            db.put(format!("small{i:02}"), "s").unwrap();
        }
        db.flush().unwrap();
        db.put("wal-big", big(99)).unwrap();
        db.close().unwrap();
    }
    for m in manifests(dir.path()) {
        std::fs::remove_file(m).unwrap();
    }
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    repair(dir.path(), o.clone()).unwrap();
    {
        let db = Db::open(dir.path(), o.clone()).unwrap();
        for i in 0..40 {
            assert!(
                db.get(format!("big{i:02}")).unwrap() == Some(big(i)),
                "big{i:02}"
            );
        }
        assert!(db.get("wal-big").unwrap() == Some(big(99)));
        assert!(db.stats().blob_files >= 1);
        db.close().unwrap();
    }

    // Damage every blob file: each goes to lost/, the tables referring to them are reported,
    // and small values still read.
    let blobs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "blob"))
        .collect();
    assert!(!blobs.is_empty());
    for b in &blobs {
        let mut bytes = std::fs::read(b).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x10;
        std::fs::write(b, bytes).unwrap();
    }
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    let report = repair(dir.path(), o.clone()).unwrap();
    for b in &blobs {
        assert!(!b.exists());
        assert!(dir
            .path()
            .join("lost")
            .join(b.file_name().unwrap())
            .exists());
        let name = b.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            report.damage.iter().any(|(_, why)| why.contains(&name)),
            "{report:?}"
        );
    }
    // The database opens, its small values read, the lost ones are errors (not absent), and
    // writes and compactions go on: nothing tries to move the lost values again.
    let mut o = o;
    o.blob_gc_age_cutoff = 1.0;
    let db = Db::open(dir.path(), o).unwrap();
    for i in 0..40 {
        assert_eq!(db.get(format!("small{i:02}")).unwrap(), Some(b"s".to_vec()));
        assert!(db.get(format!("big{i:02}")).is_err(), "big{i:02}");
    }
    db.put("after", big(7)).unwrap();
    db.compact_range(None, None).unwrap();
    assert!(db.background_error().is_none());
    assert!(db.get("after").unwrap() == Some(big(7)));
}
