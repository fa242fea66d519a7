//! Block builder and iterator tests against a sorted `Vec` model.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::iter::InternalIterator;
use crate::key::{compare_internal, encode_internal_key};

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn loc() -> Location {
    Location::new(Arc::from(Path::new("test.sst")), 0)
}

fn build(entries: &Entries, interval: usize) -> Vec<u8> {
    let mut b = BlockBuilder::new(interval);
    for (k, v) in entries {
        b.add(k, v);
    }
    b.finish()
}

fn iter(entries: &Entries, interval: usize) -> BlockIter {
    let block = Block::new(build(entries, interval)).unwrap();
    BlockIter::new(Arc::new(block), loc())
}

fn sorted(mut keys: Vec<Vec<u8>>) -> Entries {
    keys.sort_by(|a, b| compare_internal(a, b));
    keys.dedup();
    keys.into_iter()
        .enumerate()
        .map(|(i, k)| (k, format!("v{i}").into_bytes()))
        .collect()
}

fn numbered(n: usize) -> Entries {
    sorted(
        (0..n)
            .map(|i| encode_internal_key(format!("key{i:05}").as_bytes(), 7, 1))
            .collect(),
    )
}

fn collect_forward(it: &mut BlockIter) -> Entries {
    let mut out = Vec::new();
    it.seek_to_first();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    it.status().unwrap();
    out
}

fn collect_backward(it: &mut BlockIter) -> Entries {
    let mut out = Vec::new();
    it.seek_to_last();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.prev();
    }
    it.status().unwrap();
    out.reverse();
    out
}

/// Checks every positioning method of a block built from `entries` against the model.
fn check_against_model(entries: &Entries, interval: usize, extra_targets: &[Vec<u8>]) {
    let mut it = iter(entries, interval);
    assert_eq!(&collect_forward(&mut it), entries);
    assert_eq!(&collect_backward(&mut it), entries);

    let mut targets: Vec<Vec<u8>> = entries.iter().map(|(k, _)| k.clone()).collect();
    targets.extend_from_slice(extra_targets);
    for target in &targets {
        let ge = entries
            .iter()
            .position(|(k, _)| compare_internal(k, target) != Ordering::Less);
        it.seek(target);
        match ge {
            Some(i) => {
                assert!(it.valid());
                assert_eq!(it.key(), &entries[i].0[..]);
                assert_eq!(it.value(), &entries[i].1[..]);
            }
            None => assert!(!it.valid()),
        }
        let le = entries
            .iter()
            .rposition(|(k, _)| compare_internal(k, target) != Ordering::Greater);
        it.seek_for_prev(target);
        match le {
            Some(i) => {
                assert!(it.valid());
                assert_eq!(it.key(), &entries[i].0[..]);
            }
            None => assert!(!it.valid()),
        }
    }
    // prev and next from every position.
    for i in 0..entries.len() {
        it.seek(&entries[i].0);
        it.prev();
        if i == 0 {
            assert!(!it.valid());
        } else {
            assert_eq!(it.key(), &entries[i - 1].0[..]);
        }
        it.seek(&entries[i].0);
        it.next();
        match entries.get(i + 1) {
            Some((k, _)) => assert_eq!(it.key(), &k[..]),
            None => assert!(!it.valid()),
        }
    }
    it.status().unwrap();
}

#[test]
fn restart_intervals_and_counts() {
    for interval in [1, 2, 3, 16] {
        for n in [0, 1, 2, 15, 16, 17, 32, 33, 100] {
            check_against_model(&numbered(n), interval, &[b"".to_vec(), vec![0xFF; 20]]);
        }
    }
}

