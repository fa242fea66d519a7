//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

use std::path::Path;

/// Bytes of `log` up to its last non-zero byte: its records, when the last one ends in a
/// non-zero byte. A WAL grows ahead of its records in zeros (preallocation), so the file's
/// length does not say how much was written.
pub fn content_len(log: &Path) -> u64 {
    let bytes = std::fs::read(log).unwrap();
    bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i as u64 + 1)
}

/// Copies a database directory, without its LOCK file, as the disk holds it now. A file that
/// vanishes while copying (an obsolete WAL deleted by a background flush) is left out, as a
/// crash at that moment would leave it.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "LOCK" {
            continue;
        }
        match std::fs::copy(e.path(), to.join(e.file_name())) {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => panic!("copy {}: {err}", e.path().display()),
        }
    }
}

/// The newest WAL file of the database in `dir`.
pub fn newest_log(dir: &Path) -> std::path::PathBuf {
    let mut logs: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}
