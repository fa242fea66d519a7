//! The log writer: splits records into fragments, buffers them, and makes
//! them durable according to a [`SyncMode`] (group commit).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::format::{encode_file_header, FragmentType, Header, BLOCK_SIZE, HEADER_SIZE};

/// Buffered bytes above which `append` pushes the buffer to the OS, so the
/// buffer never grows much past this size whatever the record size.
const FLUSH_THRESHOLD: usize = 256 * 1024;

/// Zeros used to pad the end of a block (fewer than `HEADER_SIZE` bytes).
const TRAILER_ZEROS: [u8; HEADER_SIZE] = [0; HEADER_SIZE];

/// When [`Writer::append_batch`] fsyncs.
///
/// Whatever the mode, [`Writer::append_batch`] with `sync = true` and
/// [`Writer::sync`] always fsync, and [`Writer::append`] never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Every `append_batch` ends with an fsync: an acknowledged batch
    /// survives an OS crash or power loss.
    Always,
    /// `append_batch` fsyncs when this much time has passed since the last
    /// sync; the engine also calls [`Writer::sync_if_due`] from a ticker.
    /// A power loss can lose about one interval of acknowledged writes; a
    /// process crash loses nothing that reached the OS.
    Interval(Duration),
    /// Never fsync unless asked; the OS writes back when it likes.
    Never,
}

impl Default for SyncMode {
    /// `Interval(1 s)`, like Redis `appendfsync everysec`: at most about one
    /// second of writes is lost on power failure, for a fraction of the cost
    /// of `Always`.
    fn default() -> Self {
        Self::Interval(Duration::from_secs(1))
    }
}

/// Appends records to a new log file.
///
/// Records are encoded into an in-memory buffer; [`flush`](Self::flush)
/// hands the buffer to the OS (a `write` syscall) and [`sync`](Self::sync)
/// makes everything durable (`fdatasync`). Any failed write or fsync
/// poisons the writer: later calls return [`Error::Poisoned`], because what
/// reached the disk is unknown. After a failed write (not an fsync),
/// [`recover`](Self::recover) cuts the file back to the log as it stood
/// before the failed call and accepts appends again; after a failed fsync
/// the caller starts a new log file.
///
/// Dropping a writer that is not poisoned pushes its buffer to the OS (best
/// effort, errors ignored) but does not fsync.
pub struct Writer {
    /// Shared with [`PendingSync`] so an fsync can run while appends go on.
    file: Arc<File>,
    path: PathBuf,
    file_number: u64,
    record_format: u32,
    mode: SyncMode,
    /// Encoded bytes not yet handed to the OS.
    buf: Vec<u8>,
    /// Position inside the current block, in `0..BLOCK_SIZE`.
    block_offset: usize,
    /// Logical end of the log, including `buf`.
    offset: u64,
    /// Bytes known durable.
    synced_offset: u64,
    last_sync: Instant,
    /// The log's end before the call in progress (or the last one): what a
    /// failed call is cut back to.
    mark: Mark,
    /// Why the writer refuses work, if it does.
    failure: Option<Failure>,
    /// Preallocation step in bytes (0: none); see [`Writer::preallocate`].
    prealloc_step: u64,
    /// The file's length: at least `offset` once the buffer is written out.
    allocated: u64,
    /// End of the range last returned by [`Writer::take_writeback_range`].
    hinted: u64,
}

/// A position in the log: its byte offset and the position inside its block.
#[derive(Debug, Clone, Copy)]
struct Mark {
    offset: u64,
    block_offset: usize,
}

/// What poisoned a writer.
#[derive(Debug, Clone, Copy)]
enum Failure {
    /// A write, or growing or cutting the file, failed. The file is known to
    /// hold the log up to `written` (what earlier writes handed to the OS);
    /// the log up to `mark` is what callers were told was appended, the rest
    /// of the buffer belongs to the failed call. [`Writer::recover`] can put
    /// this right.
    Write { mark: Mark, written: u64 },
    /// An fsync failed: the kernel may have dropped the dirty pages it could
    /// not write (and reports the error once), so no byte since the last
    /// good fsync can be trusted. Final.
    Sync,
}

impl Writer {
    /// Creates the log file at `path` (which must not exist), writes the file
    /// header carrying `file_number`, and hands it to the OS.
    ///
    /// Neither the file nor its directory is fsynced: the caller fsyncs the
    /// directory to make the new name durable. Until the first sync, a crash
    /// can leave an empty file or a torn header, which the reader treats as
    /// an empty log (or a torn tail).
    ///
    /// # Errors
    /// [`Error::Io`] if the file exists or cannot be created or written. A
    /// partially written file may be left behind; the caller removes it.
    pub fn create(path: &Path, file_number: u64, mode: SyncMode) -> Result<Writer> {
        Self::create_with_format(path, file_number, 0, mode)
    }

