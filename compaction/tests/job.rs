//! The compaction job over hand-made inputs: what it keeps, drops, changes and where it cuts.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use std::collections::HashMap;

use strata_compaction::job::{self, BlobStorage, JobOptions};
use strata_compaction::{CompactionFilter, Decision};
use strata_sstable::{
    compare_internal, encode_internal_key, parse_internal_key, BlobRef, InternalIterator, Table,
    TableBuilder, TableOptions, ValueKind,
};

/// A sorted in-memory input.
struct VecIter {
    items: Vec<(Vec<u8>, Vec<u8>)>,
    pos: Option<usize>,
}

impl VecIter {
    fn new(mut items: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        items.sort_by(|a, b| compare_internal(&a.0, &b.0));
        VecIter { items, pos: None }
    }
}

impl InternalIterator for VecIter {
    fn valid(&self) -> bool {
        self.pos.is_some_and(|p| p < self.items.len())
    }
    fn seek_to_first(&mut self) {
        self.pos = Some(0);
    }
    fn seek_to_last(&mut self) {
        self.pos = self.items.len().checked_sub(1);
    }
    fn seek(&mut self, t: &[u8]) {
        self.pos = Some(
            self.items
                .partition_point(|(k, _)| compare_internal(k, t).is_lt()),
        );
    }
    fn seek_for_prev(&mut self, t: &[u8]) {
        self.pos = self
            .items
            .partition_point(|(k, _)| compare_internal(k, t).is_le())
            .checked_sub(1);
    }
    fn next(&mut self) {
        self.pos = self.pos.map(|p| p + 1);
    }
    fn prev(&mut self) {
        self.pos = self.pos.and_then(|p| p.checked_sub(1));
    }
    fn key(&self) -> &[u8] {
        self.pos
            .and_then(|p| self.items.get(p))
            .map_or(&[], |i| &i.0)
    }
    fn value(&self) -> &[u8] {
        self.pos
            .and_then(|p| self.items.get(p))
            .map_or(&[], |i| &i.1)
    }
    fn status(&self) -> strata_sstable::Result<()> {
        Ok(())
    }
}

fn put(k: &str, seq: u64, v: &str) -> (Vec<u8>, Vec<u8>) {
    (
        encode_internal_key(k.as_bytes(), seq, ValueKind::Put as u8),
        v.as_bytes().to_vec(),
    )
}

fn del(k: &str, seq: u64) -> (Vec<u8>, Vec<u8>) {
    (
        encode_internal_key(k.as_bytes(), seq, ValueKind::Delete as u8),
        Vec::new(),
    )
}

/// Each output table's entries as (key, seq, kind, value).
type Tables = Vec<Vec<(String, u64, u8, String)>>;

/// Runs a job and returns its output tables.
fn run(items: Vec<(Vec<u8>, Vec<u8>)>, opts: &JobOptions) -> Tables {
    run_with_stats(items, opts).0
}

/// Runs a job and returns its output tables and its counts.
fn run_with_stats(items: Vec<(Vec<u8>, Vec<u8>)>, opts: &JobOptions) -> (Tables, job::JobStats) {
    let dir = tempfile::tempdir().unwrap();
    let mut next = 0;
    let mut input = VecIter::new(items);
    let (outputs, stats) = job::run(&mut input, opts, || {
        next += 1;
        let b = TableBuilder::create(
            &dir.path().join(format!("{next}.sst")),
            TableOptions::default(),
        )?;
        Ok((next, b))
    })
    .unwrap();
    let tables = outputs
        .iter()
        .map(|o| {
            let t =
                Arc::new(Table::open(&dir.path().join(format!("{}.sst", o.number)), None).unwrap());
            let mut it = t.iter();
            it.seek_to_first();
            let mut v = Vec::new();
            while it.valid() {
                let k = parse_internal_key(it.key()).unwrap();
                v.push((
                    String::from_utf8(k.user_key.to_vec()).unwrap(),
                    k.seq,
                    k.kind,
                    String::from_utf8_lossy(it.value()).into_owned(),
                ));
                it.next();
            }
            v
        })
        .collect();
    (tables, stats)
}

