//! The parts of Redis's RDB encoding that its serialized payloads use (`FUNCTION DUMP` /
//! `FUNCTION RESTORE`): RDB lengths and strings, and the footer of a payload (the RDB
//! version as two little-endian bytes, then Redis's CRC64 of everything before it, little
//! endian). A payload Strata writes is one Redis 7.0 accepts (strings are written plain,
//! never LZF-compressed); one Redis writes is read back, LZF-compressed strings included.
//!
//! Reading never trusts a length: every length is checked against what the payload holds
//! before anything is allocated.

use crc::{Crc, CRC_64_REDIS};

/// The RDB version Redis 7.0 writes and the highest it reads.
pub const RDB_VERSION: u16 = 10;

/// The opcode before each function library in a functions payload (the library's code
/// follows as one string).
pub const OPCODE_FUNCTION2: u8 = 245;

/// Redis's CRC64 (Jones polynomial, reflected).
const CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_REDIS);

/// A payload that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdbError {
    /// Too short, a version this server cannot read, or a wrong checksum.
    #[error("DUMP payload version or checksum are wrong")]
    Footer,
    /// It ends inside a value.
    #[error("the payload ends inside a value")]
    Truncated,
    /// A length or encoding that cannot be.
    #[error("bad RDB encoding: {0}")]
    Encoding(&'static str),
}

