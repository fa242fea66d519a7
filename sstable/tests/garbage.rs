//! Arbitrary bytes never make the reader panic (a cheap stand-in for the fuzz target).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::Arc;

use proptest::prelude::*;
use strata_sstable::{
    encode_internal_key, Compression, InternalIterator, Table, TableBuilder, TableOptions,
};

fn exercise(bytes: Vec<u8>) {
    let Ok(table) = Table::open_bytes(bytes, "garbage.sst".into(), None) else {
        return;
    };
    let table = Arc::new(table);
    let _ = table.get(b"k", 10);
    let _ = table.verify();
    let mut it = table.iter();
    it.seek_to_first();
    let mut n = 0;
    while it.valid() && n < 100_000 {
        it.next();
        n += 1;
    }
    let _ = it.status();
    it.seek(&encode_internal_key(b"k", 5, 1));
    it.prev();
    it.seek_for_prev(b"");
    it.seek_to_last();
    it.prev();
    let _ = (it.key(), it.value(), it.status());
}

fn sample_table() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sst");
    let opts = TableOptions {
        block_size: 64,
        compression: Compression::Zstd(1),
        ..TableOptions::default()
    };
    let mut b = TableBuilder::create(&path, opts).unwrap();
    for i in 0..30u32 {
        b.add(
            &encode_internal_key(format!("k{i:02}").as_bytes(), 9, 1),
            &[i as u8; 20],
        )
        .unwrap();
    }
    b.finish().unwrap();
    std::fs::read(path).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        exercise(bytes);
    }

    #[test]
    fn random_bytes_with_valid_footer_tail(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        handles in proptest::collection::vec(0u64..400, 6),
    ) {
        // A footer with a correct checksum pointing at garbage, to get past the footer.
        let mut footer = Vec::new();
        for h in &handles {
            footer.extend_from_slice(&h.to_le_bytes());
        }
        footer.extend_from_slice(&1u32.to_le_bytes());
        let crc = crc32fast::hash(&footer);
        let masked = crc.rotate_right(15).wrapping_add(0xa282_ead8);
        footer.extend_from_slice(&masked.to_le_bytes());
        footer.extend_from_slice(b"STRATAST");
        let mut bytes = body;
        bytes.extend_from_slice(&footer);
        exercise(bytes);
    }

    #[test]
    fn random_damage_to_a_real_table(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = sample_table();
        let len = bytes.len();
        for (pos, v) in edits {
            bytes[pos % len] = v;
        }
        exercise(bytes);
    }
}

fn masked_crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

/// Appends `contents` as a block with a valid trailer; returns (offset, size).
fn push_block(file: &mut Vec<u8>, contents: &[u8], compression: u8) -> (u64, u64) {
    let offset = file.len() as u64;
    file.extend_from_slice(contents);
    let mut covered = contents.to_vec();
    covered.push(compression);
    file.push(compression);
    file.extend_from_slice(&masked_crc(&covered).to_le_bytes());
    (offset, contents.len() as u64)
}

/// A block body: garbage entries followed by a plausible restart array.
fn block_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(any::<u8>(), 0..120),
        any::<bool>(),
    )
        .prop_map(|(mut b, restart)| {
            if restart {
                b.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
            }
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Garbage inside blocks whose checksums are valid: the structure checks must hold.
    #[test]
    fn garbage_blocks_with_valid_checksums(
        data in block_strategy(),
        props in block_strategy(),
        index in block_strategy(),
        filter in proptest::collection::vec(any::<u8>(), 0..80),
        compression in 0u8..3,
    ) {
        let mut file = Vec::new();
        push_block(&mut file, &data, compression);
        let f = if filter.is_empty() { (0, 0) } else { push_block(&mut file, &filter, 0) };
        let p = push_block(&mut file, &props, 0);
        let i = push_block(&mut file, &index, 0);
        let mut footer = Vec::new();
        for v in [f.0, f.1, p.0, p.1, i.0, i.1] {
            footer.extend_from_slice(&v.to_le_bytes());
        }
        footer.extend_from_slice(&1u32.to_le_bytes());
        let crc = masked_crc(&footer);
        footer.extend_from_slice(&crc.to_le_bytes());
        footer.extend_from_slice(b"STRATAST");
        file.extend_from_slice(&footer);
        exercise(file);
    }

    /// A valid index pointing at a garbage data block with a valid checksum.
    #[test]
    fn valid_index_over_garbage_data(data in block_strategy(), compression in 0u8..2) {
        let mut file = Vec::new();
        let d = push_block(&mut file, &data, compression);
        // Index block: one entry, key "k" + trailer, value = handle varints.
        let mut index = Vec::new();
        let key = encode_internal_key(b"k", 9, 1);
        let mut handle = Vec::new();
        for v in [d.0, d.1] {
            let mut v = v;
            while v >= 0x80 {
                handle.push((v as u8) | 0x80);
                v >>= 7;
            }
            handle.push(v as u8);
        }
        index.extend_from_slice(&[0, key.len() as u8, handle.len() as u8]);
        index.extend_from_slice(&key);
        index.extend_from_slice(&handle);
        index.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
        let p = push_block(&mut file, &[0, 0, 0, 0, 1, 0, 0, 0], 0);
        let i = push_block(&mut file, &index, 0);
        let mut footer = Vec::new();
        for v in [0, 0, p.0, p.1, i.0, i.1] {
            footer.extend_from_slice(&v.to_le_bytes());
        }
        footer.extend_from_slice(&1u32.to_le_bytes());
        let crc = masked_crc(&footer);
        footer.extend_from_slice(&crc.to_le_bytes());
        footer.extend_from_slice(b"STRATAST");
        file.extend_from_slice(&footer);
        exercise(file);
    }
}