fn opts() -> JobOptions {
    JobOptions {
        target_file_size: 1 << 30,
        ..JobOptions::default()
    }
}

#[test]
fn keeps_only_the_newest_version_without_snapshots() {
    let out = run(
        vec![put("a", 1, "a1"), put("a", 5, "a5"), put("b", 2, "b2")],
        &opts(),
    );
    assert_eq!(
        out,
        vec![vec![
            ("a".into(), 5, 1, "a5".into()),
            ("b".into(), 2, 1, "b2".into())
        ]]
    );
}

#[test]
fn keeps_the_newest_version_each_snapshot_sees() {
    let o = JobOptions {
        snapshots: vec![2, 4],
        ..opts()
    };
    // Stripes: (..2] (2..4] (4..): a1, a2 | a3, a4 | a5, a6
    let items = (1..=6).map(|s| put("a", s, &format!("a{s}"))).collect();
    let out = run(items, &o);
    let seqs: Vec<u64> = out[0].iter().map(|e| e.1).collect();
    assert_eq!(seqs, vec![6, 4, 2]);
}

#[test]
fn tombstones_drop_at_the_bottom_only_when_no_snapshot_needs_what_they_hide() {
    let items = vec![put("a", 1, "old"), del("a", 3), put("b", 2, "b")];
    // Not bottommost: the tombstone stays (older versions may exist below), old value goes.
    let out = run(items.clone(), &opts());
    assert_eq!(out[0][0], ("a".into(), 3, 0, String::new()));
    assert_eq!(out[0].len(), 2);
    // Bottommost, no snapshot: tombstone and everything under it vanish.
    let bottom = JobOptions {
        bottommost: true,
        ..opts()
    };
    let out = run(items.clone(), &bottom);
    assert_eq!(out, vec![vec![("b".into(), 2, 1, "b".into())]]);
    // Bottommost, but a snapshot at 2 still reads a=old: both stay.
    let snap = JobOptions {
        bottommost: true,
        snapshots: vec![2],
        ..opts()
    };
    let out = run(items, &snap);
    let a: Vec<_> = out[0]
        .iter()
        .filter(|e| e.0 == "a")
        .map(|e| (e.1, e.2))
        .collect();
    assert_eq!(a, vec![(3, 0), (1, 1)]);
}

#[test]
fn sequence_numbers_are_zeroed_at_the_bottom_below_l0_when_every_reader_sees_the_version() {
    let expiring = (
        encode_internal_key(b"e", 6, ValueKind::PutExpiring as u8),
        strata_sstable::encode_expiring(u64::MAX, b"ttl"),
    );
    let items = vec![
        put("a", 1, "old"),
        put("a", 5, "new"),
        put("b", 2, "b"),
        put("d", 4, "d"),
        expiring,
    ];
    // A snapshot at 3: a@5 and d@4 are newer than it (kept as they are), a@1 and b@2 are
    // what every reader sees of them at the bottom (zeroed).
    let bottom_l6 = JobOptions {
        bottommost: true,
        output_level: 6,
        snapshots: vec![3],
        ..opts()
    };
    let out = run(items.clone(), &bottom_l6);
    assert_eq!(
        out,
        vec![vec![
            ("a".into(), 5, 1, "new".into()),
            ("a".into(), 0, 1, "old".into()),
            ("b".into(), 0, 1, "b".into()),
            ("d".into(), 4, 1, "d".into()),
            ("e".into(), 6, 2, format!("{}ttl", "\u{fffd}".repeat(8))),
        ]]
    );
    // No snapshot: every kept version is zeroed, an expiring one keeps its kind and expiry.
    let no_snapshot = JobOptions {
        snapshots: Vec::new(),
        ..bottom_l6.clone()
    };
    let (outputs, stats) = run_with_stats(items.clone(), &no_snapshot);
    let seqs: Vec<(String, u64, u8)> = outputs[0].iter().map(|e| (e.0.clone(), e.1, e.2)).collect();
    assert_eq!(
        seqs,
        vec![
            ("a".into(), 0, 1),
            ("b".into(), 0, 1),
            ("d".into(), 0, 1),
            ("e".into(), 0, 2)
        ]
    );
    assert_eq!(stats.zeroed_seqnos, 4);
    // Not at the bottom (older versions may lie below), or into L0 (ordered by sequence
    // numbers): nothing is zeroed.
    for o in [
        JobOptions {
            bottommost: false,
            ..no_snapshot.clone()
        },
        JobOptions {
            output_level: 0,
            ..no_snapshot.clone()
        },
    ] {
        let (outputs, stats) = run_with_stats(items.clone(), &o);
        assert!(outputs[0].iter().all(|e| e.1 != 0), "{outputs:?}");
        assert_eq!(stats.zeroed_seqnos, 0);
    }
}

