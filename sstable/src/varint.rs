//! Varints: 7 bits per byte, least significant group first, high bit = "more" (LevelDB's and
//! protobuf's encoding). Used by blocks, index entries and properties here, and by the engine's
//! write-batch encoding.
//!
//! ```text
//! varint32 := 1..5 bytes     varint64 := 1..10 bytes
//! ```

/// Longest varint32 encoding.
pub const MAX_VARINT32_LEN: usize = 5;
/// Longest varint64 encoding.
pub const MAX_VARINT64_LEN: usize = 10;

/// Appends `v` as a varint32.
pub fn put_varint32(buf: &mut Vec<u8>, v: u32) {
    put_varint64(buf, u64::from(v));
}

/// Appends `v` as a varint64.
pub fn put_varint64(buf: &mut Vec<u8>, v: u64) {
    let mut bytes = [0; MAX_VARINT64_LEN];
    let n = encode_varint64(v, &mut bytes);
    buf.extend_from_slice(&bytes[..n]);
}

/// Writes `v` as a varint64 at the start of `out`; returns the bytes used.
pub fn encode_varint64(mut v: u64, out: &mut [u8; MAX_VARINT64_LEN]) -> usize {
    let mut n = 0;
    // A u64 takes at most 10 groups of 7 bits, so `n` stays below 10.
    for slot in out.iter_mut() {
        if v < 0x80 {
            *slot = v as u8;
            n += 1;
            break;
        }
        *slot = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    n
}

/// Decodes a varint64 from the start of `src`: `(value, bytes used)`, or `None` if it is
/// truncated, longer than 10 bytes or overflows 64 bits.
#[inline]
pub fn get_varint64(src: &[u8]) -> Option<(u64, usize)> {
    // Most varints in blocks (lengths, shared prefixes, zeroed trailers) are one byte.
    match src.first() {
        Some(&byte) if byte < 0x80 => Some((u64::from(byte), 1)),
        _ => get_varint64_long(src),
    }
}

/// [`get_varint64`] for any length.
#[inline]
fn get_varint64_long(src: &[u8]) -> Option<(u64, usize)> {
    // Two bytes (values below 2^14) without the general loop.
    if let Some(&[b0, b1]) = src.first_chunk::<2>() {
        if b0 >= 0x80 && b1 < 0x80 {
            return Some((u64::from(b0 & 0x7F) | u64::from(b1) << 7, 2));
        }
    }
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
#[inline]
pub fn get_varint32(src: &[u8]) -> Option<(u32, usize)> {
    if let Some(&byte) = src.first() {
        if byte < 0x80 {
            return Some((u32::from(byte), 1));
        }
    }
    let head = src.get(..MAX_VARINT32_LEN).unwrap_or(src);
    let (v, n) = get_varint64_long(head)?;
    Some((u32::try_from(v).ok()?, n))
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
        }
    }
}
