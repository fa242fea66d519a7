//! The on-disk layout: constants, fragment types, header encoding and checksums.
//!
//! ```text
//! file      := block* partial_block?
//! block     := fragment* trailer?            (exactly BLOCK_SIZE bytes; the last block may be short)
//! trailer   := 0x00{0..6}                    (only when < HEADER_SIZE bytes are left in the block)
//! fragment  := checksum: u32 LE | length: u16 LE | type: u8 | payload: u8[length]
//! checksum  := mask(crc32(type || payload))
//! record    := Full | First Middle* Last
//! contents  := FileHeader record*            (the FileHeader fragment sits at offset 0)
//! FileHeader.payload := magic: "STRATALG" | version: u32 LE | file_number: u64 LE
//!                       | record_format: u32 LE                         (version 2 only)
//! ```
//!
//! Invariant: a fragment never crosses a block boundary.
//!
//! The full specification, with the recovery rules, is `docs/format-wal.md`.

/// Size of a block. Fragments never cross a block boundary.
pub const BLOCK_SIZE: usize = 32 * 1024;

/// Size of a fragment header: checksum (4) + length (2) + type (1).
pub const HEADER_SIZE: usize = 7;

/// Magic number at the start of the file header payload.
pub const MAGIC: [u8; 8] = *b"STRATALG";

/// The format version this crate writes. It reads this one and version 1 (whose header has
/// no record format: it reads as 0).
pub const FORMAT_VERSION: u32 = 2;

/// Payload length of the file header fragment: magic + version + file number + record format.
pub(crate) const FILE_HEADER_PAYLOAD: usize = 8 + 4 + 8 + 4;

/// Payload length of a version 1 file header: magic + version + file number.
pub(crate) const FILE_HEADER_PAYLOAD_V1: usize = 8 + 4 + 8;

/// Bytes taken by the file header fragment at offset 0.
pub const FILE_HEADER_SIZE: usize = HEADER_SIZE + FILE_HEADER_PAYLOAD;

/// Largest payload a single fragment can carry.
pub(crate) const MAX_FRAGMENT_PAYLOAD: usize = BLOCK_SIZE - HEADER_SIZE;

const MASK_DELTA: u32 = 0xa282_ead8;

/// Fragment types.
///
/// DO NOT CHANGE THESE VALUES: they are embedded in the on-disk data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum FragmentType {
    /// Reserved: preallocated or never-written space. Never written.
    Zero = 0,
    /// A whole record in one fragment.
    Full = 1,
    /// The first fragment of a record.
    First = 2,
    /// An interior fragment of a record.
    Middle = 3,
    /// The last fragment of a record.
    Last = 4,
    /// The file header; only at offset 0.
    FileHeader = 5,
}

impl FragmentType {
    pub(crate) fn from_u8(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Self::Zero),
            1 => Some(Self::Full),
            2 => Some(Self::First),
            3 => Some(Self::Middle),
            4 => Some(Self::Last),
            5 => Some(Self::FileHeader),
            _ => None,
        }
    }
}

/// A decoded fragment header. The type stays a raw byte: the reader decides
/// what an unknown value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) checksum: u32,
    pub(crate) length: u16,
    pub(crate) kind: u8,
}

impl Header {
    pub(crate) fn decode(bytes: [u8; HEADER_SIZE]) -> Self {
        let [c0, c1, c2, c3, l0, l1, kind] = bytes;
        Self {
            checksum: u32::from_le_bytes([c0, c1, c2, c3]),
            length: u16::from_le_bytes([l0, l1]),
            kind,
        }
    }

    /// Builds the header for `payload`, computing its checksum.
    ///
    /// The caller guarantees `payload.len() <= MAX_FRAGMENT_PAYLOAD`, which
    /// fits in a `u16`.
    pub(crate) fn for_payload(kind: FragmentType, payload: &[u8]) -> Self {
        debug_assert!(payload.len() <= MAX_FRAGMENT_PAYLOAD);
        let length = u16::try_from(payload.len()).unwrap_or(u16::MAX);
        Self {
            checksum: checksum(kind as u8, payload),
            length,
            kind: kind as u8,
        }
    }

