//! Leveled compaction: shape invariants, snapshot safety, space reclaimed, stalls, errors.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use strata::{Db, Error, MutableOptions, Options, ReadOptions, Snapshot, SyncMode, WriteOptions};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Small sizes so a few megabytes make a deep tree.
fn options() -> Options {
    let mut o = Options::default();
    o.sync_mode = SyncMode::Never;
    o.memtable_size = 64 * 1024;
    o.max_bytes_for_level_base = 256 * 1024;
    o.target_file_size_base = 64 * 1024;
    o.level0_file_num_compaction_trigger = 2;
    o
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

fn dir_bytes(db: &Db) -> u64 {
    std::fs::read_dir(db.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum()
}

fn scan_all(db: &Db, snap: Option<&Snapshot>) -> Model {
    let opts = ReadOptions {
        snapshot: snap,
        ..ReadOptions::default()
    };
    db.scan(&opts).unwrap().map(|r| r.unwrap()).collect()
}

/// Waits until background compaction has nothing left to do.
fn settle(db: &Db) {
    db.wait_for_background_work().unwrap();
    let s = db.stats();
    assert!(
        s.keyspaces
            .iter()
            .all(|k| k.levels.iter().all(|l| l.score < 1.0)),
        "{s}"
    );
}

#[test]
fn background_compaction_keeps_levels_sorted_and_reads_right_under_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    let mut model = Model::new();
    let mut snaps: Vec<(Snapshot, Model)> = Vec::new();
    let mut x: u64 = 7;
    for round in 0..30u64 {
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = key((x >> 33) % 5000);
            if (x >> 20).is_multiple_of(7) {
                db.delete(&k).unwrap();
                model.remove(&k);
            } else {
                let v = format!("v{round}-{x:x}").into_bytes();
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
        }
        if round.is_multiple_of(6) {
            snaps.push((db.snapshot(), model.clone()));
        }
        db.check_level_invariants().unwrap();
    }
    settle(&db);
    db.check_level_invariants().unwrap();
    let stats = db.stats();
    let deep: usize = stats.keyspaces[0].levels[1..].iter().map(|l| l.files).sum();
    assert!(deep > 0, "nothing was compacted below L0: {stats}");
    assert!(
        stats.compaction.iter().any(|c| c.compactions > 0),
        "{stats}"
    );
    assert_eq!(scan_all(&db, None), model);
    for (snap, m) in &snaps {
        assert_eq!(
            &scan_all(&db, Some(snap)),
            m,
            "snapshot {}",
            snap.sequence()
        );
    }
    // Compacting everything to the bottom keeps every snapshot's view.
    db.compact_range(None, None).unwrap();
    db.check_level_invariants().unwrap();
    for (snap, m) in &snaps {
        assert_eq!(&scan_all(&db, Some(snap)), m);
    }
    drop(snaps);
    db.compact_range(None, None).unwrap();
    assert_eq!(scan_all(&db, None), model);
    for k in 0..5000 {
        assert_eq!(db.get(key(k)).unwrap(), model.get(&key(k)).cloned());
    }
    db.verify().unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    db.check_level_invariants().unwrap();
    assert_eq!(scan_all(&db, None), model);
}

#[test]
fn overwrites_and_deletes_are_reclaimed_by_compact_range() {
    let root = tempfile::tempdir().unwrap();
    let keys = 100_000u64;
    let value =
        |k: u64, round: u64| format!("{round:02}-{:030}", k * 7919 % 1_000_003).into_bytes();
    let mut o = options();
    o.memtable_size = 1 << 20;
    o.max_bytes_for_level_base = 4 << 20;
    o.target_file_size_base = 1 << 20;

    let db = Db::open(root.path().join("churn"), o.clone()).unwrap();
    for round in 0..20 {
        for k in 0..keys {
            db.put(key(k), value(k, round)).unwrap();
        }
    }
    for k in (0..keys).step_by(10) {
        db.delete(key(k)).unwrap();
    }
    db.compact_range(None, None).unwrap();
    let live = keys - keys / 10;

    // The same final state written once.
    let clean = Db::open(root.path().join("clean"), o).unwrap();
    for k in 0..keys {
        if !k.is_multiple_of(10) {
            clean.put(key(k), value(k, 19)).unwrap();
        }
    }
    clean.compact_range(None, None).unwrap();

    let churn_bytes = dir_bytes(&db);
    let clean_bytes = dir_bytes(&clean);
    let amp = churn_bytes as f64 / clean_bytes as f64;
    eprintln!("space amplification {amp:.3} ({churn_bytes} vs {clean_bytes} bytes)");
    eprintln!("{}", db.stats());
    assert!(
        amp <= 1.2,
        "space amplification {amp:.3} ({churn_bytes} vs {clean_bytes} bytes)"
    );
    // No tombstone and no old version is left on disk.
    let entries: u64 = db.stats().keyspaces[0]
        .levels
        .iter()
        .map(|l| l.entries)
        .sum();
    assert_eq!(entries, live, "{}", db.stats());
    assert_eq!(db.get(key(10)).unwrap(), None);
    assert_eq!(db.get(key(11)).unwrap(), Some(value(11, 19)));
    db.check_level_invariants().unwrap();
}

/// `set_options` on an open database: a smaller memtable flushes sooner, auto compaction can
/// be paused and resumed, an invalid change is refused whole.
#[test]
fn options_change_on_an_open_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options();
    o.memtable_size = 4 << 20;
    o.level0_slowdown_writes_trigger = 1000;
    o.level0_stop_writes_trigger = 1000;
    let db = Db::open(dir.path(), o).unwrap();
    let fill = |from: u64| {
        for i in from..from + 2000 {
            db.put(key(i), vec![b'v'; 100]).unwrap();
        }
    };
    fill(0);
    assert_eq!(db.stats().flush_count, 0, "4 MiB memtable holds 200 KiB");

    let mut pause = MutableOptions::default();
    pause.memtable_size = Some(32 * 1024);
    pause.disable_auto_compactions = Some(true);
    db.set_options(&pause).unwrap();
    assert_eq!(db.options().memtable_size, 32 * 1024);
    fill(2000);
    db.wait_for_background_work().unwrap();
    let s = db.stats();
    assert!(s.flush_count >= 4, "the smaller memtable flushes: {s}");
    let l0 = |db: &Db| db.stats().keyspaces[0].levels[0].files;
    assert!(l0(&db) >= 4, "no compaction while paused");
    assert_eq!(s.compaction.iter().map(|c| c.compactions).sum::<u64>(), 0);

    let mut bad = MutableOptions::default();
    bad.memtable_size = Some(1);
    bad.disable_auto_compactions = Some(false);
    assert!(matches!(
        db.set_options(&bad),
        Err(Error::InvalidArgument(_))
    ));
    assert!(
        db.options().disable_auto_compactions,
        "a refused change changes nothing"
    );

    let mut resume = MutableOptions::default();
    resume.disable_auto_compactions = Some(false);
    db.set_options(&resume).unwrap();
    settle(&db);
    assert!(l0(&db) < 2, "compaction resumed");
    assert_eq!(db.range(None, None).unwrap().count(), 4000);
    db.check_level_invariants().unwrap();
}

