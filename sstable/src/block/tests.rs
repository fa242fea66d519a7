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

/// Both key encodings: every test runs over each.
const ENCODINGS: [KeyEncoding; 2] = [KeyEncoding::Whole, KeyEncoding::SplitTrailer];

fn build(entries: &Entries, interval: usize, enc: KeyEncoding) -> Vec<u8> {
    let mut b = BlockBuilder::with_encoding(interval, enc);
    for (k, v) in entries {
        b.add(k, v);
    }
    b.finish()
}

fn iter(entries: &Entries, interval: usize, enc: KeyEncoding) -> BlockIter {
    let block = Block::with_encoding(build(entries, interval, enc), enc).unwrap();
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
fn check_against_model(
    entries: &Entries,
    interval: usize,
    enc: KeyEncoding,
    extra_targets: &[Vec<u8>],
) {
    let mut it = iter(entries, interval, enc);
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
    for enc in ENCODINGS {
        for interval in [1, 2, 3, 16] {
            for n in [0, 1, 2, 15, 16, 17, 32, 33, 100] {
                let extra = [b"".to_vec(), vec![0xFF; 20]];
                check_against_model(&numbered(n), interval, enc, &extra);
            }
        }
    }
}

#[test]
fn restart_array_layout() {
    let data = build(&numbered(33), 16, KeyEncoding::Whole);
    let block = Block::new(data).unwrap();
    assert_eq!(block.num_restarts(), 3);
    assert_eq!(block.restart_point(0), 0);
    assert!(block.restart_point(1) > 0);
    let empty = Block::new(build(&Vec::new(), 16, KeyEncoding::SplitTrailer)).unwrap();
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
    for (interval, enc) in [1, 2, 16]
        .into_iter()
        .flat_map(|i| ENCODINGS.map(|e| (i, e)))
    {
        check_against_model(
            &entries,
            interval,
            enc,
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
    for enc in ENCODINGS {
        check_against_model(&entries, 16, enc, &[]);
    }
}

#[test]
fn split_trailers_take_one_byte_at_sequence_zero() {
    // Zeroed sequence numbers (what compaction writes at the bottom): the trailer is the
    // kind alone, one varint byte instead of eight.
    let entries: Entries = (0..40)
        .map(|i| {
            let key = encode_internal_key(format!("key{i:05}").as_bytes(), 0, 1);
            (key, b"v".to_vec())
        })
        .collect();
    let whole = build(&entries, 16, KeyEncoding::Whole);
    let split = build(&entries, 16, KeyEncoding::SplitTrailer);
    assert_eq!(whole.len() - split.len(), 7 * entries.len());
    check_against_model(&entries, 16, KeyEncoding::SplitTrailer, &[]);
    // A large sequence number takes at most the varint's 10 bytes and reads back whole.
    let big = vec![
        (
            encode_internal_key(b"a", crate::key::MAX_SEQNO, 2),
            b"x".to_vec(),
        ),
        (encode_internal_key(b"a", 0, 1), b"y".to_vec()),
    ];
    check_against_model(&big, 1, KeyEncoding::SplitTrailer, &[]);
}

#[test]
fn split_trailer_entry_sharing_past_the_user_key_is_corrupt() {
    // Two entries, "a" and "ab": the second shares one byte of the first's user key. The
    // previous *internal* key has 9 bytes, but a split entry may share only from the 1-byte
    // user key.
    let entries = vec![
        (encode_internal_key(b"a", 1, 1), Vec::new()),
        (encode_internal_key(b"ab", 1, 1), Vec::new()),
    ];
    let mut data = build(&entries, 16, KeyEncoding::SplitTrailer);
    // First entry: shared 0, unshared 1, value 0, trailer 257 (2 bytes), "a".
    assert_eq!(&data[..6], &[0, 1, 0, 0x81, 0x02, b'a']);
    assert_eq!(data[6], 1);
    data[6] = 2;
    let block = Block::with_encoding(data, KeyEncoding::SplitTrailer).unwrap();
    let mut it = BlockIter::new(Arc::new(block), loc());
    it.seek_to_first();
    assert!(it.valid());
    it.next();
    assert!(!it.valid());
    let err = it.status().unwrap_err().to_string();
    assert!(err.contains("shares more bytes"), "{err}");
}

#[test]
fn unpositioned_iterator_is_harmless() {
    let mut it = iter(&numbered(3), 16, KeyEncoding::SplitTrailer);
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
    let mut data = build(&numbered(40), 16, KeyEncoding::Whole);
    let n = data.len();
    // Second restart pointing back to 0.
    let second = n - 4 - 3 * 4 + 4;
    data[second..second + 4].copy_from_slice(&0u32.to_le_bytes());
    assert!(Block::new(data).is_err());
}

/// Every operation on an iterator over `data`, which may be garbage.
fn exercise(data: Vec<u8>, enc: KeyEncoding, targets: &[Vec<u8>]) {
    let Ok(block) = Block::with_encoding(data, enc) else {
        return;
    };
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
    for enc in ENCODINGS {
        let good = build(&numbered(20), 4, enc);
        let targets = vec![encode_internal_key(b"key00010", 7, 1), Vec::new()];
        for i in 0..good.len() {
            for v in [0u8, 1, 0x7F, 0x80, 0xFF] {
                let mut bad = good.clone();
                bad[i] = v;
                exercise(bad, enc, &targets);
            }
        }
    }
}

#[test]
fn corrupt_entry_is_reported_with_location() {
    let mut data = build(&numbered(3), 16, KeyEncoding::Whole);
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
        split in any::<bool>(),
    ) {
        let enc = if split { KeyEncoding::SplitTrailer } else { KeyEncoding::Whole };
        check_against_model(&sorted(keys), interval, enc, &targets);
    }

    #[test]
    fn garbage_blocks_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..200),
        tail in proptest::collection::vec(any::<u8>(), 0..4),
    ) {
        let mut with_restart = data.clone();
        with_restart.extend_from_slice(&tail);
        with_restart.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
        for enc in ENCODINGS {
            exercise(data.clone(), enc, &[Vec::new(), vec![1; 9]]);
            exercise(with_restart.clone(), enc, &[Vec::new(), vec![1; 9]]);
        }
    }
}
