//! The write path of [`Inner`]: group commit's leader work (sequence numbers, the WAL
//! append, the memtable inserts), making room (write stalls, memtable switches), and the
//! WAL's durability points. The queue itself is `crate::commit`, the stall policy
//! `crate::backpressure`, the log `crate::wal`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_wal::SyncMode;

use super::Inner;
use crate::backpressure::{self, Limits, Pressure, Room};
use crate::batch::WriteBatch;
use crate::commit::QueuedWrite;
use crate::error::{Error, Result};
use crate::ids::DEFAULT_KEYSPACE;
use crate::mutex::lock;
use crate::options::WriteOptions;
use crate::super_version::MemGen;

impl Inner {
    pub(crate) fn write(&self, mut batch: WriteBatch, options: WriteOptions) -> Result<()> {
        self.check_open()?;
        batch.validate()?;
        if batch.has_relative_ttls() {
            batch.resolve_ttls(self.options.clock.now_ms());
        }
        self.check_batch(&batch)?;
        self.queue
            .commit(QueuedWrite::batch(batch, options.sync), |group| {
                self.write_group(group)
            })
    }

    /// Checks that `batch` (its TTLs resolved) can be written: sizes, and every keyspace it
    /// names exists.
    pub(crate) fn check_batch(&self, batch: &WriteBatch) -> Result<()> {
        batch.validate()?;
        let mut checked = DEFAULT_KEYSPACE;
        for op in batch.ops() {
            let op = op?;
            // Batches name few keyspaces, mostly in runs: look each run up once.
            if op.keyspace != checked && !self.known_keyspace(op.keyspace) {
                return Err(Error::InvalidArgument(format!(
                    "write batch names unknown keyspace id {}",
                    op.keyspace
                )));
            }
            checked = op.keyspace;
        }
        Ok(())
    }

    /// The leader's work: make room, give the group consecutive sequence numbers, append it
    /// to the WAL (fsynced once if any writer asked), insert it into the memtable, publish
    /// the new sequence number.
    pub(super) fn write_group(&self, group: &[Arc<QueuedWrite>]) -> Result<()> {
        let rotate = group.iter().any(|w| w.is_rotation());
        self.make_room(rotate)?;
        if rotate {
            return Ok(());
        }
        let mut batches: Vec<WriteBatch> = group
            .iter()
            .filter_map(|w| w.take_batch())
            .filter(|b| !b.is_empty())
            .collect();
        if batches.is_empty() {
            return Ok(());
        }
        let sync = group.iter().any(|w| w.wants_sync());
        let first = self.visible_seq.load(Ordering::Acquire) + 1;
        let mut seq = first;
        let mut records: Vec<&[u8]> = Vec::with_capacity(batches.len());
        let mut bytes = 0u64;
        for b in &mut batches {
            let n = b.len() as u64;
            bytes += b.size_in_bytes() as u64;
            records.push(b.seal(seq));
            seq += n;
        }
        let last = seq - 1;
        let buffered = self.options.manual_wal_flush
            && !sync
            && !matches!(self.options.sync_mode, SyncMode::Always);
        self.wal
            .append_group(&records, last, sync, buffered)
            .map_err(|e| self.poison(e))?;
        let mem = lock(&self.state).sv.mem.clone();
        let mut seq = first;
        for b in &batches {
            for op in b.ops() {
                let op = op?;
                mem.insert(op.keyspace, op.key, seq, op.kind, op.value);
                seq += 1;
            }
        }
        self.visible_seq.store(last, Ordering::Release);
        let c = &self.counters;
        c.user_bytes_written.fetch_add(bytes, Ordering::Relaxed);
        c.write_groups.fetch_add(1, Ordering::Relaxed);
        c.writes.fetch_add(group.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    pub(super) fn limits(&self) -> Limits {
        Limits {
            l0_slowdown: self.tuned.l0_slowdown_trigger.load(Ordering::Acquire),
            l0_stop: self.tuned.l0_stop_trigger.load(Ordering::Acquire),
            memtable_size: self.tuned.memtable_size.load(Ordering::Acquire),
            max_immutable: self.options.max_immutable_memtables,
            auto_compactions: !self.tuned.auto_compactions_disabled(),
        }
    }

    /// Makes sure the active memtable has room, freezing it (and starting a new WAL) when it is
    /// full or `force` is set; stalls while flush or compaction is behind
    /// ([`backpressure::room`]). Called only by the write leader.
    pub(super) fn make_room(&self, mut force: bool) -> Result<()> {
        let mut stall: Option<Instant> = None;
        let mut st = lock(&self.state);
        loop {
            if let Some(e) = &st.bg_error {
                return Err(e.clone());
            }
            self.check_open()?;
            let limits = self.limits();
            let pressure = Pressure {
                l0_files: st.sv.version.max_l0_files(),
                memtable_bytes: st.sv.mem.bytes(),
                immutable: st.sv.imm.len(),
            };
            match backpressure::room(pressure, limits, force) {
                Room::Ready => break,
                wait @ (Room::WaitForCompaction | Room::WaitForFlush) => {
                    stall.get_or_insert_with(|| self.stalls.begin());
                    if wait == Room::WaitForCompaction {
                        self.schedule_compaction();
                    }
                    st = self.state_cv.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                Room::Rotate => {
                    // Freeze the memtable and switch to a new WAL. The file work happens
                    // outside the state lock so readers never wait on it; only the leader
                    // rotates, so nothing else changes `mem` meanwhile.
                    drop(st);
                    let number = self.new_file_number();
                    let rotated = self.wal.rotate(&self.dir, number, self.options.sync_mode);
                    st = lock(&self.state);
                    if let Err(e) = rotated {
                        self.fail_locked(&mut st, &e);
                        return Err(e);
                    }
                    let capacity = self.tuned.memtable_size.load(Ordering::Acquire);
                    let old =
                        std::mem::replace(&mut st.sv.mem, Arc::new(MemGen::new(number, capacity)));
                    st.sv.imm.push(old);
                    self.schedule_flush();
                    force = false;
                }
            }
        }
        let slow = backpressure::slow_down(st.sv.version.max_l0_files(), self.limits());
        drop(st);
        if slow {
            stall.get_or_insert_with(|| self.stalls.begin());
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Some(start) = stall {
            self.stalls.end(start);
        }
        Ok(())
    }

    /// Makes every write up to `seq` durable (see [`Db::sync_wal_to`]).
    pub(super) fn sync_wal_to(&self, seq: u64) -> Result<()> {
        if self.wal.synced() >= seq {
            return Ok(());
        }
        self.check_open()?;
        self.wal.sync_to(seq).map_err(|e| self.poison(e))
    }

    /// Hands every buffered WAL record up to `seq` to the OS (with `manual_wal_flush`).
    pub(super) fn flush_wal_to(&self, seq: u64) -> Result<()> {
        if self.wal.written() >= seq {
            return Ok(());
        }
        self.check_open()?;
        self.wal.flush_to(seq).map_err(|e| self.poison(e))
    }
}

/// With `SyncMode::Interval`: fsyncs the WAL when its interval has passed, until close. The
/// fsync runs outside the WAL lock, so writers never wait for the ticker.
pub(super) fn sync_thread(inner: &Inner, every: Duration) {
    let tick = every.min(Duration::from_millis(100));
    while !inner.closed.load(Ordering::Acquire) {
        std::thread::sleep(tick);
        if inner.wal.sync_is_due() {
            // A failure is kept as the background error, for callers; the log is not due
            // again until writes resume.
            let _ = inner.sync_wal_to(inner.wal.appended());
        }
    }
}
