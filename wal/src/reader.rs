//! The log reader: streams a log block by block, reassembles records, and
//! applies the recovery rules (torn tail vs corruption).
//!
//! Torn-tail rule: at the first bad fragment the reader checks whether any
//! later block start holds a valid fragment. If none does, the damage can
//! be a write that never completed, so everything from the start of the
//! incomplete record to the end of the file is a torn tail. If one does,
//! valid data follows the damage, and that is corruption.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{
    checksum, FragmentType, Header, BLOCK_SIZE, FILE_HEADER_PAYLOAD, FILE_HEADER_PAYLOAD_V1,
    FORMAT_VERSION, HEADER_SIZE, MAGIC,
};

const BAD_MAGIC: &str = "not a strata log (bad magic number)";

/// What the reader does with a damaged or incomplete end of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// A damaged or incomplete record at the end of the file (a torn write)
    /// is dropped and reported by [`Reader::dropped_tail`]; damage followed
    /// by any valid data is [`Error::Corruption`].
    #[default]
    TolerateTornTail,
    /// Only an *incomplete* end is dropped: the file ends inside a fragment
    /// header, inside a fragment's payload or inside a record, or its end is
    /// zero-filled. A complete fragment with a checksum mismatch is
    /// [`Error::Corruption`] even at the very end. For logs whose every
    /// record was fsynced before it took effect (the MANIFEST): an
    /// interrupted append can only leave an incomplete end, so a bad checksum
    /// there is damage to acknowledged data.
    TolerateIncompleteTail,
    /// Any damage, including a torn tail, is [`Error::Corruption`]. For logs
    /// that must be complete; the engine decides which those are.
    Strict,
}

/// The end of a log dropped as a torn write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Offset of the first dropped byte: the start of the incomplete record
    /// (its first fragment), or of the bad fragment when no record was open.
    pub offset: u64,
    /// Why the bytes were dropped, e.g. "fragment checksum mismatch".
    pub reason: String,
}

/// Reads the records of a log in order.
///
/// The source is read in 32 KiB blocks, so memory stays at one block plus
/// the record being assembled. The file header is checked by
/// [`new`](Self::new).
///
/// After [`next_record`](Self::next_record) returns an error or `Ok(None)`,
/// the reader is finished and keeps returning `Ok(None)`.
pub struct Reader<R> {
    source: R,
    name: PathBuf,
    mode: RecoveryMode,
    /// The current block: `BLOCK_SIZE` bytes, or fewer for the last one.
    block: Vec<u8>,
    /// File offset of `block[0]`.
    block_start: u64,
    /// Read position inside `block`.
    pos: usize,
    /// `block` is the final block of the file.
    last_block: bool,
    file_number: Option<u64>,
    record_format: Option<u32>,
    dropped_tail: Option<TornTail>,
    valid_end: u64,
    finished: bool,
}

/// What sits at a position in a block.
enum Slot {
    /// Fewer than `HEADER_SIZE` bytes left in the block: the writer's padding.
    Trailer,
    /// The file ends here.
    End,
    /// A fragment with a valid checksum; its payload is `block[start..end]`.
    Fragment {
        kind: FragmentType,
        start: usize,
        end: usize,
    },
    /// A fragment that fails a check; `incomplete` if the bytes look cut off
    /// (not enough of them, or zeros) rather than wrong.
    Bad { reason: String, incomplete: bool },
}

