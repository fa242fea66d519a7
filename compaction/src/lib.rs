//! Strata's leveled compaction, as pure logic over table types.
//!
//! - [`picker`]: which files to compact next ([`picker::choose`]), from level sizes and
//!   targets; [`picker::manual`] for a requested range.
//! - [`job`]: the merge itself ([`job::run`]): keeps the newest version visible to each live
//!   snapshot, drops tombstones at the bottom, applies the [`CompactionFilter`], cuts outputs
//!   by size and grandparent overlap.
//! - [`MergingIter`]: the union of sorted iterators, shared with the engine's read path.
//!
//! It is not: a scheduler (no threads), a manifest writer or a file manager. The engine
//! (`strata`) runs jobs on its background threads, installs their outputs atomically and
//! deletes inputs once no reader holds them. See `docs/compaction.md`.

mod error;
mod filter;
pub mod job;
mod merge;
pub mod picker;

pub use error::{Error, Result};
pub use filter::{CompactionFilter, Decision};
pub use merge::{BoxedIter, MergingIter};
