//! Damaged logs: bit flips, truncation, and corruption before valid data.

mod common;

use common::{pattern, read_all, write_log, Log, Outcome};
use strata_wal::{Error, RecoveryMode, BLOCK_SIZE, FILE_HEADER_SIZE, HEADER_SIZE};

fn small_records() -> Vec<Vec<u8>> {
    vec![
        b"alpha".to_vec(),
        Vec::new(),
        pattern(100, 1),
        b"b".to_vec(),
        pattern(300, 2),
    ]
}

/// Records across several blocks, including records spanning blocks.
fn multi_block_records() -> Vec<Vec<u8>> {
    (0..40u64)
        .map(|i| {
            pattern(
                match i % 4 {
                    0 => 5,
                    1 => 3_000,
                    2 => 40_000,
                    _ => 0,
                },
                i,
            )
        })
        .collect()
}

/// The offsets at which a cut leaves only complete records: record ends,
/// and any point in the block trailer that follows a record end.
fn clean_cuts(log: &Log) -> Vec<u64> {
    let mut cuts = vec![
        0,
        log.starts
            .first()
            .copied()
            .unwrap_or(log.bytes.len() as u64),
    ];
    for &end in &log.ends {
        let left = BLOCK_SIZE as u64 - end % BLOCK_SIZE as u64;
        let trailer = if left < HEADER_SIZE as u64 { left } else { 0 };
        cuts.extend(end..=end + trailer);
    }
    cuts
}

/// Never a wrong record: what was returned is a prefix of `records`, and a
/// shortened list always comes with an error or a dropped tail.
fn assert_no_wrong_record(outcome: &Outcome, records: &[Vec<u8>], what: &str) {
    assert!(
        outcome.records.len() <= records.len(),
        "{what}: too many records"
    );
    assert!(
        outcome.records[..] == records[..outcome.records.len()],
        "{what}: wrong record"
    );
    if let Some(error) = &outcome.error {
        assert!(matches!(error, Error::Corruption { .. }), "{what}: {error}");
    }
    if outcome.records.len() < records.len() {
        assert!(
            outcome.error.is_some() || outcome.tail.is_some(),
            "{what}: records lost silently"
        );
    }
}

#[test]
fn every_byte_flipped_in_a_small_log() {
    let records = small_records();
    let log = write_log(&records);
    for pos in 0..log.bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bytes = log.bytes.clone();
            bytes[pos] ^= mask;
            for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::Strict] {
                let outcome = read_all(&bytes, mode);
                let what = format!("flip {mask:#x} at {pos} ({mode:?})");
                assert_no_wrong_record(&outcome, &records, &what);
                // Every byte of a small log is covered by a checksum.
                assert!(outcome.error.is_some() || outcome.tail.is_some(), "{what}");
            }
        }
    }
}

#[test]
fn bytes_flipped_in_a_multi_block_log() {
    let records = multi_block_records();
    let log = write_log(&records);
    let len = log.bytes.len();
    assert!(len > 10 * BLOCK_SIZE);
    let mut positions: Vec<usize> = (0..len).step_by(211).collect();
    // Fragment headers around every block boundary.
    for block in (0..len).step_by(BLOCK_SIZE) {
        positions.extend(block.saturating_sub(12)..(block + 12).min(len));
    }
    for pos in positions {
        let mut bytes = log.bytes.clone();
        bytes[pos] ^= 0x10;
        let outcome = read_all(&bytes, RecoveryMode::TolerateTornTail);
        let what = format!("flip at {pos}");
        assert_no_wrong_record(&outcome, &records, &what);
        if let Some(Error::Corruption { offset, .. }) = &outcome.error {
            // The reported fragment is at or before the flipped byte, in the
            // same block, and after every record returned.
            assert!(*offset <= pos as u64, "{what}: offset {offset}");
            assert_eq!(
                *offset / BLOCK_SIZE as u64,
                pos as u64 / BLOCK_SIZE as u64,
                "{what}"
            );
        }
        if outcome.tail.is_some() {
            // Only damage in the last block can be a torn tail.
            assert_eq!(pos / BLOCK_SIZE, (len - 1) / BLOCK_SIZE, "{what}");
        }
    }
}