#[derive(Debug)]
struct DropTmp;

impl CompactionFilter for DropTmp {
    fn filter(&self, _level: usize, key: &[u8], value: &[u8]) -> Decision {
        if key.starts_with(b"tmp") {
            Decision::Remove
        } else if value == b"upper" {
            Decision::Change(b"UPPER".to_vec())
        } else {
            Decision::Keep
        }
    }
}

#[test]
fn the_filter_removes_and_changes_but_never_what_a_snapshot_sees() {
    let items = vec![
        put("keep", 1, "upper"),
        put("tmp1", 2, "x"),
        put("tmp2", 5, "y"),
    ];
    let o = JobOptions {
        filter: Some(Arc::new(DropTmp)),
        snapshots: vec![3],
        ..opts()
    };
    let out = run(items, &o);
    // keep@1 and tmp1@2 are visible to the snapshot at 3: untouched. tmp2@5 is not: removed,
    // as a tombstone since the output is not bottommost.
    assert_eq!(
        out[0],
        vec![
            ("keep".into(), 1, 1, "upper".into()),
            ("tmp1".into(), 2, 1, "x".into()),
            ("tmp2".into(), 5, 0, String::new()),
        ]
    );
    let o = JobOptions {
        filter: Some(Arc::new(DropTmp)),
        bottommost: true,
        ..opts()
    };
    let out = run(vec![put("keep", 1, "upper"), put("tmp1", 2, "x")], &o);
    assert_eq!(out, vec![vec![("keep".into(), 1, 1, "UPPER".into())]]);
}

#[test]
fn outputs_are_cut_by_size_and_never_split_a_user_key() {
    let mut items = Vec::new();
    for k in 0..200 {
        for s in 0..3 {
            items.push(put(
                &format!("k{k:04}"),
                (k * 3 + s + 1) as u64,
                &"v".repeat(100),
            ));
        }
    }
    let o = JobOptions {
        target_file_size: 4096,
        snapshots: (1..=600).collect(), // keep every version
        ..JobOptions::default()
    };
    let out = run(items, &o);
    assert!(out.len() > 5, "expected several outputs, got {}", out.len());
    let total: usize = out.iter().map(Vec::len).sum();
    assert_eq!(total, 600);
    for pair in out.windows(2) {
        let last = &pair[0].last().unwrap().0;
        let first = &pair[1].first().unwrap().0;
        assert!(last < first, "user key {last} split across outputs");
    }
}

/// One in-memory blob file's (key, value) records.
type MemBlobFile = Vec<(Vec<u8>, Vec<u8>)>;

/// Blob files in memory, by number.
#[derive(Default)]
struct MemBlobs {
    files: HashMap<u64, MemBlobFile>,
    writing: u64,
    empty: Vec<u64>,
    reads: std::cell::Cell<u64>,
}

