//! Table builder and reader tests.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::cache::BlockCache;
use crate::error::Error;
use crate::iter::InternalIterator;
use crate::key::{encode_internal_key, ValueKind};

const PUT: u8 = ValueKind::Put as u8;
const DEL: u8 = ValueKind::Delete as u8;
const MAX_SEQ: u64 = crate::key::MAX_SEQNO;

fn write(
    dir: &Path,
    name: &str,
    opts: TableOptions,
    entries: &[(Vec<u8>, Vec<u8>)],
) -> (TableSummary, std::path::PathBuf) {
    let path = dir.join(name);
    let mut b = TableBuilder::create(&path, opts).unwrap();
    for (k, v) in entries {
        b.add(k, v).unwrap();
    }
    (b.finish().unwrap(), path)
}

fn entries(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                encode_internal_key(format!("user{i:06}").as_bytes(), (i as u64) + 1, PUT),
                format!("value {i} ").repeat(1 + i % 7).into_bytes(),
            )
        })
        .collect()
}

fn scan(table: &Arc<Table>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut it = table.iter();
    it.seek_to_first();
    let mut out = Vec::new();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    it.status().unwrap();
    out
}

fn scan_back(table: &Arc<Table>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut it = table.iter();
    it.seek_to_last();
    let mut out = Vec::new();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.prev();
    }
    it.status().unwrap();
    out.reverse();
    out
}

#[test]
fn round_trip_none_and_zstd() {
    let dir = tempfile::tempdir().unwrap();
    let data = entries(2000);
    for (i, compression) in [Compression::None, Compression::Zstd(3)]
        .into_iter()
        .enumerate()
    {
        let opts = TableOptions {
            compression,
            ..TableOptions::default()
        };
        let (summary, path) = write(dir.path(), &format!("{i}.sst"), opts, &data);
        assert_eq!(summary.file_size, std::fs::metadata(&path).unwrap().len());
        let table = Arc::new(Table::open(&path, Some(Arc::new(BlockCache::new(1 << 20)))).unwrap());
        let p = table.properties();
        assert_eq!(p, &summary.properties);
        assert_eq!(p.num_entries, 2000);
        assert_eq!(p.num_deletions, 0);
        assert_eq!((p.smallest_seq, p.largest_seq), (1, 2000));
        assert_eq!(p.smallest_key, data[0].0);
        assert_eq!(p.largest_key, data[1999].0);
        assert_eq!(p.compression, compression.name());
        assert_eq!(p.bloom_bits_per_key, 10);
        assert!(p.num_data_blocks > 10);
        assert_eq!(p.min_expiry_ms, None);
        assert!(p.created_unix_ms > 0);
        assert_eq!(scan(&table), data);
        assert_eq!(scan_back(&table), data);
        table.verify().unwrap();
        for (i, (k, v)) in data.iter().enumerate().step_by(37) {
            let user = &k[..k.len() - 8];
            assert_eq!(
                table.get(user, u64::MAX >> 8).unwrap(),
                Some(((i as u64) + 1, PUT, v.clone()))
            );
            assert!(table.may_contain(user).unwrap());
        }
        if compression != Compression::None {
            let plain = std::fs::metadata(dir.path().join("0.sst")).unwrap().len();
            assert!(
                summary.file_size < plain,
                "zstd should shrink repetitive values"
            );
        }
    }
}

#[test]
fn empty_table() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, path) = write(dir.path(), "e.sst", TableOptions::default(), &[]);
    assert_eq!(summary.properties.num_entries, 0);
    let table = Arc::new(Table::open(&path, None).unwrap());
    assert!(table.properties().smallest_key.is_empty());
    assert!(table.properties().largest_key.is_empty());
    assert_eq!(table.get(b"x", 5).unwrap(), None);
    let mut it = table.iter();
    it.seek_to_first();
    assert!(!it.valid());
    it.seek_to_last();
    assert!(!it.valid());
    it.seek(b"anything");
    assert!(!it.valid());
    it.seek_for_prev(b"anything");
    assert!(!it.valid());
    it.status().unwrap();
    table.verify().unwrap();
}

