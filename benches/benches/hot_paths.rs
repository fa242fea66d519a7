//! Criterion micro-benchmarks of the hot paths: `cargo bench -p strata-bench --bench hot_paths`.
//!
//! Each benchmark names what it measures; the numbers are in `docs/benchmarks.md`.

#![allow(clippy::unwrap_used, missing_debug_implementations)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use strata::{Db, Options, SyncMode, WriteBatch, WriteOptions};
use strata_compaction::{BoxedIter, MergingIter};
use strata_server::resp::{Limits, Parser};
use strata_sstable::{
    encode_internal_key, BlockCache, InternalIterator, Table, TableBuilder, TableOptions,
    ValueKind, MAX_SEQNO,
};

const KEYS: u64 = 200_000;
const VALUE: [u8; 100] = [7u8; 100];

fn key(i: u64) -> Vec<u8> {
    format!("{i:016}").into_bytes()
}

/// A table of `KEYS` keys (every `step`-th key from `first`), 100-byte values, default
/// options (4 KiB blocks, 10 bloom bits per key).
fn table(dir: &std::path::Path, name: &str, first: u64, step: u64) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut b = TableBuilder::create(&path, TableOptions::default()).unwrap();
    for i in 0..KEYS {
        let ikey = encode_internal_key(&key(first + i * step), 1, ValueKind::Put as u8);
        b.add(&ikey, &VALUE).unwrap();
    }
    b.finish().unwrap();
    path
}

/// The write path short of the WAL's `write(2)`: batch encoding, sequence numbers, the
/// memtable insert (a skiplist insert and a key filter update) and the WAL buffer copy.
fn memtable_insert(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::default();
    o.sync_mode = SyncMode::Never;
    o.manual_wal_flush = true;
    o.memtable_size = 4 << 30; // no flush during the measurement
    let db = Db::open(dir.path(), o).unwrap();
    let mut rng = SmallRng::seed_from_u64(1);
    let mut g = c.benchmark_group("write");
    g.throughput(Throughput::Elements(1));
    g.bench_function("memtable_insert (db put, buffered WAL)", |b| {
        b.iter(|| {
            let mut batch = WriteBatch::new();
            batch.put(key(rng.random_range(0..u64::MAX >> 12)), VALUE);
            db.write(batch, WriteOptions::default()).unwrap();
        })
    });
    g.finish();
}

/// One group commit's WAL work: eight 116-byte records appended and written in one
/// `write(2)`, not fsynced.
fn wal_append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut w =
        strata_wal::Writer::create(&dir.path().join("000001.log"), 1, SyncMode::Never).unwrap();
    let records: Vec<Vec<u8>> = (0..8).map(|i| [key(i), VALUE.to_vec()].concat()).collect();
    let mut g = c.benchmark_group("wal");
    g.throughput(Throughput::Elements(8));
    g.bench_function("append_batch of 8 records", |b| {
        b.iter(|| w.append_batch(black_box(&records), false).unwrap())
    });
    g.finish();
}

/// Point lookups in one table of 200,000 entries whose blocks are all cached.
fn table_reads(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = table(dir.path(), "t.sst", 0, 2);
    let cache = Arc::new(BlockCache::new(256 << 20));
    let t = Arc::new(Table::open(&path, Some(cache)).unwrap());
    for i in 0..KEYS {
        t.get(&key(2 * i), MAX_SEQNO).unwrap();
    }
    let mut rng = SmallRng::seed_from_u64(2);
    let mut g = c.benchmark_group("table");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bloom_probe (absent key)", |b| {
        b.iter(|| {
            let k = key(2 * rng.random_range(0..KEYS) + 1);
            black_box(t.may_contain(&k).unwrap())
        })
    });
    g.bench_function("get (present key, cached block)", |b| {
        b.iter(|| {
            let k = key(2 * rng.random_range(0..KEYS));
            black_box(t.get(&k, MAX_SEQNO).unwrap())
        })
    });
    g.bench_function("block_seek (index + data block seek)", |b| {
        let mut it = t.iter();
        b.iter(|| {
            let k = key(2 * rng.random_range(0..KEYS));
            it.seek(&encode_internal_key(&k, MAX_SEQNO, 255));
            black_box(it.valid())
        })
    });
    g.finish();
}

/// `next` on a merging iterator over four interleaved tables (800,000 entries).
fn merging_next(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(BlockCache::new(256 << 20));
    let tables: Vec<Arc<Table>> = (0..4)
        .map(|t| {
            let path = table(dir.path(), &format!("{t}.sst"), t, 4);
            Arc::new(Table::open(&path, Some(Arc::clone(&cache))).unwrap())
        })
        .collect();
    let merged = || {
        let children: Vec<BoxedIter> = tables
            .iter()
            .map(|t| Box::new(t.iter()) as BoxedIter)
            .collect();
        let mut m = MergingIter::new(children);
        m.seek_to_first();
        m
    };
    let mut g = c.benchmark_group("iterator");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("merging next x1000 (4 tables)", |b| {
        b.iter_batched_ref(
            merged,
            |m| {
                for _ in 0..1000 {
                    m.next();
                }
                black_box(m.valid())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// Parsing a pipeline of 16 `SET key:NNNNNNNNNNNN <100 bytes>` requests.
fn resp_parse(c: &mut Criterion) {
    let mut buf = Vec::new();
    for i in 0..16 {
        let k = format!("key:{i:012}");
        buf.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n$100\r\n", k.len()).as_bytes(),
        );
        buf.extend_from_slice(&VALUE);
        buf.extend_from_slice(b"\r\n");
    }
    let mut parser = Parser::new(Limits::default());
    let mut g = c.benchmark_group("resp");
    g.throughput(Throughput::Elements(16));
    g.bench_function("parse 16 pipelined SETs", |b| {
        b.iter(|| {
            let mut at = 0;
            while let Some((args, used)) = parser.parse(&buf[at..]).unwrap() {
                black_box(args);
                at += used;
            }
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    memtable_insert,
    wal_append,
    table_reads,
    merging_next,
    resp_parse
);
criterion_main!(benches);