    /// Like [`create`](Self::create), and also names the encoding of the
    /// records in the file header: `record_format` is the caller's own
    /// number (this crate does not interpret it), read back by
    /// [`Reader::record_format`](crate::Reader::record_format). `create`
    /// writes 0.
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn create_with_format(
        path: &Path,
        file_number: u64,
        record_format: u32,
        mode: SyncMode,
    ) -> Result<Writer> {
        fail::fail_point!("wal::create", |e| Err(injected(e).into()));
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        Self::from_file(file, path.to_path_buf(), file_number, record_format, mode)
    }

    /// Starts a log in `file`, which must be empty and positioned at 0.
    pub(crate) fn from_file(
        file: File,
        path: PathBuf,
        file_number: u64,
        record_format: u32,
        mode: SyncMode,
    ) -> Result<Writer> {
        let mut writer = Writer {
            file: Arc::new(file),
            path,
            file_number,
            record_format,
            mode,
            buf: Vec::new(),
            block_offset: 0,
            offset: 0,
            synced_offset: 0,
            last_sync: Instant::now(),
            mark: Mark {
                offset: 0,
                block_offset: 0,
            },
            failure: None,
            prealloc_step: 0,
            allocated: 0,
            hinted: 0,
        };
        writer.emit(
            FragmentType::FileHeader,
            &encode_file_header(file_number, record_format),
        );
        writer.flush()?;
        Ok(writer)
    }

    /// Grows the file ahead of the log in steps of `step` bytes (0 turns it
    /// off): the file's length is set past the end of the log (a sparse
    /// extension, no data written), so an `fdatasync` after an append finds
    /// the length unchanged and commits data only, instead of the new length
    /// too (about 1.5x the synced appends per second on ext4). The log then
    /// ends in zeros, which readers take as its end; [`finish`](Self::finish)
    /// cuts them off.
    ///
    /// # Errors
    /// [`Error::Poisoned`] after an earlier failure; [`Error::Io`] if the
    /// file cannot be extended, which poisons the writer.
    pub fn preallocate(&mut self, step: u64) -> Result<()> {
        self.begin_call()?;
        self.prealloc_step = step;
        self.write_out()
    }