#[test]
fn huge_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let big_key = vec![b'k'; 64 << 10];
    let big_value: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    let data = vec![
        (encode_internal_key(b"a", 1, PUT), b"small".to_vec()),
        (encode_internal_key(&big_key, 2, PUT), big_value.clone()),
        (encode_internal_key(b"z", 3, PUT), big_value.clone()),
    ];
    for (i, compression) in [Compression::None, Compression::Zstd(1)]
        .into_iter()
        .enumerate()
    {
        let opts = TableOptions {
            compression,
            ..TableOptions::default()
        };
        let (_, path) = write(dir.path(), &format!("big{i}.sst"), opts, &data);
        let table = Arc::new(Table::open(&path, None).unwrap());
        assert_eq!(
            table.get(&big_key, 10).unwrap(),
            Some((2, PUT, big_value.clone()))
        );
        assert_eq!(
            table.get(b"z", 10).unwrap().map(|r| r.2.len()),
            Some(16 << 20)
        );
        assert_eq!(scan(&table), data);
        table.verify().unwrap();
    }
}

#[test]
fn get_picks_newest_visible_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = Vec::new();
    for user in [&b"apple"[..], b"banana", b"cherry"] {
        for seq in [50u64, 40, 30, 20, 10] {
            let kind = if seq == 30 { DEL } else { PUT };
            data.push((
                encode_internal_key(user, seq, kind),
                format!("{}@{seq}", String::from_utf8_lossy(user)).into_bytes(),
            ));
        }
    }
    // Tiny blocks so versions of one key span several blocks.
    let opts = TableOptions {
        block_size: 64,
        restart_interval: 2,
        ..TableOptions::default()
    };
    let (summary, path) = write(dir.path(), "v.sst", opts, &data);
    assert_eq!(summary.properties.num_deletions, 3);
    let table = Table::open(&path, None).unwrap();
    assert!(table.properties().num_data_blocks > 3);
    let get = |k: &[u8], s| {
        table
            .get(k, s)
            .unwrap()
            .map(|(seq, kind, v)| (seq, kind, String::from_utf8(v).unwrap()))
    };
    assert_eq!(get(b"banana", 100), Some((50, PUT, "banana@50".into())));
    assert_eq!(get(b"banana", 50), Some((50, PUT, "banana@50".into())));
    assert_eq!(get(b"banana", 49), Some((40, PUT, "banana@40".into())));
    assert_eq!(get(b"banana", 35), Some((30, DEL, "banana@30".into())));
    assert_eq!(get(b"banana", 29), Some((20, PUT, "banana@20".into())));
    assert_eq!(get(b"banana", 10), Some((10, PUT, "banana@10".into())));
    assert_eq!(get(b"banana", 9), None);
    assert_eq!(get(b"cherry", 0), None);
    assert_eq!(get(b"apple", 11), Some((10, PUT, "apple@10".into())));
    assert_eq!(get(b"aaa", 100), None);
    assert_eq!(get(b"bananas", 100), None);
    assert_eq!(get(b"zzz", 100), None);
    assert_eq!(get(b"", 100), None);
}

#[test]
fn bloom_filter_filters_absent_keys() {
    let dir = tempfile::tempdir().unwrap();
    let data = entries(5000);
    let (_, path) = write(dir.path(), "b.sst", TableOptions::default(), &data);
    let table = Table::open(&path, None).unwrap();
    for (k, _) in &data {
        assert!(table.may_contain(&k[..k.len() - 8]).unwrap());
    }
    let passed = (0..5000)
        .filter(|i| table.may_contain(format!("absent{i}").as_bytes()).unwrap())
        .count();
    assert!(
        passed < 150,
        "{passed} of 5000 absent keys passed the filter"
    );

    let opts = TableOptions {
        bloom_bits_per_key: 0,
        ..TableOptions::default()
    };
    let (_, path) = write(dir.path(), "nofilter.sst", opts, &data);
    let table = Table::open(&path, None).unwrap();
    assert!(table.may_contain(b"absent").unwrap());
    assert_eq!(table.properties().bloom_bits_per_key, 0);
    assert_eq!(table.get(b"absent", 1).unwrap(), None);
}

#[test]
fn identical_input_gives_identical_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let data = entries(300);
    let (_, a) = write(dir.path(), "a.sst", TableOptions::default(), &data);
    let (_, b) = write(dir.path(), "b.sst", TableOptions::default(), &data);
    let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert_eq!(a.len(), b.len());
    // Only the creation time (in the properties block) and checksums covering it may differ.
    let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert!(differing < 24, "{differing} bytes differ");
}

