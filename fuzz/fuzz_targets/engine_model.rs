//! Random operations against the engine and a `BTreeMap` model, with flushes and reopens: every
//! read must agree.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use strata::{Db, Options, SyncMode, WriteBatch, WriteOptions};

#[derive(Arbitrary, Debug)]
enum Op {
    Put(u8, Vec<u8>),
    Delete(u8),
    Batch(Vec<(u8, Option<Vec<u8>>)>),
    Get(u8),
    Scan(Option<u8>, Option<u8>, bool),
    Flush,
    Reopen,
}

fn key(k: u8) -> Vec<u8> {
    vec![b'k', k % 64]
}

fn options() -> Options {
    let mut o = Options::default();
    o.memtable_size = 4096;
    o.block_size = 128;
    o.sync_mode = SyncMode::Never;
    o
}

fuzz_target!(|ops: Vec<Op>| {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = Db::open(dir.path(), options()).expect("open");
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for op in ops.into_iter().take(500) {
        match op {
            Op::Put(k, v) => {
                db.put(key(k), &v).expect("put");
                model.insert(key(k), v);
            }
            Op::Delete(k) => {
                db.delete(key(k)).expect("delete");
                model.remove(&key(k));
            }
            Op::Batch(items) => {
                let mut b = WriteBatch::new();
                for (k, v) in items {
                    match v {
                        Some(v) => {
                            b.put(key(k), &v);
                            model.insert(key(k), v);
                        }
                        None => {
                            b.delete(key(k));
                            model.remove(&key(k));
                        }
                    }
                }
                db.write(b, WriteOptions::default()).expect("write");
            }
            Op::Get(k) => assert_eq!(db.get(key(k)).expect("get"), model.get(&key(k)).cloned()),
            Op::Scan(lo, hi, rev) => {
                let (lo, hi) = (lo.map(key), hi.map(key));
                let s = db.range(lo.as_deref(), hi.as_deref()).expect("range");
                let got: Vec<_> = if rev {
                    s.rev().collect::<strata::Result<_>>().expect("scan")
                } else {
                    s.collect::<strata::Result<_>>().expect("scan")
                };
                let mut want: Vec<_> = model
                    .iter()
                    .filter(|(k, _)| {
                        lo.as_ref().is_none_or(|l| *k >= l) && hi.as_ref().is_none_or(|h| *k < h)
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if rev {
                    want.reverse();
                }
                assert_eq!(got, want);
            }
            Op::Flush => db.flush().expect("flush"),
            Op::Reopen => {
                db.close().expect("close");
                db = Db::open(dir.path(), options()).expect("reopen");
            }
        }
    }
});