    /// Ends the log: hands the buffer to the OS, cuts the file to the log's
    /// length (dropping preallocated zeros) and `fdatasync`s it, so the file
    /// is complete and exact.
    ///
    /// # Errors
    /// [`Error::Poisoned`] after an earlier failure; [`Error::Io`] if the
    /// write, the truncation or the fsync fails, which poisons the writer.
    pub fn finish(&mut self) -> Result<()> {
        self.begin_call()?;
        self.write_out()?;
        if self.allocated <= self.offset {
            return self.sync();
        }
        // The length changes, so sync even if every byte of data already is.
        if let Err(err) = self.set_len(self.offset) {
            return Err(self.write_failed(err));
        }
        self.allocated = self.offset;
        if let Err(err) = self.sync_data() {
            self.failure = Some(Failure::Sync);
            return Err(err.into());
        }
        self.synced_offset = self.offset;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// The bytes handed to the OS since the range this last returned, as
    /// `(offset, len)`, once they reach `step`. For callers that ask the OS
    /// to start writing the log back while it fills (`sync_file_range` on
    /// [`file`](Self::file)), so that the fsync which ends the log finds
    /// little left to write.
    pub fn take_writeback_range(&mut self, step: u64) -> Option<(u64, u64)> {
        let written = self.offset - self.buf.len() as u64;
        if written < self.hinted.saturating_add(step.max(1)) {
            return None;
        }
        let range = (self.hinted, written - self.hinted);
        self.hinted = written;
        Some(range)
    }

    /// The log's file, for hints to the OS about it (writeback, caching).
    /// Writing through it would corrupt the log.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Appends one record (of any length, including 0) to the buffer.
    ///
    /// The record is neither guaranteed to reach the OS nor to be durable
    /// until [`flush`](Self::flush), [`sync`](Self::sync) or
    /// [`append_batch`](Self::append_batch). When the buffer grows past
    /// 256 KiB it is handed to the OS on the way.
    ///
    /// # Errors
    /// [`Error::Poisoned`] after an earlier failure; [`Error::Io`] if pushing
    /// a full buffer to the OS fails (which poisons the writer).
    pub fn append(&mut self, record: &[u8]) -> Result<()> {
        self.begin_call()?;
        self.append_record(record)
    }

    fn append_record(&mut self, record: &[u8]) -> Result<()> {
        let mut rest = record;
        let mut first = true;
        loop {
            let left_in_block = BLOCK_SIZE - self.block_offset;
            if left_in_block < HEADER_SIZE {
                // Invariant: a fragment never crosses a block boundary, so a
                // block tail too small for a header is padded with zeros.
                self.put(TRAILER_ZEROS.get(..left_in_block).unwrap_or(&[]));
            }
            let room = BLOCK_SIZE - self.block_offset - HEADER_SIZE;
            let (chunk, tail) = rest.split_at(rest.len().min(room));
            let last = tail.is_empty();
            let kind = match (first, last) {
                (true, true) => FragmentType::Full,
                (true, false) => FragmentType::First,
                (false, false) => FragmentType::Middle,
                (false, true) => FragmentType::Last,
            };
            self.emit(kind, chunk);
            if self.buf.len() >= FLUSH_THRESHOLD {
                self.write_out()?;
            }
            if last {
                return Ok(());
            }
            rest = tail;
            first = false;
        }
    }

    /// Group commit: appends all `records`, hands them to the OS in as few
    /// writes as possible, then fsyncs once if `sync` is true or the
    /// [`SyncMode`] demands it (`Always`; `Interval(d)` when `d` has passed
    /// since the last sync; never for `Never`).
    ///
    /// Returns `true` if the call ended with a sync, so that every byte up
    /// to [`offset`](Self::offset) is durable; `false` if the records only
    /// reached the OS.
    ///
    /// # Errors
    /// [`Error::Poisoned`] after an earlier failure; [`Error::Io`] if a write
    /// or the fsync fails, which poisons the writer. After an error the
    /// batch may be partly on disk: the caller must not acknowledge it.
    pub fn append_batch<R: AsRef<[u8]>>(&mut self, records: &[R], sync: bool) -> Result<bool> {
        self.begin_call()?;
        for record in records {
            self.append_record(record.as_ref())?;
        }
        self.write_out()?;
        if sync || self.sync_due() {
            self.sync()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Hands buffered bytes to the OS (a `write` syscall), without fsync.
    /// After it, the bytes survive a crash of this process but not of the
    /// machine.
    ///
    /// # Errors
    /// [`Error::Poisoned`] after an earlier failure; [`Error::Io`] if the
    /// write fails, which poisons the writer.
    pub fn flush(&mut self) -> Result<()> {
        self.begin_call()?;
        self.write_out()
    }

    /// Flushes, then `fdatasync`s the file if anything is unsynced. Updates
    /// [`synced_offset`](Self::synced_offset) and the instant of the last
    /// sync.
    ///
    /// # Errors
    /// [`Error::Poisoned`] after an earlier failure; [`Error::Io`] if the
    /// write or the fsync fails, which poisons the writer.
    pub fn sync(&mut self) -> Result<()> {
        self.begin_call()?;
        self.write_out()?;
        if self.synced_offset < self.offset {
            if let Err(err) = self.sync_data() {
                self.failure = Some(Failure::Sync);
                return Err(err.into());
            }
            self.synced_offset = self.offset;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// First half of a sync that runs without holding the writer: hands the
    /// buffer to the OS and returns the file and the offset a
    /// [`PendingSync::sync`] makes durable. Appends may go on meanwhile (the
    /// caller releases whatever lock guards the writer); afterwards
    /// [`finish_sync`](Self::finish_sync) records the result.
    ///
    /// This is how many committers share one fsync without stalling the
    /// writers that arrive during it.
    ///
    /// # Errors
    /// [`Error::Poisoned`] after an earlier failure; [`Error::Io`] if the
    /// write fails, which poisons the writer.
    pub fn begin_sync(&mut self) -> Result<PendingSync> {
        self.begin_call()?;
        self.write_out()?;
        Ok(PendingSync {
            file: Arc::clone(&self.file),
            offset: self.offset,
            needed: self.synced_offset < self.offset,
        })
    }

    /// Second half of a sync begun with [`begin_sync`](Self::begin_sync):
    /// on success advances [`synced_offset`](Self::synced_offset) (if
    /// `pending` belongs to this log); on failure poisons the writer, since
    /// what reached the disk is unknown.
    pub fn finish_sync(&mut self, pending: &PendingSync, result: &std::io::Result<()>) {
        if !Arc::ptr_eq(&self.file, &pending.file) {
            // The log was replaced meanwhile; its successor has its own state.
            return;
        }
        match result {
            Ok(()) => {
                self.synced_offset = self.synced_offset.max(pending.offset);
                self.last_sync = Instant::now();
            }
            Err(_) => self.failure = Some(Failure::Sync),
        }
    }

    /// For the engine's background ticker: syncs if there are unsynced bytes
    /// and the mode says a sync is due (`Always`: always; `Interval(d)`: `d`
    /// has passed since the last sync; `Never`: never). Returns whether it
    /// synced.
    ///
    /// # Errors
    /// [`Error::Poisoned`] after an earlier failure; [`Error::Io`] if the
    /// sync fails, which poisons the writer.
    pub fn sync_if_due(&mut self) -> Result<bool> {
        self.begin_call()?;
        if !self.sync_is_due() {
            return Ok(false);
        }
        self.sync()?;
        Ok(true)
    }

    /// Whether [`sync_if_due`](Self::sync_if_due) would sync now: there are
    /// unsynced bytes and the mode says a sync is due.
    pub fn sync_is_due(&self) -> bool {
        self.failure.is_none() && self.synced_offset < self.offset && self.sync_due()
    }

    /// Logical size of the log: every byte appended, including bytes still
    /// in the buffer.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes known durable: the log up to here survives power loss.
    pub fn synced_offset(&self) -> u64 {
        self.synced_offset
    }

    /// The path the log was created at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file number written in the file header.
    pub fn file_number(&self) -> u64 {
        self.file_number
    }

    /// The record format written in the file header.
    pub fn record_format(&self) -> u32 {
        self.record_format
    }

    /// The current sync mode.
    pub fn mode(&self) -> SyncMode {
        self.mode
    }

    /// Changes the sync mode; takes effect at the next batch or tick.
    pub fn set_mode(&mut self, mode: SyncMode) {
        self.mode = mode;
    }

    /// Whether a failed write or fsync poisoned the writer.
    pub fn is_poisoned(&self) -> bool {
        self.failure.is_some()
    }

    /// After a failed write (not an fsync), puts the log back as it stood
    /// before the call that failed, and accepts appends again: the file is
    /// cut back to what earlier writes are known to have written, the bytes
    /// appended before the failed call and still buffered are written again,
    /// and whatever the failed call added is dropped (its caller got the
    /// error, so nobody was told it was appended). Nothing is fsynced:
    /// [`synced_offset`](Self::synced_offset) stays where it was. Does
    /// nothing on a writer that is not poisoned.
    ///
    /// For the engine's auto-resume once disk space or a descriptor is back
    /// (RocksDB's recovery from a retryable WAL write error).
    ///
    /// # Errors
    /// [`Error::Poisoned`] if an fsync failed (no byte since the last good
    /// fsync can be trusted: start a new log); [`Error::Io`] if cutting or
    /// writing fails again, which leaves the writer as it was, to be
    /// recovered later.
    pub fn recover(&mut self) -> Result<()> {
        let (mark, written) = match self.failure {
            None => return Ok(()),
            Some(Failure::Sync) => return Err(Error::Poisoned),
            Some(Failure::Write { mark, written }) => (mark, written),
        };
        let keep = mark.offset.min(written);
        self.set_len(keep)?;
        let pending = usize::try_from(mark.offset - keep)
            .ok()
            .and_then(|n| self.buf.get(..n))
            .ok_or(Error::Poisoned)?;
        (&*self.file).seek(SeekFrom::Start(keep))?;
        if !pending.is_empty() {
            fail::fail_point!("wal::write", |e| Err(injected(e).into()));
            (&*self.file).write_all(pending)?;
        }
        self.buf.clear();
        self.offset = mark.offset;
        self.block_offset = mark.block_offset;
        self.allocated = mark.offset;
        self.hinted = self.hinted.min(mark.offset);
        self.mark = mark;
        self.failure = None;
        Ok(())
    }

    /// Starts a public call: refuses it on a poisoned writer, and marks where
    /// the log stands, for [`recover`](Self::recover) to cut back to if it
    /// fails.
    fn begin_call(&mut self) -> Result<()> {
        if self.failure.is_some() {
            return Err(Error::Poisoned);
        }
        self.mark = Mark {
            offset: self.offset,
            block_offset: self.block_offset,
        };
        Ok(())
    }

    /// Poisons the writer after a failed write, growing or cutting of the
    /// file; returns the error.
    fn write_failed(&mut self, err: std::io::Error) -> Error {
        self.failure = Some(Failure::Write {
            mark: self.mark,
            written: self.offset - self.buf.len() as u64,
        });
        err.into()
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        fail::fail_point!("wal::allocate", |e| Err(injected(e)));
        self.file.set_len(len)
    }

    fn sync_data(&self) -> std::io::Result<()> {
        fail::fail_point!("wal::sync", |e| Err(injected(e)));
        self.file.sync_data()
    }

    fn sync_due(&self) -> bool {
        match self.mode {
            SyncMode::Always => true,
            SyncMode::Interval(interval) => self.last_sync.elapsed() >= interval,
            SyncMode::Never => false,
        }
    }

    /// Encodes one fragment; the caller has checked it fits in the block.
    fn emit(&mut self, kind: FragmentType, payload: &[u8]) {
        debug_assert!(self.block_offset + HEADER_SIZE + payload.len() <= BLOCK_SIZE);
        self.put(&Header::for_payload(kind, payload).encode());
        self.put(payload);
    }

    fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.offset += bytes.len() as u64;
        self.block_offset = (self.block_offset + bytes.len()) % BLOCK_SIZE;
    }

    fn write_out(&mut self) -> Result<()> {
        if self.prealloc_step > 0 && self.offset > self.allocated {
            // A step so large that the next multiple overflows just covers the log.
            let target = self
                .offset
                .div_ceil(self.prealloc_step)
                .checked_mul(self.prealloc_step)
                .unwrap_or(self.offset);
            if let Err(err) = self.set_len(target) {
                return Err(self.write_failed(err));
            }
            self.allocated = target;
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        if let Err(err) = self.write_buf() {
            // Part of the buffer may have been written: the file now ends in
            // an unknown state, so nothing more may be appended after it
            // until `recover` cuts it back.
            return Err(self.write_failed(err));
        }
        self.buf.clear();
        Ok(())
    }
}

impl Writer {
    fn write_buf(&self) -> std::io::Result<()> {
        fail::fail_point!("wal::write", |e| Err(injected(e)));
        (&*self.file).write_all(&self.buf)
    }
}

/// The error a failpoint injects: the OS error numbered by its argument
/// (`return(28)` is ENOSPC), or EIO without one.
#[cfg(feature = "failpoints")]
pub(crate) fn injected(errno: Option<String>) -> std::io::Error {
    std::io::Error::from_raw_os_error(errno.and_then(|e| e.parse().ok()).unwrap_or(5))
}

/// An fsync prepared by [`Writer::begin_sync`], run without the writer.
#[derive(Debug)]
pub struct PendingSync {
    file: Arc<File>,
    offset: u64,
    needed: bool,
}

impl PendingSync {
    /// `fdatasync`s the log (skipped when everything was already durable):
    /// every byte up to [`offset`](Self::offset) is durable when it returns
    /// `Ok`. Pass the result to [`Writer::finish_sync`].
    ///
    /// # Errors
    /// The fsync's I/O error.
    pub fn sync(&self) -> std::io::Result<()> {
        if self.needed {
            fail::fail_point!("wal::sync", |e| Err(injected(e)));
            self.file.sync_data()
        } else {
            Ok(())
        }
    }

    /// The log offset this sync makes durable.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.failure.is_none() {
            // Best effort, like `BufWriter`: errors cannot be reported here.
            let _ = self.write_out();
        }
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("file_number", &self.file_number)
            .field("record_format", &self.record_format)
            .field("mode", &self.mode)
            .field("offset", &self.offset)
            .field("synced_offset", &self.synced_offset)
            .field("buffered", &self.buf.len())
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use crate::format::{checksum, FILE_HEADER_SIZE, MAGIC};
    use crate::reader::{Reader, RecoveryMode};

    fn new_writer(mode: SyncMode) -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let writer = Writer::create(&dir.path().join("000007.log"), 7, mode).unwrap();
        (dir, writer)
    }

    fn file_len(writer: &Writer) -> u64 {
        std::fs::metadata(writer.path()).unwrap().len()
    }

    /// Walks the fragments of a log, checking the block invariants, and
    /// returns `(offset, type, payload length)` for each.
    fn fragments(bytes: &[u8]) -> Vec<(usize, u8, usize)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let left_in_block = BLOCK_SIZE - pos % BLOCK_SIZE;
            if left_in_block < HEADER_SIZE {
                let trailer = &bytes[pos..(pos + left_in_block).min(bytes.len())];
                assert!(trailer.iter().all(|&b| b == 0), "trailer at {pos} not zero");
                pos += left_in_block;
                continue;
            }
            let header = Header::decode(bytes[pos..pos + HEADER_SIZE].try_into().unwrap());
            let len = usize::from(header.length);
            assert!(
                HEADER_SIZE + len <= left_in_block,
                "fragment at {pos} crosses a block"
            );
            let payload = &bytes[pos + HEADER_SIZE..pos + HEADER_SIZE + len];
            assert_eq!(checksum(header.kind, payload), header.checksum);
            out.push((pos, header.kind, len));
            pos += HEADER_SIZE + len;
        }
        assert_eq!(pos, bytes.len());
        out
    }

    #[test]
    fn default_mode_is_interval_one_second() {
        assert_eq!(
            SyncMode::default(),
            SyncMode::Interval(Duration::from_secs(1))
        );
    }

    #[test]
    fn create_writes_the_file_header() {
        let (_dir, writer) = new_writer(SyncMode::Never);
        assert_eq!(writer.offset(), FILE_HEADER_SIZE as u64);
        assert_eq!(writer.synced_offset(), 0);
        assert_eq!(writer.file_number(), 7);
        assert_eq!(writer.record_format(), 0);
        let bytes = std::fs::read(writer.path()).unwrap();
        assert_eq!(bytes.len(), FILE_HEADER_SIZE);
        let payload = &bytes[HEADER_SIZE..];
        assert_eq!(&bytes[..4], &checksum(5, payload).to_le_bytes());
        assert_eq!(&bytes[4..7], &[24, 0, 5]);
        assert_eq!(&payload[..8], &MAGIC);
        assert_eq!(&payload[8..12], &2u32.to_le_bytes());
        assert_eq!(&payload[12..20], &7u64.to_le_bytes());
        assert_eq!(&payload[20..], &0u32.to_le_bytes());
    }

    #[test]
    fn create_with_format_names_the_record_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000003.log");
        let writer = Writer::create_with_format(&path, 3, 9, SyncMode::Never).unwrap();
        assert_eq!(writer.record_format(), 9);
        drop(writer);
        let reader = crate::Reader::open(&path, crate::RecoveryMode::Strict).unwrap();
        assert_eq!(reader.record_format(), Some(9));
        assert_eq!(reader.file_number(), Some(3));
    }

