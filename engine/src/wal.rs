//! The write-ahead log as the database runs it: the active log file, and how far its
//! records have got (appended, handed to the OS, fsynced), as sequence numbers. Writers
//! append under the log's lock; an fsync runs outside it, so writers keep appending while it
//! runs, and callers waiting for durability share one fsync (they queue on `syncer` and
//! usually find their write covered when they get it). Replaying a log into memtables lives
//! here too. The file format is `strata-wal`'s (docs/format-wal.md).
//!
//! Errors are returned, never kept: a failed append, write or fsync leaves what reached the
//! disk unknown, and the caller poisons the database.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use strata_sstable::SeqNo;
use strata_wal::{RecoveryMode, SyncMode};

use crate::batch::{BatchFormat, DecodedRecord};
use crate::error::{Error, Result};
use crate::filename;
use crate::mutex::lock;
use crate::stats::DroppedTail;
use crate::super_version::MemGen;

/// Steps in which a WAL file is grown ahead of its records (see
/// [`strata_wal::Writer::preallocate`]): a synced write then rarely changes the file's length,
/// so its `fdatasync` commits data only.
const WAL_PREALLOCATION: u64 = 1 << 20;

/// Bytes of WAL between two writeback hints (RocksDB's `wal_bytes_per_sync`).
const WAL_WRITEBACK_STEP: u64 = 1 << 20;

/// The active WAL and its progress.
///
/// Invariant: `synced <= written <= appended`, each only grows, and every write with a
/// sequence number at or below one of them has reached that stage.
#[derive(Debug)]
pub(crate) struct Wal {
    writer: Mutex<strata_wal::Writer>,
    /// Highest sequence number in the WAL (changed only under the `writer` lock).
    appended: AtomicU64,
    /// Every write up to this sequence number has reached the OS (survives a process crash).
    written: AtomicU64,
    /// Every write up to this sequence number is durable (fsynced).
    synced: AtomicU64,
    /// Held by the one thread running an off-lock fsync.
    syncer: Mutex<()>,
    /// Fsyncs done, by appends and by `sync_to`.
    syncs: AtomicU64,
}

impl Wal {
    /// The log `writer`, whose every write up to `last_seq` is already durable (recovery
    /// flushed them to synced tables).
    pub(crate) fn new(writer: strata_wal::Writer, last_seq: SeqNo) -> Wal {
        Wal {
            writer: Mutex::new(writer),
            appended: AtomicU64::new(last_seq),
            written: AtomicU64::new(last_seq),
            synced: AtomicU64::new(last_seq),
            syncer: Mutex::new(()),
            syncs: AtomicU64::new(0),
        }
    }