/// Classifies the bytes at `pos` of `block`. Never panics, whatever the bytes.
fn inspect(block: &[u8], pos: usize) -> Slot {
    let in_block = BLOCK_SIZE.saturating_sub(pos);
    if in_block < HEADER_SIZE {
        return Slot::Trailer;
    }
    let rest = block.get(pos..).unwrap_or_default();
    if rest.is_empty() {
        return Slot::End;
    }
    let Some(Ok(header_bytes)) = rest.get(..HEADER_SIZE).map(<[u8; HEADER_SIZE]>::try_from) else {
        return Slot::Bad {
            reason: "truncated fragment header".to_owned(),
            incomplete: true,
        };
    };
    if header_bytes == [0; HEADER_SIZE] {
        return Slot::Bad {
            reason: "zero-filled fragment header (preallocated or unwritten space)".to_owned(),
            incomplete: rest.iter().all(|&b| b == 0),
        };
    }
    let header = Header::decode(header_bytes);
    let length = usize::from(header.length);
    if HEADER_SIZE + length > in_block {
        return Slot::Bad {
            reason: format!("fragment length {length} runs past the end of the block"),
            incomplete: false,
        };
    }
    let start = pos + HEADER_SIZE;
    let end = start + length;
    let Some(payload) = block.get(start..end) else {
        return Slot::Bad {
            reason: format!("fragment length {length} runs past the end of the file"),
            incomplete: true,
        };
    };
    if checksum(header.kind, payload) != header.checksum {
        return Slot::Bad {
            reason: "fragment checksum mismatch".to_owned(),
            incomplete: false,
        };
    }
    match FragmentType::from_u8(header.kind) {
        None => Slot::Bad {
            reason: format!("unknown fragment type {}", header.kind),
            incomplete: false,
        },
        Some(FragmentType::Zero) => Slot::Bad {
            reason: "zero fragment type".to_owned(),
            incomplete: false,
        },
        Some(kind) => Slot::Fragment { kind, start, end },
    }
}

/// A fragment, located in the file.
enum Step {
    Fragment {
        kind: FragmentType,
        offset: u64,
        start: usize,
        end: usize,
    },
    End,
    Bad {
        offset: u64,
        reason: String,
        incomplete: bool,
    },
}

impl Reader<File> {
    /// Opens the log at `path` and checks its file header.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be opened or read;
    /// [`Error::Corruption`] if it is not a strata log, has an unsupported
    /// version, or (in [`RecoveryMode::Strict`]) has a torn header.
    pub fn open(path: &Path, mode: RecoveryMode) -> Result<Self> {
        fail::fail_point!("wal::open", |e| Err(crate::writer::injected(e).into()));
        let file = File::open(path)?;
        Self::new(file, path.to_path_buf(), mode)
    }
}

impl<R: Read> Reader<R> {
    /// Reads a log from `source`; `name` identifies it in errors. Reads and
    /// checks the file header: magic `STRATALG` and version 1 or 2. A source of
    /// 0 bytes is a valid empty log.
    ///
    /// # Errors
    /// [`Error::Io`] if reading fails; [`Error::Corruption`] with reason
    /// "not a strata log (bad magic number)", "unsupported log format
    /// version N", and the like, or for a torn header in
    /// [`RecoveryMode::Strict`] (in [`RecoveryMode::TolerateTornTail`] a
    /// torn header is a dropped tail and the log has no records).
    pub fn new(source: R, name: PathBuf, mode: RecoveryMode) -> Result<Self> {
        let mut reader = Self {
            source,
            name,
            mode,
            block: Vec::with_capacity(BLOCK_SIZE),
            block_start: 0,
            pos: 0,
            last_block: false,
            file_number: None,
            record_format: None,
            dropped_tail: None,
            valid_end: 0,
            finished: false,
        };
        reader.fill_block()?;
        reader.read_file_header()?;
        Ok(reader)
    }

    /// Returns the next record, or `Ok(None)` at the end of the log (a clean
    /// end, or the start of a dropped torn tail).
    ///
    /// # Errors
    /// [`Error::Io`] if reading fails; [`Error::Corruption`] for damage
    /// followed by valid data (offset of the bad fragment), or for a torn
    /// tail in [`RecoveryMode::Strict`] (offset where the tail starts).
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>> {
        if self.finished {
            return Ok(None);
        }
        let result = self.read_record();
        if !matches!(result, Ok(Some(_))) {
            self.finished = true;
        }
        result
    }

    /// The file number stored in the file header; `None` for an empty file
    /// or a dropped (torn) header.
    pub fn file_number(&self) -> Option<u64> {
        self.file_number
    }

    /// The record format stored in the file header by
    /// [`Writer::create_with_format`](crate::Writer::create_with_format):
    /// 0 for a version 1 header (which has none), `None` when
    /// [`file_number`](Self::file_number) is.
    pub fn record_format(&self) -> Option<u32> {
        self.record_format
    }

    /// The torn tail dropped in [`RecoveryMode::TolerateTornTail`], once
    /// [`next_record`](Self::next_record) has reached it.
    pub fn dropped_tail(&self) -> Option<&TornTail> {
        self.dropped_tail.as_ref()
    }

