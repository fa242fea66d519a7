//! The memory budget: its split, and the engine staying inside it.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use strata::{Db, Error, Options, SyncMode};

fn key(i: u64) -> Vec<u8> {
    // Scattered, so every flush overlaps every level.
    format!("key{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    format!("{i:>200}").into_bytes()
}

#[test]
fn the_budget_is_split_and_held() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 4u64 << 20;
    let mut o = Options::default();
    o.sync_mode = SyncMode::Never;
    o.memory_budget = Some(budget);
    o.max_bytes_for_level_base = 1 << 20;
    o.target_file_size_base = 256 << 10;
    let db = Db::open(dir.path(), o).unwrap();

    let s = db.stats();
    assert_eq!(s.memory.budget, Some(budget));
    // A quarter for the active memtable and two frozen ones, the rest for the cache.
    assert_eq!(s.memory.memtable_limit, (budget / 4) / 3 * 3);
    assert_eq!(s.block_cache_capacity, budget - budget / 4);

    let n = 40_000u64;
    let mut most = 0u64;
    for i in 0..n {
        db.put(key(i), value(i)).unwrap();
        if i % 1000 == 0 {
            let m = db.stats().memory;
            // A memtable may pass its size by the one write that fills it.
            assert!(m.memtables <= m.memtable_limit + 1024, "{m:?}");
            most = most.max(m.total());
        }
    }
    db.flush().unwrap();
    db.wait_for_background_work().unwrap();
    for i in (0..n).step_by(3) {
        assert_eq!(db.get(key(i)).unwrap(), Some(value(i)), "key {i}");
        assert_eq!(db.get(format!("absent{i}")).unwrap(), None);
    }
    let s = db.stats();
    let m = &s.memory;
    assert!(s.flush_count >= 5, "{s}");
    assert!(
        m.cache.index.bytes > 0 && m.cache.filter.bytes > 0 && m.cache.data.bytes > 0,
        "index blocks, filters and data blocks all live in the cache: {m:?}"
    );
    assert_eq!(m.pinned_index_and_filters, 0, "a budget caches them");
    assert_eq!(
        m.table_builders, 0,
        "finished builders gave their room back"
    );
    assert!(m.cache.data.hits + m.cache.data.misses > 0);
    assert!(m.cache.filter.hits > 0, "{m:?}");
    assert_eq!(
        m.cache.data.bytes + m.cache.index.bytes + m.cache.filter.bytes,
        s.block_cache_bytes
    );
    assert!(s.block_cache_bytes <= s.block_cache_capacity, "{s}");
    most = most.max(m.total());
    assert!(
        most <= budget + 1024,
        "held {most} of a {budget} byte budget"
    );
    let shown = s.to_string();
    assert!(shown.contains("of a 4194304 byte budget"), "{shown}");
    assert!(shown.contains("filters"), "{shown}");
}

/// Opens a database in `dir` with small memtables and `tune` applied, writes 5,000 keys,
/// flushes them to tables and reads them all back.
fn filled(dir: &std::path::Path, tune: impl FnOnce(&mut Options)) -> Db {
    let mut o = Options::default();
    o.sync_mode = SyncMode::Never;
    o.memtable_size = 256 << 10;
    tune(&mut o);
    let db = Db::open(dir, o).unwrap();
    for i in 0..5_000 {
        db.put(key(i), value(i)).unwrap();
    }
    db.flush().unwrap();
    for i in 0..5_000 {
        assert_eq!(db.get(key(i)).unwrap(), Some(value(i)));
    }
    db
}

#[test]
fn without_a_cache_tables_pin_their_index_and_filter() {
    let dir = tempfile::tempdir().unwrap();
    let db = filled(dir.path(), |o| o.block_cache_bytes = 0);
    let m = db.stats().memory;
    assert_eq!(
        m.cache.index.bytes + m.cache.filter.bytes + m.cache.data.bytes,
        0
    );
    assert!(m.pinned_index_and_filters > 0);
    assert_eq!(m.budget, None);
}

#[test]
fn index_and_filters_are_pinned_unless_asked_to_live_in_the_cache() {
    for cached in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = filled(dir.path(), |o| o.cache_index_and_filter_blocks = cached);
        let m = db.stats().memory;
        let in_cache = m.cache.index.bytes + m.cache.filter.bytes;
        if cached {
            assert!(in_cache > 0 && m.pinned_index_and_filters == 0, "{m:?}");
        } else {
            assert!(in_cache == 0 && m.pinned_index_and_filters > 0, "{m:?}");
        }
        assert!(m.total() >= m.memtables + m.pinned_index_and_filters + in_cache);
    }
}

#[test]
fn a_budget_too_small_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::default();
    o.memory_budget = Some(1000);
    assert!(matches!(
        Db::open(dir.path(), o),
        Err(Error::InvalidArgument(m)) if m.contains("memory_budget")
    ));
    let mut o = Options::default();
    o.memory_budget = Some(strata::MIN_MEMORY_BUDGET);
    o.max_immutable_memtables = 100;
    assert!(matches!(
        Db::open(dir.path(), o),
        Err(Error::InvalidArgument(m)) if m.contains("max_immutable_memtables")
    ));
    let mut o = Options::default();
    o.memory_budget = Some(strata::MIN_MEMORY_BUDGET);
    o.max_immutable_memtables = 7;
    Db::open(dir.path(), o).unwrap();
}