    /// Appends the sealed records of one write group, whose last sequence number is `last`,
    /// and fsyncs them if `sync`. With `buffered` (manual WAL flush) they stay in the
    /// writer's buffer until [`flush_to`](Self::flush_to). Returns whether they were synced.
    pub(crate) fn append_group(
        &self,
        records: &[&[u8]],
        last: SeqNo,
        sync: bool,
        buffered: bool,
    ) -> Result<bool> {
        let mut wal = lock(&self.writer);
        let synced = if buffered {
            records.iter().try_for_each(|r| wal.append(r))?;
            false
        } else {
            wal.append_batch(records, sync)?
        };
        self.appended.store(last, Ordering::Release);
        if !buffered {
            self.written.fetch_max(last, Ordering::AcqRel);
            if !synced {
                hint_writeback(&mut wal);
            }
        }
        if synced {
            self.synced.fetch_max(last, Ordering::AcqRel);
            self.syncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(synced)
    }

    /// Switches to a new log, WAL `number` in `dir`: ends the old one (cut to its length and
    /// fsynced, so every log but the newest is complete and exact on disk), creates the new
    /// one, fsyncs the directory, swaps them. The caller (the write leader) appends nothing
    /// meanwhile.
    pub(crate) fn rotate(&self, dir: &Path, number: u64, mode: SyncMode) -> Result<()> {
        {
            let mut wal = lock(&self.writer);
            wal.finish()?;
            let appended = self.appended.load(Ordering::Acquire);
            self.written.fetch_max(appended, Ordering::AcqRel);
            self.synced.fetch_max(appended, Ordering::AcqRel);
        }
        let new_wal = create(dir, number, mode)?;
        if let Err(e) = filename::sync_dir(dir) {
            // Not switched to: its number is never used again.
            drop(new_wal);
            let _ = std::fs::remove_file(filename::log_path(dir, number));
            return Err(e);
        }
        *lock(&self.writer) = new_wal;
        Ok(())
    }

    /// After a failed write to the log (not an fsync: see [`strata_wal::Writer::recover`]),
    /// cuts off what the failed write left and writes out the acknowledged records still
    /// buffered, so the log holds exactly the acknowledged writes again and accepts appends.
    /// Does nothing on a healthy log.
    ///
    /// # Errors
    /// [`Error::Poisoned`] after a failed fsync (final); the I/O error if the disk still
    /// refuses (try again later).
    pub(crate) fn recover(&self) -> Result<()> {
        let mut wal = lock(&self.writer);
        let path = wal.path().to_path_buf();
        wal.recover().map_err(|e| Error::wal_at(&path, e))?;
        // Every acknowledged record has reached the OS again.
        self.written
            .fetch_max(self.appended.load(Ordering::Acquire), Ordering::AcqRel);
        Ok(())
    }

    /// Makes every write up to `seq` durable; returns at once when it already is.
    pub(crate) fn sync_to(&self, seq: SeqNo) -> Result<()> {
        if self.synced() >= seq {
            return Ok(());
        }
        let _syncer = lock(&self.syncer);
        if self.synced() >= seq {
            return Ok(());
        }
        let (pending, target) = {
            let mut wal = lock(&self.writer);
            let pending = wal.begin_sync()?;
            let appended = self.appended.load(Ordering::Acquire);
            self.written.fetch_max(appended, Ordering::AcqRel);
            (pending, appended)
        };
        let result = pending.sync();
        lock(&self.writer).finish_sync(&pending, &result);
        result?;
        self.synced.fetch_max(target, Ordering::AcqRel);
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Hands every buffered record up to `seq` to the OS; returns at once when they already
    /// have been.
    pub(crate) fn flush_to(&self, seq: SeqNo) -> Result<()> {
        if self.written() >= seq {
            return Ok(());
        }
        let mut wal = lock(&self.writer);
        if self.written() >= seq {
            return Ok(());
        }
        wal.flush()?;
        hint_writeback(&mut wal);
        self.written
            .fetch_max(self.appended.load(Ordering::Acquire), Ordering::AcqRel);
        Ok(())
    }

    /// Whether the interval of `SyncMode::Interval` has passed with unsynced writes.
    pub(crate) fn sync_is_due(&self) -> bool {
        lock(&self.writer).sync_is_due()
    }

    /// Ends the log at close: cut to its length and fsynced.
    pub(crate) fn finish(&self) -> Result<()> {
        Ok(lock(&self.writer).finish()?)
    }

    pub(crate) fn appended(&self) -> SeqNo {
        self.appended.load(Ordering::Acquire)
    }

    pub(crate) fn written(&self) -> SeqNo {
        self.written.load(Ordering::Acquire)
    }

    pub(crate) fn synced(&self) -> SeqNo {
        self.synced.load(Ordering::Acquire)
    }

    pub(crate) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// The lock fsyncs queue on (a test holds it to line writers up).
    #[cfg(test)]
    pub(crate) fn syncer(&self) -> &Mutex<()> {
        &self.syncer
    }
}

/// Creates WAL `number` in `dir`, growing ahead of its records.
pub(crate) fn create(dir: &Path, number: u64, mode: SyncMode) -> Result<strata_wal::Writer> {
    let path = filename::log_path(dir, number);
    let created =
        strata_wal::Writer::create_with_format(&path, number, BatchFormat::Varint as u32, mode)
            .and_then(|mut wal| wal.preallocate(WAL_PREALLOCATION).map(|()| wal));
    created.map_err(|e| {
        // A log that failed to start holds no record: remove it rather than leave a torn
        // file behind at every retry (its number is never used again).
        if !matches!(&e, strata_wal::Error::Io(io) if io.kind() == std::io::ErrorKind::AlreadyExists) {
            let _ = std::fs::remove_file(&path);
        }
        Error::wal_at(&path, e)
    })
}

/// What replaying a WAL found: the highest sequence number, and the damaged tail the recovery
/// mode let it drop, if any.
pub(crate) struct Replayed {
    pub max_seq: SeqNo,
    pub dropped: Option<DroppedTail>,
}

/// Replays WAL `path` into `gen`.
pub(crate) fn replay(path: &Path, mode: RecoveryMode, gen: &MemGen) -> Result<Replayed> {
    let mut read = Read::default();
    let dropped = replay_into(path, mode, gen, &mut read)?;
    Ok(Replayed {
        max_seq: read.max_seq,
        dropped,
    })
}

/// How far a replay got.
#[derive(Debug, Default)]
pub(crate) struct Read {
    /// The highest sequence number replayed.
    pub max_seq: SeqNo,
    /// Records replayed.
    pub records: u64,
}

/// Replays WAL `path` into `gen`, counting in `read` as it goes, so that after an error
/// `read` says what was replayed before it (for a repair, which keeps that much). Returns
/// the damaged tail the recovery mode let it drop, if any.
pub(crate) fn replay_into(
    path: &Path,
    mode: RecoveryMode,
    gen: &MemGen,
    read: &mut Read,
) -> Result<Option<DroppedTail>> {
    let mut reader = strata_wal::Reader::open(path, mode)?;
    // No header (an empty log or a torn one) means no records either.
    let format = reader.record_format().unwrap_or(0);
    let format = BatchFormat::from_wal(format).ok_or_else(|| {
        Error::corruption(path, 0, format!("unknown write batch format {format}"))
    })?;
    loop {
        let offset = reader.valid_end();
        let Some(record) = reader.next_record()? else {
            break;
        };
        let rec = DecodedRecord::parse(&record, format)
            .map_err(|r| Error::corruption(path, offset, r))?;
        // Checked whole before any of it is applied: a batch is all or nothing.
        let mut ops = rec.ops();
        while let Some(op) = ops.next_checked() {
            op.map_err(|r| Error::corruption(path, offset, r))?;
        }
        let mut seq = rec.seq;
        let mut ops = rec.ops();
        while let Some(Ok(op)) = ops.next_checked() {
            gen.insert(op.keyspace, op.key, seq, op.kind, op.value);
            read.max_seq = read.max_seq.max(seq);
            seq += 1;
        }
        read.records += 1;
    }
    Ok(reader.dropped_tail().map(|t| DroppedTail {
        file: path.to_path_buf(),
        offset: t.offset,
        reason: t.reason.clone(),
        bytes: std::fs::metadata(path).map_or(0, |m| m.len().saturating_sub(t.offset)),
    }))
}

/// Asks the OS to start writing back the WAL bytes written since the last hint, once there
/// are `WAL_WRITEBACK_STEP` of them, without waiting for it. Unsynced WAL data otherwise
/// piles up (64 MiB per memtable under `SyncMode::Never`) until the fsync at the memtable
/// switch, which the write leader then waits for (45-63 ms at 5M fillrandom). Only a hint:
/// durability still comes from `fdatasync`, so its result is ignored.
fn hint_writeback(wal: &mut strata_wal::Writer) {
    let Some((from, len)) = wal.take_writeback_range(WAL_WRITEBACK_STEP) else {
        return;
    };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if let (Ok(from), Ok(len)) = (i64::try_from(from), i64::try_from(len)) {
        use std::os::fd::AsRawFd;
        // SAFETY: `sync_file_range` on the open descriptor of the WAL (borrowed from the
        // writer for the call) only schedules writeback of its pages; it touches no memory
        // of ours.
        unsafe {
            libc::sync_file_range(
                wal.file().as_raw_fd(),
                from,
                len,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = (from, len);
}
