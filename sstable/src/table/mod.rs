//! Tables: the builder that writes them, the reader that opens them, their iterator.
//!
//! ```text
//! table := data_block* filter_block properties_block index_block footer
//! ```
//! Every block is followed by its 5-byte trailer (see `block::trailer`). The index block
//! (restart interval 1) maps the last internal key of each data block to the block's
//! handle. The footer (see `footer`) locates the filter, properties and index blocks.

mod builder;
mod iter;
mod options;
mod reader;

pub use builder::{TableBuilder, TableSummary};
pub use iter::TableIter;
pub use options::{Compression, TableOptions, MAX_KEY_LEN, MAX_VALUE_LEN};
pub use reader::{MetaBlocks, Table};

#[cfg(test)]
mod tests;
