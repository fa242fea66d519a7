//! The engine's error type.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Errors returned by the engine.
///
/// `Error` is `Clone` (I/O errors are shared behind an `Arc`) so that one background failure can
/// be handed to every writer that is waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error.
    #[error("I/O error: {0}")]
    Io(Arc<io::Error>),
    /// A file's bytes are not what Strata wrote: a checksum mismatch, a bad magic number, a
    /// truncated structure. Names the file and the byte offset of the damage.
    #[error("corruption in {file} at offset {offset}: {reason}")]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damaged structure within the file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The caller passed something the engine cannot accept (an oversized key, a bad option).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Another process (or another `Db` in this process) holds the directory's LOCK file.
    #[error("database directory {0} is locked by another process")]
    Locked(PathBuf),
    /// `Options::create_if_missing` is false and there is no database at the path.
    #[error("no database at {0} (CURRENT is missing) and create_if_missing is false")]
    NotFound(PathBuf),
    /// A keyspace name that does not exist was asked for with a call that does not create it.
    #[error("no keyspace named {0:?}")]
    NoSuchKeyspace(String),
    /// A background job or a WAL sync failed earlier; the database refuses writes because the
    /// state of what reached disk is unknown. Reopen the database to recover.
    #[error("database is poisoned by an earlier failure: {0}")]
    Poisoned(String),
    /// The database has been closed.
    #[error("database is closed")]
    Closed,
}

/// Result type of the engine.
pub type Result<T> = std::result::Result<T, Error>;

/// Errors that mean running out of something (Rust has no kind for EMFILE and ENFILE).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const RUN_OUT: [i32; 5] = [
    libc::EMFILE,
    libc::ENFILE,
    libc::ENOSPC,
    libc::EDQUOT,
    libc::EFBIG,
];
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
const RUN_OUT: [i32; 0] = [];

/// The error a failpoint injects: the OS error numbered by its argument (`return(28)` is
/// ENOSPC), or EIO without one.
#[cfg(feature = "failpoints")]
pub(crate) fn injected(errno: Option<String>) -> io::Error {
    io::Error::from_raw_os_error(errno.and_then(|e| e.parse().ok()).unwrap_or(5))
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

impl From<strata_wal::Error> for Error {
    fn from(e: strata_wal::Error) -> Self {
        match e {
            strata_wal::Error::Io(e) => Error::Io(Arc::new(e)),
            strata_wal::Error::Corruption {
                file,
                offset,
                reason,
            } => Error::Corruption {
                file,
                offset,
                reason,
            },
            strata_wal::Error::Poisoned => {
                Error::Poisoned("an earlier WAL write or fsync failed".into())
            }
            other => Error::Poisoned(other.to_string()),
        }
    }
}

impl From<strata_sstable::Error> for Error {
    fn from(e: strata_sstable::Error) -> Self {
        match e {
            strata_sstable::Error::Io(e) => Error::Io(Arc::new(e)),
            strata_sstable::Error::Corruption {
                file,
                offset,
                reason,
            } => Error::Corruption {
                file,
                offset,
                reason,
            },
            strata_sstable::Error::InvalidArgument(s) => Error::InvalidArgument(s),
            other => Error::InvalidArgument(other.to_string()),
        }
    }
}

/// A compaction job's error (also a flush's: flush runs the same job).
impl From<strata_compaction::Error> for Error {
    fn from(e: strata_compaction::Error) -> Self {
        match e {
            strata_compaction::Error::Table(t) => t.into(),
            other => Error::InvalidArgument(other.to_string()),
        }
    }
}

impl Error {
    /// An I/O error on `path`, named in the message (the kind is kept): what failed at open
    /// (ENOENT, ENOSPC, EACCES) says which file.
    pub(crate) fn io_at(path: &std::path::Path, e: io::Error) -> Error {
        Error::Io(Arc::new(io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        )))
    }

    /// A log writer's error on `path` (a WAL or the MANIFEST), its I/O errors named.
    pub(crate) fn wal_at(path: &std::path::Path, e: strata_wal::Error) -> Error {
        match e {
            strata_wal::Error::Io(io) => Error::io_at(path, io),
            other => other.into(),
        }
    }

    /// Whether this is running out of something that may come back: disk space, quota, a
    /// file-size limit, file descriptors. A flush or compaction that failed so can be retried.
    pub fn is_transient(&self) -> bool {
        let Error::Io(e) = self else {
            return false;
        };
        matches!(
            e.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge
        ) || e.raw_os_error().is_some_and(|code| RUN_OUT.contains(&code))
    }

    /// Builds a corruption error.
    pub(crate) fn corruption(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        Error::Corruption {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }

    /// True for [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }
}