#[test]
fn truncation_at_every_offset() {
    let records = vec![
        b"one".to_vec(),
        pattern(BLOCK_SIZE - FILE_HEADER_SIZE - 7 - 7 - 3 - 6, 1), // leaves a 6-byte trailer
        pattern(50_000, 2),                                        // First, Last
        b"".to_vec(),
        pattern(70_000, 3), // First, Middle, Last
        b"tail".to_vec(),
    ];
    let log = write_log(&records);
    let clean = clean_cuts(&log);
    for cut in 0..=log.bytes.len() {
        let bytes = &log.bytes[..cut];
        let complete = log.ends.iter().filter(|&&end| end <= cut as u64).count();
        let is_clean = clean.contains(&(cut as u64));

        let tolerant = read_all(bytes, RecoveryMode::TolerateTornTail);
        assert!(tolerant.error.is_none(), "cut {cut}: {:?}", tolerant.error);
        assert!(tolerant.records[..] == records[..complete], "cut {cut}");
        assert_eq!(tolerant.tail.is_some(), !is_clean, "cut {cut}");
        if let Some(tail) = &tolerant.tail {
            let expected = if complete == 0 && cut < log.starts[0] as usize {
                0 // the file header itself is torn
            } else {
                log.starts[complete]
            };
            assert_eq!(tail.offset, expected, "cut {cut}");
        }

        let strict = read_all(bytes, RecoveryMode::Strict);
        if is_clean {
            assert!(strict.error.is_none(), "cut {cut}: {:?}", strict.error);
            assert!(strict.records[..] == records[..complete], "cut {cut}");
        } else {
            match &strict.error {
                Some(Error::Corruption { offset, reason, .. }) => {
                    assert_eq!(Some(*offset), tolerant.tail.as_ref().map(|t| t.offset));
                    assert!(reason.starts_with("torn tail: "), "cut {cut}: {reason}");
                }
                other => panic!("cut {cut}: expected corruption, got {other:?}"),
            }
            assert!(strict.records[..] == records[..complete], "cut {cut}");
        }
    }
}

#[test]
fn corruption_in_the_middle_names_the_fragment() {
    let records = multi_block_records();
    let log = write_log(&records);
    // The first record that starts inside block 2.
    let victim = log
        .starts
        .iter()
        .position(|&s| s >= 2 * BLOCK_SIZE as u64)
        .unwrap();
    let start = log.starts[victim];
    let mut bytes = log.bytes.clone();
    bytes[start as usize + HEADER_SIZE] ^= 1; // first payload byte (or the next header for an empty record)
    if records[victim].is_empty() {
        bytes = log.bytes.clone();
        bytes[start as usize] ^= 1; // its checksum
    }
    for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::Strict] {
        let outcome = read_all(&bytes, mode);
        assert!(outcome.records[..] == records[..victim]);
        match outcome.error {
            Some(Error::Corruption {
                file,
                offset,
                reason,
            }) => {
                assert_eq!(file, std::path::PathBuf::from("test.log"));
                assert_eq!(offset, start);
                assert_eq!(reason, "fragment checksum mismatch");
            }
            other => panic!("expected corruption, got {other:?}"),
        }
        assert!(outcome.tail.is_none());
    }
}

