//! Version edits and the MANIFEST that logs them (format in `docs/format-manifest.md`).
//!
//! The MANIFEST is a log in the WAL format (`strata-wal`); each record is one encoded
//! [`VersionEdit`]. All integers are little-endian, fixed width:
//!
//! ```text
//! edit  := field*
//! field := 1 log_number: u64
//!        | 2 next_file: u64
//!        | 3 last_seq: u64
//!        | 4 keyspace_id: u32  name_len: u32  name
//!        | 5 keyspace_id: u32  level: u8  number: u64  size: u64  smallest_seq: u64
//!            largest_seq: u64  smallest_len: u32  smallest  largest_len: u32  largest
//!        | 6 keyspace_id: u32  level: u8  number: u64                (file deleted)
//!        | 7 format_version: u32                                      (first record only)
//!        | 8 db_id: [u8; 16]                                          (first record only)
//!        | 9 number: u64  size: u64  records: u64  value_bytes: u64      (blob file added)
//!        | 10 number: u64                                             (blob file deleted)
//! ```
//!
//! DO NOT CHANGE the tag values: they are on disk. An unknown tag is corruption.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use strata_sstable::SeqNo;
use strata_wal::{RecoveryMode, SyncMode};

use crate::error::{Error, Result};
use crate::filename::{self, manifest_name};
use crate::ids::{DbId, KeyspaceId};
use crate::options::NUM_LEVELS;

/// Version of the edit encoding, written as the first field of every MANIFEST.
pub(crate) const MANIFEST_FORMAT_VERSION: u32 = 1;

const TAG_LOG_NUMBER: u8 = 1;
const TAG_NEXT_FILE: u8 = 2;
const TAG_LAST_SEQ: u8 = 3;
const TAG_KEYSPACE: u8 = 4;
const TAG_NEW_FILE: u8 = 5;
const TAG_DELETED_FILE: u8 = 6;
const TAG_FORMAT: u8 = 7;
const TAG_DB_ID: u8 = 8;
const TAG_NEW_BLOB: u8 = 9;
const TAG_DELETED_BLOB: u8 = 10;

/// What the manifest records about a blob file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlobMeta {
    pub number: u64,
    pub size: u64,
    pub records: u64,
    pub value_bytes: u64,
}

impl From<strata_sstable::BlobSummary> for BlobMeta {
    fn from(s: strata_sstable::BlobSummary) -> BlobMeta {
        BlobMeta {
            number: s.number,
            size: s.file_size,
            records: s.records,
            value_bytes: s.value_bytes,
        }
    }
}

/// What the manifest records about a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileMeta {
    pub number: u64,
    pub size: u64,
    pub smallest_seq: SeqNo,
    pub largest_seq: SeqNo,
    /// Smallest internal key.
    pub smallest: Vec<u8>,
    /// Largest internal key.
    pub largest: Vec<u8>,
}

/// A change to the set of live files and counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VersionEdit {
    pub format_version: Option<u32>,
    /// The database's identity (in the first record of a manifest written since 2026-12-07).
    pub db_id: Option<DbId>,
    pub log_number: Option<u64>,
    pub next_file: Option<u64>,
    pub last_seq: Option<SeqNo>,
    pub keyspaces: Vec<(KeyspaceId, String)>,
    pub new_files: Vec<(KeyspaceId, usize, FileMeta)>,
    pub deleted_files: Vec<(KeyspaceId, usize, u64)>,
    pub new_blobs: Vec<BlobMeta>,
    pub deleted_blobs: Vec<u64>,
}

