//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Errors returned by the log writer and reader.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),

    /// The file's bytes violate the format. `offset` is the byte offset in
    /// `file` where the damage was found.
    #[error("corruption in {} at offset {offset}: {reason}", file.display())]
    Corruption {
        /// The file (or the name given to the reader).
        file: PathBuf,
        /// Byte offset of the damaged fragment (or of the start of the
        /// incomplete record, for a torn tail rejected in strict mode).
        offset: u64,
        /// What is wrong, e.g. "fragment checksum mismatch".
        reason: String,
    },

    /// An earlier write or fsync on this writer failed. What reached the disk
    /// is unknown, so the writer refuses further writes; start a new log file.
    #[error("log writer is poisoned: an earlier write or fsync failed")]
    Poisoned,
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruption_display_names_file_and_offset() {
        let err = Error::Corruption {
            file: PathBuf::from("000012.log"),
            offset: 32768,
            reason: "fragment checksum mismatch".to_owned(),
        };
        assert_eq!(
            err.to_string(),
            "corruption in 000012.log at offset 32768: fragment checksum mismatch"
        );
    }
}
