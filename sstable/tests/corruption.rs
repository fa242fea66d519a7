//! Damaged tables: every damage is reported as `Corruption` (naming the file and offset) or
//! the correct data is returned; never a panic, never a wrong value.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata_sstable::{
    encode_internal_key, parse_internal_key, Compression, Error, InternalIterator, Table,
    TableBuilder, TableOptions, ValueKind,
};

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn model() -> Entries {
    let mut out = Vec::new();
    for i in 0..40u64 {
        let user = format!("key{:03}", i / 2).into_bytes();
        let seq = 100 - i;
        let kind = if i % 5 == 0 {
            ValueKind::Delete
        } else {
            ValueKind::Put
        };
        out.push((
            encode_internal_key(&user, seq, kind as u8),
            format!("value-{i}-").repeat(3).into_bytes(),
        ));
    }
    out
}

fn build(entries: &Entries, opts: TableOptions) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let mut b = TableBuilder::create(&path, opts).unwrap();
    for (k, v) in entries {
        b.add(k, v).unwrap();
    }
    b.finish().unwrap();
    std::fs::read(&path).unwrap()
}

fn small_opts(compression: Compression) -> TableOptions {
    TableOptions {
        block_size: 256,
        restart_interval: 4,
        index_restart_interval: 3,
        compression,
        bloom_bits_per_key: 10,
        format_version: 3,
    }
}

fn name() -> PathBuf {
    PathBuf::from("flip.sst")
}

fn assert_corruption(e: &Error) {
    match e {
        Error::Corruption { file, .. } => assert_eq!(file, &name()),
        other => unreachable!("expected corruption, got {other}"),
    }
}

/// Expected `get` answer from the model.
fn model_get(entries: &Entries, user: &[u8], seq: u64) -> Option<(u64, u8, Vec<u8>)> {
    entries.iter().find_map(|(k, v)| {
        let p = parse_internal_key(k)?;
        (p.user_key == user && p.seq <= seq).then(|| (p.seq, p.kind, v.clone()))
    })
}

/// Opens `bytes` and checks that everything either matches `entries` or fails as corruption.
/// Returns whether some check failed (the damage was detected).
fn check(bytes: Vec<u8>, entries: &Entries) -> bool {
    let table = match Table::open_bytes(bytes, name(), None) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            assert_corruption(&e);
            return true;
        }
    };
    let mut detected = false;
    // Point reads.
    for user in ["key000", "key007", "key019", "key0075", "zzz"] {
        for seq in [0, 70, 85, u64::MAX >> 8] {
            match table.get(user.as_bytes(), seq) {
                Ok(got) => assert_eq!(got, model_get(entries, user.as_bytes(), seq)),
                Err(e) => {
                    assert_corruption(&e);
                    detected = true;
                }
            }
        }
    }
    // Forward scan: a prefix of the model, then either the end or an error.
    let mut it = table.iter();
    it.seek_to_first();
    let mut i = 0;
    while it.valid() {
        assert_eq!(
            (it.key(), it.value()),
            (&entries[i].0[..], &entries[i].1[..])
        );
        i += 1;
        it.next();
    }
    match it.status() {
        Ok(()) => assert_eq!(i, entries.len()),
        Err(e) => {
            assert_corruption(&e);
            detected = true;
        }
    }
    // Backward scan.
    let mut it = table.iter();
    it.seek_to_last();
    let mut j = entries.len();
    while it.valid() {
        j -= 1;
        assert_eq!(
            (it.key(), it.value()),
            (&entries[j].0[..], &entries[j].1[..])
        );
        it.prev();
    }
    match it.status() {
        Ok(()) => assert_eq!(j, 0),
        Err(e) => {
            assert_corruption(&e);
            detected = true;
        }
    }
    match table.verify() {
        Ok(()) => {}
        Err(e) => {
            assert_corruption(&e);
            detected = true;
        }
    }
    detected
}

#[test]
fn every_byte_flip_is_detected_or_harmless() {
    let entries = model();
    let formats = [2, 3].into_iter();
    for (compression, format_version) in
        formats.flat_map(|v| [Compression::None, Compression::Zstd(3)].map(|c| (c, v)))
    {
        let opts = TableOptions {
            format_version,
            ..small_opts(compression)
        };
        let good = build(&entries, opts);
        assert!(!check(good.clone(), &entries), "undamaged table must pass");
        for pos in 0..good.len() {
            for mask in [0x01u8, 0x80, 0xFF] {
                let mut bad = good.clone();
                bad[pos] ^= mask;
                // Every byte of a table is covered by a checksum, so verify (or open) must
                // notice every flip.
                assert!(
                    check(bad, &entries),
                    "flip of byte {pos} with {mask:#x} went unnoticed"
                );
            }
        }
    }
}

