//! Sizes: every key and value the engine acknowledges fits a table entry; larger ones are
//! refused before anything is written.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use strata::{Db, Error, Options, WriteBatch, WriteOptions};

/// A key or value longer than a table entry holds is refused before it is acknowledged, so it
/// can never break a flush (which would poison the database and fail every reopen); the
/// largest value a table holds goes through write, flush and reopen.
#[test]
fn entries_a_table_cannot_hold_are_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let max = strata_sstable::MAX_VALUE_LEN;
    match db.put("big", vec![7u8; max + 1]) {
        Err(Error::InvalidArgument(why)) => assert!(why.contains("value of"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    match db.put_with_ttl(
        "big",
        vec![7u8; max - 7],
        std::time::Duration::from_secs(60),
    ) {
        Err(Error::InvalidArgument(_)) => {}
        other => panic!("the expiry counts against the limit, got {other:?}"),
    }
    // A batch whose only operation was refused is not empty: writing it fails, it is never
    // skipped as a no-op and acknowledged.
    let mut batch = WriteBatch::new();
    batch.put("big", vec![7u8; max + 1]);
    assert!(!batch.is_empty());
    assert!(matches!(
        db.write(batch, WriteOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
    let long_key = vec![b'k'; strata_sstable::MAX_KEY_LEN];
    assert!(matches!(
        db.delete(&long_key),
        Err(Error::InvalidArgument(_))
    ));
    db.put("big", vec![7u8; max]).unwrap();
    db.put("small", "after").unwrap();
    db.flush().unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get("big").unwrap().map(|v| v.len()), Some(max));
    assert_eq!(db.get("small").unwrap(), Some(b"after".to_vec()));
}