#[test]
fn writers_stall_on_l0_and_resume_without_losing_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options();
    o.memtable_size = 16 * 1024;
    o.level0_file_num_compaction_trigger = 2;
    o.level0_slowdown_writes_trigger = 3;
    o.level0_stop_writes_trigger = 4;
    o.max_immutable_memtables = 1;
    let db = std::sync::Arc::new(Db::open(dir.path(), o).unwrap());
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let db = std::sync::Arc::clone(&db);
            std::thread::spawn(move || {
                for i in 0..3000u64 {
                    db.put(format!("t{t}-{i:06}"), vec![b'x'; 100]).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let stats = db.stats();
    assert!(stats.stall_count > 0, "writers never stalled: {stats}");
    assert_eq!(db.range(None, None).unwrap().count(), 12_000);
    db.check_level_invariants().unwrap();
}

#[test]
fn a_failed_compaction_surfaces_to_writers_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options();
    o.level0_file_num_compaction_trigger = 3;
    let db = Db::open(dir.path(), o).unwrap();
    for i in 0..100u64 {
        db.put(key(i), b"v").unwrap();
    }
    db.flush().unwrap();
    // Damage the table under the running database, then make compaction read it.
    let table = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sst"))
        .unwrap();
    // In place, without truncating: the file is memory-mapped by the running database.
    {
        use std::io::{Read, Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&table)
            .unwrap();
        let mut b = [0u8; 1];
        f.seek(SeekFrom::Start(10)).unwrap();
        f.read_exact(&mut b).unwrap();
        f.seek(SeekFrom::Start(10)).unwrap();
        f.write_all(&[b[0] ^ 0xFF]).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let err = loop {
        let r = (0..50u64)
            .try_for_each(|i| db.put(key(i + 1000), b"w"))
            .and_then(|()| db.flush());
        if let Err(e) = r {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "writes never saw the compaction failure"
        );
    };
    assert!(matches!(err, Error::Poisoned(_)), "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");
    assert!(
        db.write(strata::WriteBatch::new(), WriteOptions::default())
            .is_err()
            || db.put(b"k", b"v").is_err()
    );
}

/// Entries in the tables of every level.
fn table_entries(db: &Db) -> u64 {
    db.stats()
        .keyspaces
        .iter()
        .flat_map(|k| k.levels.iter())
        .map(|l| l.entries)
        .sum()
}

#[test]
fn a_flush_keeps_one_version_per_key_unless_a_snapshot_needs_more() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options();
    o.memtable_size = 4 << 20;
    o.disable_auto_compactions = true;
    let db = Db::open(dir.path(), o).unwrap();
    for round in 0..3 {
        for i in 0..100 {
            db.put(key(i), format!("v{round}")).unwrap();
        }
    }
    db.delete(key(0)).unwrap();
    db.flush().unwrap();
    // 100 keys, each once: key 0 as its tombstone.
    assert_eq!(table_entries(&db), 100);
    assert_eq!(db.get(key(0)).unwrap(), None);
    assert_eq!(db.get(key(1)).unwrap(), Some(b"v2".to_vec()));

    // A snapshot between two rounds of writes keeps the version it sees.
    for i in 0..10 {
        db.put(key(i), "before").unwrap();
    }
    let snap = db.snapshot();
    for i in 0..10 {
        db.put(key(i), "after").unwrap();
        db.put(key(i), "after again").unwrap();
    }
    db.flush().unwrap();
    assert_eq!(table_entries(&db), 100 + 20);
    for i in 0..10 {
        assert_eq!(db.get(key(i)).unwrap(), Some(b"after again".to_vec()));
        assert_eq!(db.get_at(key(i), &snap).unwrap(), Some(b"before".to_vec()));
    }
}

/// A level of many tables reads as one run: seeks land in the right table, and cursors move
/// across table boundaries forwards and backwards, with newer versions in other levels on top.
#[test]
fn iterators_cross_the_tables_of_a_level_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    // Small output tables, so the bottom level has many of them however the background
    // compactions happened to group the L0 files (under load they group more of them).
    let mut o = options();
    o.target_file_size_base = 4 * 1024;
    let db = Db::open(dir.path(), o).unwrap();
    let mut model = Model::new();
    for i in 0..6000u64 {
        let v = format!("v{i}-{}", "x".repeat(40)).into_bytes();
        db.put(key(i * 2), &v).unwrap();
        model.insert(key(i * 2), v);
    }
    db.compact_range(None, None).unwrap();
    let stats = db.stats();
    let deepest = stats.keyspaces[0]
        .levels
        .iter()
        .filter(|l| l.files > 0)
        .max_by_key(|l| l.level)
        .unwrap();
    assert!(deepest.files >= 4, "{stats}");
    // Newer versions and tombstones above the level, in the memtable.
    for i in (0..6000u64).step_by(7) {
        if i % 2 == 0 {
            db.delete(key(i * 2)).unwrap();
            model.remove(&key(i * 2));
        } else {
            db.put(key(i * 2), b"new").unwrap();
            model.insert(key(i * 2), b"new".to_vec());
        }
    }

    let mut it = db.iter(&ReadOptions::default()).unwrap();
    // Forward and backward over everything.
    it.seek_to_first();
    let mut forward = Vec::new();
    while it.valid() {
        forward.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    it.status().unwrap();
    let expected: Vec<_> = model.clone().into_iter().collect();
    assert_eq!(forward, expected);
    it.seek_to_last();
    let mut backward = Vec::new();
    while it.valid() {
        backward.push((it.key().to_vec(), it.value().to_vec()));
        it.prev();
    }
    it.status().unwrap();
    backward.reverse();
    assert_eq!(backward, expected);

    // Seeks to present keys, absent keys between them, and past either end, then a few steps
    // each way (crossing table boundaries somewhere).
    for probe in (0..12_010u64)
        .step_by(37)
        .chain([0, 1, 11_998, 11_999, 12_001])
    {
        let target = key(probe);
        it.seek(&target);
        let mut at = model.range(target.clone()..);
        for _ in 0..5 {
            match at.next() {
                Some((k, v)) => {
                    assert!(it.valid(), "seek {probe}");
                    assert_eq!((it.key(), it.value()), (&k[..], &v[..]), "seek {probe}");
                    it.next();
                }
                None => assert!(!it.valid(), "seek {probe}"),
            }
        }
        it.seek_for_prev(&target);
        let mut at = model.range(..=target.clone()).rev();
        for _ in 0..5 {
            match at.next() {
                Some((k, v)) => {
                    assert!(it.valid(), "seek_for_prev {probe}");
                    assert_eq!(
                        (it.key(), it.value()),
                        (&k[..], &v[..]),
                        "seek_for_prev {probe}"
                    );
                    it.prev();
                }
                None => assert!(!it.valid(), "seek_for_prev {probe}"),
            }
        }
    }
    it.status().unwrap();
    db.check_level_invariants().unwrap();
}