impl VersionEdit {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(v) = self.format_version {
            out.push(TAG_FORMAT);
            out.extend_from_slice(&v.to_le_bytes());
        }
        if let Some(id) = &self.db_id {
            out.push(TAG_DB_ID);
            out.extend_from_slice(id);
        }
        for (tag, v) in [
            (TAG_LOG_NUMBER, self.log_number),
            (TAG_NEXT_FILE, self.next_file),
            (TAG_LAST_SEQ, self.last_seq),
        ] {
            if let Some(v) = v {
                out.push(tag);
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        for (id, name) in &self.keyspaces {
            out.push(TAG_KEYSPACE);
            out.extend_from_slice(&id.to_le_bytes());
            put_bytes(&mut out, name.as_bytes());
        }
        for (ks, level, f) in &self.new_files {
            out.push(TAG_NEW_FILE);
            out.extend_from_slice(&ks.to_le_bytes());
            out.push(*level as u8);
            for v in [f.number, f.size, f.smallest_seq, f.largest_seq] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            put_bytes(&mut out, &f.smallest);
            put_bytes(&mut out, &f.largest);
        }
        for (ks, level, number) in &self.deleted_files {
            out.push(TAG_DELETED_FILE);
            out.extend_from_slice(&ks.to_le_bytes());
            out.push(*level as u8);
            out.extend_from_slice(&number.to_le_bytes());
        }
        for b in &self.new_blobs {
            out.push(TAG_NEW_BLOB);
            for v in [b.number, b.size, b.records, b.value_bytes] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        for number in &self.deleted_blobs {
            out.push(TAG_DELETED_BLOB);
            out.extend_from_slice(&number.to_le_bytes());
        }
        out
    }

    /// Decodes an edit; the error is a reason string (the caller adds file and offset).
    pub fn decode(mut buf: &[u8]) -> std::result::Result<VersionEdit, String> {
        let mut edit = VersionEdit::default();
        while let Some((&tag, rest)) = buf.split_first() {
            buf = rest;
            let mut r = Cursor { buf: &mut buf };
            match tag {
                TAG_FORMAT => edit.format_version = Some(r.u32()?),
                TAG_DB_ID => {
                    let mut id = DbId::default();
                    let bytes = r.take(id.len())?;
                    id.copy_from_slice(bytes);
                    edit.db_id = Some(id);
                }
                TAG_LOG_NUMBER => edit.log_number = Some(r.u64()?),
                TAG_NEXT_FILE => edit.next_file = Some(r.u64()?),
                TAG_LAST_SEQ => edit.last_seq = Some(r.u64()?),
                TAG_KEYSPACE => {
                    let id = r.u32()?;
                    let name = String::from_utf8(r.bytes()?.to_vec())
                        .map_err(|_| "keyspace name is not UTF-8".to_string())?;
                    edit.keyspaces.push((id, name));
                }
                TAG_NEW_FILE => {
                    let ks = r.u32()?;
                    let level = r.level()?;
                    let f = FileMeta {
                        number: r.u64()?,
                        size: r.u64()?,
                        smallest_seq: r.u64()?,
                        largest_seq: r.u64()?,
                        smallest: r.bytes()?.to_vec(),
                        largest: r.bytes()?.to_vec(),
                    };
                    edit.new_files.push((ks, level, f));
                }
                TAG_DELETED_FILE => {
                    let ks = r.u32()?;
                    let level = r.level()?;
                    edit.deleted_files.push((ks, level, r.u64()?));
                }
                TAG_NEW_BLOB => edit.new_blobs.push(BlobMeta {
                    number: r.u64()?,
                    size: r.u64()?,
                    records: r.u64()?,
                    value_bytes: r.u64()?,
                }),
                TAG_DELETED_BLOB => edit.deleted_blobs.push(r.u64()?),
                other => return Err(format!("unknown version edit tag {other}")),
            }
        }
        Ok(edit)
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Keys and names reaching the manifest were length-checked against u32 on the write path.
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

struct Cursor<'a, 'b> {
    buf: &'b mut &'a [u8],
}

impl<'a> Cursor<'a, '_> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err("version edit is truncated".into());
        }
        let (head, rest) = self.buf.split_at(n);
        *self.buf = rest;
        Ok(head)
    }
    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> std::result::Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn level(&mut self) -> std::result::Result<usize, String> {
        let l = self.take(1)?[0] as usize;
        if l >= NUM_LEVELS {
            return Err(format!("level {l} out of range"));
        }
        Ok(l)
    }
    fn bytes(&mut self) -> std::result::Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// An open MANIFEST being appended to. Every edit is fsynced before it is applied.
#[derive(Debug)]
pub(crate) struct Manifest {
    writer: strata_wal::Writer,
}

impl Manifest {
    /// Creates `MANIFEST-<number>` holding `snapshot` (a full description of the current state)
    /// and points CURRENT at it.
    pub fn create(dir: &Path, number: u64, snapshot: &VersionEdit) -> Result<Manifest> {
        let path = dir.join(manifest_name(number));
        let mut first = snapshot.clone();
        first.format_version = Some(MANIFEST_FORMAT_VERSION);
        let written = strata_wal::Writer::create(&path, number, SyncMode::Always)
            .and_then(|mut writer| {
                writer.append_batch(&[first.encode()], true)?;
                Ok(writer)
            })
            .map_err(|e| Error::wal_at(&path, e))
            .and_then(|writer| filename::sync_dir(dir).map(|()| writer));
        let writer = match written {
            Ok(writer) => writer,
            Err(e) => {
                // Nothing names it yet: a half-written manifest left behind would only be
                // in the way (without CURRENT, it makes the directory look like data).
                if !matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::AlreadyExists) {
                    let _ = fs::remove_file(&path);
                }
                return Err(e);
            }
        };
        set_current(dir, number)?;
        Ok(Manifest { writer })
    }

    /// Appends and fsyncs one edit.
    pub fn log(&mut self, edit: &VersionEdit) -> Result<()> {
        self.writer.append_batch(&[edit.encode()], true)?;
        Ok(())
    }

    /// After an edit failed to be written (not fsynced), cuts it off so the manifest ends
    /// with the last edit that took effect, and accepts edits again
    /// ([`strata_wal::Writer::recover`]).
    ///
    /// # Errors
    /// [`Error::Poisoned`] after a failed fsync; the I/O error if cutting fails again.
    pub fn recover(&mut self) -> Result<()> {
        let path = self.writer.path().to_path_buf();
        self.writer.recover().map_err(|e| Error::wal_at(&path, e))
    }
}

/// Atomically points CURRENT at `MANIFEST-<number>`: write a temp file, fsync it, rename it over
/// CURRENT, fsync the directory.
fn set_current(dir: &Path, number: u64) -> Result<()> {
    let tmp = dir.join("CURRENT.tmp");
    fs::File::create(&tmp)
        .and_then(|mut f| {
            fail::fail_point!("current::write", |e| Err(crate::error::injected(e)));
            f.write_all(format!("{}\n", manifest_name(number)).as_bytes())?;
            f.sync_all()
        })
        .map_err(|e| Error::io_at(&tmp, e))?;
    let current = filename::current_path(dir);
    rename(&tmp, &current).map_err(|e| Error::io_at(&current, e))?;
    filename::sync_dir(dir)?;
    Ok(())
}

/// `fs::rename` (a failpoint can fail it).
fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    fail::fail_point!("current::rename", |e| Err(crate::error::injected(e)));
    fs::rename(from, to)
}

