//! [`BlockHandle`], the pointer from one block to another.
//!
//! ```text
//! block_handle := offset: varint64  size: varint64      (in index entries)
//! ```
//! `size` excludes the 5-byte block trailer.

use crate::varint::{get_varint64, put_varint64, MAX_VARINT64_LEN};

/// Where a block lives in the file: `size` bytes at `offset`, followed by its trailer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BlockHandle {
    /// Byte offset of the block's first byte.
    pub offset: u64,
    /// Stored size of the block, excluding the 5-byte trailer.
    pub size: u64,
}

impl BlockHandle {
    /// Longest varint encoding of a handle.
    pub(crate) const MAX_ENCODED_LEN: usize = 2 * MAX_VARINT64_LEN;

    /// Appends the varint encoding used in index entries.
    pub(crate) fn encode_varint_into(&self, buf: &mut Vec<u8>) {
        put_varint64(buf, self.offset);
        put_varint64(buf, self.size);
    }

    /// Decodes a varint-encoded handle that must fill `src` exactly.
    pub(crate) fn decode_varint(src: &[u8]) -> Option<BlockHandle> {
        let (offset, n) = get_varint64(src)?;
        let rest = src.get(n..)?;
        let (size, m) = get_varint64(rest)?;
        if m != rest.len() {
            return None;
        }
        Some(BlockHandle { offset, size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn handle_round_trip() {
        let h = BlockHandle {
            offset: 1 << 40,
            size: 4096,
        };
        let mut buf = Vec::new();
        h.encode_varint_into(&mut buf);
        assert!(buf.len() <= BlockHandle::MAX_ENCODED_LEN);
        assert_eq!(BlockHandle::decode_varint(&buf), Some(h));
        buf.push(0);
        assert_eq!(BlockHandle::decode_varint(&buf), None);
        assert_eq!(BlockHandle::decode_varint(&buf[..1]), None);
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            let _ = BlockHandle::decode_varint(&bytes);
        }
    }
}
