//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

use std::path::Path;

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
