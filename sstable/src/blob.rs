//! Blob files: large values kept out of the tables (key-value separation, as RocksDB's
//! integrated BlobDB and WiscKey do). A table entry of kind [`crate::ValueKind::Blob`] holds a
//! [`BlobRef`] naming the file, the record and the value's length; the value itself sits in a
//! blob file, written once at flush or compaction and never changed. Format in
//! `docs/format-blob.md`:
//!
//! ```text
//! file    := header record* footer
//! header  := magic "STRATABF" (8) | format_version u32 | db_id [16] | crc u32      (32 bytes)
//! record  := key_len u32 | value_len u64 | crc u32 | key | value
//! footer  := magic (8) | records u64 | value_bytes u64 | reserved u32 | crc u32     (32 bytes)
//! ```
//!
//! Integers are little-endian. Every crc is the masked CRC32 of what precedes it in its header
//! or footer; a record's covers its two lengths, its key and its value. The key (the user key)
//! lets a read check that a reference leads to its own record.
//!
//! Reading never panics and never allocates more than the file holds: a damaged file or a
//! reference that does not fit it is [`Error::Corruption`] naming the file and offset.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::checksum::masked_crc;
use crate::error::{Error, Result};
use crate::varint::{get_varint64, put_varint64};

/// The first 8 bytes of every blob file, and of its footer.
pub const BLOB_MAGIC: [u8; 8] = *b"STRATABF";
/// The blob format this version writes and reads.
pub const BLOB_FORMAT_VERSION: u32 = 1;
/// Bytes of the file header.
pub const BLOB_HEADER_LEN: u64 = 32;
/// Bytes of the footer.
pub const BLOB_FOOTER_LEN: u64 = 32;
/// Bytes of a record's header (before its key and value).
pub const BLOB_RECORD_HEADER_LEN: u64 = 16;

/// Bytes of a value kept in the reference itself (its head), so that reading a value's first
/// bytes (a Redis entry's header: type and expiry) never reads the blob file.
pub const BLOB_HEAD_LEN: usize = 16;

/// Where a value lives: blob file `file`, the record starting at byte `offset`, whose value
/// is `value_len` bytes and starts with `head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRef {
    /// The blob file's number.
    pub file: u64,
    /// Byte offset of the record (its header) in the file.
    pub offset: u64,
    /// Length of the value.
    pub value_len: u64,
    /// The value's first `min(value_len, BLOB_HEAD_LEN)` bytes (zeros after them).
    pub head: [u8; BLOB_HEAD_LEN],
}

impl BlobRef {
    /// A reference to `value` at `offset` of blob file `file`.
    pub fn new(file: u64, offset: u64, value: &[u8]) -> BlobRef {
        let mut head = [0u8; BLOB_HEAD_LEN];
        let n = value.len().min(BLOB_HEAD_LEN);
        head[..n].copy_from_slice(&value[..n]);
        BlobRef {
            file,
            offset,
            value_len: value.len() as u64,
            head,
        }
    }

    /// The value's first bytes the reference holds.
    pub fn head(&self) -> &[u8] {
        &self.head[..(self.value_len as usize).min(BLOB_HEAD_LEN)]
    }

    /// Appends the reference: three varints and the head.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        put_varint64(out, self.file);
        put_varint64(out, self.offset);
        put_varint64(out, self.value_len);
        out.extend_from_slice(self.head());
    }

    /// The reference as stored in a table entry.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + BLOB_HEAD_LEN);
        self.encode_into(&mut out);
        out
    }

    /// Decodes a reference that is exactly `src`; `None` if malformed.
    pub fn decode(src: &[u8]) -> Option<BlobRef> {
        let (file, a) = get_varint64(src)?;
        let (offset, b) = get_varint64(&src[a..])?;
        let (value_len, c) = get_varint64(&src[a + b..])?;
        let rest = &src[a + b + c..];
        if rest.len() != (value_len as usize).min(BLOB_HEAD_LEN) {
            return None;
        }
        let mut head = [0u8; BLOB_HEAD_LEN];
        head[..rest.len()].copy_from_slice(rest);
        Some(BlobRef {
            file,
            offset,
            value_len,
            head,
        })
    }
}

/// What a finished blob file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobSummary {
    /// The number the file was created with.
    pub number: u64,
    /// Bytes of the whole file.
    pub file_size: u64,
    /// Records written.
    pub records: u64,
    /// Sum of the records' value lengths.
    pub value_bytes: u64,
}

/// Writes one blob file. Values go straight from the caller's slice to the file (a value
/// larger than the buffer is not copied).
#[derive(Debug)]
pub struct BlobWriter {
    path: PathBuf,
    number: u64,
    file: BufWriter<File>,
    offset: u64,
    records: u64,
    value_bytes: u64,
}

