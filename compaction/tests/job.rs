//! The compaction job over hand-made inputs: what it keeps, drops, changes and where it cuts.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use strata_compaction::job::{self, JobOptions};
use strata_compaction::{CompactionFilter, Decision};
use strata_sstable::{
    compare_internal, encode_internal_key, parse_internal_key, InternalIterator, Table,
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

/// Runs a job and returns each output table's entries as (key, seq, kind, value).
fn run(items: Vec<(Vec<u8>, Vec<u8>)>, opts: &JobOptions) -> Vec<Vec<(String, u64, u8, String)>> {
    let dir = tempfile::tempdir().unwrap();
    let mut next = 0;
    let mut input = VecIter::new(items);
    let (outputs, _) = job::run(&mut input, opts, || {
        next += 1;
        let b = TableBuilder::create(
            &dir.path().join(format!("{next}.sst")),
            TableOptions::default(),
        )?;
        Ok((next, b))
    })
    .unwrap();
    outputs
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
                    String::from_utf8(it.value().to_vec()).unwrap(),
                ));
                it.next();
            }
            v
        })
        .collect()
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
