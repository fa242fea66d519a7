//! The crate's error type.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while building or reading a table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system reported an I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),

    /// Bytes on disk do not form a valid table. `offset` is the byte offset of the damaged
    /// block or footer inside `file`.
    #[error("corruption in {} at offset {offset}: {reason}", file.display())]
    Corruption {
        /// The damaged file (for tables opened from memory, the name given to `open_bytes`).
        file: PathBuf,
        /// Byte offset of the damaged block or footer.
        offset: u64,
        /// What is wrong, e.g. "block checksum mismatch".
        reason: String,
    },

    /// The caller broke a documented precondition (e.g. keys out of order).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Builds a [`Error::Corruption`].
    pub(crate) fn corruption(file: &Path, offset: u64, reason: impl Into<String>) -> Error {
        Error::Corruption {
            file: file.to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }

    /// A copy of this error, for iterators that report a stored error from `status()` more
    /// than once. `io::Error` is not `Clone`, so an I/O error keeps its kind and message only.
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::Io(e) => Error::Io(io::Error::new(e.kind(), e.to_string())),
            Error::Corruption {
                file,
                offset,
                reason,
            } => Error::Corruption {
                file: file.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            Error::InvalidArgument(msg) => Error::InvalidArgument(msg.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruption_display_names_file_and_offset() {
        let e = Error::corruption(Path::new("/d/000001.sst"), 4096, "block checksum mismatch");
        assert_eq!(
            e.to_string(),
            "corruption in /d/000001.sst at offset 4096: block checksum mismatch"
        );
    }

    #[test]
    fn duplicate_keeps_content() {
        let e = Error::Io(io::Error::new(io::ErrorKind::NotFound, "gone"));
        let d = e.duplicate();
        assert!(matches!(d, Error::Io(ref io) if io.kind() == io::ErrorKind::NotFound));
        assert_eq!(e.to_string(), d.to_string());
    }
}
