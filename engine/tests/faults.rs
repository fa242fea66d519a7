//! Fault injection: every file operation of the engine fails in turn (Pebble's `errorfs`,
//! LevelDB's fault-injection env), through the `fail` crate's failpoints at each write,
//! fsync, open, rename and allocation of space. After each fault the engine must report an
//! error or recover by itself, never panic, never lose an acknowledged write, and reopen to
//! a consistent state.
//!
//! Run with `cargo test -p strata --features failpoints --test faults` (the README's test
//! command enables the feature).
#![cfg(feature = "failpoints")]
// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use strata::{Db, Options, SyncMode};

/// Every failpoint in the engine's file operations.
const POINTS: &[&str] = &[
    "wal::create",
    "wal::write",
    "wal::allocate",
    "wal::sync",
    "wal::open",
    "sstable::create",
    "sstable::write",
    "sstable::sync",
    "sstable::open",
    "blob::create",
    "blob::write",
    "blob::sync",
    "blob::open",
    "current::write",
    "current::rename",
    "dir::sync",
];

/// ENOSPC: running out of disk space, which the engine recovers from.
const ENOSPC: &str = "28";
/// EIO: a failing device, which it does not.
const EIO: &str = "5";

/// Failpoints are process-wide: one scenario at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Small memtables and levels, so a short workload flushes and compacts many times; about a
/// third of the values go to small blob files.
fn options() -> Options {
    let mut options = Options::default();
    options.min_blob_size = 128;
    options.blob_file_size = 4 << 10;
    options.sync_mode = SyncMode::Always;
    options.memtable_size = 32 << 10;
    options.max_bytes_for_level_base = 128 << 10;
    options.target_file_size_base = 32 << 10;
    options
}

fn scratch() -> tempfile::TempDir {
    // tmpfs where there is one: the workload fsyncs every write.
    match tempfile::tempdir_in("/dev/shm") {
        Ok(dir) => dir,
        Err(_) => tempfile::tempdir().unwrap(),
    }
}

/// What each key may hold: its last acknowledged value, and the values of writes that failed
/// after it (a failed write may or may not have reached the log; `None` is a delete).
#[derive(Default)]
struct Model {
    allowed: BTreeMap<Vec<u8>, Vec<Option<Vec<u8>>>>,
}

impl Model {
    fn acked(&mut self, key: &[u8], value: Option<Vec<u8>>) {
        self.allowed.insert(key.to_vec(), vec![value]);
    }

    fn failed(&mut self, key: &[u8], value: Option<Vec<u8>>) {
        self.allowed
            .entry(key.to_vec())
            .or_insert_with(|| vec![None])
            .push(value);
    }

    /// Every key holds one of its allowed values, and no other key exists.
    fn check(&self, db: &Db, context: &str) {
        for (key, allowed) in &self.allowed {
            let got = db
                .get(key)
                .unwrap_or_else(|e| panic!("{context}: reading {key:?} failed: {e}"));
            assert!(
                allowed.contains(&got),
                "{context}: {} holds {:?}, allowed {:?}",
                String::from_utf8_lossy(key),
                got.as_deref().map(String::from_utf8_lossy),
                allowed.len()
            );
        }
        for entry in db.range(None, None).unwrap() {
            let (key, _) = entry.unwrap_or_else(|e| panic!("{context}: scan failed: {e}"));
            assert!(
                self.allowed.contains_key(&key),
                "{context}: {} was never written",
                String::from_utf8_lossy(&key)
            );
        }
    }
}

fn value(i: usize, round: usize) -> Vec<u8> {
    format!("value-{i:05}-{round}-{}", "x".repeat(80 + i % 50)).into_bytes()
}

