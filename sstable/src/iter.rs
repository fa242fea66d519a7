//! The cursor trait every sorted source implements (LevelDB's `Iterator`).

use crate::error::Result;

/// A cursor over entries in internal-key order (see [`crate::compare_internal`]).
///
/// After an error the iterator is invalid and [`status`](Self::status) returns the error.
/// Calling `next`, `prev`, `key` or `value` while invalid does not panic: the moves do
/// nothing and the accessors return an empty slice.
pub trait InternalIterator {
    /// Whether the cursor is on an entry.
    fn valid(&self) -> bool;
    /// Positions at the first entry (invalid if there is none).
    fn seek_to_first(&mut self);
    /// Positions at the last entry (invalid if there is none).
    fn seek_to_last(&mut self);
    /// Positions at the first entry whose key is >= `target` (internal order).
    fn seek(&mut self, target: &[u8]);
    /// Positions at the last entry whose key is <= `target` (internal order).
    fn seek_for_prev(&mut self, target: &[u8]);
    /// Moves to the next entry. Requires `valid()`.
    fn next(&mut self);
    /// Moves to the previous entry. Requires `valid()`.
    fn prev(&mut self);
    /// The current encoded internal key; only meaningful if `valid()`.
    fn key(&self) -> &[u8];
    /// The current value; only meaningful if `valid()`.
    fn value(&self) -> &[u8];
    /// The first error met, if any.
    ///
    /// # Errors
    ///
    /// Returns the error (e.g. [`crate::Error::Corruption`]) that made the iterator invalid.
    fn status(&self) -> Result<()>;
}

impl<I: InternalIterator + ?Sized> InternalIterator for Box<I> {
    fn valid(&self) -> bool {
        (**self).valid()
    }
    fn seek_to_first(&mut self) {
        (**self).seek_to_first();
    }
    fn seek_to_last(&mut self) {
        (**self).seek_to_last();
    }
    fn seek(&mut self, target: &[u8]) {
        (**self).seek(target);
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        (**self).seek_for_prev(target);
    }
    fn next(&mut self) {
        (**self).next();
    }
    fn prev(&mut self) {
        (**self).prev();
    }
    fn key(&self) -> &[u8] {
        (**self).key()
    }
    fn value(&self) -> &[u8] {
        (**self).value()
    }
    fn status(&self) -> Result<()> {
        (**self).status()
    }
}
