//! The database: the [`Db`] handle, its shared state [`Inner`], open and close, keyspace
//! creation and reads. `Inner`'s write path is in `db/write.rs`, its flush and compaction
//! glue in `db/background.rs`. The parts they compose each own their state in a file of their
//! own and never import this module: the writer queue (`commit`), write stalls
//! (`backpressure`), the WAL (`wal`), building tables (`flush`, `tables`), the compaction
//! worker (`compactor`, through its narrow `CompactionContext`), memory reclaim (`reclaim`),
//! what readers see (`super_version`), statistics (`stats`).

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use strata_sstable::{BlockCache, SeqNo};
use strata_wal::SyncMode;

use crate::backpressure::Stalls;
use crate::batch::WriteBatch;
use crate::commit::WriteQueue;
use crate::compactor::{compaction_thread, Compactor};
use crate::error::{Error, Result};
use crate::filename;
use crate::ids::{new_db_id, DbId, KeyspaceId, DEFAULT_KEYSPACE, DEFAULT_KEYSPACE_NAME};
use crate::iter::DbIterator;
use crate::keyspace::Keyspace;
use crate::manifest::{Manifest, VersionEdit};
use crate::mutex::lock;
use crate::options::{MutableOptions, Options, ReadOptions, Tuned, WriteOptions};
use crate::reclaim::reclaim_thread;
use crate::snapshot::{Snapshot, SnapshotList};
use crate::stats::{Counters, DroppedTail, Sources, Stats};
use crate::super_version::{MemGen, SuperVersion};
use crate::tables::Tables;
use crate::wal::Wal;

/// What the state lock guards: what readers see, and the first background error.
#[derive(Debug)]
struct State {
    sv: SuperVersion,
    /// Set by the first failed flush, compaction or WAL write; every later write gets it.
    bg_error: Option<Error>,
    /// The background error ran out of room or descriptors (`Error::is_transient`): the
    /// flush thread puts the logs right, retries the work, and clears the error once it
    /// succeeds.
    bg_error_transient: bool,
}

/// Shared state of an open database.
pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) options: Options,
    lock_file: Mutex<Option<File>>,
    cache: Arc<BlockCache>,
    state: Mutex<State>,
    /// Signalled when a flush or compaction finishes, options change or a background error
    /// is set.
    state_cv: Condvar,
    queue: WriteQueue,
    wal: Wal,
    manifest: Mutex<Manifest>,
    next_file: AtomicU64,
    /// Highest sequence number whose write is complete and visible to readers.
    visible_seq: AtomicU64,
    snapshots: Arc<SnapshotList>,
    keyspaces: RwLock<HashMap<String, KeyspaceId>>,
    /// Wakes the flush thread; `None` once closed.
    flush_tx: Mutex<Option<Sender<()>>>,
    /// Dropped at close to stop the reclaim thread (nothing is ever sent).
    reclaim_tx: Mutex<Option<Sender<()>>>,
    /// Held while flushing frozen memtables: the flush thread and `Db::resume` both do.
    flushing: Mutex<()>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    closed: AtomicBool,
    compactor: Compactor,
    counters: Counters,
    stalls: Stalls,
    /// The current values of the options `Db::set_options` changes.
    tuned: Tuned,
    /// What this open's recovery dropped.
    dropped: Vec<DroppedTail>,
    /// Files named like the engine's that recovery kept because this database did not make
    /// them.
    kept: Vec<PathBuf>,
    /// This database's identity, recorded in its manifests and tables.
    db_id: DbId,
    /// Set with the background error (`State::bg_error`), so that asking whether there is
    /// one costs no lock.
    poisoned: AtomicBool,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner").field("dir", &self.dir).finish()
    }
}

/// An open database.
///
/// `Db` derefs to its default [`Keyspace`], so `db.put`, `db.get`, `db.range` work on it
/// directly. Dropping it (or calling [`Db::close`]) stops background threads, syncs the WAL and
/// releases the directory lock; memtables are not flushed (the WAL holds their data).
#[derive(Debug)]
pub struct Db {
    inner: Arc<Inner>,
    default: Keyspace,
}

impl std::ops::Deref for Db {
    type Target = Keyspace;

