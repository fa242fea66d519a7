//! Varint coding and [`BlockHandle`], the pointer from one block to another.
//!
//! ```text
//! varint32/varint64 := 7 bits per byte, least significant group first, high bit = "more"
//! block_handle      := offset: varint64  size: varint64      (in index entries)
//! ```
//! `size` excludes the 5-byte block trailer.

/// Longest varint32 encoding.
const MAX_VARINT32_LEN: usize = 5;
/// Longest varint64 encoding.
const MAX_VARINT64_LEN: usize = 10;

/// Appends `v` as a varint32.
pub(crate) fn put_varint32(buf: &mut Vec<u8>, v: u32) {
    put_varint64(buf, u64::from(v));
}

/// Appends `v` as a varint64.
pub(crate) fn put_varint64(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Decodes a varint64 from the start of `src`: `(value, bytes used)`, or `None` if it is
/// truncated, longer than 10 bytes or overflows 64 bits.
pub(crate) fn get_varint64(src: &[u8]) -> Option<(u64, usize)> {
    let mut result: u64 = 0;
    for (i, &byte) in src.iter().take(MAX_VARINT64_LEN).enumerate() {
        let shift = 7 * i as u32;
        let bits = u64::from(byte & 0x7F);
        if i == MAX_VARINT64_LEN - 1 && bits > 1 {
            return None; // would overflow 64 bits
        }
        result |= bits << shift;
        if byte & 0x80 == 0 {
            return Some((result, i + 1));
        }
    }
    None
}

/// Decodes a varint32 from the start of `src`: `(value, bytes used)`, or `None` if it is
/// truncated, longer than 5 bytes or overflows 32 bits.
pub(crate) fn get_varint32(src: &[u8]) -> Option<(u32, usize)> {
    let head = src.get(..MAX_VARINT32_LEN).unwrap_or(src);
    let (v, n) = get_varint64(head)?;
    Some((u32::try_from(v).ok()?, n))
}

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
    fn varint_edges() {
        for v in [
            0u64,
            1,
            127,
            128,
            16383,
            16384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            put_varint64(&mut buf, v);
            assert!(buf.len() <= MAX_VARINT64_LEN);
            assert_eq!(get_varint64(&buf), Some((v, buf.len())));
        }
        assert_eq!(get_varint64(&[]), None);
        assert_eq!(get_varint64(&[0x80]), None);
        assert_eq!(get_varint64(&[0xFF; 10]), None);
        assert_eq!(
            get_varint64(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]),
            None
        );
        let mut buf = Vec::new();
        put_varint64(&mut buf, u64::from(u32::MAX) + 1);
        assert_eq!(get_varint32(&buf), None);
        assert_eq!(get_varint32(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), None);
        let mut buf = Vec::new();
        put_varint32(&mut buf, u32::MAX);
        assert_eq!(get_varint32(&buf), Some((u32::MAX, 5)));
    }

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
        fn varint_round_trip(v in any::<u64>()) {
            let mut buf = Vec::new();
            put_varint64(&mut buf, v);
            prop_assert_eq!(get_varint64(&buf), Some((v, buf.len())));
        }

        #[test]
        fn varint_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            let _ = get_varint64(&bytes);
            let _ = get_varint32(&bytes);
            let _ = BlockHandle::decode_varint(&bytes);
        }
    }
}
