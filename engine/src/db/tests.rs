//! Unit tests of the database that reach into its state.

use super::*;

fn open_never_sync(dir: &Path) -> Db {
    let options = Options {
        sync_mode: SyncMode::Never,
        ..Options::default()
    };
    Db::open(dir, options).unwrap()
}

#[test]
fn waiters_for_durability_share_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(open_never_sync(dir.path()));
    db.put("before", "x").unwrap();
    let syncs_before = db.stats().wal_syncs;

    // Hold the syncer as if an fsync were running; four committers write and queue up.
    let held = lock(db.inner.wal.syncer());
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                db.put(format!("k{i}"), "v").unwrap();
                let seq = db.latest_sequence();
                db.sync_wal_to(seq).unwrap();
                assert!(db.synced_sequence() >= seq);
            })
        })
        .collect();
    while db.latest_sequence() < 5 {
        std::thread::yield_now();
    }
    assert!(
        db.synced_sequence() < 5,
        "nothing synced while the syncer is held"
    );
    drop(held);
    for t in threads {
        t.join().unwrap();
    }
    // The first to get the syncer covered all four writes.
    assert_eq!(db.stats().wal_syncs, syncs_before + 1);
    assert_eq!(db.synced_sequence(), 5);
    // Already durable: no fsync at all.
    db.sync_wal_to(5).unwrap();
    db.sync_wal().unwrap();
    assert_eq!(db.stats().wal_syncs, syncs_before + 1);
}

#[test]
fn a_sync_write_and_a_rotation_advance_the_durable_point() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_never_sync(dir.path());
    db.put("a", "1").unwrap();
    assert_eq!(db.synced_sequence(), 0);
    let mut batch = WriteBatch::new();
    batch.put("b", "2");
    db.write(batch, WriteOptions { sync: true }).unwrap();
    assert_eq!(db.synced_sequence(), 2);
    db.put("c", "3").unwrap();
    db.flush().unwrap();
    assert_eq!(
        db.synced_sequence(),
        3,
        "the old WAL is synced when it rotates"
    );
}

#[test]
fn a_first_open_that_stopped_before_current_is_completed() {
    // A first open writes MANIFEST-000001, then CURRENT; a crash between the two leaves the
    // manifest alone. That is not data: the next open creates the database over it.
    let dir = tempfile::tempdir().unwrap();
    Manifest::create(dir.path(), 1, &initial_edit()).unwrap();
    fs::remove_file(filename::current_path(dir.path())).unwrap();
    let db = open_never_sync(dir.path());
    db.put("k", "v").unwrap();
    drop(db);
    let db = open_never_sync(dir.path());
    assert_eq!(db.get("k").unwrap(), Some(b"v".to_vec()));
}
