//! Names of the files in a database directory (docs/architecture.md, "On disk and recovery").

use std::path::{Path, PathBuf};

/// The kinds of file the engine creates in its directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `000012.log`: a write-ahead log.
    Log(u64),
    /// `000010.sst`: a table.
    Table(u64),
    /// `000011.blob`: a blob file (large values kept out of the tables).
    Blob(u64),
    /// `MANIFEST-000005`: a log of version edits.
    Manifest(u64),
    /// `CURRENT`: names the live manifest.
    Current,
    /// `LOCK`: the process lock.
    Lock,
    /// `CURRENT.tmp`: the next CURRENT being written (the only temporary file the engine
    /// makes; any other `*.tmp` is not its own and is left alone).
    Temp,
}

pub(crate) fn log_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:06}.log"))
}

pub(crate) fn table_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:06}.sst"))
}

pub(crate) fn blob_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:06}.blob"))
}

pub(crate) fn manifest_name(number: u64) -> String {
    format!("MANIFEST-{number:06}")
}

pub(crate) fn current_path(dir: &Path) -> PathBuf {
    dir.join("CURRENT")
}

pub(crate) fn lock_path(dir: &Path) -> PathBuf {
    dir.join("LOCK")
}

/// Parses a directory entry's name; `None` for files that are not the engine's.
pub(crate) fn parse(name: &str) -> Option<FileKind> {
    if name == "CURRENT" {
        return Some(FileKind::Current);
    }
    if name == "LOCK" {
        return Some(FileKind::Lock);
    }
    if name == "CURRENT.tmp" {
        return Some(FileKind::Temp);
    }
    if let Some(n) = name.strip_prefix("MANIFEST-") {
        return n.parse().ok().map(FileKind::Manifest);
    }
    if let Some(n) = name.strip_suffix(".log") {
        return n.parse().ok().map(FileKind::Log);
    }
    if let Some(n) = name.strip_suffix(".sst") {
        return n.parse().ok().map(FileKind::Table);
    }
    if let Some(n) = name.strip_suffix(".blob") {
        return n.parse().ok().map(FileKind::Blob);
    }
    None
}

/// Opens (creating it if needed) and takes the directory's `LOCK` file: an advisory `flock`
/// held as long as the returned file is open, so one process (one `Db`) uses a directory at
/// a time.
///
/// # Errors
/// [`Error::Locked`](crate::error::Error::Locked) if another holds it; I/O errors naming
/// the file.
pub(crate) fn lock_dir(dir: &Path) -> crate::error::Result<std::fs::File> {
    use crate::error::Error;
    let path = lock_path(dir);
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io_at(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io_at(&path, e)),
    }
}

/// fsyncs a directory so that file creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> crate::error::Result<()> {
    fail::fail_point!("dir::sync", |e| Err(crate::error::Error::io_at(
        dir,
        crate::error::injected(e)
    )));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| crate::error::Error::io_at(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let d = Path::new("/x");
        let log = log_path(d, 12);
        assert_eq!(log, Path::new("/x/000012.log"));
        assert_eq!(parse("000012.log"), Some(FileKind::Log(12)));
        assert_eq!(parse("1234567.sst"), Some(FileKind::Table(1234567)));
        assert_eq!(blob_path(d, 11), Path::new("/x/000011.blob"));
        assert_eq!(parse("000011.blob"), Some(FileKind::Blob(11)));
        assert_eq!(parse(&manifest_name(5)), Some(FileKind::Manifest(5)));
        assert_eq!(parse("CURRENT"), Some(FileKind::Current));
        assert_eq!(parse("CURRENT.tmp"), Some(FileKind::Temp));
        assert_eq!(parse("LOCK"), Some(FileKind::Lock));
        assert_eq!(parse("notes.txt"), None);
        assert_eq!(
            parse("backup.tmp"),
            None,
            "only CURRENT.tmp is the engine's"
        );
        assert_eq!(parse("abc.log"), None);
    }
}