    #[test]
    fn writeback_ranges_cover_what_reached_the_os_once_each() {
        let (_dir, mut writer) = new_writer(SyncMode::Never);
        let record = vec![7u8; 100_000];
        writer.append(&record).unwrap();
        // Buffered bytes are not the OS's yet; written ones count once they reach the step.
        assert_eq!(writer.take_writeback_range(1 << 20), None);
        for _ in 0..12 {
            writer.append_batch(&[&record], false).unwrap();
        }
        let (from, len) = writer.take_writeback_range(1 << 20).unwrap();
        assert_eq!((from, from + len), (0, writer.offset()));
        let end = writer.offset();
        assert_eq!(writer.take_writeback_range(1 << 20), None);
        for _ in 0..11 {
            writer.append_batch(&[&record], false).unwrap();
        }
        let (next, len) = writer.take_writeback_range(1 << 20).unwrap();
        assert_eq!((next, next + len), (end, writer.offset()));
        assert!(len >= 1 << 20);
    }

    #[test]
    fn a_preallocation_the_file_system_refuses_is_a_typed_error() {
        let (_dir, mut writer) = new_writer(SyncMode::Never);
        // A length no file can have: an I/O error, and the writer refuses more appends.
        assert!(matches!(writer.preallocate(u64::MAX), Err(Error::Io(_))));
        assert!(matches!(writer.append(b"x"), Err(Error::Poisoned)));
    }