impl BlobStorage for MemBlobs {
    fn write(&mut self, key: &[u8], value: &[u8]) -> strata_sstable::Result<BlobRef> {
        let f = self.files.entry(self.writing).or_default();
        f.push((key.to_vec(), value.to_vec()));
        Ok(BlobRef::new(self.writing, f.len() as u64 - 1, value))
    }
    fn read(&self, key: &[u8], r: &BlobRef) -> strata_sstable::Result<Vec<u8>> {
        self.reads.set(self.reads.get() + 1);
        let (k, v) = &self.files[&r.file][r.offset as usize];
        assert_eq!(k, key);
        Ok(v.clone())
    }
    fn relocate(&self, file: u64) -> bool {
        self.empty.contains(&file)
    }
}

/// Runs a job with `blobs`; each output's entries with blob references resolved (kind kept),
/// and the blob files each output recorded.
fn run_blobs(
    items: Vec<(Vec<u8>, Vec<u8>)>,
    opts: &JobOptions,
    blobs: &mut MemBlobs,
) -> (Tables, Vec<Vec<u64>>, job::JobStats) {
    let dir = tempfile::tempdir().unwrap();
    let mut next = 0;
    let mut input = VecIter::new(items);
    let (outputs, stats) = job::run_with_blobs(
        &mut input,
        opts,
        || {
            next += 1;
            let b = TableBuilder::create(
                &dir.path().join(format!("{next}.sst")),
                TableOptions::default(),
            )?;
            Ok((next, b))
        },
        Some(blobs),
    )
    .unwrap();
    let mut tables = Vec::new();
    let mut refs = Vec::new();
    for o in &outputs {
        refs.push(o.summary.properties.blob_files.clone());
        let t = Arc::new(Table::open(&dir.path().join(format!("{}.sst", o.number)), None).unwrap());
        let mut it = t.iter();
        it.seek_to_first();
        let mut v = Vec::new();
        while it.valid() {
            let k = parse_internal_key(it.key()).unwrap();
            let mut stored = it.value().to_vec();
            if ValueKind::is_blob(k.kind) {
                let (expiry, body) = if ValueKind::has_expiry(k.kind) {
                    let (e, b) = strata_sstable::split_expiring(&stored).unwrap();
                    (Some(e), b.to_vec())
                } else {
                    (None, stored.clone())
                };
                let r = BlobRef::decode(&body).unwrap();
                let value = blobs.read(k.user_key, &r).unwrap();
                stored = match expiry {
                    Some(e) => strata_sstable::encode_expiring(e, &value),
                    None => value,
                };
            }
            v.push((
                String::from_utf8(k.user_key.to_vec()).unwrap(),
                k.seq,
                k.kind,
                String::from_utf8_lossy(&stored).into_owned(),
            ));
            it.next();
        }
        tables.push(v);
    }
    (tables, refs, stats)
}