#[test]
fn damaged_middle_fragment_at_a_block_start() {
    // A 3-block record: its Middle fragment starts block 1.
    let records = vec![b"x".to_vec(), pattern(3 * BLOCK_SIZE, 9), b"after".to_vec()];
    let log = write_log(&records);
    let mut bytes = log.bytes.clone();
    bytes[BLOCK_SIZE + HEADER_SIZE + 10] ^= 0x40;
    let outcome = read_all(&bytes, RecoveryMode::TolerateTornTail);
    assert_eq!(outcome.records, records[..1]);
    match outcome.error {
        Some(Error::Corruption { offset, .. }) => assert_eq!(offset, BLOCK_SIZE as u64),
        other => panic!("expected corruption, got {other:?}"),
    }

    // The same damage with nothing valid after it is a torn tail that starts
    // at the record's First fragment.
    let cut = &bytes[..2 * BLOCK_SIZE + 100];
    let outcome = read_all(cut, RecoveryMode::TolerateTornTail);
    assert!(outcome.error.is_none());
    assert_eq!(outcome.records, records[..1]);
    let tail = outcome.tail.unwrap();
    assert_eq!(tail.offset, log.starts[1]);
    assert_eq!(
        tail.reason,
        format!("fragment checksum mismatch at offset {BLOCK_SIZE}")
    );
}

#[test]
fn zeroed_end_is_the_end_of_the_log_and_zeroed_middle_is_corruption() {
    let records = multi_block_records();
    let log = write_log(&records);

    // Preallocated zeros after the last record: the log ends there, in every mode.
    let mut bytes = log.bytes.clone();
    bytes.extend(vec![0u8; 3 * BLOCK_SIZE + 5]);
    for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::Strict] {
        let outcome = read_all(&bytes, mode);
        assert!(outcome.error.is_none());
        assert!(outcome.records == records);
        assert_eq!(outcome.tail, None);
    }

    // A zeroed page in block 1, with valid blocks after it.
    let mut bytes = log.bytes.clone();
    let page = BLOCK_SIZE + 4096;
    bytes[page..page + 4096].fill(0);
    let outcome = read_all(&bytes, RecoveryMode::TolerateTornTail);
    assert!(matches!(outcome.error, Some(Error::Corruption { .. })));
    assert_no_wrong_record(&outcome, &records, "zeroed page");
}

#[test]
fn incomplete_tail_mode_drops_truncation_but_not_flipped_bytes() {
    let records = multi_block_records();
    let log = write_log(&records);
    let len = log.bytes.len();
    // Truncation anywhere past the header behaves as TolerateTornTail: a prefix, no error.
    for cut in (28..len).step_by(977) {
        let bytes = &log.bytes[..cut];
        let lenient = read_all(bytes, RecoveryMode::TolerateIncompleteTail);
        let tolerant = read_all(bytes, RecoveryMode::TolerateTornTail);
        assert!(lenient.error.is_none(), "cut {cut}: {:?}", lenient.error);
        assert!(lenient.records == tolerant.records, "cut {cut}");
        assert_eq!(lenient.tail, tolerant.tail, "cut {cut}");
    }
    // Zeros after the last record (the length was extended, the data never written) are an
    // incomplete end too.
    let mut extended = log.bytes.clone();
    extended.extend_from_slice(&[0; 100]);
    let outcome = read_all(&extended, RecoveryMode::TolerateIncompleteTail);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert!(outcome.records == records);
    // Zeros inside a complete fragment fail its checksum: that mode refuses to guess.
    let mut zeroed = log.bytes.clone();
    zeroed[len - 100..].fill(0);
    let outcome = read_all(&zeroed, RecoveryMode::TolerateIncompleteTail);
    assert!(
        matches!(outcome.error, Some(Error::Corruption { .. })),
        "{:?}",
        outcome.tail
    );
    // A flipped byte in the last block is damage to complete data: corruption.
    let last_block_start = (len - 1) / BLOCK_SIZE * BLOCK_SIZE;
    for pos in (last_block_start..len).step_by(331) {
        let mut bytes = log.bytes.clone();
        bytes[pos] ^= 0x10;
        let outcome = read_all(&bytes, RecoveryMode::TolerateIncompleteTail);
        assert_no_wrong_record(&outcome, &records, &format!("flip at {pos}"));
        if outcome.records.len() < records.len() {
            assert!(
                matches!(outcome.error, Some(Error::Corruption { .. })),
                "flip at {pos}: {:?} / {:?}",
                outcome.error,
                outcome.tail
            );
        }
    }
}
