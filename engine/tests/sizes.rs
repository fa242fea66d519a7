//! Sizes: every key and value the engine acknowledges can be flushed and read back; longer
//! ones are refused before anything is written.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use strata::{Db, Error, Options, WriteBatch, WriteOptions, MAX_KEY_LEN};

/// A key longer than a table entry holds is refused before it is acknowledged, so it can
/// never break a flush (which would poison the database and fail every reopen); the longest
/// key goes through write, flush and reopen, and so does a value longer than a table entry
/// holds (it goes to a blob file).
#[test]
fn keys_a_table_cannot_hold_are_refused_up_front_and_long_values_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let too_long = vec![b'k'; MAX_KEY_LEN + 1];
    match db.put(&too_long, "v") {
        Err(Error::InvalidArgument(why)) => assert!(why.contains("key of"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        db.delete(&too_long),
        Err(Error::InvalidArgument(_))
    ));
    // A batch whose only operation was refused is not empty: writing it fails, it is never
    // skipped as a no-op and acknowledged.
    let mut batch = WriteBatch::new();
    batch.put(&too_long, "v");
    assert!(!batch.is_empty());
    assert!(matches!(
        db.write(batch, WriteOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
    let longest = vec![b'k'; MAX_KEY_LEN];
    let big = vec![7u8; strata_sstable::MAX_VALUE_LEN + 1];
    db.put(&longest, "longest key").unwrap();
    db.put("big", &big).unwrap();
    db.put("small", "after").unwrap();
    db.flush().unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get(&longest).unwrap(), Some(b"longest key".to_vec()));
    assert!(db.get("big").unwrap() == Some(big));
    assert_eq!(db.get(&too_long).unwrap(), None);
    assert_eq!(db.get("small").unwrap(), Some(b"after".to_vec()));
}