    /// Offset just past the last complete record returned (past the file
    /// header before the first record; 0 for an empty file or a torn
    /// header).
    pub fn valid_end(&self) -> u64 {
        self.valid_end
    }

    fn read_file_header(&mut self) -> Result<()> {
        if self.block.is_empty() {
            // A crash right after creating the file: a valid empty log.
            self.finished = true;
            return Ok(());
        }
        // Check the magic before the checksum, so that a file that is not a
        // log at all says so instead of looking like a torn write. A zeroed
        // or short prefix may be a torn header and goes to the checksum.
        let magic_end = (HEADER_SIZE + MAGIC.len()).min(self.block.len());
        let present = self.block.get(HEADER_SIZE..magic_end).unwrap_or_default();
        if present.iter().any(|&b| b != 0) && MAGIC.get(..present.len()) != Some(present) {
            return Err(self.corruption(0, BAD_MAGIC.to_owned()));
        }
        match inspect(&self.block, 0) {
            Slot::Fragment {
                kind: FragmentType::FileHeader,
                start,
                end,
            } => {
                let payload = self.block.get(start..end).unwrap_or_default();
                let (number, format) = self.parse_file_header(payload)?;
                self.file_number = Some(number);
                self.record_format = Some(format);
                self.pos = end;
                self.valid_end = end as u64;
                Ok(())
            }
            Slot::Fragment { .. } => {
                Err(self.corruption(0, "not a strata log (missing file header)".to_owned()))
            }
            Slot::Bad { reason, incomplete } => {
                self.finished = true;
                self.damaged(0, 0, format!("bad file header: {reason}"), incomplete)
                    .map(|_| ())
            }
            Slot::End | Slot::Trailer => {
                self.finished = true;
                Ok(())
            }
        }
    }