    fn deref(&self) -> &Keyspace {
        &self.default
    }
}

impl Db {
    /// Opens (or creates) the database in `path`, recovering from its WAL.
    ///
    /// # Errors
    /// [`Error::Locked`] if another process has it open, [`Error::NotFound`] if it does not exist
    /// and `create_if_missing` is false, [`Error::Corruption`] naming the damaged file, I/O
    /// errors.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        options.validate()?;
        let options = options.with_budget_applied();
        options.validate()?;
        let inner = Arc::new(open_inner(path.as_ref(), options)?);
        let mut threads = Vec::new();
        let spawn = |name: String, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new().name(name).spawn(f)
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        *lock(&inner.flush_tx) = Some(tx);
        let i = Arc::clone(&inner);
        threads.push(spawn(
            "strata-flush".into(),
            Box::new(move || background::flush_thread(&i, &rx)),
        )?);
        let (ctx, crx) = crossbeam_channel::unbounded();
        inner.compactor.connect(ctx);
        for n in 1..inner.options.max_background_jobs {
            let (i, crx) = (Arc::clone(&inner), crx.clone());
            threads.push(spawn(
                format!("strata-compact-{n}"),
                Box::new(move || compaction_thread(&*i, &crx)),
            )?);
        }
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            let (rtx, rrx) = crossbeam_channel::bounded::<()>(0);
            *lock(&inner.reclaim_tx) = Some(rtx);
            let cache = Arc::clone(&inner.cache);
            threads.push(spawn(
                "strata-reclaim".into(),
                Box::new(move || reclaim_thread(&cache, &rrx)),
            )?);
        }
        if let SyncMode::Interval(every) = inner.options.sync_mode {
            let i = Arc::clone(&inner);
            threads.push(spawn(
                "strata-wal-sync".into(),
                Box::new(move || write::sync_thread(&i, every)),
            )?);
        }
        *lock(&inner.threads) = threads;
        // Frozen memtables left by recovery (none today: recovery flushes) get flushed now.
        inner.schedule_flush();
        inner.schedule_compaction();
        let default = Keyspace {
            id: DEFAULT_KEYSPACE,
            name: Arc::from(DEFAULT_KEYSPACE_NAME),
            inner: Arc::clone(&inner),
        };
        Ok(Db { inner, default })
    }

    /// The keyspace named `name`, created (durably) if it does not exist.
    ///
    /// # Errors
    /// I/O errors writing the manifest; [`Error::InvalidArgument`] for an empty or over-long
    /// name.
    pub fn keyspace(&self, name: &str) -> Result<Keyspace> {
        self.inner.keyspace(name)
    }

    /// Names of all keyspaces, sorted.
    pub fn keyspace_names(&self) -> Vec<String> {
        let map = self
            .inner
            .keyspaces
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<_> = map.keys().cloned().collect();
        names.sort();
        names
    }

    /// The default keyspace.
    pub fn default_keyspace(&self) -> &Keyspace {
        &self.default
    }

    /// Applies `batch` atomically.
    ///
    /// # Errors
    /// I/O errors from the WAL; [`Error::Poisoned`] after an earlier failure;
    /// [`Error::InvalidArgument`] for a batch naming an unknown keyspace.
    pub fn write(&self, batch: WriteBatch, options: WriteOptions) -> Result<()> {
        self.inner.write(batch, options)
    }

    /// A transaction: writes gathered and read before they are committed as one batch (see
    /// [`Transaction`](crate::Transaction)).
    pub fn transaction(&self) -> crate::Transaction {
        crate::Transaction::new(Arc::clone(&self.inner))
    }

    /// Pins the current state for consistent reads.
    pub fn snapshot(&self) -> Snapshot {
        self.inner
            .snapshots
            .pin(self.inner.visible_seq.load(Ordering::Acquire))
    }

    /// Writes every memtable to a table and waits until that is durable.
    ///
    /// # Errors
    /// I/O errors; a background error.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Blocks until background work is done: no frozen memtable waits for flush, no compaction
    /// runs, and no level needs one (like RocksDB's `WaitForCompact`). Writes made meanwhile
    /// may extend the wait.
    ///
    /// # Errors
    /// A background error; [`Error::Closed`].
    pub fn wait_for_background_work(&self) -> Result<()> {
        self.inner.wait_for_background_work()
    }

    /// Fsyncs the WAL: every write acknowledged before the call is durable when it returns.
    /// Writers are not blocked during the fsync.
    ///
    /// # Errors
    /// I/O errors (after which the database is poisoned).
    pub fn sync_wal(&self) -> Result<()> {
        self.inner.sync_wal_to(self.inner.wal.appended())
    }

    /// Changes options on the open database (RocksDB's `SetOptions`): memtable size, L0
    /// triggers, level sizes, auto compaction. Checked together with the other options first;
    /// stalled writers and compaction threads look again at once.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the result breaks a rule of [`Options::validate`] (nothing
    /// changes then); [`Error::Closed`].
    pub fn set_options(&self, changes: &MutableOptions) -> Result<()> {
        self.inner.set_options(changes)
    }

    /// The options in force: those given at open with [`set_options`](Self::set_options)'s
    /// changes.
    pub fn options(&self) -> Options {
        self.inner.tuned.current(&self.inner.options)
    }

    /// Whether writes are stalled right now (waiting for flush or compaction to make room), so
    /// a write may block for long: a server can then run writes where blocking is harmless.
    pub fn is_write_stalled(&self) -> bool {
        self.inner.stalls.is_stalled()
    }

    /// The sequence number of the newest visible write. Every write acknowledged so far, and
    /// everything a read has returned so far, is at or below it.
    pub fn latest_sequence(&self) -> u64 {
        self.inner.visible_seq.load(Ordering::Acquire)
    }

    /// Makes every write with a sequence number up to `seq` durable, and returns at once when
    /// it already is. Group commit for callers that write without `sync` and must not
    /// acknowledge before the data is durable: write, release your own locks, then call this
    /// with [`latest_sequence`](Self::latest_sequence). Concurrent callers share fsyncs (one
    /// fsync covers every write appended before it started), and writers keep appending while
    /// an fsync runs. Writes made after the call are not waited for, so a `seq` above
    /// `latest_sequence()` only waits for what is written by then.
    ///
    /// # Errors
    /// I/O errors (after which the database is poisoned); [`Error::Closed`].
    pub fn sync_wal_to(&self, seq: u64) -> Result<()> {
        self.inner.sync_wal_to(seq)
    }

    /// With [`Options::manual_wal_flush`]: hands the WAL records of every write up to `seq` to
    /// the OS (one `write(2)` for all that are buffered), so they survive a process crash;
    /// returns at once when they already have. Call it before acknowledging writes (and
    /// before returning what reads saw: a buffered write is already visible). Without
    /// `manual_wal_flush` every write reaches the OS before it returns and this is a no-op.
    ///
    /// # Errors
    /// The I/O error of the write (the database is then poisoned); [`Error::Closed`].
    pub fn flush_wal_to(&self, seq: u64) -> Result<()> {
        self.inner.flush_wal_to(seq)
    }

    /// The sequence number up to which every write is known durable.
    pub fn synced_sequence(&self) -> u64 {
        self.inner.wal.synced()
    }

    /// Why writes are refused, if a failed WAL write or fsync, flush or compaction poisoned
    /// the database ([`Error::Poisoned`] with the cause); `None` while it is healthy. Reads
    /// keep working either way. Cheap: no lock unless there is an error.
    pub fn background_error(&self) -> Option<Error> {
        self.inner.background_error()
    }

    /// Tries now what the database otherwise retries every second by itself after running out
    /// of disk space or descriptors (RocksDB's `DB::Resume`): cuts the logs back to their
    /// last acknowledged write, clears the background error and flushes what waits. Does
    /// nothing on a healthy database.
    ///
    /// # Errors
    /// The background error if it stands: the cause is still there, or it is final (a failed
    /// fsync, corruption), which only a reopen clears.
    pub fn resume(&self) -> Result<()> {
        self.inner.check_open()?;
        self.inner.retry_background_work()
    }

    /// The damaged WAL tails the recovery at open dropped (empty after a clean shutdown or an
    /// intact log). Each names the file, the offset and the reason; a server should log them.
    pub fn recovery_dropped(&self) -> &[DroppedTail] {
        &self.inner.dropped
    }

    /// Files named like the engine's (`NNNNNN.sst`, `MANIFEST-NNNNNN`) that the recovery at
    /// open found unreferenced but did not delete, because this database did not make them
    /// (another database's, or written before identities were recorded). A server should log
    /// them; moving them out of the directory is the operator's call.
    pub fn recovery_kept(&self) -> &[PathBuf] {
        &self.inner.kept
    }

    /// Figures about levels, files, sizes and work done.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Reads and checks every block of every live table.
    ///
    /// # Errors
    /// The first [`Error::Corruption`] found, naming the file and offset.
    pub fn verify(&self) -> Result<()> {
        let sv = self.inner.super_version()?;
        for tree in sv.version.trees.values() {
            for (_, f) in tree.all_files() {
                f.table.verify()?;
            }
        }
        Ok(())
    }

    /// Checks the shape invariants of every keyspace's current levels: in L1 and deeper, files
    /// are sorted by key and no two overlap (no user key in two files of one level), and every
    /// file's recorded key range is ordered. Cheap (metadata only); used by tests after
    /// compactions and by operators as a consistency check.
    ///
    /// # Errors
    /// A description of the first violation.
    pub fn check_level_invariants(&self) -> std::result::Result<(), String> {
        let sv = self.inner.super_version().map_err(|e| e.to_string())?;
        for (ks, tree) in &sv.version.trees {
            for (level, files) in tree.levels.iter().enumerate() {
                for f in files {
                    if f.smallest_user_key() > f.largest_user_key() {
                        return Err(format!(
                            "keyspace {ks} L{level}: file {} has smallest > largest",
                            f.meta.number
                        ));
                    }
                }
                if level == 0 {
                    continue;
                }
                for pair in files.windows(2) {
                    if pair[0].largest_user_key() >= pair[1].smallest_user_key() {
                        return Err(format!(
                            "keyspace {ks} L{level}: files {} and {} overlap or are out of order",
                            pair[0].meta.number, pair[1].meta.number
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// Stops background work, syncs the WAL and releases the directory lock.
    ///
    /// # Errors
    /// The error of the final WAL sync, or a background error that happened earlier.
    pub fn close(self) -> Result<()> {
        self.inner.shutdown()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.inner.shutdown();
    }
}

fn open_inner(dir: &Path, options: Options) -> Result<Inner> {
    fs::create_dir_all(dir).map_err(|e| Error::io_at(dir, e))?;
    let lock_file = filename::lock_dir(dir)?;

    let current_exists = filename::current_path(dir).exists();
    if current_exists && options.error_if_exists {
        return Err(Error::InvalidArgument(format!(
            "database at {} already exists",
            dir.display()
        )));
    }
    if !current_exists {
        crate::recovery::check_no_data_without_current(dir)?;
        if !options.create_if_missing {
            return Err(Error::NotFound(dir.to_path_buf()));
        }
        Manifest::create(dir, 1, &initial_edit())?;
    }

    let cache = Arc::new(BlockCache::new(options.block_cache_bytes));
    let recovered = crate::recovery::recover(dir, &options, &cache)?;

    Ok(Inner {
        dir: dir.to_path_buf(),
        lock_file: Mutex::new(Some(lock_file)),
        cache,
        state: Mutex::new(State {
            sv: SuperVersion {
                mem: Arc::new(MemGen::new(recovered.log_number, options.memtable_size)),
                imm: Vec::new(),
                version: Arc::new(recovered.version),
            },
            bg_error: None,
            bg_error_transient: false,
        }),
        state_cv: Condvar::new(),
        queue: WriteQueue::default(),
        // Recovery flushed every recovered write to a synced table.
        wal: Wal::new(recovered.wal, recovered.last_seq),
        manifest: Mutex::new(recovered.manifest),
        next_file: AtomicU64::new(recovered.next_file),
        visible_seq: AtomicU64::new(recovered.last_seq),
        snapshots: Arc::new(SnapshotList::default()),
        keyspaces: RwLock::new(recovered.keyspaces),
        flush_tx: Mutex::new(None),
        reclaim_tx: Mutex::new(None),
        flushing: Mutex::new(()),
        threads: Mutex::new(Vec::new()),
        closed: AtomicBool::new(false),
        compactor: Compactor::default(),
        counters: Counters::default(),
        stalls: Stalls::default(),
        tuned: Tuned::new(&options),
        dropped: recovered.dropped,
        kept: recovered.kept,
        db_id: recovered.db_id,
        poisoned: AtomicBool::new(false),
        options,
    })
}

/// The first edit of a new database's first manifest (MANIFEST-000001): no files, the
/// default keyspace.
fn initial_edit() -> VersionEdit {
    VersionEdit {
        log_number: Some(0),
        next_file: Some(2),
        last_seq: Some(0),
        keyspaces: vec![(DEFAULT_KEYSPACE, DEFAULT_KEYSPACE_NAME.to_string())],
        db_id: Some(new_db_id()),
        ..VersionEdit::default()
    }
}

impl Inner {
    pub(crate) fn new_file_number(&self) -> u64 {
        self.next_file.fetch_add(1, Ordering::SeqCst)
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    pub(crate) fn super_version(&self) -> Result<SuperVersion> {
        self.check_open()?;
        Ok(lock(&self.state).sv.clone())
    }

    /// Sets the background error (the first one stays) under the state lock: every later
    /// write gets it (as [`Error::Poisoned`]). One that ran out of room or descriptors
    /// ([`Error::is_transient`]) is marked so, for
    /// [`retry_background_work`](Self::retry_background_work) to clear.
    fn fail_locked(&self, st: &mut State, e: &Error) {
        if st.bg_error.is_none() {
            st.bg_error = Some(Error::Poisoned(e.to_string()));
            st.bg_error_transient = e.is_transient();
            self.poisoned.store(true, Ordering::Release);
        }
    }

    /// A failed WAL write or fsync, flush or compaction: sets the background error
    /// ([`fail_locked`](Self::fail_locked)) and wakes whoever waits on the state.
    pub(crate) fn background_work_failed(&self, e: Error) {
        let mut st = lock(&self.state);
        self.fail_locked(&mut st, &e);
        drop(st);
        self.state_cv.notify_all();
    }

    /// The background error, if a failed WAL write, fsync, flush or compaction set one.
    fn background_error(&self) -> Option<Error> {
        if !self.poisoned.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.state).bg_error.clone()
    }

    /// `e`, after setting the background error with it: after a failed WAL write or fsync,
    /// writes are refused until the log is known to end with the last acknowledged write
    /// again (after a failed fsync, never).
    fn poison(&self, e: Error) -> Error {
        self.background_work_failed(e.clone());
        e
    }

    fn schedule_flush(&self) {
        if let Some(tx) = lock(&self.flush_tx).as_ref() {
            let _ = tx.send(());
        }
    }

    fn schedule_compaction(&self) {
        self.compactor
            .schedule(!self.tuned.auto_compactions_disabled());
    }

    fn tables(&self) -> Tables<'_> {
        Tables {
            dir: &self.dir,
            options: &self.options,
            cache: &self.cache,
            db_id: &self.db_id,
        }
    }

    // ---- keyspaces and options ---------------------------------------------------------

    fn keyspace(self: &Arc<Self>, name: &str) -> Result<Keyspace> {
        self.check_open()?;
        if name.is_empty() || name.len() > 255 {
            return Err(Error::InvalidArgument(
                "a keyspace name must be 1 to 255 bytes".into(),
            ));
        }
        let handle = |id| Keyspace {
            id,
            name: Arc::from(name),
            inner: Arc::clone(self),
        };
        if let Some(&id) = self
            .keyspaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(handle(id));
        }
        // Creation goes through the manifest lock so edits stay ordered.
        let mut manifest = lock(&self.manifest);
        let mut map = self.keyspaces.write().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = map.get(name) {
            return Ok(handle(id));
        }
        let id = map.values().max().map_or(0, |m| m + 1);
        let edit = VersionEdit {
            keyspaces: vec![(id, name.to_string())],
            ..VersionEdit::default()
        };
        manifest.log(&edit)?;
        map.insert(name.to_string(), id);
        let mut st = lock(&self.state);
        let version = st
            .sv
            .version
            .apply(&edit, &mut &crate::version::NewFiles::default())?;
        st.sv.version = Arc::new(version);
        Ok(handle(id))
    }

    fn known_keyspace(&self, id: KeyspaceId) -> bool {
        self.keyspaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(|&k| k == id)
    }

    fn keyspace_name(&self, ks: KeyspaceId) -> Option<String> {
        let map = self.keyspaces.read().unwrap_or_else(|e| e.into_inner());
        map.iter().find(|(_, &id)| id == ks).map(|(n, _)| n.clone())
    }

    fn set_options(&self, changes: &MutableOptions) -> Result<()> {
        self.check_open()?;
        // One change at a time, so two callers cannot each pass validation and mix.
        let st = lock(&self.state);
        let next = changes.applied_to(&self.tuned.current(&self.options));
        next.validate()?;
        self.tuned.store(&next);
        drop(st);
        self.state_cv.notify_all();
        self.schedule_compaction();
        Ok(())
    }

    // ---- reads ------------------------------------------------------------------------

    /// What a read sees: the super version, and the sequence number it reads at.
    fn read_view(&self, snapshot: Option<&Snapshot>) -> Result<(SuperVersion, SeqNo)> {
        let sv = self.super_version()?;
        let seq = snapshot.map_or_else(
            || self.visible_seq.load(Ordering::Acquire),
            Snapshot::sequence,
        );
        Ok((sv, seq))
    }

    /// The live value of `key` and its expiry (Unix ms), as of `snapshot` and the clock now.
    pub(crate) fn get_entry(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        snapshot: Option<&Snapshot>,
        limit: usize,
    ) -> Result<Option<(Vec<u8>, Option<u64>)>> {
        let (sv, seq) = self.read_view(snapshot)?;
        let clock = &self.options.clock;
        sv.get(ks, key, seq, || clock.now_ms(), limit)
    }

    /// An iterator over keyspace `ks` with `overlay` merged in as its newest source (a
    /// transaction's writes, every entry at `MAX_SEQNO`).
    pub(crate) fn iter_with_overlay(
        &self,
        ks: KeyspaceId,
        options: &ReadOptions<'_>,
        overlay: strata_compaction::BoxedIter,
    ) -> Result<DbIterator> {
        let (sv, seq) = self.read_view(options.snapshot)?;
        Ok(sv.iter_with(ks, seq, options, self.options.clock.now_ms(), Some(overlay)))
    }

    pub(crate) fn iter(&self, ks: KeyspaceId, options: &ReadOptions<'_>) -> Result<DbIterator> {
        let (sv, seq) = self.read_view(options.snapshot)?;
        Ok(sv.iter(ks, seq, options, self.options.clock.now_ms()))
    }

    fn stats(&self) -> Stats {
        let sv = lock(&self.state).sv.clone();
        let options = self.tuned.current(&self.options);
        Sources {
            sv: &sv,
            keyspaces: self
                .keyspaces
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            picker: self.tuned.picker_config(&self.options),
            options: &options,
            counters: &self.counters,
            stalls: &self.stalls,
            wal: &self.wal,
            compactor: &self.compactor,
            cache: &self.cache,
            last_sequence: self.visible_seq.load(Ordering::Acquire),
            next_file_number: self.next_file.load(Ordering::Relaxed),
        }
        .collect()
    }

    // ---- close ------------------------------------------------------------------------

    fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Wake stalled writers so they see `closed`, then let in-flight writers finish.
        self.state_cv.notify_all();
        self.queue.drain();
        *lock(&self.flush_tx) = None;
        self.compactor.disconnect();
        *lock(&self.reclaim_tx) = None;
        let threads = std::mem::take(&mut *lock(&self.threads));
        for t in threads {
            let _ = t.join();
        }
        let sync = self.wal.finish();
        if let Some(f) = lock(&self.lock_file).take() {
            let _ = f.unlock();
        }
        sync?;
        match &lock(&self.state).bg_error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

mod background;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
mod write;
