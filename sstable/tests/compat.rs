//! Tables written by older format versions stay readable.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::sync::Arc;

use strata_sstable::{BlockCache, InternalIterator, MetaBlocks, Table, ValueKind, MAX_SEQNO};

/// The tables in `tests/data` hold the same entries: keys `key0000..key0999` at sequence
/// numbers 1..=1000, every tenth a deletion, the others `value {i}`; default options of their
/// writer (4 KiB blocks, 10 bloom bits per key).
/// - `format_v1.sst`: the version 1 writer (commit 1740ffd), a filter over raw keys;
/// - `format_v2.sst`: the version 2 writer (commit d05547c), a filter over key hashes, whole
///   internal keys in data blocks, index restart interval 16.
fn old_table(file: &str, cache: Option<Arc<BlockCache>>) -> Arc<Table> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    Arc::new(Table::open_with(&path, cache, MetaBlocks::Cached).unwrap())
}

#[test]
fn version_1_and_2_tables_read_with_their_filters() {
    let files = ["format_v1.sst", "format_v2.sst"].into_iter();
    for (file, cache) in
        files.flat_map(|f| [(f, None), (f, Some(Arc::new(BlockCache::new(1 << 20))))])
    {
        let table = old_table(file, cache);
        table.verify().unwrap();
        for i in 0..1000u64 {
            let key = format!("key{i:04}");
            assert!(table.may_contain(key.as_bytes()).unwrap(), "{key}");
            let (seq, kind, value) = table.get(key.as_bytes(), MAX_SEQNO).unwrap().unwrap();
            assert_eq!(seq, i + 1);
            if i % 10 == 9 {
                assert_eq!(kind, ValueKind::Delete as u8);
            } else {
                assert_eq!(
                    (kind, value),
                    (ValueKind::Put as u8, format!("value {i}").into_bytes())
                );
            }
        }
        let passed = (0..1000)
            .filter(|i| table.may_contain(format!("absent{i}").as_bytes()).unwrap())
            .count();
        assert!(
            passed < 50,
            "{file}: the filter rejects absent keys ({passed} passed)"
        );
        let mut it = table.iter();
        it.seek_to_first();
        let mut n = 0;
        while it.valid() {
            n += 1;
            it.next();
        }
        it.status().unwrap();
        assert_eq!(n, 1000);
    }
}
