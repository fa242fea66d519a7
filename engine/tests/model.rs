//! Model-based test: random operations against the engine and a `BTreeMap` agree at every step,
//! across flushes, snapshots, clean reopens and reopens after an unclean stop.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::copy_dir;
use proptest::prelude::*;
use strata::{Db, Options, ReadOptions, Snapshot, SyncMode, WriteBatch, WriteOptions};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Debug, Clone)]
enum Op {
    Put(u8, Vec<u8>),
    Delete(u8),
    Batch(Vec<(u8, Option<Vec<u8>>)>),
    Get(u8),
    Scan {
        lo: Option<u8>,
        hi: Option<u8>,
        reverse: bool,
    },
    TakeSnapshot,
    CheckSnapshots,
    Flush,
    Reopen,
    /// The process dies: the directory is copied as it is (everything written to the OS,
    /// nothing more) and the copy is opened.
    Crash,
}

fn key(k: u8) -> Vec<u8> {
    format!("key{k:03}").into_bytes()
}

fn op() -> impl Strategy<Value = Op> {
    let value = prop::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        10 => (0..40u8, value.clone()).prop_map(|(k, v)| Op::Put(k, v)),
        4 => (0..40u8).prop_map(Op::Delete),
        3 => prop::collection::vec((0..40u8, prop::option::of(value)), 1..8).prop_map(Op::Batch),
        6 => (0..40u8).prop_map(Op::Get),
        3 => (prop::option::of(0..40u8), prop::option::of(0..40u8), any::<bool>())
            .prop_map(|(lo, hi, reverse)| Op::Scan { lo, hi, reverse }),
        1 => Just(Op::TakeSnapshot),
        2 => Just(Op::CheckSnapshots),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

fn options() -> Options {
    let mut o = Options::default();
    o.memtable_size = 4096;
    o.block_size = 256;
    o.sync_mode = SyncMode::Never;
    o
}

/// Copies the directory as a crash would leave it. Background flushes and compactions are let
/// finish first so the copy is a consistent picture of one moment (copying file by file while
/// a compaction deletes its inputs is not something a crash can do; the kill -9 test covers
/// crashes in the middle of background work).
fn crash_copy(db: &Db, from: &Path, to: &Path) {
    db.wait_for_background_work().unwrap();
    copy_dir(from, to);
}

fn scan(
    db: &Db,
    snapshot: Option<&Snapshot>,
    lo: Option<u8>,
    hi: Option<u8>,
    reverse: bool,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let opts = ReadOptions {
        snapshot,
        lower_bound: lo.map(key),
        upper_bound: hi.map(key),
    };
    let s = db.scan(&opts).unwrap();
    let items: Vec<_> = if reverse {
        s.rev().collect::<strata::Result<_>>().unwrap()
    } else {
        s.collect::<strata::Result<_>>().unwrap()
    };
    items
}

fn model_scan(m: &Model, lo: Option<u8>, hi: Option<u8>, reverse: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v: Vec<_> = m
        .iter()
        .filter(|(k, _)| lo.is_none_or(|l| **k >= key(l)) && hi.is_none_or(|h| **k < key(h)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if reverse {
        v.reverse();
    }
    v
}

fn run(ops: Vec<Op>) {
    let root = tempfile::tempdir().unwrap();
    let mut generation = 0;
    let mut dir = root.path().join("db0");
    let mut db = Db::open(&dir, options()).unwrap();
    let mut model: Model = BTreeMap::new();
    let mut snapshots: Vec<(Snapshot, Model)> = Vec::new();
    for op in ops {
        match op {
            Op::Put(k, v) => {
                db.put(key(k), &v).unwrap();
                model.insert(key(k), v);
            }
            Op::Delete(k) => {
                db.delete(key(k)).unwrap();
                model.remove(&key(k));
            }
            Op::Batch(items) => {
                let mut b = WriteBatch::new();
                for (k, v) in &items {
                    match v {
                        Some(v) => {
                            b.put(key(*k), v);
                            model.insert(key(*k), v.clone());
                        }
                        None => {
                            b.delete(key(*k));
                            model.remove(&key(*k));
                        }
                    }
                }
                db.write(b, WriteOptions::default()).unwrap();
            }
            Op::Get(k) => assert_eq!(db.get(key(k)).unwrap(), model.get(&key(k)).cloned()),
            Op::Scan { lo, hi, reverse } => {
                assert_eq!(
                    scan(&db, None, lo, hi, reverse),
                    model_scan(&model, lo, hi, reverse)
                );
            }
            Op::TakeSnapshot => {
                if snapshots.len() < 4 {
                    snapshots.push((db.snapshot(), model.clone()));
                }
            }
            Op::CheckSnapshots => {
                for (snap, m) in &snapshots {
                    assert_eq!(
                        scan(&db, Some(snap), None, None, false),
                        model_scan(m, None, None, false)
                    );
                    for k in 0..40 {
                        assert_eq!(db.get_at(key(k), snap).unwrap(), m.get(&key(k)).cloned());
                    }
                }
            }
            Op::Flush => db.flush().unwrap(),
            Op::Reopen => {
                snapshots.clear();
                db.close().unwrap();
                db = Db::open(&dir, options()).unwrap();
            }
            Op::Crash => {
                snapshots.clear();
                generation += 1;
                let copy = root.path().join(format!("db{generation}"));
                crash_copy(&db, &dir, &copy);
                drop(db);
                dir = copy;
                db = Db::open(&dir, options()).unwrap();
            }
        }
    }
    assert_eq!(
        scan(&db, None, None, None, false),
        model_scan(&model, None, None, false)
    );
    db.verify().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn engine_matches_model(ops in prop::collection::vec(op(), 1..250)) {
        run(ops);
    }
}