#[test]
fn restart_array_layout() {
    let data = build(&numbered(33), 16);
    let block = Block::new(data).unwrap();
    assert_eq!(block.num_restarts(), 3);
    assert_eq!(block.restart_point(0), 0);
    assert!(block.restart_point(1) > 0);
    let empty = Block::new(build(&Vec::new(), 16)).unwrap();
    assert_eq!(empty.data(), &[0, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(empty.num_restarts(), 1);
}

#[test]
fn prefix_compression_edges() {
    let keys = vec![
        encode_internal_key(b"", 9, 1),
        encode_internal_key(b"", 3, 0),
        encode_internal_key(b"a", 5, 1),
        encode_internal_key(b"a", 4, 1),
        encode_internal_key(b"ab", 1, 1),
        encode_internal_key(b"abc", 1, 1),
        encode_internal_key(b"abcabc", 1, 1),
        encode_internal_key(b"b", 1, 1),
        encode_internal_key(&[b'x'; 65536], 2, 1),
        encode_internal_key(&[b'x'; 65537], 2, 1),
        encode_internal_key(&[b'y'; 65536], 2, 1),
    ];
    let entries = sorted(keys);
    assert_eq!(entries.len(), 11);
    for interval in [1, 2, 16] {
        check_against_model(
            &entries,
            interval,
            &[
                encode_internal_key(b"a", 100, 0xFF),
                encode_internal_key(b"a", 0, 0),
                encode_internal_key(b"abca", 0, 0),
            ],
        );
    }
    // Empty values and a large value.
    let entries = vec![
        (encode_internal_key(b"k1", 1, 1), Vec::new()),
        (encode_internal_key(b"k2", 1, 1), vec![7u8; 1 << 20]),
        (encode_internal_key(b"k3", 1, 1), Vec::new()),
    ];
    check_against_model(&entries, 16, &[]);
}

#[test]
fn unpositioned_iterator_is_harmless() {
    let mut it = iter(&numbered(3), 16);
    assert!(!it.valid());
    it.next();
    it.prev();
    assert_eq!(it.key(), b"");
    assert_eq!(it.value(), b"");
    it.seek_to_first();
    it.prev();
    assert!(!it.valid());
    it.prev();
    it.next();
    assert!(!it.valid());
    it.status().unwrap();
}

#[test]
fn malformed_restart_arrays_rejected() {
    assert!(Block::new(Vec::new()).is_err());
    assert!(Block::new(vec![0, 0, 0]).is_err());
    assert!(Block::new(vec![0, 0, 0, 0]).is_err()); // zero restarts
    assert!(Block::new(vec![0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    let mut data = build(&numbered(40), 16);
    let n = data.len();
    // Second restart pointing back to 0.
    let second = n - 4 - 3 * 4 + 4;
    data[second..second + 4].copy_from_slice(&0u32.to_le_bytes());
    assert!(Block::new(data).is_err());
}

/// Every operation on an iterator over `data`, which may be garbage.
fn exercise(data: Vec<u8>, targets: &[Vec<u8>]) {
    let Ok(block) = Block::new(data) else { return };
    let block = Arc::new(block);
    let mut it = BlockIter::new(Arc::clone(&block), loc());
    it.seek_to_first();
    let mut steps = 0;
    while it.valid() && steps < 10_000 {
        let _ = (it.key(), it.value());
        it.next();
        steps += 1;
    }
    let mut it = BlockIter::new(Arc::clone(&block), loc());
    it.seek_to_last();
    let mut steps = 0;
    while it.valid() && steps < 10_000 {
        it.prev();
        steps += 1;
    }
    for t in targets {
        let mut it = BlockIter::new(Arc::clone(&block), loc());
        it.seek(t);
        it.prev();
        it.seek_for_prev(t);
        it.next();
        let _ = it.status();
    }
}

#[test]
fn every_single_byte_flip_is_harmless() {
    let good = build(&numbered(20), 4);
    let targets = vec![encode_internal_key(b"key00010", 7, 1), Vec::new()];
    for i in 0..good.len() {
        for v in [0u8, 1, 0x7F, 0x80, 0xFF] {
            let mut bad = good.clone();
            bad[i] = v;
            exercise(bad, &targets);
        }
    }
}

#[test]
fn corrupt_entry_is_reported_with_location() {
    let mut data = build(&numbered(3), 16);
    data[0] = 5; // shared = 5 at a restart point
    let mut it = BlockIter::new(Arc::new(Block::new(data).unwrap()), loc());
    it.seek_to_first();
    assert!(!it.valid());
    let err = it.status().unwrap_err().to_string();
    assert!(
        err.starts_with("corruption in test.sst at offset 0:"),
        "{err}"
    );
    // Sticky.
    it.seek_to_first();
    assert!(!it.valid());
    assert!(it.status().is_err());
}

fn internal_key_strategy() -> impl Strategy<Value = Vec<u8>> {
    (proptest::collection::vec(0u8..3, 0..5), 0u64..5, 0u8..2)
        .prop_map(|(u, s, k)| encode_internal_key(&u, s, k))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn matches_sorted_vec_model(
        keys in proptest::collection::vec(internal_key_strategy(), 0..60),
        targets in proptest::collection::vec(internal_key_strategy(), 0..10),
        interval in 1usize..20,
    ) {
        check_against_model(&sorted(keys), interval, &targets);
    }

    #[test]
    fn garbage_blocks_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..200),
        tail in proptest::collection::vec(any::<u8>(), 0..4),
    ) {
        let mut with_restart = data.clone();
        with_restart.extend_from_slice(&tail);
        with_restart.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
        exercise(data, &[Vec::new(), vec![1; 9]]);
        exercise(with_restart, &[Vec::new(), vec![1; 9]]);
    }
}
