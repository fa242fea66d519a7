//! Records written by `Writer` read back unchanged, whatever their sizes.

mod common;

use common::{pattern, read_all, write_log};
use proptest::prelude::*;
use strata_wal::{
    Reader, RecoveryMode, SyncMode, Writer, BLOCK_SIZE, FILE_HEADER_SIZE, HEADER_SIZE,
};

fn assert_round_trip(records: &[Vec<u8>]) {
    let log = write_log(records);
    for mode in [RecoveryMode::Strict, RecoveryMode::TolerateTornTail] {
        let outcome = read_all(&log.bytes, mode);
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        assert!(outcome.tail.is_none());
        assert!(outcome.records == records, "records differ");
    }
}

#[test]
fn boundary_sizes_alone_and_together() {
    let first_room = BLOCK_SIZE - FILE_HEADER_SIZE - HEADER_SIZE;
    let sizes = [
        0,
        1,
        first_room,               // exactly fills block 0
        first_room - 7,           // leaves room for an empty First fragment
        first_room - 6,           // leaves a 6-byte trailer
        BLOCK_SIZE - HEADER_SIZE, // a whole block, when it starts a block
        BLOCK_SIZE,
        100 * 1024,
        16 * 1024 * 1024 + 3,
    ];
    let all: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| pattern(n, i as u64))
        .collect();
    for record in &all {
        assert_round_trip(std::slice::from_ref(record));
    }
    assert_round_trip(&all);
    let mut reversed = all.clone();
    reversed.reverse();
    assert_round_trip(&reversed);
}

#[test]
fn exact_block_fill_needs_no_trailer() {
    let first_room = BLOCK_SIZE - FILE_HEADER_SIZE - HEADER_SIZE;
    let records = vec![pattern(first_room, 1), b"second".to_vec()];
    let log = write_log(&records);
    assert_eq!(log.ends[0], BLOCK_SIZE as u64);
    assert_eq!(log.starts[1], BLOCK_SIZE as u64);
    assert_round_trip(&records);
}

#[test]
fn many_records_across_many_blocks() {
    let records: Vec<Vec<u8>> = (0..5_000u64)
        .map(|i| pattern((i * 7919 % 3_000) as usize, i))
        .collect();
    let log = write_log(&records);
    assert!(log.bytes.len() > 100 * BLOCK_SIZE);
    assert_round_trip(&records);
}

#[test]
fn open_reads_file_number_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000123.log");
    let mut writer = Writer::create(&path, 123, SyncMode::Always).unwrap();
    assert!(writer
        .append_batch(&[b"a".as_slice(), b"bc"], false)
        .unwrap());
    drop(writer);

    let mut reader = Reader::open(&path, RecoveryMode::Strict).unwrap();
    assert_eq!(reader.file_number(), Some(123));
    assert_eq!(reader.next_record().unwrap().unwrap(), b"a");
    assert_eq!(reader.next_record().unwrap().unwrap(), b"bc");
    assert_eq!(reader.next_record().unwrap(), None);
    assert_eq!(reader.dropped_tail(), None);
    assert_eq!(reader.valid_end(), std::fs::metadata(&path).unwrap().len());
}

#[test]
fn open_missing_file_is_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Reader::open(&dir.path().join("nope.log"), RecoveryMode::Strict).unwrap_err();
    assert!(matches!(err, strata_wal::Error::Io(_)));
}

fn records_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let record = prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..64),
        2 => proptest::collection::vec(any::<u8>(), 0..2 * BLOCK_SIZE),
        1 => (0usize..12).prop_map(|d| vec![0xab; BLOCK_SIZE - FILE_HEADER_SIZE - HEADER_SIZE - d]),
    ];
    proptest::collection::vec(record, 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_records_round_trip(records in records_strategy()) {
        let log = write_log(&records);
        let outcome = read_all(&log.bytes, RecoveryMode::Strict);
        prop_assert!(outcome.error.is_none());
        prop_assert!(outcome.records == records);
    }

    #[test]
    fn random_truncation_returns_the_complete_prefix(
        records in records_strategy(),
        cut in any::<prop::sample::Index>(),
    ) {
        let log = write_log(&records);
        let cut = cut.index(log.bytes.len() + 1);
        let outcome = read_all(&log.bytes[..cut], RecoveryMode::TolerateTornTail);
        prop_assert!(outcome.error.is_none(), "{:?}", outcome.error);
        let complete = log.ends.iter().filter(|&&end| end <= cut as u64).count();
        prop_assert!(outcome.records[..] == records[..complete]);
    }
}

/// A preallocating writer: the file runs ahead of the log in zeros, which every mode reads as
/// the end of the log; `finish` cuts them off.
#[test]
fn preallocated_logs_read_back_in_every_mode_and_finish_cuts_the_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000009.log");
    let mut w = Writer::create(&path, 9, SyncMode::Never).unwrap();
    w.preallocate(1 << 20).unwrap();
    let records: Vec<Vec<u8>> = (0..300).map(|i| pattern(100 + i * 37, i as u64)).collect();
    // Past one step, so the file is extended on the way.
    let mut big = records.clone();
    big.push(pattern(3 << 20, 7));
    w.append_batch(&big, true).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(
        len,
        w.offset().next_multiple_of(1 << 20),
        "extended in whole steps"
    );
    assert!(len > 4 << 20);
    assert!(w.offset() < len);
    let bytes = std::fs::read(&path).unwrap();
    for mode in [
        RecoveryMode::Strict,
        RecoveryMode::TolerateIncompleteTail,
        RecoveryMode::TolerateTornTail,
    ] {
        let outcome = read_all(&bytes, mode);
        assert!(outcome.error.is_none(), "{mode:?}: {:?}", outcome.error);
        assert!(
            outcome.tail.is_none(),
            "{mode:?}: zeros are not a torn tail"
        );
        assert!(outcome.records == big, "{mode:?}: records differ");
    }
    w.finish().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), w.offset());
    assert_eq!(w.synced_offset(), w.offset());
    // Appending after finish extends the file again.
    w.append_batch(&[b"after".to_vec()], true).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        w.offset().next_multiple_of(1 << 20)
    );
    let outcome = read_all(&std::fs::read(&path).unwrap(), RecoveryMode::Strict);
    assert!(outcome.error.is_none());
    assert_eq!(outcome.records.len(), big.len() + 1);
}