#[test]
fn builder_rejects_bad_input_without_corrupting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.sst");
    let mut b = TableBuilder::create(&path, TableOptions::default()).unwrap();
    b.add(&encode_internal_key(b"b", 5, PUT), b"1").unwrap();
    let same = b.add(&encode_internal_key(b"b", 5, PUT), b"x");
    assert!(matches!(same, Err(Error::InvalidArgument(_))));
    let older_first = b.add(&encode_internal_key(b"b", 6, PUT), b"x");
    assert!(matches!(older_first, Err(Error::InvalidArgument(_))));
    assert!(matches!(
        b.add(&encode_internal_key(b"a", 1, PUT), b"x"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        b.add(b"short", b"x"),
        Err(Error::InvalidArgument(_))
    ));
    b.add(&encode_internal_key(b"b", 4, PUT), b"2").unwrap();
    assert_eq!(b.num_entries(), 2);
    assert!(b.estimated_size() > 0);
    b.finish().unwrap();
    let table = Arc::new(Table::open(&path, None).unwrap());
    assert_eq!(scan(&table).len(), 2);
    table.verify().unwrap();

    // create_new: an existing file is not overwritten.
    assert!(matches!(
        TableBuilder::create(&path, TableOptions::default()),
        Err(Error::Io(_))
    ));
    for bad in [
        TableOptions {
            block_size: 0,
            ..TableOptions::default()
        },
        TableOptions {
            restart_interval: 0,
            ..TableOptions::default()
        },
        TableOptions {
            bloom_bits_per_key: 65,
            ..TableOptions::default()
        },
        TableOptions {
            compression: Compression::Zstd(1000),
            ..TableOptions::default()
        },
        TableOptions {
            format_version: 1,
            ..TableOptions::default()
        },
        TableOptions {
            format_version: 4,
            ..TableOptions::default()
        },
    ] {
        assert!(matches!(
            TableBuilder::create(&dir.path().join("x.sst"), bad),
            Err(Error::InvalidArgument(_))
        ));
    }
    assert!(!dir.path().join("x.sst").exists());
}

#[test]
fn abandon_removes_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.sst");
    let mut b = TableBuilder::create(&path, TableOptions::default()).unwrap();
    for (k, v) in entries(100) {
        b.add(&k, &v).unwrap();
    }
    b.abandon().unwrap();
    assert!(!path.exists());
}

#[test]
fn cache_is_used_and_shared() {
    let dir = tempfile::tempdir().unwrap();
    let data = entries(1000);
    let (_, path) = write(dir.path(), "c.sst", TableOptions::default(), &data);
    let cache = Arc::new(BlockCache::new(8 << 20));
    let t1 = Arc::new(Table::open(&path, Some(Arc::clone(&cache))).unwrap());
    let t2 = Arc::new(Table::open(&path, Some(Arc::clone(&cache))).unwrap());
    assert_eq!(scan(&t1), data);
    let misses = cache.misses();
    assert_eq!(misses, t1.properties().num_data_blocks);
    assert_eq!(scan(&t1), data);
    assert_eq!(cache.misses(), misses);
    assert!(cache.hits() >= misses);
    // A second table (even of the same file) has its own id.
    assert_eq!(scan(&t2), data);
    assert_eq!(cache.misses(), 2 * misses);
    assert!(cache.used_bytes() > 0 && cache.used_bytes() <= cache.capacity());
}

#[test]
fn a_builder_charges_its_memory_to_a_cache_until_finished() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(BlockCache::new(64 << 20));
    let mut b = TableBuilder::create(&dir.path().join("m.sst"), TableOptions::default()).unwrap();
    b.charge_memory_to(&cache);
    let start = cache.reserved_bytes();
    assert!(start >= b.memory_usage() as u64, "{start}");
    let n = 300_000u64;
    for i in 0..n {
        let k = encode_internal_key(format!("k{i:09}").as_bytes(), i + 1, PUT);
        b.add(&k, b"v").unwrap();
    }
    // 8 bytes of filter hash per key, plus the index block.
    let usage = b.memory_usage() as u64;
    assert!(usage >= 8 * n, "{usage}");
    let reserved = cache.reserved_bytes();
    assert!(
        reserved + crate::cache::RESERVATION_STEP >= usage && reserved <= usage + (1 << 20),
        "reserved {reserved} for {usage}"
    );
    b.finish().unwrap();
    assert_eq!(
        cache.reserved_bytes(),
        0,
        "a finished builder releases its room"
    );

    let mut b = TableBuilder::create(&dir.path().join("n.sst"), TableOptions::default()).unwrap();
    b.charge_memory_to(&cache);
    b.add(&encode_internal_key(b"k", 1, PUT), b"v").unwrap();
    assert!(cache.reserved_bytes() > 0);
    b.abandon().unwrap();
    assert_eq!(cache.reserved_bytes(), 0, "so does an abandoned one");
}

#[test]
fn table_is_send_sync_and_iter_is_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Table>();
    send_sync::<BlockCache>();
    send::<TableIter>();
}

