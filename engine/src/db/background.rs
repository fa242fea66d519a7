//! Flush and compaction as [`Inner`] runs them: the flush thread, installing a flush or a
//! compaction with one manifest edit, waiting for background work, and the narrow
//! [`CompactionContext`] the compaction worker (`crate::compactor`) sees the database
//! through. Building tables is `crate::flush`.

use std::fs;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use strata_compaction::CompactionFilter;
use strata_sstable::SeqNo;

use super::{Inner, State};
use crate::commit::QueuedWrite;
use crate::compactor::{CompactionContext, Compactor};
use crate::error::{Error, Result};
use crate::filename;
use crate::flush::flush_memtables;
use crate::ids::KeyspaceId;
use crate::manifest::VersionEdit;
use crate::mutex::lock;
use crate::reclaim::return_free_memory;
use crate::super_version::MemGen;
use crate::tables::Tables;
use crate::version::{NewFiles, Version};

impl Inner {
    /// Freezes the memtable (in order with the writes) and waits until every frozen
    /// memtable is flushed.
    pub(crate) fn flush(&self) -> Result<()> {
        self.check_open()?;
        self.queue
            .commit(QueuedWrite::rotation(), |group| self.write_group(group))?;
        let mut st = lock(&self.state);
        loop {
            if let Some(e) = &st.bg_error {
                return Err(e.clone());
            }
            if st.sv.imm.is_empty() {
                return Ok(());
            }
            st = self.state_cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Flushes frozen memtables, oldest first, until none is left.
    pub(super) fn flush_pending(&self) -> Result<()> {
        let _flushing = lock(&self.flushing);
        loop {
            let gen = {
                let st = lock(&self.state);
                if let Some(e) = &st.bg_error {
                    return Err(e.clone());
                }
                match st.sv.imm.first() {
                    Some(g) => Arc::clone(g),
                    None => return Ok(()),
                }
            };
            self.flush_gen(&gen)?;
        }
    }

    /// Writes the oldest frozen memtable generation `gen` to L0, then one edit makes the
    /// tables live and retires its WAL, which is deleted.
    pub(super) fn flush_gen(&self, gen: &Arc<MemGen>) -> Result<()> {
        let snapshots = self.snapshots.sequences();
        let flushed = flush_memtables(
            self.tables(),
            gen,
            &snapshots,
            &|| self.new_file_number(),
            |ks| Ok(self.keyspace_name(ks).unwrap_or_default()),
        )?;
        let c = &self.counters;
        c.flush_expired
            .fetch_add(flushed.expired, Ordering::Relaxed);
        c.flush_bytes.fetch_add(flushed.bytes, Ordering::Relaxed);
        let mut edit = flushed.edit;
        // The oldest WAL still needed: the next frozen generation's, or the active one's.
        edit.log_number = Some({
            let st = lock(&self.state);
            st.sv
                .imm
                .get(1)
                .map_or(st.sv.mem.log_number, |g| g.log_number)
        });
        edit.last_seq = Some(self.visible_seq.load(Ordering::Acquire));
        self.log_and_apply(edit, &flushed.opened, |st| {
            if st.sv.imm.first().is_some_and(|g| Arc::ptr_eq(g, gen)) {
                st.sv.imm.remove(0);
            }
        })?;
        c.flush_count.fetch_add(1, Ordering::Relaxed);
        // The WAL of the flushed memtables is no longer needed.
        let _ = fs::remove_file(filename::log_path(&self.dir, gen.log_number));
        Ok(())
    }

    /// Logs `edit` (with the next file number) in the manifest and makes it the current
    /// version (LevelDB's `LogAndApply`); `then` changes the state in the same step. The
    /// files the edit removes and does not re-add become obsolete: deleted when the last
    /// version or iterator holding them lets go. Blob files no table of the new version
    /// refers to are removed by the same edit.
    pub(super) fn log_and_apply(
        &self,
        mut edit: VersionEdit,
        opened: &NewFiles,
        then: impl FnOnce(&mut State),
    ) -> Result<()> {
        let mut manifest = lock(&self.manifest);
        // Versions change only under the manifest lock: this stays the current one.
        let current = Arc::clone(&lock(&self.state).sv.version);
        let mut next = current.apply(&edit, &mut { opened })?;
        let unreferenced = next.unreferenced_blobs();
        for n in &unreferenced {
            next.blobs.remove(n);
            if let Some(i) = edit.new_blobs.iter().position(|b| b.number == *n) {
                // Written and never referenced: it goes with its handle.
                edit.new_blobs.remove(i);
            } else {
                edit.deleted_blobs.push(*n);
            }
        }
        edit.next_file = Some(self.next_file.load(Ordering::SeqCst));
        if let Err(e) = manifest.log(&edit) {
            // Once the failed edit is cut off, the manifest says for sure it never took
            // effect: the files it would have added go when their handles do. (After a
            // failed fsync it may have, and they stay.)
            if manifest.recover().is_ok() {
                opened.abandon();
            }
            return Err(e);
        }
        let mut st = lock(&self.state);
        let added: Vec<u64> = edit.new_files.iter().map(|(_, _, m)| m.number).collect();
        for (ks, level, number) in &edit.deleted_files {
            if added.contains(number) {
                continue;
            }
            if let Some(f) = current
                .tree(*ks)
                .and_then(|t| t.levels[*level].iter().find(|f| f.meta.number == *number))
            {
                f.obsolete.store(true, Ordering::Release);
            }
        }
        for n in &unreferenced {
            if let Some(b) = current.blobs.get(n).or_else(|| opened.blobs.get(n)) {
                b.obsolete.store(true, Ordering::Release);
            }
        }
        st.sv.version = Arc::new(next);
        then(&mut st);
        drop(st);
        drop(manifest);
        self.state_cv.notify_all();
        self.schedule_compaction();
        Ok(())
    }

    /// Blocks until no frozen memtable waits for flush and compactions have nothing left to
    /// do.
    pub(super) fn wait_for_background_work(&self) -> Result<()> {
        loop {
            self.check()?;
            let flushed = lock(&self.state).sv.imm.is_empty();
            if flushed && self.compactor.is_idle(self) {
                return Ok(());
            }
            self.schedule_compaction();
            let st = lock(&self.state);
            let _ = self
                .state_cv
                .wait_timeout(st, Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Flushes, then compacts keyspace `ks` in `[lo, hi]` down to the bottom level.
    pub(crate) fn compact_range(
        &self,
        ks: KeyspaceId,
        lo: Option<&[u8]>,
        hi: Option<&[u8]>,
    ) -> Result<()> {
        self.flush()?;
        self.compactor.compact_range(self, ks, lo, hi)
    }
}

impl CompactionContext for Inner {
    fn compactor(&self) -> &Compactor {
        &self.compactor
    }

    fn tables(&self) -> Tables<'_> {
        Inner::tables(self)
    }

    fn version(&self) -> Arc<Version> {
        Arc::clone(&lock(&self.state).sv.version)
    }

    fn new_file_number(&self) -> u64 {
        Inner::new_file_number(self)
    }

    fn snapshots(&self) -> Vec<SeqNo> {
        self.snapshots.sequences()
    }

    fn picker_config(&self) -> strata_compaction::picker::Config {
        self.tuned.picker_config(&self.options)
    }

    fn auto_compactions(&self) -> bool {
        !self.tuned.auto_compactions_disabled()
    }

    fn ttl_check_interval(&self) -> Duration {
        self.options.ttl_check_interval
    }

    fn keyspace_name(&self, ks: KeyspaceId) -> Option<String> {
        Inner::keyspace_name(self, ks)
    }

    fn filter(&self, ks: KeyspaceId) -> Option<Arc<dyn CompactionFilter>> {
        self.keyspace_name(ks)
            .and_then(|n| self.options.filter_for(&n))
    }

    fn install(&self, edit: VersionEdit, opened: &NewFiles) -> Result<()> {
        self.log_and_apply(edit, opened, |_| {})
    }

    fn check(&self) -> Result<()> {
        self.check_open()?;
        match &lock(&self.state).bg_error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn fail(&self, e: Error) {
        self.background_work_failed(e);
    }
}

/// How often a transient background error is retried.
const RETRY_TICK: Duration = Duration::from_secs(1);

/// Flushes frozen memtables whenever woken, until the channel disconnects (at close); while
/// a transient background error stands, retries the work every [`RETRY_TICK`].
pub(super) fn flush_thread(inner: &Inner, rx: &Receiver<()>) {
    use crossbeam_channel::RecvTimeoutError;
    loop {
        match rx.recv_timeout(RETRY_TICK) {
            Ok(()) => {
                if let Err(e) = inner.flush_pending() {
                    inner.background_work_failed(e);
                }
                return_free_memory();
            }
            Err(RecvTimeoutError::Timeout) => {
                // A failure is kept as the background error; the next tick tries again.
                let _ = inner.retry_background_work();
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

impl Inner {
    /// If the background error is transient (a WAL write, flush or compaction ran out of room
    /// or descriptors): puts the logs right, clears the error and runs the flushes again; a
    /// compaction is scheduled too. Failing again sets the error again. Nothing acknowledged
    /// is lost: a failed write was never acknowledged, and the logs are cut back to the last
    /// acknowledged write before writes resume.
    ///
    /// Returns the background error that stands after it, if any.
    pub(super) fn retry_background_work(&self) -> Result<()> {
        {
            let st = lock(&self.state);
            match &st.bg_error {
                None => return Ok(()),
                Some(e) if !st.bg_error_transient => return Err(e.clone()),
                Some(_) => {}
            }
        }
        // While writes are still refused: each log is cut back to its last acknowledged
        // record (and what was acknowledged but still buffered is written).
        let logs = self
            .wal
            .recover()
            .and_then(|()| lock(&self.manifest).recover());
        if let Err(e) = logs {
            let mut st = lock(&self.state);
            if !e.is_transient() {
                // A failed fsync (or a log that cannot be cut): final until a reopen.
                st.bg_error_transient = false;
            }
            return Err(st.bg_error.clone().unwrap_or(e));
        }
        {
            let mut st = lock(&self.state);
            st.bg_error = None;
            st.bg_error_transient = false;
            self.poisoned.store(false, Ordering::Release);
        }
        match self.flush_pending() {
            Ok(()) => {
                self.state_cv.notify_all();
                self.schedule_compaction();
                Ok(())
            }
            Err(e) => {
                self.background_work_failed(e);
                self.check()
            }
        }
    }
}
