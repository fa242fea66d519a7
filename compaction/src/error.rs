//! The compaction crate's error type.

/// Errors of a compaction job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading an input table or writing an output table failed (I/O or corruption).
    #[error(transparent)]
    Table(#[from] strata_sstable::Error),
}

/// Result type of the compaction crate.
pub type Result<T> = std::result::Result<T, Error>;