/// Reads CURRENT and returns the live manifest's path and number.
pub(crate) fn read_current(dir: &Path) -> Result<(PathBuf, u64)> {
    let path = filename::current_path(dir);
    let text = fs::read(&path)?;
    let name = std::str::from_utf8(&text)
        .ok()
        .and_then(|s| s.strip_suffix('\n'))
        .ok_or_else(|| {
            Error::corruption(
                &path,
                0,
                "CURRENT is not a manifest name ending in a newline",
            )
        })?;
    match filename::parse(name) {
        Some(filename::FileKind::Manifest(n)) => Ok((dir.join(name), n)),
        _ => Err(Error::corruption(
            &path,
            0,
            format!("CURRENT names {name:?}, not a manifest"),
        )),
    }
}

/// Reads every edit of a manifest. An incomplete final record (an append interrupted by a crash:
/// that edit never took effect) is dropped; any other damage, even in the last record, is an
/// error naming the file and offset, because every complete edit was fsynced and acted upon.
pub(crate) fn read_edits(path: &Path) -> Result<Edits> {
    let mut reader = strata_wal::Reader::open(path, RecoveryMode::TolerateIncompleteTail)?;
    let mut edits = Vec::new();
    loop {
        let offset = reader.valid_end();
        let Some(record) = reader.next_record()? else {
            break;
        };
        let edit = VersionEdit::decode(&record).map_err(|r| Error::corruption(path, offset, r))?;
        if edits.is_empty() && edit.format_version != Some(MANIFEST_FORMAT_VERSION) {
            return Err(Error::corruption(
                path,
                offset,
                format!(
                    "unsupported manifest format version {:?}",
                    edit.format_version
                ),
            ));
        }
        edits.push(edit);
    }
    if edits.is_empty() {
        return Err(Error::corruption(path, 0, "manifest holds no version edit"));
    }
    Ok(Edits {
        edits,
        dropped_tail: reader.dropped_tail().cloned(),
    })
}

/// The edits of a manifest, and the incomplete final record dropped, if any.
#[derive(Debug)]
pub(crate) struct Edits {
    pub edits: Vec<VersionEdit>,
    pub dropped_tail: Option<strata_wal::TornTail>,
}

impl Edits {
    /// Blames a missing file on the dropped tail when there is one: an interrupted append never
    /// takes effect, so nothing it mentions can have been deleted yet. A file missing after a
    /// dropped record means the record was complete and acted upon, then damaged.
    pub fn explain_missing(&self, manifest: &Path, err: Error) -> Error {
        match (&self.dropped_tail, &err) {
            (Some(tail), Error::Corruption { file, reason, .. }) => Error::corruption(
                manifest,
                tail.offset,
                format!(
                    "the manifest's last record is damaged ({}) and the state before it is \
                     inconsistent: {} ({reason})",
                    tail.reason,
                    file.display()
                ),
            ),
            _ => err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> VersionEdit {
        VersionEdit {
            format_version: Some(1),
            log_number: Some(9),
            next_file: Some(12),
            last_seq: Some(1000),
            keyspaces: vec![(0, "default".into()), (3, "users".into())],
            new_files: vec![(
                3,
                0,
                FileMeta {
                    number: 10,
                    size: 4096,
                    smallest_seq: 1,
                    largest_seq: 99,
                    smallest: b"a\0\0\0\0\0\0\0\0".to_vec(),
                    largest: b"z\0\0\0\0\0\0\0\0".to_vec(),
                },
            )],
            deleted_files: vec![(0, 1, 7)],
            db_id: Some(*b"0123456789abcdef"),
            new_blobs: vec![BlobMeta {
                number: 11,
                size: 1 << 30,
                records: 3,
                value_bytes: (1 << 30) - 200,
            }],
            deleted_blobs: vec![5, 6],
        }
    }

    #[test]
    fn edit_round_trip() {
        let e = sample();
        assert_eq!(VersionEdit::decode(&e.encode()).unwrap(), e);
        assert_eq!(VersionEdit::decode(&[]).unwrap(), VersionEdit::default());
    }

    #[test]
    fn damaged_edits_are_errors_not_panics() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            let _ = VersionEdit::decode(&bytes[..cut]);
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xFF;
            let _ = VersionEdit::decode(&b);
        }
        assert!(VersionEdit::decode(&[99]).is_err());
    }
}