    /// The file number and record format of a file header.
    fn parse_file_header(&self, payload: &[u8]) -> Result<(u64, u32)> {
        if payload.get(..MAGIC.len()) != Some(&MAGIC[..]) {
            return Err(self.corruption(0, BAD_MAGIC.to_owned()));
        }
        let version = payload
            .get(8..12)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes);
        let expected_len = match version {
            Some(1) => FILE_HEADER_PAYLOAD_V1,
            Some(FORMAT_VERSION) => FILE_HEADER_PAYLOAD,
            Some(other) => {
                return Err(self.corruption(0, format!("unsupported log format version {other}")))
            }
            None => return Err(self.corruption(0, "truncated file header".to_owned())),
        };
        if payload.len() != expected_len {
            return Err(self.corruption(0, format!("bad file header length {}", payload.len())));
        }
        let number = payload
            .get(12..20)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| self.corruption(0, "truncated file header".to_owned()))?;
        let format = payload
            .get(20..24)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_le_bytes);
        Ok((number, format))
    }

    fn read_record(&mut self) -> Result<Option<Vec<u8>>> {
        // (offset of the First fragment, bytes so far) of the open record.
        let mut open: Option<(u64, Vec<u8>)> = None;
        loop {
            let (kind, offset, start, end) = match self.next_fragment()? {
                Step::End => {
                    return match open {
                        None => Ok(None),
                        Some((first, _)) => self.torn_tail(
                            first,
                            "record incomplete at end of file (no last fragment)".to_owned(),
                            true,
                        ),
                    };
                }
                Step::Bad {
                    offset,
                    reason,
                    incomplete,
                } => {
                    let tail_start = open.map_or(offset, |(first, _)| first);
                    return self.damaged(offset, tail_start, reason, incomplete);
                }
                Step::Fragment {
                    kind,
                    offset,
                    start,
                    end,
                } => (kind, offset, start, end),
            };
            let payload = self.block.get(start..end).unwrap_or_default();
            let fragment_end = self.block_start + end as u64;
            match (kind, open.as_mut()) {
                (FragmentType::Full, None) => {
                    self.valid_end = fragment_end;
                    return Ok(Some(payload.to_vec()));
                }
                (FragmentType::First, None) => open = Some((offset, payload.to_vec())),
                (FragmentType::Middle, Some((_, record))) => record.extend_from_slice(payload),
                (FragmentType::Last, Some((_, record))) => {
                    record.extend_from_slice(payload);
                    self.valid_end = fragment_end;
                    return Ok(Some(std::mem::take(record)));
                }
                (FragmentType::Full | FragmentType::First, Some((first, _))) => {
                    let tail_start = *first;
                    let reason = format!("{kind:?} fragment inside an open record");
                    return self.damaged(offset, tail_start, reason, false);
                }
                (FragmentType::Middle | FragmentType::Last, None) => {
                    let reason = format!("{kind:?} fragment without a First fragment");
                    return self.damaged(offset, offset, reason, false);
                }
                (FragmentType::FileHeader | FragmentType::Zero, _) => {
                    let tail_start = open.map_or(offset, |(first, _)| first);
                    let reason = format!("unexpected {kind:?} fragment");
                    return self.damaged(offset, tail_start, reason, false);
                }
            }
        }
    }

    /// Moves to the next fragment, crossing block trailers.
    fn next_fragment(&mut self) -> Result<Step> {
        loop {
            match inspect(&self.block, self.pos) {
                Slot::Trailer => {
                    if self.last_block {
                        // The file ends inside (or right after) a trailer.
                        return Ok(Step::End);
                    }
                    self.next_block()?;
                }
                Slot::End => return Ok(Step::End),
                Slot::Bad { reason, incomplete } => {
                    return Ok(Step::Bad {
                        offset: self.cursor(),
                        reason,
                        incomplete,
                    })
                }
                Slot::Fragment { kind, start, end } => {
                    let offset = self.cursor();
                    self.pos = end;
                    return Ok(Step::Fragment {
                        kind,
                        offset,
                        start,
                        end,
                    });
                }
            }
        }
    }

    /// Applies the torn-tail rule to a bad fragment at `bad_offset` in the
    /// current block; the incomplete data starts at `tail_start`.
    fn damaged(
        &mut self,
        bad_offset: u64,
        tail_start: u64,
        reason: String,
        incomplete: bool,
    ) -> Result<Option<Vec<u8>>> {
        // Zeros from a fragment boundary outside any record to the end of the file are space
        // the writer preallocated and never reached: the log ends here, in every mode.
        let zeros_here = bad_offset == tail_start
            && bad_offset == self.cursor()
            && self
                .block
                .get(self.pos..)
                .is_some_and(|r| r.iter().all(|&b| b == 0));
        let (valid_later, zeros_after) = self.scan_rest()?;
        if valid_later {
            return Err(self.corruption(bad_offset, reason));
        }
        if zeros_here && zeros_after {
            return Ok(None);
        }
        if self.mode == RecoveryMode::TolerateIncompleteTail && !incomplete {
            return Err(self.corruption(bad_offset, reason));
        }
        let reason = if bad_offset == tail_start {
            reason
        } else {
            format!("{reason} at offset {bad_offset}")
        };
        self.torn_tail(tail_start, reason, incomplete)
    }

    fn torn_tail(
        &mut self,
        offset: u64,
        reason: String,
        incomplete: bool,
    ) -> Result<Option<Vec<u8>>> {
        match self.mode {
            RecoveryMode::TolerateTornTail => {}
            RecoveryMode::TolerateIncompleteTail if incomplete => {}
            RecoveryMode::TolerateIncompleteTail | RecoveryMode::Strict => {
                return Err(self.corruption(offset, format!("torn tail: {reason}")));
            }
        }
        self.dropped_tail = Some(TornTail { offset, reason });
        Ok(None)
    }

    /// Reads the rest of the file and reports whether any block after the
    /// current one starts with a valid data fragment, and whether every byte
    /// after the current block is zero.
    fn scan_rest(&mut self) -> Result<(bool, bool)> {
        let mut zeros = true;
        while !self.last_block {
            self.next_block()?;
            if let Slot::Fragment {
                kind:
                    FragmentType::Full | FragmentType::First | FragmentType::Middle | FragmentType::Last,
                ..
            } = inspect(&self.block, 0)
            {
                return Ok((true, false));
            }
            zeros = zeros && self.block.iter().all(|&b| b == 0);
        }
        Ok((false, zeros))
    }

    fn cursor(&self) -> u64 {
        self.block_start + self.pos as u64
    }

    /// Moves to the block after the current (full) one.
    fn next_block(&mut self) -> io::Result<()> {
        self.block_start += self.block.len() as u64;
        self.fill_block()
    }

    /// Reads up to `BLOCK_SIZE` bytes into `block`; a short read marks the
    /// last block.
    fn fill_block(&mut self) -> io::Result<()> {
        self.block.clear();
        self.block.resize(BLOCK_SIZE, 0);
        self.pos = 0;
        let mut filled = 0;
        while let Some(space) = self.block.get_mut(filled..).filter(|s| !s.is_empty()) {
            match self.source.read(space) {
                Ok(0) => break,
                Ok(n) => filled = (filled + n).min(BLOCK_SIZE),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        self.block.truncate(filled);
        self.last_block = filled < BLOCK_SIZE;
        Ok(())
    }

    fn corruption(&self, offset: u64, reason: String) -> Error {
        Error::Corruption {
            file: self.name.clone(),
            offset,
            reason,
        }
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

impl<R> fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .field("position", &(self.block_start + self.pos as u64))
            .field("file_number", &self.file_number)
            .field("record_format", &self.record_format)
            .field("dropped_tail", &self.dropped_tail)
            .field("valid_end", &self.valid_end)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use crate::format::{encode_file_header, FILE_HEADER_SIZE};

    /// Encodes one fragment by hand, with a valid checksum.
    fn frag(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = checksum(kind, payload).to_le_bytes().to_vec();
        out.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_le_bytes());
        out.push(kind);
        out.extend_from_slice(payload);
        out
    }

    fn header(file_number: u64) -> Vec<u8> {
        frag(5, &encode_file_header(file_number, 0))
    }

    /// A version 1 file header: no record format.
    fn header_v1(file_number: u64) -> Vec<u8> {
        let mut payload = MAGIC.to_vec();
        payload.extend_from_slice(&1u32.to_le_bytes());
        payload.extend_from_slice(&file_number.to_le_bytes());
        frag(5, &payload)
    }

    fn log(fragments: &[Vec<u8>]) -> Vec<u8> {
        let mut out = header(9);
        for f in fragments {
            out.extend_from_slice(f);
        }
        out
    }

    fn read_all(bytes: &[u8], mode: RecoveryMode) -> Result<(Vec<Vec<u8>>, Option<TornTail>)> {
        let mut reader = Reader::new(bytes, PathBuf::from("test.log"), mode)?;
        let mut records = Vec::new();
        while let Some(record) = reader.next_record()? {
            records.push(record);
        }
        Ok((records, reader.dropped_tail().cloned()))
    }

    fn corruption(result: Result<impl fmt::Debug>) -> (u64, String) {
        match result {
            Err(Error::Corruption {
                file,
                offset,
                reason,
            }) => {
                assert_eq!(file, PathBuf::from("test.log"));
                (offset, reason)
            }
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    /// Pads `bytes` with filler fragments up to the start of the next block.
    fn pad_to_block(bytes: &mut Vec<u8>) {
        let left = BLOCK_SIZE - bytes.len() % BLOCK_SIZE;
        bytes.extend(frag(1, &vec![b'p'; left - HEADER_SIZE]));
    }

    #[test]
    fn empty_file_is_an_empty_log() {
        for mode in [RecoveryMode::Strict, RecoveryMode::TolerateTornTail] {
            let mut reader = Reader::new(&[][..], PathBuf::from("test.log"), mode).unwrap();
            assert_eq!(reader.file_number(), None);
            assert_eq!(reader.next_record().unwrap(), None);
            assert_eq!(reader.dropped_tail(), None);
            assert_eq!(reader.valid_end(), 0);
        }
    }

    #[test]
    fn header_only_log() {
        let bytes = header(42);
        let mut reader = Reader::new(&bytes[..], "x".into(), RecoveryMode::Strict).unwrap();
        assert_eq!(reader.file_number(), Some(42));
        assert_eq!(reader.record_format(), Some(0));
        assert_eq!(reader.valid_end(), FILE_HEADER_SIZE as u64);
        assert_eq!(reader.next_record().unwrap(), None);
    }

    #[test]
    fn the_record_format_round_trips() {
        let bytes = [frag(5, &encode_file_header(7, 0xdead_beef)), frag(1, b"r")].concat();
        let mut reader = Reader::new(&bytes[..], "x".into(), RecoveryMode::Strict).unwrap();
        assert_eq!(reader.file_number(), Some(7));
        assert_eq!(reader.record_format(), Some(0xdead_beef));
        assert_eq!(reader.next_record().unwrap().unwrap(), b"r");
    }

    #[test]
    fn version_1_logs_are_read_with_record_format_0() {
        let mut bytes = header_v1(5);
        assert_eq!(bytes.len(), 27);
        bytes.extend(frag(1, b"old"));
        bytes.extend(frag(2, b"a"));
        bytes.extend(frag(4, b"b"));
        let mut reader = Reader::new(&bytes[..], "x".into(), RecoveryMode::Strict).unwrap();
        assert_eq!(reader.file_number(), Some(5));
        assert_eq!(reader.record_format(), Some(0));
        assert_eq!(reader.valid_end(), 27);
        assert_eq!(reader.next_record().unwrap().unwrap(), b"old");
        assert_eq!(reader.next_record().unwrap().unwrap(), b"ab");
        assert_eq!(reader.next_record().unwrap(), None);
        // A version 1 header with a version 2 length (or the reverse) is malformed.
        let mut payload = encode_file_header(5, 0);
        payload[8..12].copy_from_slice(&1u32.to_le_bytes());
        let (_, reason) = corruption(read_all(&frag(5, &payload), RecoveryMode::Strict));
        assert_eq!(reason, "bad file header length 24");
        let mut v1 = header_v1(5)[HEADER_SIZE..].to_vec();
        v1[8..12].copy_from_slice(&2u32.to_le_bytes());
        let (_, reason) = corruption(read_all(&frag(5, &v1), RecoveryMode::Strict));
        assert_eq!(reason, "bad file header length 20");
    }

    #[test]
    fn bad_magic_is_corruption() {
        let mut bytes = header(1);
        bytes[HEADER_SIZE..HEADER_SIZE + 8].copy_from_slice(b"LEVELDB!");
        for mode in [RecoveryMode::Strict, RecoveryMode::TolerateTornTail] {
            let (offset, reason) = corruption(read_all(&bytes, mode));
            assert_eq!((offset, reason.as_str()), (0, BAD_MAGIC));
        }
        // Even with a matching checksum.
        let mut payload = encode_file_header(1, 0);
        payload[0] = b'X';
        let (_, reason) = corruption(read_all(&frag(5, &payload), RecoveryMode::Strict));
        assert_eq!(reason, BAD_MAGIC);
        // And for a short file.
        let (_, reason) = corruption(read_all(b"hello, world", RecoveryMode::TolerateTornTail));
        assert_eq!(reason, BAD_MAGIC);
    }

    #[test]
    fn bad_version_is_corruption() {
        for version in [0u32, 3] {
            let mut payload = encode_file_header(1, 0);
            payload[8..12].copy_from_slice(&version.to_le_bytes());
            let (offset, reason) =
                corruption(read_all(&frag(5, &payload), RecoveryMode::TolerateTornTail));
            assert_eq!(offset, 0);
            assert_eq!(reason, format!("unsupported log format version {version}"));
        }
    }

    #[test]
    fn missing_or_malformed_file_header_is_corruption() {
        let (_, reason) = corruption(read_all(&frag(1, b"STRATALGrecord"), RecoveryMode::Strict));
        assert_eq!(reason, "not a strata log (missing file header)");
        let mut payload = encode_file_header(1, 0).to_vec();
        payload.push(0);
        let (_, reason) = corruption(read_all(&frag(5, &payload), RecoveryMode::Strict));
        assert_eq!(reason, "bad file header length 25");
        let (_, reason) = corruption(read_all(&frag(5, &MAGIC), RecoveryMode::Strict));
        assert_eq!(reason, "truncated file header");
    }

    #[test]
    fn torn_header_is_a_torn_tail() {
        let full = header(3);
        for len in 1..full.len() {
            let bytes = &full[..len];
            let (records, tail) = read_all(bytes, RecoveryMode::TolerateTornTail).unwrap();
            assert!(records.is_empty());
            assert_eq!(tail.unwrap().offset, 0, "len {len}");
            let (offset, reason) = corruption(read_all(bytes, RecoveryMode::Strict));
            assert_eq!(offset, 0);
            assert!(reason.starts_with("torn tail: bad file header"), "{reason}");
        }
        // A zero-filled file (preallocated, the header never written back) is an empty
        // log in every mode.
        for mode in [RecoveryMode::TolerateTornTail, RecoveryMode::Strict] {
            let (records, tail) = read_all(&[0; 100], mode).unwrap();
            assert!(records.is_empty());
            assert_eq!(tail, None);
        }
    }

    #[test]
    fn protocol_violations_at_the_tail_are_torn() {
        let cases: Vec<(Vec<Vec<u8>>, u64, &str)> = vec![
            (
                vec![frag(3, b"m")],
                27,
                "Middle fragment without a First fragment",
            ),
            (
                vec![frag(4, b"l")],
                27,
                "Last fragment without a First fragment",
            ),
            (
                vec![frag(2, b"f"), frag(1, b"x")],
                27,
                "Full fragment inside an open record at offset 35",
            ),
            (
                vec![frag(2, b"f"), frag(2, b"x")],
                27,
                "First fragment inside an open record at offset 35",
            ),
            (
                vec![frag(5, &encode_file_header(9, 0))],
                27,
                "unexpected FileHeader fragment",
            ),
            (vec![frag(0, b"")], 27, "zero fragment type"),
            (vec![frag(9, b"z")], 27, "unknown fragment type 9"),
            (
                vec![frag(2, b"f"), frag(3, b"m")],
                27,
                "record incomplete at end of file (no last fragment)",
            ),
        ];
        for (fragments, offset, reason) in cases {
            let mut bytes = log(&[frag(1, b"ok")]);
            let base = bytes.len() as u64 - 27;
            bytes.extend(fragments.concat());
            let (records, tail) = read_all(&bytes, RecoveryMode::TolerateTornTail).unwrap();
            assert_eq!(records, [b"ok".to_vec()]);
            let reason = reason.replace("offset 35", &format!("offset {}", 35 + base));
            assert_eq!(
                tail,
                Some(TornTail {
                    offset: offset + base,
                    reason: reason.clone()
                })
            );
            let (strict_offset, strict_reason) = corruption(read_all(&bytes, RecoveryMode::Strict));
            assert_eq!(strict_offset, offset + base);
            assert_eq!(strict_reason, format!("torn tail: {reason}"));
        }
    }

    #[test]
    fn damage_followed_by_a_valid_block_is_corruption() {
        let mut bytes = log(&[frag(1, b"one")]);
        let bad = bytes.len() as u64;
        bytes.extend(frag(3, b"orphan"));
        pad_to_block(&mut bytes);
        bytes.extend(frag(1, b"later"));
        for mode in [RecoveryMode::Strict, RecoveryMode::TolerateTornTail] {
            let mut reader = Reader::new(&bytes[..], "test.log".into(), mode).unwrap();
            assert_eq!(reader.next_record().unwrap().unwrap(), b"one");
            let (offset, reason) = corruption(reader.next_record());
            assert_eq!(offset, bad);
            assert_eq!(reason, "Middle fragment without a First fragment");
            assert_eq!(
                reader.next_record().unwrap(),
                None,
                "finished after an error"
            );
        }
    }

    #[test]
    fn zeros_to_the_end_of_the_file_end_the_log_only_at_a_record_boundary() {
        let mut bytes = log(&[frag(1, b"one"), frag(1, b"two")]);
        let end = bytes.len();
        bytes.extend(vec![0u8; 3 * BLOCK_SIZE + 100]);
        for mode in [RecoveryMode::Strict, RecoveryMode::TolerateTornTail] {
            let (records, tail) = read_all(&bytes, mode).unwrap();
            assert_eq!(records, [b"one".to_vec(), b"two".to_vec()]);
            assert_eq!(tail, None, "{mode:?}");
        }
        // Anything but zeros after them: a torn tail as before.
        let mut dirty = bytes.clone();
        let last = dirty.len() - 1;
        dirty[last] = 1;
        let (_, tail) = read_all(&dirty, RecoveryMode::TolerateTornTail).unwrap();
        assert_eq!(tail.unwrap().offset, end as u64);
        assert!(read_all(&dirty, RecoveryMode::Strict).is_err());
        // Zeros inside an open record, or after an orphan fragment: damage.
        for fragment in [frag(2, b"first"), frag(3, b"orphan")] {
            let mut cut = log(&[frag(1, b"one"), fragment]);
            cut.extend(vec![0u8; BLOCK_SIZE]);
            let (records, tail) = read_all(&cut, RecoveryMode::TolerateTornTail).unwrap();
            assert_eq!(records, [b"one".to_vec()]);
            assert!(tail.is_some());
            assert!(read_all(&cut, RecoveryMode::Strict).is_err());
        }
    }

    #[test]
    fn a_zeroed_later_block_does_not_count_as_valid_data() {
        let mut bytes = log(&[frag(1, b"one")]);
        bytes.extend(frag(3, b"orphan"));
        pad_to_block(&mut bytes);
        bytes.extend([0u8; BLOCK_SIZE]);
        bytes.extend([0u8; 100]);
        let (records, tail) = read_all(&bytes, RecoveryMode::TolerateTornTail).unwrap();
        assert_eq!(records, [b"one".to_vec()]);
        assert_eq!(tail.unwrap().offset, FILE_HEADER_SIZE as u64 + 10);
    }

    #[test]
    fn trailer_and_exact_block_ends_are_not_damage() {
        // Leave 3 bytes at the end of block 0, then end the file inside them.
        let mut bytes = header(1);
        let fill = BLOCK_SIZE - bytes.len() - HEADER_SIZE - 3;
        bytes.extend(frag(1, &vec![b'a'; fill]));
        for trailer in 0..=3 {
            let mut cut = bytes.clone();
            cut.extend(vec![0u8; trailer]);
            let (records, tail) = read_all(&cut, RecoveryMode::Strict).unwrap();
            assert_eq!(records.len(), 1);
            assert_eq!(tail, None);
        }
        bytes.extend([0u8; 3]);
        bytes.extend(frag(1, b"b"));
        let (records, _) = read_all(&bytes, RecoveryMode::Strict).unwrap();
        assert_eq!(records, [vec![b'a'; fill], b"b".to_vec()]);
    }

    #[test]
    fn valid_end_tracks_the_last_record() {
        let bytes = log(&[
            frag(1, b"abc"),
            frag(2, b"de"),
            frag(4, b"f"),
            frag(2, b"torn"),
        ]);
        let mut reader =
            Reader::new(&bytes[..], "x".into(), RecoveryMode::TolerateTornTail).unwrap();
        assert_eq!(reader.next_record().unwrap().unwrap(), b"abc");
        assert_eq!(reader.valid_end(), FILE_HEADER_SIZE as u64 + 10);
        assert_eq!(reader.next_record().unwrap().unwrap(), b"def");
        assert_eq!(reader.valid_end(), FILE_HEADER_SIZE as u64 + 10 + 9 + 8);
        assert_eq!(reader.next_record().unwrap(), None);
        assert_eq!(reader.valid_end(), FILE_HEADER_SIZE as u64 + 10 + 9 + 8);
        assert_eq!(reader.dropped_tail().unwrap().offset, reader.valid_end());
    }

    #[test]
    fn iterator_yields_records_then_stops() {
        let bytes = log(&[frag(1, b"a"), frag(1, b"b")]);
        let reader = Reader::new(&bytes[..], "x".into(), RecoveryMode::Strict).unwrap();
        let records: Result<Vec<_>> = reader.collect();
        assert_eq!(records.unwrap(), [b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn read_errors_are_io_errors() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let err = Reader::new(Failing, "x".into(), RecoveryMode::Strict).unwrap_err();
        assert!(matches!(err, Error::Io(_)));
    }

    #[test]
    fn short_reads_are_reassembled() {
        /// Returns at most 5 bytes per read, and sometimes `Interrupted`.
        struct Trickle<'a>(&'a [u8], bool);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.1 = !self.1;
                if self.1 {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let n = buf.len().min(5).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut bytes = log(&[frag(1, b"a")]);
        pad_to_block(&mut bytes);
        bytes.extend(frag(1, b"b"));
        let reader = Reader::new(Trickle(&bytes, false), "x".into(), RecoveryMode::Strict).unwrap();
        let records: Vec<_> = reader.map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), 3);
        assert_eq!(records[2], b"b");
    }
}
