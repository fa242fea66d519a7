//! Helpers shared by the integration tests.
#![allow(dead_code)]
// Test helpers, not `#[test]` functions, so clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use strata_wal::{Reader, RecoveryMode, SyncMode, TornTail, Writer, BLOCK_SIZE, HEADER_SIZE};

/// A log written by `Writer`, with the end offset of every record.
pub struct Log {
    pub records: Vec<Vec<u8>>,
    pub bytes: Vec<u8>,
    /// `ends[i]` is the offset just past record `i`.
    pub ends: Vec<u64>,
    /// `starts[i]` is the offset of the first fragment of record `i`.
    pub starts: Vec<u64>,
}

pub fn write_log(records: &[Vec<u8>]) -> Log {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000001.log");
    let mut writer = Writer::create(&path, 1, SyncMode::Never).unwrap();
    let mut ends = Vec::new();
    let mut starts = Vec::new();
    for record in records {
        let at = writer.offset();
        let left = BLOCK_SIZE as u64 - at % BLOCK_SIZE as u64;
        starts.push(if left < HEADER_SIZE as u64 {
            at + left
        } else {
            at
        });
        writer.append(record).unwrap();
        ends.push(writer.offset());
    }
    writer.sync().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, writer.offset());
    Log {
        records: records.to_vec(),
        bytes,
        ends,
        starts,
    }
}

/// What reading a whole log gave: the records returned before the end or
/// the error, the error, and the dropped tail.
pub struct Outcome {
    pub records: Vec<Vec<u8>>,
    pub error: Option<strata_wal::Error>,
    pub tail: Option<TornTail>,
}

pub fn read_all(bytes: &[u8], mode: RecoveryMode) -> Outcome {
    let mut records = Vec::new();
    let mut reader = match Reader::new(bytes, PathBuf::from("test.log"), mode) {
        Ok(reader) => reader,
        Err(error) => {
            return Outcome {
                records,
                error: Some(error),
                tail: None,
            }
        }
    };
    let error = loop {
        match reader.next_record() {
            Ok(Some(record)) => records.push(record),
            Ok(None) => break None,
            Err(error) => break Some(error),
        }
    };
    Outcome {
        records,
        error,
        tail: reader.dropped_tail().cloned(),
    }
}

/// Deterministic pseudo-random bytes.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
