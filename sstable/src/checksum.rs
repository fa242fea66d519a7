//! CRC32 (IEEE, via `crc32fast`) masked as in LevelDB, so that a CRC stored inside data that
//! is itself checksummed does not produce degenerate values.

const MASK_DELTA: u32 = 0xa282_ead8;

/// Masks a CRC: rotate right by 15 bits and add a constant.
pub(crate) fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Masked CRC32 of the concatenation of `parts`.
pub(crate) fn masked_crc(parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    mask(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_matches_leveldb_formula() {
        for c in [0u32, 1, 0xdead_beef, u32::MAX] {
            #[allow(clippy::manual_rotate)] // spelled as in LevelDB on purpose
            let leveldb = ((c >> 15) | (c << 17)).wrapping_add(0xa282ead8);
            assert_eq!(mask(c), leveldb);
        }
        assert_eq!(masked_crc(&[b"ab", b"c"]), mask(crc32fast::hash(b"abc")));
    }
}