#[test]
fn flipped_data_byte_caught_by_block_checksum() {
    let entries = model();
    let good = build(&entries, small_opts(Compression::None));
    let table = Arc::new(Table::open_bytes(good.clone(), name(), None).unwrap());
    assert!(table.properties().num_data_blocks > 2);
    let mut bad = good;
    bad[10] ^= 0x04;
    let table = Arc::new(Table::open_bytes(bad, name(), None).unwrap());
    let mut it = table.iter();
    it.seek_to_first();
    assert!(!it.valid());
    let err = it.status().unwrap_err();
    assert_eq!(
        err.to_string(),
        "corruption in flip.sst at offset 0: block checksum mismatch"
    );
    let err = table.get(b"key000", 100).unwrap_err();
    assert_eq!(
        err.to_string(),
        "corruption in flip.sst at offset 0: block checksum mismatch"
    );
    assert!(table.verify().is_err());
}

#[test]
fn truncated_files_are_corruption() {
    let entries = model();
    let good = build(&entries, small_opts(Compression::Zstd(1)));
    for len in 0..good.len() {
        let err = Table::open_bytes(good[..len].to_vec(), name(), None).unwrap_err();
        assert_corruption(&err);
        if len < 64 {
            assert!(
                err.to_string().ends_with("file too short to be an sstable"),
                "{err}"
            );
        }
    }
    // Through the file system as well.
    let dir = tempfile::tempdir().unwrap();
    for len in [0usize, 10, 63, 64, good.len() / 2, good.len() - 1] {
        let path = dir.path().join(format!("trunc{len}.sst"));
        std::fs::write(&path, &good[..len]).unwrap();
        match Table::open(&path, None) {
            Err(Error::Corruption { file, .. }) => assert_eq!(file, path),
            other => unreachable!("expected corruption, got {other:?}"),
        }
    }
}

#[test]
fn bad_magic_version_and_footer_checksum() {
    let entries = model();
    let good = build(&entries, small_opts(Compression::None));
    let n = good.len();
    let footer_at = (n - 64) as u64;
    let msg = |bytes: Vec<u8>| {
        Table::open_bytes(bytes, name(), None)
            .unwrap_err()
            .to_string()
    };

    assert_eq!(&good[n - 8..], b"STRATAST");
    let mut bad = good.clone();
    bad[n - 1] = b'X';
    assert_eq!(
        msg(bad),
        format!("corruption in flip.sst at offset {footer_at}: not an sstable (bad magic number)")
    );

    let mut bad = good.clone();
    bad[n - 16..n - 12].copy_from_slice(&7u32.to_le_bytes());
    assert_eq!(
        msg(bad),
        format!(
            "corruption in flip.sst at offset {footer_at}: unsupported sstable format version 7"
        )
    );

    let mut bad = good.clone();
    bad[n - 60] ^= 1;
    assert_eq!(
        msg(bad),
        format!("corruption in flip.sst at offset {footer_at}: footer checksum mismatch")
    );

    assert!(msg(vec![0u8; 1000]).ends_with("not an sstable (bad magic number)"));
}

#[test]
fn missing_file_is_io_error() {
    match Table::open(Path::new("/nonexistent/dir/x.sst"), None) {
        Err(Error::Io(_)) => {}
        other => unreachable!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn verify_catches_a_flip_in_every_block() {
    let entries = model();
    let good = build(&entries, small_opts(Compression::None));
    let table = Table::open_bytes(good.clone(), name(), None).unwrap();
    table.verify().unwrap();
    // Flip one byte in the middle of each data block (their offsets via the iterator's errors
    // are not public, so walk the file: data blocks fill [0, footer) before the meta blocks).
    let data_end = good.len() - 64;
    let mut caught = 0;
    for pos in (0..data_end).step_by(17) {
        let mut bad = good.clone();
        bad[pos] ^= 0x10;
        match Table::open_bytes(bad, name(), None) {
            Err(e) => assert_corruption(&e),
            Ok(t) => {
                let e = t.verify().unwrap_err();
                assert_corruption(&e);
            }
        }
        caught += 1;
    }
    assert!(caught > 10);
}