const WRITE_BUFFER: usize = 256 << 10;

/// Writes `bytes` (a failpoint can fail it).
fn write_file(file: &mut BufWriter<File>, bytes: &[u8]) -> std::io::Result<()> {
    fail::fail_point!("blob::write", |e| Err(crate::injected(e)));
    file.write_all(bytes)
}

impl BlobWriter {
    /// Creates blob file `number` at `path` (which must not exist), recording `db_id` (up to
    /// 16 bytes; zeros if empty) in its header.
    ///
    /// # Errors
    /// [`Error::Io`] if the file exists or cannot be created or written.
    pub fn create(path: &Path, number: u64, db_id: &[u8]) -> Result<BlobWriter> {
        fail::fail_point!("blob::create", |e| Err(crate::injected(e).into()));
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        let mut w = BlobWriter {
            path: path.to_path_buf(),
            number,
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            offset: 0,
            records: 0,
            value_bytes: 0,
        };
        let mut header = Vec::with_capacity(BLOB_HEADER_LEN as usize);
        header.extend_from_slice(&BLOB_MAGIC);
        header.extend_from_slice(&BLOB_FORMAT_VERSION.to_le_bytes());
        let mut id = [0u8; 16];
        let n = db_id.len().min(16);
        id[..n].copy_from_slice(&db_id[..n]);
        header.extend_from_slice(&id);
        let crc = masked_crc(&[&header]);
        header.extend_from_slice(&crc.to_le_bytes());
        w.write(&header)?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        write_file(&mut self.file, bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Appends a record of `key` and `value` and returns the reference to it.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::InvalidArgument`] for a key of 4 GiB or more.
    pub fn add(&mut self, key: &[u8], value: &[u8]) -> Result<BlobRef> {
        let key_len = u32::try_from(key.len())
            .map_err(|_| Error::InvalidArgument("blob key of 4 GiB or more".into()))?;
        let value_len = value.len() as u64;
        let mut header = [0u8; BLOB_RECORD_HEADER_LEN as usize];
        header[..4].copy_from_slice(&key_len.to_le_bytes());
        header[4..12].copy_from_slice(&value_len.to_le_bytes());
        let crc = masked_crc(&[&header[..12], key, value]);
        header[12..].copy_from_slice(&crc.to_le_bytes());
        let r = BlobRef::new(self.number, self.offset, value);
        self.write(&header)?;
        self.write(key)?;
        self.write(value)?;
        self.records += 1;
        self.value_bytes += value_len;
        Ok(r)
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.offset
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the footer and fsyncs the file (the caller fsyncs the directory).
    ///
    /// # Errors
    /// [`Error::Io`]; the file is then incomplete and the caller removes it.
    pub fn finish(mut self) -> Result<BlobSummary> {
        let mut footer = Vec::with_capacity(BLOB_FOOTER_LEN as usize);
        footer.extend_from_slice(&BLOB_MAGIC);
        footer.extend_from_slice(&self.records.to_le_bytes());
        footer.extend_from_slice(&self.value_bytes.to_le_bytes());
        footer.extend_from_slice(&0u32.to_le_bytes());
        let crc = masked_crc(&[&footer]);
        footer.extend_from_slice(&crc.to_le_bytes());
        self.write(&footer)?;
        self.file.flush()?;
        fail::fail_point!("blob::sync", |e| Err(crate::injected(e).into()));
        self.file.get_ref().sync_all()?;
        Ok(BlobSummary {
            number: self.number,
            file_size: self.offset,
            records: self.records,
            value_bytes: self.value_bytes,
        })
    }
}

/// An open blob file, read with positioned reads (no shared cursor: any number of threads
/// read it at once).
#[derive(Debug)]
pub struct BlobReader {
    path: PathBuf,
    file: File,
    size: u64,
    db_id: [u8; 16],
    records: u64,
    value_bytes: u64,
}

impl BlobReader {
    /// Opens the blob file at `path` and checks its header and footer.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Corruption`] if the header or footer is damaged, the format
    /// version unknown, or the file incomplete.
    pub fn open(path: &Path) -> Result<BlobReader> {
        fail::fail_point!("blob::open", |e| Err(crate::injected(e).into()));
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        let corrupt = |offset: u64, reason: &str| Error::corruption(path, offset, reason);
        if size < BLOB_HEADER_LEN + BLOB_FOOTER_LEN {
            return Err(corrupt(
                0,
                "blob file shorter than its header and footer (incomplete)",
            ));
        }
        let mut header = [0u8; BLOB_HEADER_LEN as usize];
        file.read_exact_at(&mut header, 0)?;
        if header[..8] != BLOB_MAGIC {
            return Err(corrupt(0, "not a blob file (bad magic)"));
        }
        if u32_at(&header, 28) != masked_crc(&[&header[..28]]) {
            return Err(corrupt(0, "blob file header checksum mismatch"));
        }
        let version = u32_at(&header, 8);
        if version != BLOB_FORMAT_VERSION {
            return Err(corrupt(
                8,
                &format!("unsupported blob format version {version}"),
            ));
        }
        let mut db_id = [0u8; 16];
        db_id.copy_from_slice(&header[12..28]);
        let at = size - BLOB_FOOTER_LEN;
        let mut footer = [0u8; BLOB_FOOTER_LEN as usize];
        file.read_exact_at(&mut footer, at)?;
        if footer[..8] != BLOB_MAGIC || u32_at(&footer, 28) != masked_crc(&[&footer[..28]]) {
            return Err(corrupt(
                at,
                "blob file footer missing or damaged (incomplete)",
            ));
        }
        Ok(BlobReader {
            path: path.to_path_buf(),
            file,
            size,
            db_id,
            records: u64_at(&footer, 8),
            value_bytes: u64_at(&footer, 16),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of the file.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The identity of the database that wrote it (zeros if none was given).
    pub fn db_id(&self) -> &[u8; 16] {
        &self.db_id
    }

    /// Records the footer counts.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Sum of value lengths the footer counts.
    pub fn value_bytes(&self) -> u64 {
        self.value_bytes
    }

    fn corrupt(&self, offset: u64, reason: impl Into<String>) -> Error {
        Error::corruption(&self.path, offset, reason)
    }

    /// Reads the record at `offset`: its key and value lengths, checked to fit the file.
    fn record_header(&self, offset: u64) -> Result<(u64, u64)> {
        let data_end = self.size - BLOB_FOOTER_LEN;
        if offset < BLOB_HEADER_LEN || offset.saturating_add(BLOB_RECORD_HEADER_LEN) > data_end {
            return Err(self.corrupt(offset, "blob reference outside the file's records"));
        }
        let mut h = [0u8; BLOB_RECORD_HEADER_LEN as usize];
        self.file.read_exact_at(&mut h, offset)?;
        let key_len = u64::from(u32_at(&h, 0));
        let value_len = u64_at(&h, 4);
        let end = (offset + BLOB_RECORD_HEADER_LEN)
            .checked_add(key_len)
            .and_then(|e| e.checked_add(value_len));
        if end.is_none_or(|e| e > data_end) {
            return Err(self.corrupt(offset, "blob record runs past the end of the file"));
        }
        Ok((key_len, value_len))
    }

    /// Reads and checks the record at `offset`, returning its key and value.
    fn read_record(&self, offset: u64) -> Result<(Vec<u8>, Vec<u8>)> {
        let (key_len, value_len) = self.record_header(offset)?;
        let mut h = [0u8; BLOB_RECORD_HEADER_LEN as usize];
        self.file.read_exact_at(&mut h, offset)?;
        let body = offset + BLOB_RECORD_HEADER_LEN;
        let mut key = vec![0u8; key_len as usize];
        self.file.read_exact_at(&mut key, body)?;
        let mut value = vec![0u8; value_len as usize];
        self.file.read_exact_at(&mut value, body + key_len)?;
        if u32_at(&h, 12) != masked_crc(&[&h[..12], &key, &value]) {
            return Err(self.corrupt(offset, "blob record checksum mismatch"));
        }
        Ok((key, value))
    }

    /// Reads the value `r` points at, checking that the record belongs to `user_key`.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Corruption`] if the record is damaged, does not fit the file,
    /// or is not the one `r` describes.
    pub fn read(&self, user_key: &[u8], r: &BlobRef) -> Result<Vec<u8>> {
        let (key_len, value_len) = self.record_header(r.offset)?;
        if value_len != r.value_len || key_len != user_key.len() as u64 {
            return Err(self.corrupt(r.offset, "blob record does not match its reference"));
        }
        let (key, value) = self.read_record(r.offset)?;
        if key != user_key {
            return Err(self.corrupt(r.offset, "blob record belongs to another key"));
        }
        if !value.starts_with(r.head()) {
            return Err(self.corrupt(r.offset, "blob record does not match its reference"));
        }
        Ok(value)
    }

    /// Reads every record and checks it, and the footer's counts: `(records, value bytes)`.
    ///
    /// # Errors
    /// The first damage found.
    pub fn verify(&self) -> Result<(u64, u64)> {
        let data_end = self.size - BLOB_FOOTER_LEN;
        let (mut offset, mut records, mut bytes) = (BLOB_HEADER_LEN, 0u64, 0u64);
        while offset < data_end {
            let (key, value) = self.read_record(offset)?;
            offset += BLOB_RECORD_HEADER_LEN + key.len() as u64 + value.len() as u64;
            records += 1;
            bytes += value.len() as u64;
        }
        if (records, bytes) != (self.records, self.value_bytes) {
            return Err(self.corrupt(
                data_end,
                format!(
                    "blob footer counts {} records of {} bytes, the file holds {records} of {bytes}",
                    self.records, self.value_bytes
                ),
            ));
        }
        Ok((records, bytes))
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    fn write(dir: &Path, values: &[(&[u8], Vec<u8>)]) -> (PathBuf, Vec<BlobRef>, BlobSummary) {
        let path = dir.join("000007.blob");
        let mut w = BlobWriter::create(&path, 7, b"0123456789abcdef").unwrap();
        let refs = values.iter().map(|(k, v)| w.add(k, v).unwrap()).collect();
        let summary = w.finish().unwrap();
        (path, refs, summary)
    }

    #[test]
    fn values_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![7u8; 1 << 20];
        let values: Vec<(&[u8], Vec<u8>)> = vec![
            (b"a", b"one".to_vec()),
            (b"b", big.clone()),
            (b"", Vec::new()),
        ];
        let (path, refs, summary) = write(dir.path(), &values);
        assert_eq!(summary.records, 3);
        assert_eq!(summary.value_bytes, 3 + (1 << 20));
        let r = BlobReader::open(&path).unwrap();
        assert_eq!(r.size(), summary.file_size);
        assert_eq!(r.db_id(), b"0123456789abcdef");
        for ((k, v), rf) in values.iter().zip(&refs) {
            assert_eq!(rf.file, 7);
            assert_eq!(&r.read(k, rf).unwrap(), v);
            assert_eq!(BlobRef::decode(&rf.encode()), Some(*rf));
        }
        assert_eq!(r.verify().unwrap(), (3, 3 + (1 << 20)));
    }

    #[test]
    fn a_reference_to_another_record_or_key_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let (path, refs, _) = write(
            dir.path(),
            &[(b"a", b"one".to_vec()), (b"b", b"two".to_vec())],
        );
        let r = BlobReader::open(&path).unwrap();
        let err = r.read(b"b", &refs[0]).unwrap_err().to_string();
        assert!(err.contains("does not match its reference") || err.contains("another key"));
        let err = r.read(b"x", &refs[1]).unwrap_err().to_string();
        assert!(err.contains("another key"), "{err}");
        for bad in [
            BlobRef {
                offset: 0,
                ..refs[0]
            },
            BlobRef {
                offset: refs[0].offset + 1,
                ..refs[0]
            },
            BlobRef {
                offset: u64::MAX - 3,
                ..refs[0]
            },
            BlobRef {
                value_len: 4,
                ..refs[0]
            },
        ] {
            assert!(
                matches!(r.read(b"a", &bad), Err(Error::Corruption { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn every_flipped_byte_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let (path, refs, _) = write(dir.path(), &[(b"key", b"value".to_vec())]);
        let good = std::fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x20;
            std::fs::write(&path, &bad).unwrap();
            let caught = match BlobReader::open(&path) {
                Err(Error::Corruption { .. }) => true,
                Err(e) => panic!("byte {i}: {e}"),
                Ok(r) => r.read(b"key", &refs[0]).is_err() || r.verify().is_err(),
            };
            // The footer's reserved bytes are covered by its crc too.
            assert!(caught, "flipped byte {i} went unnoticed");
        }
    }

    #[test]
    fn an_incomplete_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _, summary) = write(dir.path(), &[(b"key", vec![1; 1000])]);
        for len in [0, 10, 40, summary.file_size - 1] {
            let f = OpenOptions::new().write(true).open(&path).unwrap();
            f.set_len(len).unwrap();
            assert!(matches!(
                BlobReader::open(&path),
                Err(Error::Corruption { .. })
            ));
        }
    }

    #[test]
    fn malformed_references_do_not_decode() {
        let r = BlobRef::new(300, 1 << 40, b"hello");
        assert_eq!(r.head(), b"hello");
        let long = BlobRef::new(1, 32, &[9; 40]);
        assert_eq!(long.head(), &[9; BLOB_HEAD_LEN]);
        assert_eq!(BlobRef::decode(&long.encode()), Some(long));
        let e = r.encode();
        assert_eq!(BlobRef::decode(&e), Some(r));
        assert_eq!(BlobRef::decode(&e[..e.len() - 1]), None);
        let mut long = e.clone();
        long.push(0);
        assert_eq!(BlobRef::decode(&long), None);
        assert_eq!(BlobRef::decode(&[]), None);
    }
}
