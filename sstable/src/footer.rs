//! The fixed-size footer at the end of every table.
//!
//! ```text
//! footer := filter: handle  properties: handle  index: handle     (48 bytes)
//!           format_version: fixed32                               (1, 2 or 3)
//!           crc: fixed32        masked crc32 of the preceding 52 bytes
//!           magic: fixed64      0x5453_4154_4152_5453, the bytes "STRATAST"
//! handle := offset: fixed64  size: fixed64
//! ```
//! All integers little endian. Readers check the magic, then the version, then the crc, so
//! a file from a newer format gets a clear "unsupported version" error. Versions differ in
//! what the filter hashes (see [`crate::filter`]): 1 the raw user keys, 2 and 3 their 64-bit
//! hashes; and in how data blocks store keys (see [`crate::block`]): 1 and 2 whole internal
//! keys, 3 the user key apart from a varint trailer.

use crate::block::KeyEncoding;
use crate::checksum::masked_crc;
use crate::filter::FilterKeys;
use crate::handle::BlockHandle;

/// Length of the footer.
pub(crate) const FOOTER_LEN: usize = 64;

/// The last 8 bytes of every table: ASCII "STRATAST" read as a little-endian u64.
pub(crate) const MAGIC: u64 = 0x5453_4154_4152_5453;

/// The format version this crate writes by default.
pub(crate) const FORMAT_VERSION: u32 = 3;

/// The oldest format version this crate writes (on request, [`crate::TableOptions`]).
pub(crate) const OLDEST_WRITABLE_VERSION: u32 = 2;

/// The oldest format version this crate reads.
pub(crate) const OLDEST_READABLE_VERSION: u32 = 1;

const CRC_COVERED: usize = 52;

/// How the data blocks of format `version` store keys.
pub(crate) fn data_key_encoding(version: u32) -> KeyEncoding {
    if version >= 3 {
        KeyEncoding::SplitTrailer
    } else {
        KeyEncoding::Whole
    }
}

/// Why a footer was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FooterError {
    BadMagic,
    UnsupportedVersion(u32),
    ChecksumMismatch,
}

impl FooterError {
    pub(crate) fn reason(&self) -> String {
        match self {
            FooterError::BadMagic => "not an sstable (bad magic number)".to_string(),
            FooterError::UnsupportedVersion(v) => format!("unsupported sstable format version {v}"),
            FooterError::ChecksumMismatch => "footer checksum mismatch".to_string(),
        }
    }
}

/// Pointers to the table's meta blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Footer {
    /// The filter block; size 0 means the table has no filter.
    pub(crate) filter: BlockHandle,
    pub(crate) properties: BlockHandle,
    pub(crate) index: BlockHandle,
    /// The table format version.
    pub(crate) version: u32,
}

impl Footer {
    /// How the table's data blocks store keys.
    pub(crate) fn data_key_encoding(&self) -> KeyEncoding {
        data_key_encoding(self.version)
    }

    /// What the table's filter was built over.
    pub(crate) fn filter_keys(&self) -> FilterKeys {
        if self.version >= 2 {
            FilterKeys::Hashed
        } else {
            FilterKeys::Raw
        }
    }
}

fn fixed64(bytes: &[u8; FOOTER_LEN], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        b.copy_from_slice(src);
    }
    u64::from_le_bytes(b)
}

fn fixed32(bytes: &[u8; FOOTER_LEN], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        b.copy_from_slice(src);
    }
    u32::from_le_bytes(b)
}

impl Footer {
    pub(crate) fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut out = [0u8; FOOTER_LEN];
        let fields = [
            self.filter.offset,
            self.filter.size,
            self.properties.offset,
            self.properties.size,
            self.index.offset,
            self.index.size,
        ];
        for (chunk, v) in out.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        out[48..52].copy_from_slice(&self.version.to_le_bytes());
        let crc = masked_crc(&[&out[..CRC_COVERED]]);
        out[52..56].copy_from_slice(&crc.to_le_bytes());
        out[56..64].copy_from_slice(&MAGIC.to_le_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8; FOOTER_LEN]) -> Result<Footer, FooterError> {
        if fixed64(bytes, 56) != MAGIC {
            return Err(FooterError::BadMagic);
        }
        let version = fixed32(bytes, 48);
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(FooterError::UnsupportedVersion(version));
        }
        if fixed32(bytes, 52) != masked_crc(&[bytes.get(..CRC_COVERED).unwrap_or_default()]) {
            return Err(FooterError::ChecksumMismatch);
        }
        let handle = |at| BlockHandle {
            offset: fixed64(bytes, at),
            size: fixed64(bytes, at + 8),
        };
        Ok(Footer {
            filter: handle(0),
            properties: handle(16),
            index: handle(32),
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Footer {
        Footer {
            filter: BlockHandle { offset: 1, size: 2 },
            properties: BlockHandle { offset: 3, size: 4 },
            index: BlockHandle { offset: 5, size: 6 },
            version: FORMAT_VERSION,
        }
    }

    #[test]
    fn round_trip_and_magic_bytes() {
        let bytes = sample().encode();
        assert_eq!(&bytes[56..], b"STRATAST");
        assert_eq!(Footer::decode(&bytes), Ok(sample()));
    }

    #[test]
    fn errors() {
        let good = sample().encode();
        let mut b = good;
        b[63] ^= 1;
        assert_eq!(Footer::decode(&b), Err(FooterError::BadMagic));
        let mut b = good;
        b[48] = 4;
        assert_eq!(Footer::decode(&b), Err(FooterError::UnsupportedVersion(4)));
        assert_eq!(
            FooterError::UnsupportedVersion(4).reason(),
            "unsupported sstable format version 4"
        );
        let mut b = good;
        b[48] = 0;
        assert_eq!(Footer::decode(&b), Err(FooterError::UnsupportedVersion(0)));
        let mut b = good;
        b[3] ^= 0x40;
        assert_eq!(Footer::decode(&b), Err(FooterError::ChecksumMismatch));
        let mut b = good;
        b[53] ^= 0x40;
        assert_eq!(Footer::decode(&b), Err(FooterError::ChecksumMismatch));
    }
}