/// Appends `len` in RDB's length encoding (6, 14, 32 or 64 bits).
pub fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if let Ok(len) = u32::try_from(len) {
        out.push(0x80);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Appends `s` as an RDB string (its length, then its bytes).
pub fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Appends the footer (RDB version and CRC64) that makes `body` a payload.
pub fn seal(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// Checks a payload's footer; its body and RDB version.
///
/// # Errors
/// [`RdbError::Footer`] as Redis's `verifyDumpPayload` refuses one.
pub fn open(payload: &[u8]) -> Result<(&[u8], u16), RdbError> {
    let Some(split) = payload.len().checked_sub(10) else {
        return Err(RdbError::Footer);
    };
    let (body, footer) = payload.split_at(split);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(RdbError::Footer);
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    if CRC64.checksum(&payload[..split + 2]) != u64::from_le_bytes(crc) {
        return Err(RdbError::Footer);
    }
    Ok((body, version))
}

/// Reads RDB values from the front of a byte string.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

/// What a length field holds: a length, or the kind of a specially encoded string.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    /// Reads `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], RdbError> {
        if n > self.buf.len() {
            return Err(RdbError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// One byte (an opcode or a type).
    ///
    /// # Errors
    /// [`RdbError::Truncated`] at the end.
    pub fn byte(&mut self) -> Result<u8, RdbError> {
        Ok(self.take(1)?[0])
    }

    fn len_field(&mut self) -> Result<Len, RdbError> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Len::Plain(u64::from(first & 0x3f)),
            1 => Len::Plain(u64::from(first & 0x3f) << 8 | u64::from(self.byte()?)),
            2 => match first {
                0x80 => {
                    let b = self.take(4)?;
                    Len::Plain(u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
                }
                0x81 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(self.take(8)?);
                    Len::Plain(u64::from_be_bytes(b))
                }
                _ => return Err(RdbError::Encoding("unknown length encoding")),
            },
            _ => Len::Encoded(first & 0x3f),
        })
    }

    /// A length.
    ///
    /// # Errors
    /// A truncated or specially encoded field.
    pub fn len(&mut self) -> Result<u64, RdbError> {
        match self.len_field()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(RdbError::Encoding(
                "a string encoding where a length was expected",
            )),
        }
    }

    /// A string: plain, an integer (written as its decimal text) or LZF-compressed.
    ///
    /// # Errors
    /// A truncated string, an unknown encoding, or LZF data that does not decompress to its
    /// stated length.
    pub fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        match self.len_field()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| RdbError::Truncated)?;
                Ok(self.take(n)?.to_vec())
            }
            Len::Encoded(0) => Ok((self.byte()? as i8).to_string().into_bytes()),
            Len::Encoded(1) => {
                let b = self.take(2)?;
                Ok(i16::from_le_bytes([b[0], b[1]]).to_string().into_bytes())
            }
            Len::Encoded(2) => {
                let b = self.take(4)?;
                Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]])
                    .to_string()
                    .into_bytes())
            }
            Len::Encoded(3) => {
                let compressed = usize::try_from(self.len()?).map_err(|_| RdbError::Truncated)?;
                let plain = usize::try_from(self.len()?).map_err(|_| RdbError::Truncated)?;
                let data = self.take(compressed)?;
                // An LZF back reference of 3 bytes makes at most 264: a longer stated
                // length is a lie, refused before anything that size is allocated.
                if plain > compressed.saturating_mul(90).saturating_add(64) || plain == 0 {
                    return Err(RdbError::Encoding("bad LZF lengths"));
                }
                match lzf::decompress(data, plain) {
                    Ok(out) if out.len() == plain => Ok(out),
                    _ => Err(RdbError::Encoding("LZF data that does not decompress")),
                }
            }
            Len::Encoded(_) => Err(RdbError::Encoding("unknown string encoding")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_in_each_width() {
        for n in [
            0,
            63,
            64,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
        ] {
            let mut out = Vec::new();
            put_len(&mut out, n);
            let mut r = Reader::new(&out);
            assert_eq!(r.len(), Ok(n));
            assert!(r.is_empty());
        }
    }

    /// `FUNCTION DUMP` of Redis 7.0.15 holding one library (its code LZF-compressed).
    const REDIS_DUMP: [u8; 102] = [
        0xf5, 0xc3, 0x40, 0x56, 0x40, 0x5b, 0x1f, 0x23, 0x21, 0x6c, 0x75, 0x61, 0x20, 0x6e, 0x61,
        0x6d, 0x65, 0x3d, 0x6d, 0x79, 0x6c, 0x69, 0x62, 0x0a, 0x72, 0x65, 0x64, 0x69, 0x73, 0x2e,
        0x72, 0x65, 0x67, 0x69, 0x73, 0x74, 0x65, 0x72, 0x5f, 0x0b, 0x66, 0x75, 0x6e, 0x63, 0x74,
        0x69, 0x6f, 0x6e, 0x28, 0x22, 0x6d, 0x79, 0x40, 0x0b, 0x02, 0x22, 0x2c, 0x20, 0x40, 0x06,
        0x60, 0x12, 0x11, 0x6b, 0x65, 0x79, 0x73, 0x2c, 0x20, 0x61, 0x72, 0x67, 0x73, 0x29, 0x20,
        0x72, 0x65, 0x74, 0x75, 0x72, 0x6e, 0x60, 0x0c, 0x07, 0x5b, 0x31, 0x5d, 0x20, 0x65, 0x6e,
        0x64, 0x29, 0x0a, 0x00, 0x63, 0x99, 0x83, 0xbd, 0x8b, 0x38, 0xb8, 0x43,
    ];

    #[test]
    fn reads_a_redis_payload() {
        let (body, version) = open(&REDIS_DUMP).unwrap();
        assert_eq!(version, 10);
        let mut r = Reader::new(body);
        assert_eq!(r.byte(), Ok(OPCODE_FUNCTION2));
        let code = r.string().unwrap();
        assert_eq!(
            code,
            b"#!lua name=mylib\nredis.register_function(\"myfunc\", function(keys, args) return args[1] end)"
        );
        assert!(r.is_empty());
    }

    #[test]
    fn footer_and_checksum() {
        let mut body = vec![OPCODE_FUNCTION2];
        put_string(&mut body, b"hi");
        let payload = seal(body.clone());
        assert_eq!(open(&payload), Ok((&body[..], RDB_VERSION)));
        for i in 0..payload.len() {
            let mut bad = payload.clone();
            bad[i] ^= 1;
            assert!(open(&bad).is_err(), "byte {i}");
        }
        assert_eq!(open(&payload[..9]), Err(RdbError::Footer));
        // Redis's CRC64 check value ("123456789").
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn special_strings() {
        let mut r = Reader::new(&[0xc0, 0xfe, 0xc1, 0x39, 0x30, 0xc2, 0, 0, 0, 0x80]);
        assert_eq!(r.string().unwrap(), b"-2");
        assert_eq!(r.string().unwrap(), b"12345");
        assert_eq!(r.string().unwrap(), b"-2147483648");
        let text = b"abcabcabcabcabcabcabcabcabcabc".to_vec();
        let packed = lzf::compress(&text).unwrap();
        let mut lzf_string = vec![0xc3];
        put_len(&mut lzf_string, packed.len() as u64);
        put_len(&mut lzf_string, text.len() as u64);
        lzf_string.extend_from_slice(&packed);
        assert_eq!(Reader::new(&lzf_string).string().unwrap(), text);
        // A stated length far past what the data can make is refused, not allocated.
        let mut lie = vec![0xc3, 0x01, 0x81];
        lie.extend_from_slice(&u64::MAX.to_be_bytes());
        lie.push(0);
        assert!(Reader::new(&lie).string().is_err());
        assert_eq!(
            Reader::new(&[0x05, b'a']).string(),
            Err(RdbError::Truncated)
        );
    }
}