#[test]
fn large_values_go_to_blob_files_and_references_pass_through() {
    let big = "x".repeat(100);
    let expiring = strata_sstable::encode_expiring(u64::MAX, big.as_bytes());
    let items = vec![
        put("a", 1, "small"),
        put("b", 2, &big),
        (
            encode_internal_key(b"c", 3, ValueKind::PutExpiring as u8),
            expiring.clone(),
        ),
    ];
    let o = JobOptions {
        min_blob_size: 100,
        ..opts()
    };
    let mut blobs = MemBlobs {
        writing: 9,
        ..MemBlobs::default()
    };
    let (out, refs, stats) = run_blobs(items, &o, &mut blobs);
    let expiring = String::from_utf8_lossy(&expiring).into_owned();
    assert_eq!(
        out,
        vec![vec![
            ("a".into(), 1, ValueKind::Put as u8, "small".into()),
            ("b".into(), 2, ValueKind::Blob as u8, big.clone()),
            (
                "c".into(),
                3,
                ValueKind::BlobExpiring as u8,
                expiring.clone()
            ),
        ]]
    );
    assert_eq!(refs, vec![vec![9]]);
    assert_eq!((stats.blobs_written, stats.blob_bytes_written), (2, 200));

    // A second job over the first one's output: references stay as they are (no value is
    // read or written) unless their file is being emptied.
    let b_ref = BlobRef::new(9, 0, big.as_bytes());
    let c_ref = BlobRef::new(9, 1, big.as_bytes());
    let again = vec![
        (
            encode_internal_key(b"b", 2, ValueKind::Blob as u8),
            b_ref.encode(),
        ),
        (
            encode_internal_key(b"c", 3, ValueKind::BlobExpiring as u8),
            strata_sstable::encode_expiring(u64::MAX, &c_ref.encode()),
        ),
    ];
    blobs.writing = 10;
    blobs.reads.set(0);
    let (out2, refs, stats) = run_blobs(again.clone(), &o, &mut blobs);
    assert_eq!(out2[0], out[0][1..]);
    assert_eq!(refs, vec![vec![9]]);
    assert_eq!(stats.blobs_written, 0);
    assert_eq!(blobs.reads.get(), 2, "only the test's own reads");

    blobs.empty = vec![9];
    let (out3, refs, stats) = run_blobs(again.clone(), &o, &mut blobs);
    assert_eq!(out3[0], out[0][1..]);
    assert_eq!(refs, vec![vec![10]], "moved out of file 9");
    assert_eq!((stats.blobs_written, stats.blobs_relocated), (2, 2));

    // Expired: a tombstone, and the blob is not read.
    let o = JobOptions {
        now_ms: u64::MAX,
        ..o
    };
    blobs.empty.clear();
    blobs.reads.set(0);
    let (out4, refs, _) = run_blobs(again, &o, &mut blobs);
    assert_eq!(
        out4[0][1],
        ("c".into(), 3, ValueKind::Delete as u8, String::new())
    );
    assert_eq!(refs, vec![vec![9]]);
    assert_eq!(blobs.reads.get(), 1, "only b, read by the test");
}

#[derive(Debug)]
struct ByKey;

impl CompactionFilter for ByKey {
    fn filter(&self, _level: usize, _key: &[u8], _value: &[u8]) -> Decision {
        panic!("a filter deciding by key is never shown the value")
    }
    fn filter_by_key(&self, _level: usize, key: &[u8]) -> Option<Decision> {
        Some(if key == b"drop" {
            Decision::Remove
        } else {
            Decision::Keep
        })
    }
}

#[test]
fn a_filter_deciding_by_key_never_reads_a_blob_and_a_changed_value_is_separated_again() {
    let r = BlobRef::new(4, 0, b"old");
    let mut blobs = MemBlobs::default();
    blobs
        .files
        .insert(4, vec![(b"drop".to_vec(), b"old".to_vec())]);
    let items = vec![(
        encode_internal_key(b"drop", 5, ValueKind::Blob as u8),
        r.encode(),
    )];
    let o = JobOptions {
        min_blob_size: 3,
        filter: Some(Arc::new(ByKey)),
        ..opts()
    };
    let (out, refs, _) = run_blobs(items.clone(), &o, &mut blobs);
    assert_eq!(out, vec![vec![("drop".into(), 5, 0, String::new())]]);
    assert_eq!(refs, vec![Vec::<u64>::new()]);
    assert_eq!(blobs.reads.get(), 0);

    // A value filter sees the blob's value; its new value is stored again by size.
    let o = JobOptions {
        filter: Some(Arc::new(DropTmp)),
        ..o
    };
    blobs
        .files
        .insert(4, vec![(b"drop".to_vec(), b"upper".to_vec())]);
    let r = BlobRef::new(4, 0, b"upper");
    let items = vec![(
        encode_internal_key(b"drop", 5, ValueKind::Blob as u8),
        r.encode(),
    )];
    blobs.writing = 6;
    let (out, refs, _) = run_blobs(items, &o, &mut blobs);
    assert_eq!(
        out,
        vec![vec![(
            "drop".into(),
            5,
            ValueKind::Blob as u8,
            "UPPER".into()
        )]]
    );
    assert_eq!(refs, vec![vec![6]]);
}
