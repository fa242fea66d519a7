//! Arbitrary bytes as a table file: open, iterate both ways, seek and get return data or a
//! typed error, never panic.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use strata_sstable::{BlockCache, InternalIterator, Table, MAX_SEQNO};

fuzz_target!(|data: &[u8]| {
    let cache = Arc::new(BlockCache::new(1 << 20));
    let Ok(table) = Table::open_bytes(data.to_vec(), "fuzz.sst".into(), Some(cache)) else {
        return;
    };
    let table = Arc::new(table);
    let _ = table.verify();
    let mut it = table.iter();
    it.seek_to_first();
    let mut keys = Vec::new();
    while it.valid() && keys.len() < 10_000 {
        keys.push(it.key().to_vec());
        it.next();
    }
    let _ = it.status();
    it.seek_to_last();
    let mut n = 0;
    while it.valid() && n < 10_000 {
        it.prev();
        n += 1;
    }
    for k in keys.iter().take(64) {
        it.seek(k);
        it.seek_for_prev(k);
        if let Some(p) = strata_sstable::parse_internal_key(k) {
            let _ = table.get(p.user_key, MAX_SEQNO);
        }
    }
    let _ = table.get(b"probe", MAX_SEQNO);
});