/// Puts, overwrites and deletes, each tried once; a write that fails is remembered as
/// uncertain. After a failure, waits (up to `patience`) for the database to resume; once it
/// has not, no longer.
fn workload(db: &Db, model: &mut Model, mut patience: Duration) -> usize {
    let mut failures = 0;
    let mut step = |key: Vec<u8>, value: Option<Vec<u8>>| {
        let result = match &value {
            Some(v) => db.put(&key, v),
            None => db.delete(&key),
        };
        match result {
            Ok(()) => model.acked(&key, value),
            Err(_) => {
                failures += 1;
                model.failed(&key, value);
                let start = Instant::now();
                while db.background_error().is_some() && start.elapsed() < patience {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if db.background_error().is_some() {
                    patience = Duration::ZERO;
                }
            }
        }
    };
    for i in 0..600 {
        step(format!("key{i:05}").into_bytes(), Some(value(i, 0)));
    }
    for i in (0..600).step_by(2) {
        step(format!("key{i:05}").into_bytes(), Some(value(i, 1)));
    }
    for i in (0..600).step_by(7) {
        step(format!("key{i:05}").into_bytes(), None);
    }
    failures
}

/// Counts how often each failpoint is hit by open + workload + close + reopen.
fn hits() -> BTreeMap<&'static str, usize> {
    let counters: Vec<(&str, Arc<AtomicUsize>)> = POINTS
        .iter()
        .map(|&p| {
            let n = Arc::new(AtomicUsize::new(0));
            let seen = Arc::clone(&n);
            fail::cfg_callback(p, move || {
                seen.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
            (p, n)
        })
        .collect();
    let dir = scratch();
    let mut model = Model::default();
    {
        let db = Db::open(dir.path(), options()).unwrap();
        workload(&db, &mut model, Duration::ZERO);
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), options()).unwrap();
    model.check(&db, "without faults");
    drop(db);
    for p in POINTS {
        fail::remove(p);
    }
    counters
        .into_iter()
        .map(|(p, n)| (p, n.load(Ordering::Relaxed)))
        .collect()
}

/// One scenario: `point` fails as `actions` says during open + workload (which waits up to
/// `patience` for the database to resume after a failure); then faults stop, the database
/// must resume (if `resumes`) or stay refusing writes, and a reopen must hold every
/// acknowledged write.
fn scenario(dir: &Path, point: &str, actions: &str, patience: Duration, resumes: bool) {
    let context = format!("{point} = {actions}");
    eprintln!("scenario {context}");
    let mut model = Model::default();
    fail::cfg(point, actions).unwrap();
    let opened = Db::open(dir, options());
    if let Ok(db) = &opened {
        workload(db, &mut model, patience);
    }
    fail::remove(point);
    if let Ok(db) = opened {
        // Faults are over: a transient one is recovered from (`resume` does at once what
        // the flush thread does every second). Work that failed before the faults stopped
        // may report only now, so settle first.
        if resumes {
            if let Err(e) = settle(&db) {
                panic!("{context}: did not resume: {e}");
            }
            db.put("after", "resume")
                .unwrap_or_else(|e| panic!("{context}: write after resume failed: {e}"));
            model.acked(b"after", Some(b"resume".to_vec()));
            db.flush()
                .unwrap_or_else(|e| panic!("{context}: flush after resume failed: {e}"));
        } else {
            let _ = db.resume();
        }
        model.check(&db, &format!("{context}, before reopen"));
        // Close may fail after a final error; what is on disk must still reopen.
        let _ = db.close();
    }
    let db = Db::open(dir, options()).unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
    model.check(&db, &format!("{context}, after reopen"));
    db.put("reopened", "yes")
        .unwrap_or_else(|e| panic!("{context}: write after reopen failed: {e}"));
    db.close().unwrap();
}

/// Resumes the database and waits for its background work, until both succeed (5 s at
/// most).
fn settle(db: &Db) -> strata::Result<()> {
    let start = Instant::now();
    loop {
        let settled = db.resume().and_then(|()| db.wait_for_background_work());
        if settled.is_ok() || start.elapsed() > Duration::from_secs(5) {
            return settled;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether running out of space at `point` is something the engine comes back from without
/// a reopen: everything but an fsync (after a failed fsync nothing since the last good one
/// can be trusted).
fn recoverable(point: &str) -> bool {
    point != "wal::sync"
}

#[test]
fn every_file_operation_failing_once_loses_nothing() {
    let _serial = serial();
    let scenario_guard = fail::FailScenario::setup();
    let hits = hits();
    for (&point, &n) in &hits {
        for nth in [1, n / 3, 2 * n / 3, n.saturating_sub(1)] {
            if nth == 0 || nth > n {
                continue;
            }
            for errno in [ENOSPC, EIO] {
                let dir = scratch();
                let actions = format!("{}*off->1*return({errno})->off", nth - 1);
                let resumes = errno == ENOSPC && recoverable(point);
                scenario(dir.path(), point, &actions, Duration::from_secs(3), resumes);
            }
        }
    }
    scenario_guard.teardown();
}

#[test]
fn a_disk_full_for_a_while_is_ridden_out() {
    let _serial = serial();
    let scenario_guard = fail::FailScenario::setup();
    let hits = hits();
    for (&point, &n) in &hits {
        if n < 2 {
            continue;
        }
        // From the middle of the run on, every call fails until faults stop (the writes
        // meanwhile are refused, without waiting).
        let dir = scratch();
        let actions = format!("{}*off->return({ENOSPC})", n / 2);
        scenario(
            dir.path(),
            point,
            &actions,
            Duration::ZERO,
            recoverable(point),
        );
    }
    scenario_guard.teardown();
}

#[test]
fn the_engine_retries_by_itself() {
    let _serial = serial();
    let scenario_guard = fail::FailScenario::setup();
    let dir = scratch();
    let db = Db::open(dir.path(), options()).unwrap();
    db.put("before", "full").unwrap();
    fail::cfg("wal::write", &format!("return({ENOSPC})")).unwrap();
    let refused = db.put("during", "full");
    assert!(refused.is_err(), "a write that cannot be logged is refused");
    assert!(db.background_error().is_some());
    assert!(db.put("still", "full").is_err());
    assert_eq!(db.get("before").unwrap().as_deref(), Some(&b"full"[..]));
    fail::remove("wal::write");
    // No call to `resume`: the flush thread retries every second.
    let start = Instant::now();
    while db.background_error().is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "did not resume by itself"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    db.put("after", "space").unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(db.get("before").unwrap().as_deref(), Some(&b"full"[..]));
    assert_eq!(db.get("after").unwrap().as_deref(), Some(&b"space"[..]));
    assert_eq!(
        db.get("during").unwrap(),
        None,
        "a refused write is not applied"
    );
    assert_eq!(db.get("still").unwrap(), None);
    drop(db);
    scenario_guard.teardown();
}