#[test]
fn open_bytes_matches_open() {
    let dir = tempfile::tempdir().unwrap();
    let data = entries(500);
    let (_, path) = write(dir.path(), "m.sst", TableOptions::default(), &data);
    let bytes = std::fs::read(&path).unwrap();
    let table = Arc::new(Table::open_bytes(bytes, "mem.sst".into(), None).unwrap());
    assert_eq!(table.path(), Path::new("mem.sst"));
    assert_eq!(table.file_size(), std::fs::metadata(&path).unwrap().len());
    assert_eq!(scan(&table), data);
}

#[test]
fn index_and_filter_live_in_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let data = entries(2000);
    let (_, path) = write(dir.path(), "m.sst", TableOptions::default(), &data);
    let cache = Arc::new(BlockCache::new(8 << 20));
    let table =
        Arc::new(Table::open_with(&path, Some(Arc::clone(&cache)), MetaBlocks::Cached).unwrap());
    let usage = cache.usage();
    assert_eq!((usage.index.blocks, usage.filter.blocks), (1, 1));
    assert!(usage.index.bytes > 0 && usage.filter.bytes > 0);
    assert_eq!(usage.data.blocks, 0);
    assert_eq!(
        cache.used_bytes(),
        usage.index.bytes + usage.filter.bytes,
        "the cache charges exactly what usage() reports"
    );

    // Evicted (here: dropped) index and filter are read again from the file, once.
    cache.clear();
    for (i, (k, _)) in data.iter().enumerate() {
        let user = &k[..k.len() - 8];
        assert!(table.get(user, MAX_SEQ).unwrap().is_some(), "key {i}");
    }
    let usage = cache.usage();
    assert_eq!((usage.index.misses, usage.filter.misses), (1, 1));
    assert_eq!(usage.index.hits, data.len() as u64 - 1);
    assert_eq!(usage.filter.hits, data.len() as u64 - 1);
    assert!(!table.may_contain(b"absent key").unwrap());
    assert_eq!(scan(&table), data);

    // A dropped table takes its index and filter out of the cache; data blocks stay until
    // evicted.
    let data_bytes = cache.usage().data.bytes;
    assert!(cache.inserted_bytes() >= cache.used_bytes());
    drop(table);
    let usage = cache.usage();
    assert_eq!((usage.index.blocks, usage.filter.blocks), (0, 0));
    assert_eq!(usage.data.bytes, data_bytes);
}

#[test]
fn cached_meta_blocks_are_not_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = write(dir.path(), "c.sst", TableOptions::default(), &entries(100));
    let cache = Arc::new(BlockCache::new(8 << 20));
    let table = Table::open_with(&path, Some(cache), MetaBlocks::Cached).unwrap();
    assert_eq!(table.pinned_meta_bytes(), 0);
}

#[test]
fn without_a_cache_index_and_filter_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let data = entries(300);
    let (_, path) = write(dir.path(), "p.sst", TableOptions::default(), &data);
    let cache = Arc::new(BlockCache::new(8 << 20));
    for (table, cache) in [
        (Table::open(&path, None).unwrap(), None),
        (
            Table::open(&path, Some(Arc::clone(&cache))).unwrap(),
            Some(&cache),
        ),
        (
            Table::open_with(&path, None, MetaBlocks::Cached).unwrap(),
            None,
        ),
    ] {
        let table = Arc::new(table);
        for (k, _) in &data {
            assert!(table.get(&k[..k.len() - 8], MAX_SEQ).unwrap().is_some());
        }
        assert!(!table.may_contain(b"absent key").unwrap());
        assert_eq!(scan(&table), data);
        assert!(table.pinned_meta_bytes() > 0);
        if let Some(cache) = cache {
            let usage = cache.usage();
            assert_eq!((usage.index.blocks, usage.filter.blocks), (0, 0));
            assert!(usage.data.blocks > 0, "data blocks are still cached");
        }
    }
}

#[test]
fn a_cache_too_small_for_the_index_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let data = entries(3000);
    let (_, path) = write(dir.path(), "s.sst", TableOptions::default(), &data);
    let cache = Arc::new(BlockCache::new(1024));
    let table =
        Arc::new(Table::open_with(&path, Some(Arc::clone(&cache)), MetaBlocks::Cached).unwrap());
    for (k, _) in data.iter().step_by(7) {
        assert!(table.get(&k[..k.len() - 8], MAX_SEQ).unwrap().is_some());
    }
    assert_eq!(scan(&table), data);
    assert!(cache.used_bytes() <= 1024);
}
