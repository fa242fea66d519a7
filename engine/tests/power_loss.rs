//! Power-loss test: everything past the last fsync of the newest WAL may vanish or be torn.
//! Truncating (or zeroing) the log at random offsets past the synced length must leave every
//! synced write readable and never expose a torn record.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{content_len, copy_dir, newest_log};

use std::collections::hash_map::RandomState;
use std::fs::OpenOptions;
use std::hash::{BuildHasher, Hasher};
use std::io::{Seek, SeekFrom, Write};

use strata::{Db, Options, SyncMode};

fn random() -> u64 {
    RandomState::new().build_hasher().finish()
}

fn options() -> Options {
    let mut o = Options::default();
    o.sync_mode = SyncMode::Never;
    o
}

fn key(i: usize) -> String {
    format!("key{i:06}")
}

fn value(i: usize) -> Vec<u8> {
    // Varied sizes so records span fragments and blocks.
    vec![(i % 251) as u8; (i * 37) % 3000]
}

#[test]
fn truncated_or_torn_wal_tail_keeps_every_synced_write() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let synced = 300;
    let total = 700;
    let db = Db::open(&live, options()).unwrap();
    for i in 0..synced {
        db.put(key(i), value(i)).unwrap();
    }
    db.sync_wal().unwrap();
    let log = newest_log(&live);
    let synced_len = content_len(&log);
    for i in synced..total {
        db.put(key(i), value(i)).unwrap();
    }
    // The unsynced writes reached the OS; this copy is what the disk might hold after power loss
    // once the tail is cut.
    let image = root.path().join("image");
    copy_dir(&live, &image);
    drop(db);
    let full_len = content_len(&newest_log(&image));
    assert!(full_len > synced_len);

    for trial in 0..24 {
        let cut = synced_len + random() % (full_len - synced_len + 1);
        let dir = root.path().join(format!("trial{trial}"));
        copy_dir(&image, &dir);
        let log = newest_log(&dir);
        let f = OpenOptions::new().write(true).open(&log).unwrap();
        f.set_len(cut).unwrap();
        if trial % 2 == 1 {
            // A torn page: the file length survived but the last bytes did not.
            let zeros = (random() % 4096).min(cut - synced_len);
            let mut f = f;
            f.seek(SeekFrom::Start(cut - zeros)).unwrap();
            f.write_all(&vec![0u8; zeros as usize]).unwrap();
        }
        let db = Db::open(&dir, options()).unwrap();
        let mut present = 0;
        let mut gap = false;
        for i in 0..total {
            match db.get(key(i)).unwrap() {
                Some(v) => {
                    assert_eq!(
                        v,
                        value(i),
                        "wrong value for {} (trial {trial}, cut {cut})",
                        key(i)
                    );
                    assert!(!gap, "{} present after a missing key: not a prefix", key(i));
                    present += 1;
                }
                None => {
                    assert!(
                        i >= synced,
                        "synced {} lost (trial {trial}, cut {cut})",
                        key(i)
                    );
                    gap = true;
                }
            }
        }
        assert!(present >= synced);
        db.verify().unwrap();
    }
}

/// `manual_wal_flush`: writes stay in the process's buffer (a process crash, simulated by a
/// copy of what the OS holds, loses them) until `flush_wal_to` hands them to the OS.
#[test]
fn manual_wal_flush_keeps_writes_in_the_process_until_flushed() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let mut o = options();
    o.manual_wal_flush = true;
    let db = Db::open(&live, o.clone()).unwrap();
    let log = newest_log(&live);
    let empty_len = content_len(&log);
    for i in 0..50 {
        db.put(key(i), value(i)).unwrap();
        assert_eq!(db.get(key(i)).unwrap(), Some(value(i)), "visible at once");
    }
    assert_eq!(content_len(&log), empty_len);
    let crashed = root.path().join("crashed");
    copy_dir(&live, &crashed);

    db.flush_wal_to(db.latest_sequence()).unwrap();
    assert!(content_len(&log) > empty_len);
    let flushed = root.path().join("flushed");
    copy_dir(&live, &flushed);
    // Nothing new: no write at all.
    let len = content_len(&log);
    db.flush_wal_to(db.latest_sequence()).unwrap();
    assert_eq!(content_len(&log), len);
    drop(db);

    let db = Db::open(&crashed, options()).unwrap();
    assert_eq!(
        db.get(key(0)).unwrap(),
        None,
        "buffered writes die with the process"
    );
    drop(db);
    let db = Db::open(&flushed, options()).unwrap();
    for i in 0..50 {
        assert_eq!(db.get(key(i)).unwrap(), Some(value(i)));
    }
}
