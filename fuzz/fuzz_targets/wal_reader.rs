//! Arbitrary bytes as a log file: the reader returns records or a typed error, never panics,
//! in both recovery modes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_wal::{Reader, RecoveryMode};

fuzz_target!(|data: &[u8]| {
    for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::Strict] {
        let Ok(mut reader) = Reader::new(data, "fuzz.log".into(), mode) else {
            continue;
        };
        let mut total = 0usize;
        while let Ok(Some(record)) = reader.next_record() {
            total += record.len();
            assert!(total <= data.len(), "records longer than the input");
        }
    }
});