    #[test]
    fn create_refuses_an_existing_file() {
        let (_dir, writer) = new_writer(SyncMode::Never);
        let err = Writer::create(writer.path(), 8, SyncMode::Never).unwrap_err();
        match err {
            Error::Io(io) => assert_eq!(io.kind(), std::io::ErrorKind::AlreadyExists),
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn append_buffers_until_flush() {
        let (_dir, mut writer) = new_writer(SyncMode::Always);
        writer.append(b"hello").unwrap();
        assert_eq!(writer.offset(), (FILE_HEADER_SIZE + HEADER_SIZE + 5) as u64);
        assert_eq!(file_len(&writer), FILE_HEADER_SIZE as u64);
        assert_eq!(writer.synced_offset(), 0, "append never syncs");
        writer.flush().unwrap();
        assert_eq!(file_len(&writer), writer.offset());
        assert_eq!(writer.synced_offset(), 0);
        writer.sync().unwrap();
        assert_eq!(writer.synced_offset(), writer.offset());
    }

    #[test]
    fn large_appends_reach_the_os_without_flush() {
        let (_dir, mut writer) = new_writer(SyncMode::Never);
        writer.append(&vec![1u8; 3 * FLUSH_THRESHOLD]).unwrap();
        assert!(file_len(&writer) >= 2 * FLUSH_THRESHOLD as u64);
        assert!(writer.buf.len() < FLUSH_THRESHOLD);
    }

    #[test]
    fn append_batch_sync_semantics() {
        let (_dir, mut writer) = new_writer(SyncMode::Never);
        assert!(!writer.append_batch(&[b"a", b"b"], false).unwrap());
        assert_eq!(file_len(&writer), writer.offset(), "batch reaches the OS");
        assert_eq!(writer.synced_offset(), 0);
        assert!(writer.append_batch(&[b"c"], true).unwrap());
        assert_eq!(writer.synced_offset(), writer.offset());

        writer.set_mode(SyncMode::Always);
        assert_eq!(writer.mode(), SyncMode::Always);
        assert!(writer.append_batch(&[b"d"], false).unwrap());
        assert_eq!(writer.synced_offset(), writer.offset());

        writer.set_mode(SyncMode::Interval(Duration::from_secs(3600)));
        let before = writer.synced_offset();
        assert!(!writer.append_batch(&[b"e"], false).unwrap());
        assert_eq!(writer.synced_offset(), before);
        assert!(!writer.sync_if_due().unwrap(), "interval not elapsed");

        writer.set_mode(SyncMode::Interval(Duration::ZERO));
        assert!(writer.append_batch(&[b"f"], false).unwrap());
        assert_eq!(writer.synced_offset(), writer.offset());

        // An empty batch when a sync is due: everything is already durable.
        let empty: [&[u8]; 0] = [];
        assert!(writer.append_batch(&empty, false).unwrap());
        assert_eq!(writer.synced_offset(), writer.offset());
    }

    #[test]
    fn a_pending_sync_covers_what_was_written_before_it_began() {
        let (_dir, mut writer) = new_writer(SyncMode::Never);
        writer.append(b"first").unwrap();
        let pending = writer.begin_sync().unwrap();
        assert_eq!(pending.offset(), writer.offset());
        assert_eq!(
            file_len(&writer),
            writer.offset(),
            "buffer handed to the OS"
        );
        // Appends go on while the fsync runs.
        writer.append_batch(&[b"second".as_slice()], false).unwrap();
        let result = pending.sync();
        writer.finish_sync(&pending, &result);
        assert_eq!(writer.synced_offset(), pending.offset());
        assert!(writer.synced_offset() < writer.offset());

        // Nothing new since: the next pending sync has nothing to do, and an
        // older one finishing late never moves the durable point back.
        let late = pending;
        writer.sync().unwrap();
        let end = writer.synced_offset();
        writer.finish_sync(&late, &Ok(()));
        assert_eq!(writer.synced_offset(), end);
        let idle = writer.begin_sync().unwrap();
        assert!(!idle.needed);

        let mut reader = Reader::open(writer.path(), RecoveryMode::Strict).unwrap();
        assert_eq!(reader.next_record().unwrap().unwrap(), b"first");
        assert_eq!(reader.next_record().unwrap().unwrap(), b"second");
    }

    #[test]
    fn a_failed_pending_sync_poisons_the_writer() {
        let (_dir, mut writer) = new_writer(SyncMode::Never);
        writer.append(b"x").unwrap();
        let pending = writer.begin_sync().unwrap();
        writer.finish_sync(&pending, &Err(std::io::Error::other("injected")));
        assert!(matches!(writer.append(b"y"), Err(Error::Poisoned)));
        assert!(matches!(writer.begin_sync(), Err(Error::Poisoned)));
    }

    #[test]
    fn sync_if_due_follows_the_mode() {
        let (_dir, mut writer) = new_writer(SyncMode::Never);
        writer.append(b"x").unwrap();
        assert!(!writer.sync_if_due().unwrap());
        assert_eq!(writer.synced_offset(), 0);

        writer.set_mode(SyncMode::Interval(Duration::from_millis(20)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(writer.sync_if_due().unwrap());
        assert_eq!(writer.synced_offset(), writer.offset());
        assert!(!writer.sync_if_due().unwrap(), "nothing unsynced");

        writer.set_mode(SyncMode::Always);
        assert!(!writer.sync_if_due().unwrap(), "nothing unsynced");
        writer.append(b"y").unwrap();
        assert!(writer.sync_if_due().unwrap());
        assert_eq!(writer.synced_offset(), writer.offset());
    }

    #[test]
    fn every_fragment_type_is_written() {
        let (_dir, mut writer) = new_writer(SyncMode::Never);
        writer.append(b"small").unwrap();
        writer.append(&vec![7u8; 3 * BLOCK_SIZE]).unwrap();
        writer.flush().unwrap();
        let bytes = std::fs::read(writer.path()).unwrap();
        let kinds: Vec<u8> = fragments(&bytes).iter().map(|f| f.1).collect();
        assert_eq!(kinds, [5, 1, 2, 3, 3, 4]);
    }

    #[test]
    fn blocks_are_padded_when_fewer_than_seven_bytes_remain() {
        let (_dir, mut writer) = new_writer(SyncMode::Never);
        // Leave 6 bytes in block 0: the next record starts in block 1.
        let fill = BLOCK_SIZE - FILE_HEADER_SIZE - HEADER_SIZE - 6;
        writer.append(&vec![1u8; fill]).unwrap();
        writer.append(b"next").unwrap();
        writer.flush().unwrap();
        let bytes = std::fs::read(writer.path()).unwrap();
        let frags = fragments(&bytes);
        assert_eq!(frags[2], (BLOCK_SIZE, 1, 4));
        assert_eq!(&bytes[BLOCK_SIZE - 6..BLOCK_SIZE], &[0; 6]);
    }

    #[test]
    fn exactly_seven_bytes_left_hold_an_empty_first_fragment() {
        let (_dir, mut writer) = new_writer(SyncMode::Never);
        let fill = BLOCK_SIZE - FILE_HEADER_SIZE - HEADER_SIZE - 7;
        writer.append(&vec![1u8; fill]).unwrap();
        writer.append(b"next").unwrap();
        writer.flush().unwrap();
        let bytes = std::fs::read(writer.path()).unwrap();
        let frags = fragments(&bytes);
        assert_eq!(frags[2], (BLOCK_SIZE - 7, 2, 0));
        assert_eq!(frags[3], (BLOCK_SIZE, 4, 4));
    }

    #[test]
    fn fragments_never_cross_blocks() {
        let (_dir, mut writer) = new_writer(SyncMode::Never);
        let mut size = 0;
        for i in 0..300 {
            size = (size * 31 + 977 + i) % 40_000;
            writer.append(&vec![(i % 251) as u8; size]).unwrap();
        }
        writer.flush().unwrap();
        let bytes = std::fs::read(writer.path()).unwrap();
        assert!(bytes.len() > 50 * BLOCK_SIZE);
        fragments(&bytes);
    }

    #[test]
    fn drop_pushes_the_buffer_to_the_os() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000001.log");
        {
            let mut writer = Writer::create(&path, 1, SyncMode::Never).unwrap();
            writer.append(b"kept").unwrap();
        }
        let mut reader = Reader::open(&path, RecoveryMode::Strict).unwrap();
        assert_eq!(reader.next_record().unwrap().unwrap(), b"kept");
        assert_eq!(reader.next_record().unwrap(), None);
    }

    /// `/dev/null` accepts writes but has no fsync (EINVAL on Linux), which
    /// lets a test fail a sync without fault injection.
    #[cfg(target_os = "linux")]
    #[test]
    fn failed_sync_poisons_the_writer() {
        let Ok(file) = OpenOptions::new().write(true).open("/dev/null") else {
            return;
        };
        let mut writer =
            Writer::from_file(file, PathBuf::from("/dev/null"), 1, 0, SyncMode::Always).unwrap();
        writer.append(b"a").unwrap();
        if writer.file.sync_data().is_ok() {
            return; // this platform can fsync /dev/null: nothing to test
        }
        assert!(matches!(writer.sync(), Err(Error::Io(_))));
        assert!(matches!(writer.append(b"b"), Err(Error::Poisoned)));
        assert!(matches!(
            writer.append_batch(&[b"c"], true),
            Err(Error::Poisoned)
        ));
        assert!(matches!(writer.flush(), Err(Error::Poisoned)));
        assert!(matches!(writer.sync(), Err(Error::Poisoned)));
        assert!(matches!(writer.sync_if_due(), Err(Error::Poisoned)));
        assert_eq!(writer.synced_offset(), 0);
    }

    /// `/dev/full` fails every write with ENOSPC.
    #[cfg(target_os = "linux")]
    #[test]
    fn failed_write_poisons_the_writer() {
        let Ok(file) = OpenOptions::new().write(true).open("/dev/full") else {
            return;
        };
        let err = Writer::from_file(file, PathBuf::from("/dev/full"), 1, 0, SyncMode::Never);
        assert!(matches!(err, Err(Error::Io(_))));

        let file = OpenOptions::new().write(true).open("/dev/full").unwrap();
        let mut writer = Writer {
            file: Arc::new(file),
            path: PathBuf::from("/dev/full"),
            file_number: 1,
            record_format: 0,
            mode: SyncMode::Never,
            buf: Vec::new(),
            block_offset: 0,
            offset: 0,
            synced_offset: 0,
            last_sync: Instant::now(),
            mark: Mark {
                offset: 0,
                block_offset: 0,
            },
            failure: None,
            prealloc_step: 0,
            allocated: 0,
            hinted: 0,
        };
        writer.append(b"a").unwrap();
        assert!(matches!(writer.flush(), Err(Error::Io(_))));
        assert!(matches!(writer.append(b"b"), Err(Error::Poisoned)));
    }
}
