//! The table iterator and `get` against a sorted `Vec` model, over random contents and
//! block layouts.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::cmp::Ordering;
use std::sync::Arc;

use proptest::prelude::*;
use strata_sstable::{
    compare_internal, encode_internal_key, parse_internal_key, BlockCache, Compression,
    InternalIterator, Table, TableBuilder, TableOptions, KIND_FOR_SEEK,
};

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
    (proptest::collection::vec(b'a'..b'd', 0..4), 0u64..6, 0u8..2)
        .prop_map(|(u, s, k)| encode_internal_key(&u, s, k))
}

fn options_strategy() -> impl Strategy<Value = TableOptions> {
    (
        1usize..200,
        1usize..6,
        1usize..20,
        any::<bool>(),
        prop_oneof![Just(0u32), Just(1), Just(10)],
        2u32..=3,
    )
        .prop_map(
            |(
                block_size,
                restart_interval,
                index_restart_interval,
                zstd,
                bloom_bits_per_key,
                format_version,
            )| {
                TableOptions {
                    block_size,
                    restart_interval,
                    index_restart_interval,
                    compression: if zstd {
                        Compression::Zstd(1)
                    } else {
                        Compression::None
                    },
                    bloom_bits_per_key,
                    format_version,
                }
            },
        )
}

fn build(entries: &Entries, opts: TableOptions, cache: bool) -> Arc<Table> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sst");
    let mut b = TableBuilder::create(&path, opts).unwrap();
    for (k, v) in entries {
        b.add(k, v).unwrap();
    }
    b.finish().unwrap();
    let cache = cache.then(|| Arc::new(BlockCache::new(4096)));
    Arc::new(Table::open(&path, cache).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn iterator_and_get_match_model(
        keys in proptest::collection::vec(key_strategy(), 0..80),
        targets in proptest::collection::vec(key_strategy(), 0..12),
        opts in options_strategy(),
        cache in any::<bool>(),
    ) {
        let mut keys = keys;
        keys.sort_by(|a, b| compare_internal(a, b));
        keys.dedup();
        let entries: Entries = keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k, format!("v{i}").repeat(i % 4).into_bytes()))
            .collect();
        let table = build(&entries, opts, cache);
        table.verify().unwrap();
        let mut it = table.iter();

        // Full scans.
        it.seek_to_first();
        for (k, v) in &entries {
            prop_assert!(it.valid());
            prop_assert_eq!((it.key(), it.value()), (&k[..], &v[..]));
            it.next();
        }
        prop_assert!(!it.valid());
        it.seek_to_last();
        for (k, _) in entries.iter().rev() {
            prop_assert_eq!(it.key(), &k[..]);
            it.prev();
        }
        prop_assert!(!it.valid());

        // Positioning at every key and at random targets.
        let mut all_targets: Vec<Vec<u8>> = entries.iter().map(|(k, _)| k.clone()).collect();
        all_targets.extend(targets);
        all_targets.push(Vec::new());
        for t in &all_targets {
            let ge = entries.iter().position(|(k, _)| compare_internal(k, t) != Ordering::Less);
            it.seek(t);
            prop_assert_eq!(it.valid(), ge.is_some());
            if let Some(i) = ge {
                prop_assert_eq!(it.key(), &entries[i].0[..]);
                it.prev();
                if i == 0 {
                    prop_assert!(!it.valid());
                } else {
                    prop_assert_eq!(it.key(), &entries[i - 1].0[..]);
                }
            }
            let le = entries.iter().rposition(|(k, _)| compare_internal(k, t) != Ordering::Greater);
            it.seek_for_prev(t);
            prop_assert_eq!(it.valid(), le.is_some());
            if let Some(i) = le {
                prop_assert_eq!(it.key(), &entries[i].0[..]);
                it.next();
                match entries.get(i + 1) {
                    Some((k, _)) => prop_assert_eq!(it.key(), &k[..]),
                    None => prop_assert!(!it.valid()),
                }
            }
        }
        it.status().unwrap();

        // get == the first entry >= (user, seq, KIND_FOR_SEEK) with the same user key.
        for t in &all_targets {
            let Some(p) = parse_internal_key(t) else { continue };
            let seek = encode_internal_key(p.user_key, p.seq, KIND_FOR_SEEK);
            let expected = entries
                .iter()
                .find(|(k, _)| compare_internal(k, &seek) != Ordering::Less)
                .and_then(|(k, v)| {
                    let e = parse_internal_key(k)?;
                    (e.user_key == p.user_key).then(|| (e.seq, e.kind, v.clone()))
                });
            prop_assert_eq!(table.get(p.user_key, p.seq).unwrap(), expected);
        }
    }
}
