//! `Writer::recover` after injected write and fsync failures (the `failpoints` feature):
//! the log reads back exactly the records acknowledged before and after the failure.
#![cfg(feature = "failpoints")]
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use strata_wal::{Error, Reader, RecoveryMode, SyncMode, Writer};

/// Failpoints are process-wide: one test at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn records(path: &Path) -> Vec<Vec<u8>> {
    let mut reader = Reader::open(path, RecoveryMode::Strict).unwrap();
    let mut out = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        out.push(r);
    }
    out
}

#[test]
fn a_failed_batch_is_cut_off_and_buffered_records_are_kept() {
    let _serial = serial();
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000001.log");
    let mut writer = Writer::create(&path, 1, SyncMode::Never).unwrap();
    writer.preallocate(1 << 20).unwrap();
    writer.append_batch(&[b"a"], false).unwrap();
    // Acknowledged but only buffered (manual flush).
    writer.append(b"b").unwrap();
    fail::cfg("wal::write", "return(28)").unwrap();
    assert!(matches!(
        writer.append_batch(&[b"c", b"d"], false),
        Err(Error::Io(_))
    ));
    assert!(matches!(writer.append(b"x"), Err(Error::Poisoned)));
    // The disk is still full: recovery fails and changes nothing.
    assert!(matches!(writer.recover(), Err(Error::Io(_))));
    fail::remove("wal::write");
    writer.recover().unwrap();
    assert!(!writer.is_poisoned());
    writer.append_batch(&[b"e"], true).unwrap();
    writer.finish().unwrap();
    assert_eq!(records(&path), [&b"a"[..], b"b", b"e"]);
    scenario.teardown();
}

#[test]
fn a_record_torn_between_two_writes_is_cut_off() {
    let _serial = serial();
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000002.log");
    let mut writer = Writer::create(&path, 2, SyncMode::Never).unwrap();
    writer.append_batch(&[b"first"], false).unwrap();
    // A record larger than the buffer goes out in several writes: the first lands, the
    // second fails.
    let big = vec![7u8; 700 << 10];
    fail::cfg("wal::write", "1*off->return(28)").unwrap();
    assert!(writer.append_batch(&[&big[..]], false).is_err());
    fail::remove("wal::write");
    assert!(std::fs::metadata(&path).unwrap().len() > 256 << 10);
    writer.recover().unwrap();
    writer.append_batch(&[b"last"], false).unwrap();
    writer.finish().unwrap();
    assert_eq!(records(&path), [&b"first"[..], b"last"]);
    scenario.teardown();
}

#[test]
fn a_failed_fsync_is_final() {
    let _serial = serial();
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000003.log");
    let mut writer = Writer::create(&path, 3, SyncMode::Always).unwrap();
    writer.append_batch(&[b"synced"], true).unwrap();
    fail::cfg("wal::sync", "1*return(28)").unwrap();
    assert!(writer.append_batch(&[b"unsure"], true).is_err());
    fail::remove("wal::sync");
    assert!(matches!(writer.recover(), Err(Error::Poisoned)));
    assert!(matches!(writer.append(b"more"), Err(Error::Poisoned)));
    scenario.teardown();
}