    pub(crate) fn encode(&self) -> [u8; HEADER_SIZE] {
        let [c0, c1, c2, c3] = self.checksum.to_le_bytes();
        let [l0, l1] = self.length.to_le_bytes();
        [c0, c1, c2, c3, l0, l1, self.kind]
    }
}

/// The masked CRC-32 (IEEE polynomial, as computed by `crc32fast`) of the
/// type byte followed by the payload.
pub(crate) fn checksum(kind: u8, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[kind]);
    hasher.update(payload);
    mask(hasher.finalize())
}

/// Masks a CRC as LevelDB does, so that a CRC stored inside checksummed data
/// does not produce degenerate checksums.
pub(crate) fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

#[cfg(test)]
pub(crate) fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

/// Encodes the file header payload.
pub(crate) fn encode_file_header(
    file_number: u64,
    record_format: u32,
) -> [u8; FILE_HEADER_PAYLOAD] {
    let mut out = [0u8; FILE_HEADER_PAYLOAD];
    out[..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[12..20].copy_from_slice(&file_number.to_le_bytes());
    out[20..].copy_from_slice(&record_format.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants() {
        assert_eq!(BLOCK_SIZE, 32768);
        assert_eq!(HEADER_SIZE, 7);
        assert_eq!(FILE_HEADER_SIZE, 31);
        assert_eq!(MAX_FRAGMENT_PAYLOAD, 32761);
        assert!(u16::try_from(MAX_FRAGMENT_PAYLOAD).is_ok());
    }

    #[test]
    fn fragment_type_values_are_stable() {
        let all = [
            (FragmentType::Zero, 0),
            (FragmentType::Full, 1),
            (FragmentType::First, 2),
            (FragmentType::Middle, 3),
            (FragmentType::Last, 4),
            (FragmentType::FileHeader, 5),
        ];
        for (kind, byte) in all {
            assert_eq!(kind as u8, byte);
            assert_eq!(FragmentType::from_u8(byte), Some(kind));
        }
        for byte in 6..=u8::MAX {
            assert_eq!(FragmentType::from_u8(byte), None);
        }
    }

    #[test]
    #[allow(clippy::manual_rotate)] // spelled out as in LevelDB on purpose
    fn mask_matches_leveldb_formula() {
        for crc in [0u32, 1, 0xdead_beef, u32::MAX, 0x8000_0000] {
            let expected = ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8);
            assert_eq!(mask(crc), expected);
            assert_eq!(unmask(mask(crc)), crc);
            assert_ne!(mask(crc), crc);
        }
    }

    #[test]
    fn checksum_covers_type_then_payload() {
        let expected = mask(crc32fast::hash(b"\x01hello"));
        assert_eq!(checksum(1, b"hello"), expected);
        assert_ne!(checksum(2, b"hello"), expected);
    }

    #[test]
    fn header_round_trip_and_layout() {
        let header = Header::for_payload(FragmentType::Last, b"abc");
        let bytes = header.encode();
        assert_eq!(&bytes[..4], &checksum(4, b"abc").to_le_bytes());
        assert_eq!(&bytes[4..6], &[3, 0]);
        assert_eq!(bytes[6], 4);
        assert_eq!(Header::decode(bytes), header);
    }

    #[test]
    fn file_header_layout() {
        let payload = encode_file_header(0x0102_0304_0506_0708, 0x0a0b_0c0d);
        assert_eq!(&payload[..8], b"STRATALG");
        assert_eq!(&payload[8..12], &[2, 0, 0, 0]);
        assert_eq!(&payload[12..20], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&payload[20..], &[0x0d, 0x0c, 0x0b, 0x0a]);
    }
}
