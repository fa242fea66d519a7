//! Crash test: a child process writes with `sync = true` (flushing and compacting all the time)
//! and prints each acknowledged key; the parent kills it with SIGKILL at a random moment,
//! reopens, and checks that every acknowledged write is present, that the levels are well formed,
//! that no orphan table or blob file is left and that the database verifies clean.
//!
//! The child is this test binary itself, re-run on the `crash_child` entry point.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use strata::{Db, Options, SyncMode, WriteOptions};

const CHILD_DIR: &str = "STRATA_CRASH_CHILD_DIR";
const CHILD_ROUND: &str = "STRATA_CRASH_CHILD_ROUND";

fn random() -> u64 {
    RandomState::new().build_hasher().finish()
}

/// Tiny memtables and levels: the child flushes and compacts all the time, so kills land in
/// the middle of flushes and compactions.
fn options() -> Options {
    let mut o = Options::default();
    o.memtable_size = 64 * 1024;
    o.sync_mode = SyncMode::Never;
    o.level0_file_num_compaction_trigger = 2;
    o.max_bytes_for_level_base = 256 * 1024;
    o.target_file_size_base = 64 * 1024;
    // Half the values go to blob files, small ones, so kills land in blob writes and blob
    // garbage collection too.
    o.min_blob_size = 128;
    o.blob_file_size = 16 * 1024;
    o
}

fn value_for(key: &str) -> String {
    let long = key.ends_with(['0', '2', '4', '6', '8']);
    format!(
        "value-of-{key}-{}",
        "x".repeat(key.len() * 3 + if long { 200 } else { 0 })
    )
}

/// Entry point of the child process; does nothing unless spawned by a crash test.
#[test]
#[ignore = "child process of the crash tests"]
fn crash_child() {
    let (Ok(dir), Ok(round)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_ROUND)) else {
        return;
    };
    let db = std::sync::Arc::new(Db::open(&dir, options()).unwrap());
    let writers: Vec<_> = (0..3)
        .map(|t| {
            let db = std::sync::Arc::clone(&db);
            let round = round.clone();
            std::thread::spawn(move || {
                let stdout = std::io::stdout();
                for i in 0.. {
                    let key = format!("r{round}-t{t}-{i:07}");
                    db.write(
                        {
                            let mut b = strata::WriteBatch::new();
                            b.put(&key, value_for(&key));
                            b
                        },
                        WriteOptions::sync(),
                    )
                    .unwrap();
                    let mut out = stdout.lock();
                    writeln!(out, "ACK {key}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
}

/// Runs one child until a random moment, kills it, and returns the keys it acknowledged.
fn run_child(dir: &Path, round: usize, max_ms: u64) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_ROUND, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(k) = line.strip_prefix("ACK ") {
                if acked.is_empty() {
                    let _ = tx.send(());
                }
                acked.push(k.to_string());
            }
        }
        acked
    });
    // Start the clock at the first acknowledged write, so a slow start (a loaded CI machine)
    // cannot make the kill land before the child did anything.
    let _ = rx.recv_timeout(Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(random() % max_ms));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap()
}

fn crash_rounds(rounds: usize, max_ms: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut acked_total = Vec::new();
    for round in 0..rounds {
        let acked = run_child(dir.path(), round, max_ms);
        acked_total.extend(acked);
        let db = Db::open(dir.path(), options()).unwrap();
        for key in &acked_total {
            assert_eq!(
                db.get(key).unwrap(),
                Some(value_for(key).into_bytes()),
                "acknowledged key {key} lost after crash round {round}"
            );
        }
        db.verify().unwrap();
        db.check_level_invariants().unwrap();
        db.close().unwrap();
        let report = strata::verify_dir(dir.path()).unwrap();
        assert!(
            report.orphan_tables.is_empty() && report.orphan_blob_files.is_empty(),
            "orphans after open: {:?} {:?}",
            report.orphan_tables,
            report.orphan_blob_files
        );
    }
    assert!(!acked_total.is_empty(), "the child acknowledged nothing");
}

#[test]
fn kill9_loses_no_acknowledged_write() {
    crash_rounds(3, 400);
}

#[test]
#[ignore = "long crash loop; run with --ignored"]
fn kill9_loop_many_rounds() {
    crash_rounds(40, 1500);
}
