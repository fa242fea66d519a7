//! The database: open and recovery, the write path (group commit), reads, flushes.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use strata_sstable::{BlockCache, MetaBlocks, SeqNo, Table, TableBuilder, ValueKind};

use crate::batch::{BatchFormat, DecodedRecord, WriteBatch};
use crate::error::{Error, Result};
use crate::filename;
use crate::iter::DbIterator;
use crate::keyspace::{Keyspace, KeyspaceId, DEFAULT_KEYSPACE, DEFAULT_KEYSPACE_NAME};
use crate::level_iter::LevelIter;
use crate::manifest::{FileMeta, Manifest, VersionEdit};
use crate::memtable::{resolve, Lookup, Memtable};
use crate::options::{MutableOptions, Options, ReadOptions, Tuned, WriteOptions, NUM_LEVELS};
use crate::snapshot::{Snapshot, SnapshotList};
use crate::stats::{CompactionStats, KeyspaceStats, LevelStats, MemoryStats, Stats};
use crate::version::{TableFile, Version};
use strata_compaction::{BoxedIter, MergingIter};
use strata_wal::{RecoveryMode, SyncMode};

/// Locks a mutex, recovering the guard if a panicking thread poisoned it: every structure
/// behind these mutexes is left consistent between statements, and a failed background job
/// reports through `bg_error`, not through lock poisoning.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The memtables of one WAL: one per keyspace that was written while that WAL was active.
#[derive(Debug)]
pub(crate) struct MemGen {
    pub log_number: u64,
    tables: RwLock<HashMap<KeyspaceId, Arc<Memtable>>>,
    bytes: AtomicUsize,
    /// The memtable size this generation was created for (sizes each memtable's key filter).
    capacity: usize,
}

impl MemGen {
    fn new(log_number: u64, capacity: usize) -> Self {
        MemGen {
            log_number,
            tables: RwLock::new(HashMap::new()),
            bytes: AtomicUsize::new(0),
            capacity,
        }
    }

    pub fn get(&self, ks: KeyspaceId) -> Option<Arc<Memtable>> {
        self.tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ks)
            .cloned()
    }

    fn get_or_create(&self, ks: KeyspaceId) -> Arc<Memtable> {
        if let Some(m) = self.get(ks) {
            return m;
        }
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(tables.entry(ks).or_insert_with(|| {
            let mem = Arc::new(Memtable::new(self.capacity));
            // A new memtable starts with its key filter: charge it.
            self.bytes
                .fetch_add(mem.approximate_bytes(), Ordering::Relaxed);
            mem
        }))
    }

    fn insert(&self, ks: KeyspaceId, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        let mem = self.get_or_create(ks);
        let before = mem.approximate_bytes();
        mem.insert(key, seq, kind, value);
        self.bytes
            .fetch_add(mem.approximate_bytes() - before, Ordering::Relaxed);
    }

    fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    fn is_empty(&self) -> bool {
        self.bytes() == 0
    }

    fn sorted_tables(&self) -> Vec<(KeyspaceId, Arc<Memtable>)> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = tables.iter().map(|(k, m)| (*k, Arc::clone(m))).collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }
}

/// What readers need: the memtables and the version, taken together under the state lock.
#[derive(Debug, Clone)]
pub(crate) struct SuperVersion {
    pub mem: Arc<MemGen>,
    /// Frozen memtables, oldest first.
    pub imm: Vec<Arc<MemGen>>,
    pub version: Arc<Version>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) sv: SuperVersion,
    pub(crate) bg_error: Option<Error>,
    /// Set while a flush job runs, so `flush()` waiters know work is in flight.
    flushes_done: u64,
}

/// A writer waiting in the group-commit queue.
#[derive(Debug)]
struct Slot {
    batch: Mutex<Option<WriteBatch>>,
    sync: bool,
    force_rotate: bool,
    result: Mutex<Option<Result<()>>>,
    /// Set (under the queue lock) when this writer reaches the head of the queue.
    lead: AtomicBool,
    /// Set (under the queue lock, after `result`) when a leader wrote this batch.
    done: AtomicBool,
}

impl Slot {
    fn new(batch: Option<WriteBatch>, sync: bool, force_rotate: bool) -> Slot {
        Slot {
            batch: Mutex::new(batch),
            sync,
            force_rotate,
            result: Mutex::new(None),
            lead: AtomicBool::new(false),
            done: AtomicBool::new(false),
        }
    }

    fn turn_came(&self) -> bool {
        self.lead.load(Ordering::Acquire) || self.done.load(Ordering::Acquire)
    }
}

/// Spins of a queued writer before it yields, and yields before it sleeps: a group takes
/// microseconds, and sleeping on the condition variable costs two context switches.
const WRITER_SPINS: u32 = 64;
const WRITER_YIELDS: u32 = 16;

#[derive(Debug)]
enum BgTask {
    Flush,
}

#[derive(Debug)]
pub(crate) struct Counters {
    pub user_bytes_written: AtomicU64,
    pub flush_count: AtomicU64,
    pub flush_bytes: AtomicU64,
    pub stall_count: AtomicU64,
    pub stall_micros: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub write_groups: AtomicU64,
    pub writes: AtomicU64,
    /// Compaction work by output level.
    pub levels: Mutex<Vec<crate::compact::LevelWork>>,
    /// Expired entries compaction turned into tombstones or dropped.
    pub expired_dropped: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            user_bytes_written: AtomicU64::new(0),
            flush_count: AtomicU64::new(0),
            flush_bytes: AtomicU64::new(0),
            stall_count: AtomicU64::new(0),
            stall_micros: AtomicU64::new(0),
            wal_syncs: AtomicU64::new(0),
            write_groups: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            levels: Mutex::new(vec![crate::compact::LevelWork::default(); NUM_LEVELS]),
            expired_dropped: AtomicU64::new(0),
        }
    }
}

/// Shared state of an open database.
pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) options: Options,
    pub(crate) lock_file: Mutex<Option<File>>,
    pub(crate) cache: Arc<BlockCache>,
    pub(crate) state: Mutex<State>,
    /// Signalled when a flush finishes or a background error is set.
    pub(crate) state_cv: Condvar,
    writers: Mutex<VecDeque<Arc<Slot>>>,
    pub(crate) writers_cv: Condvar,
    /// Threads waiting on `writers_cv` (changed under the `writers` lock).
    writers_sleeping: AtomicUsize,
    pub(crate) wal: Mutex<strata_wal::Writer>,
    pub(crate) manifest: Mutex<Manifest>,
    pub(crate) next_file: AtomicU64,
    /// Highest sequence number whose write is complete and visible to readers.
    pub(crate) visible_seq: AtomicU64,
    /// Highest sequence number in the WAL (changed only under the `wal` lock).
    appended_seq: AtomicU64,
    /// Every write up to this sequence number has reached the OS (survives a process crash).
    written_seq: AtomicU64,
    /// Every write up to this sequence number is durable (fsynced).
    synced_seq: AtomicU64,
    /// Held by the one thread running an off-lock WAL fsync; others queue behind it and
    /// usually find their write covered when they get it (fsync coalescing).
    syncer: Mutex<()>,
    pub(crate) snapshots: Arc<SnapshotList>,
    pub(crate) keyspaces: RwLock<HashMap<String, KeyspaceId>>,
    bg_tx: Mutex<Option<Sender<BgTask>>>,
    pub(crate) threads: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) closed: AtomicBool,
    /// Wakes compaction threads.
    pub(crate) compact_tx: Mutex<Option<Sender<()>>>,
    /// Dropped at close to stop the reclaim thread (nothing is ever sent).
    reclaim_tx: Mutex<Option<Sender<()>>>,
    /// Files owned by running compactions.
    pub(crate) compacting: Mutex<crate::compact::Compacting>,
    /// When the last periodic TTL compaction started (they are rate-limited).
    pub(crate) last_ttl_compaction: Mutex<Option<Instant>>,
    pub(crate) counters: Counters,
    /// The current values of the options `Db::set_options` changes.
    pub(crate) tuned: Tuned,
    /// The write leader is stalled (or slowed down) waiting for flush or compaction.
    write_stalled: AtomicBool,
    /// The block cache's inserted bytes when free memory was last handed back to the OS.
    trimmed_at: AtomicU64,
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
        let (tx, rx) = crossbeam_channel::unbounded();
        *lock(&inner.bg_tx) = Some(tx);
        let mut threads = Vec::new();
        {
            let inner = Arc::clone(&inner);
            threads.push(
                std::thread::Builder::new()
                    .name("strata-flush".into())
                    .spawn(move || flush_thread(&inner, &rx))?,
            );
        }
        let (ctx, crx) = crossbeam_channel::unbounded();
        *lock(&inner.compact_tx) = Some(ctx);
        for i in 1..inner.options.max_background_jobs {
            let inner = Arc::clone(&inner);
            let crx = crx.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("strata-compact-{i}"))
                    .spawn(move || crate::compact::compaction_thread(&inner, &crx))?,
            );
        }
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            let (rtx, rrx) = crossbeam_channel::bounded::<()>(0);
            *lock(&inner.reclaim_tx) = Some(rtx);
            let inner = Arc::clone(&inner);
            threads.push(
                std::thread::Builder::new()
                    .name("strata-reclaim".into())
                    .spawn(move || reclaim_thread(&inner, &rrx))?,
            );
        }
        if let SyncMode::Interval(every) = inner.options.sync_mode {
            let inner2 = Arc::clone(&inner);
            threads.push(
                std::thread::Builder::new()
                    .name("strata-wal-sync".into())
                    .spawn(move || sync_thread(&inner2, every))?,
            );
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
        self.inner.sync_wal()
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
        self.inner.write_stalled.load(Ordering::Acquire)
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
        self.inner.synced_seq.load(Ordering::Acquire)
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
    fs::create_dir_all(dir)?;
    let lock_file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(filename::lock_path(dir))?;
    match lock_file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Err(Error::Locked(dir.to_path_buf())),
        Err(fs::TryLockError::Error(e)) => return Err(e.into()),
    }

    let current_exists = filename::current_path(dir).exists();
    if current_exists && options.error_if_exists {
        return Err(Error::InvalidArgument(format!(
            "database at {} already exists",
            dir.display()
        )));
    }
    if !current_exists {
        if !options.create_if_missing {
            return Err(Error::NotFound(dir.to_path_buf()));
        }
        let edit = VersionEdit {
            log_number: Some(0),
            next_file: Some(2),
            last_seq: Some(0),
            keyspaces: vec![(DEFAULT_KEYSPACE, DEFAULT_KEYSPACE_NAME.to_string())],
            ..VersionEdit::default()
        };
        Manifest::create(dir, 1, &edit)?;
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
            flushes_done: 0,
        }),
        state_cv: Condvar::new(),
        writers: Mutex::new(VecDeque::new()),
        writers_cv: Condvar::new(),
        writers_sleeping: AtomicUsize::new(0),
        wal: Mutex::new(recovered.wal),
        manifest: Mutex::new(recovered.manifest),
        next_file: AtomicU64::new(recovered.next_file),
        visible_seq: AtomicU64::new(recovered.last_seq),
        // Recovery flushed every recovered write to a synced table.
        appended_seq: AtomicU64::new(recovered.last_seq),
        written_seq: AtomicU64::new(recovered.last_seq),
        synced_seq: AtomicU64::new(recovered.last_seq),
        syncer: Mutex::new(()),
        snapshots: Arc::new(SnapshotList::default()),
        keyspaces: RwLock::new(recovered.keyspaces),
        bg_tx: Mutex::new(None),
        threads: Mutex::new(Vec::new()),
        closed: AtomicBool::new(false),
        compact_tx: Mutex::new(None),
        reclaim_tx: Mutex::new(None),
        compacting: Mutex::new(crate::compact::Compacting::default()),
        last_ttl_compaction: Mutex::new(None),
        counters: Counters::default(),
        write_stalled: AtomicBool::new(false),
        trimmed_at: AtomicU64::new(0),
        tuned: Tuned::new(&options),
        options,
    })
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

    pub(crate) fn set_bg_error(&self, e: Error) {
        let mut st = lock(&self.state);
        if st.bg_error.is_none() {
            st.bg_error = Some(Error::Poisoned(e.to_string()));
        }
        drop(st);
        self.state_cv.notify_all();
    }

    fn schedule_flush(&self) {
        if let Some(tx) = lock(&self.bg_tx).as_ref() {
            let _ = tx.send(BgTask::Flush);
        }
    }

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
        let version = st.sv.version.apply(&edit, |_, _| {
            Err(Error::InvalidArgument(
                "keyspace edit carries no file".into(),
            ))
        })?;
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

    fn set_options(&self, changes: &MutableOptions) -> Result<()> {
        self.check_open()?;
        // One change at a time, so two callers cannot each pass validation and mix.
        let _st = lock(&self.state);
        let next = changes.applied_to(&self.tuned.current(&self.options));
        next.validate()?;
        self.tuned.store(&next);
        drop(_st);
        self.state_cv.notify_all();
        self.schedule_compaction();
        Ok(())
    }

    // ---- write path -------------------------------------------------------------------

    pub(crate) fn write(&self, mut batch: WriteBatch, options: WriteOptions) -> Result<()> {
        self.check_open()?;
        if batch.has_relative_ttls() {
            batch.resolve_ttls(self.options.clock.now_ms());
        }
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
        self.enqueue(Slot::new(Some(batch), options.sync, false))
    }

    /// Group commit: the writer at the head of the queue becomes the leader, takes the whole
    /// queue, writes it as one WAL append (and at most one fsync), inserts it into the
    /// memtable, publishes the new sequence number and hands every follower its result.
    fn enqueue(&self, slot: Slot) -> Result<()> {
        let slot = Arc::new(slot);
        {
            let mut queue = lock(&self.writers);
            if queue.is_empty() {
                slot.lead.store(true, Ordering::Release);
            }
            queue.push_back(Arc::clone(&slot));
        }
        self.await_turn(&slot);
        if slot.done.load(Ordering::Acquire) {
            return lock(&slot.result).take().unwrap_or(Ok(()));
        }
        let queue = lock(&self.writers);
        // Leader. A rotation request leads a group of its own.
        let mut group = vec![Arc::clone(&slot)];
        if !slot.force_rotate {
            let mut bytes = 0usize;
            for s in queue.iter().skip(1) {
                if s.force_rotate || bytes > (1 << 20) {
                    break;
                }
                bytes += lock(&s.batch).as_ref().map_or(0, WriteBatch::size_in_bytes);
                group.push(Arc::clone(s));
            }
        }
        drop(queue);

        let result = self.write_group(&group);

        let mut queue = lock(&self.writers);
        for s in &group {
            queue.pop_front();
            if !Arc::ptr_eq(s, &slot) {
                *lock(&s.result) = Some(result.clone());
                s.done.store(true, Ordering::Release);
            }
        }
        if let Some(next) = queue.front() {
            next.lead.store(true, Ordering::Release);
        }
        let sleeping = self.writers_sleeping.load(Ordering::Relaxed) > 0;
        drop(queue);
        if sleeping {
            self.writers_cv.notify_all();
        }
        result
    }

    /// Waits until `slot` leads the queue or a leader wrote it: spins, then yields, then
    /// sleeps on the condition variable (counted in `writers_sleeping`, so a leader skips the
    /// wake-up syscall when nobody sleeps).
    fn await_turn(&self, slot: &Slot) {
        for i in 0..WRITER_SPINS + WRITER_YIELDS {
            if slot.turn_came() {
                return;
            }
            if i < WRITER_SPINS {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let mut queue = lock(&self.writers);
        while !slot.turn_came() {
            self.writers_sleeping.fetch_add(1, Ordering::Relaxed);
            queue = self
                .writers_cv
                .wait(queue)
                .unwrap_or_else(|e| e.into_inner());
            self.writers_sleeping.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn write_group(&self, group: &[Arc<Slot>]) -> Result<()> {
        let force = group.iter().any(|s| s.force_rotate);
        self.make_room(force)?;
        if force {
            return Ok(());
        }
        let mut batches: Vec<WriteBatch> = group
            .iter()
            .filter_map(|s| lock(&s.batch).take())
            .filter(|b| !b.is_empty())
            .collect();
        if batches.is_empty() {
            return Ok(());
        }
        let sync = group.iter().any(|s| s.sync);
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
        let synced = {
            let buffered = self.options.manual_wal_flush
                && !sync
                && !matches!(self.options.sync_mode, SyncMode::Always);
            let mut wal = lock(&self.wal);
            let appended = if buffered {
                records
                    .iter()
                    .try_for_each(|r| wal.append(r))
                    .map(|()| false)
            } else {
                wal.append_batch(&records, sync)
            };
            match appended {
                Ok(s) => {
                    self.appended_seq.store(last, Ordering::Release);
                    if !buffered {
                        self.written_seq.fetch_max(last, Ordering::AcqRel);
                        if !s {
                            hint_wal_writeback(&mut wal);
                        }
                    }
                    if s {
                        self.synced_seq.fetch_max(last, Ordering::AcqRel);
                    }
                    s
                }
                Err(e) => {
                    let e = Error::from(e);
                    self.set_bg_error(e.clone());
                    return Err(e);
                }
            }
        };
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
        if synced {
            c.wal_syncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Makes sure the active memtable has room, freezing it (and starting a new WAL) when it is
    /// full or `force` is set; stalls while too many frozen memtables wait for flush.
    /// Called only by the write leader.
    fn make_room(&self, mut force: bool) -> Result<()> {
        let mut stall_start: Option<Instant> = None;
        let mut st = lock(&self.state);
        loop {
            if let Some(e) = &st.bg_error {
                return Err(e.clone());
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            let l0 = st.sv.version.max_l0_files();
            if l0 >= self.tuned.l0_stop_trigger.load(Ordering::Acquire)
                && !self.tuned.auto_compactions_disabled()
            {
                if stall_start.is_none() {
                    stall_start = Some(self.begin_stall());
                }
                self.schedule_compaction();
                st = self.state_cv.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let full = st.sv.mem.bytes() >= self.tuned.memtable_size.load(Ordering::Acquire);
            if !full && !force {
                break;
            }
            if force && st.sv.mem.is_empty() {
                break;
            }
            if st.sv.imm.len() >= self.options.max_immutable_memtables {
                if stall_start.is_none() {
                    stall_start = Some(self.begin_stall());
                }
                st = self.state_cv.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Freeze the memtable and switch to a new WAL. The old WAL is fsynced so every
            // log but the newest is complete on disk (recovery reads older logs strictly).
            // The file work happens outside the state lock so readers never wait on it; only
            // the leader rotates, so nothing else changes `mem` meanwhile.
            drop(st);
            let number = self.new_file_number();
            let rotated = self.rotate_wal(number);
            st = lock(&self.state);
            if let Err(e) = rotated {
                st.bg_error = Some(Error::Poisoned(e.to_string()));
                return Err(e);
            }
            let capacity = self.tuned.memtable_size.load(Ordering::Acquire);
            let old = std::mem::replace(&mut st.sv.mem, Arc::new(MemGen::new(number, capacity)));
            st.sv.imm.push(old);
            self.schedule_flush();
            force = false;
        }
        let slow = st.sv.version.max_l0_files()
            >= self.tuned.l0_slowdown_trigger.load(Ordering::Acquire)
            && !self.tuned.auto_compactions_disabled();
        drop(st);
        if slow {
            // Slowdown: give compaction room before L0 reaches the stop trigger.
            if stall_start.is_none() {
                stall_start = Some(self.begin_stall());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        if let Some(t) = stall_start {
            self.counters
                .stall_micros
                .fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
            self.write_stalled.store(false, Ordering::Release);
        }
        Ok(())
    }

    /// Hands free memory back to the OS (see [`return_free_memory`]) if the block cache has
    /// freed a sixteenth of its capacity since the last time: blocks it replaced (read by one
    /// thread and evicted by another, they leave freed memory in the reader's allocator
    /// arena), blocks evicted to make room for table builders, and the builders' buffers
    /// once finished. Called by the reclaim thread every [`RECLAIM_TICK`].
    fn return_free_memory_if_churned(&self) {
        let churn = self
            .cache
            .inserted_bytes()
            .saturating_add(self.cache.reservations_moved_bytes());
        let last = self.trimmed_at.load(Ordering::Relaxed);
        if churn.saturating_sub(last) >= (self.cache.capacity() / 16).max(1 << 20) {
            self.trimmed_at.store(churn, Ordering::Relaxed);
            return_free_memory();
        }
    }

    fn begin_stall(&self) -> Instant {
        self.counters.stall_count.fetch_add(1, Ordering::Relaxed);
        self.write_stalled.store(true, Ordering::Release);
        Instant::now()
    }

    /// Starts WAL `number`: ends the old WAL (cut to its length and fsynced, so every log
    /// but the newest is complete and exact on disk), creates the new one, fsyncs the
    /// directory, swaps them. Only the write leader rotates, and it appends nothing
    /// meanwhile.
    fn rotate_wal(&self, number: u64) -> Result<()> {
        {
            let mut wal = lock(&self.wal);
            wal.finish()?;
            let appended = self.appended_seq.load(Ordering::Acquire);
            self.written_seq.fetch_max(appended, Ordering::AcqRel);
            self.synced_seq.fetch_max(appended, Ordering::AcqRel);
        }
        let new_wal = create_wal(&self.dir, number, self.options.sync_mode)?;
        filename::sync_dir(&self.dir)?;
        *lock(&self.wal) = new_wal;
        Ok(())
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.check_open()?;
        self.enqueue(Slot::new(None, false, true))?;
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

    fn sync_wal(&self) -> Result<()> {
        self.sync_wal_to(self.appended_seq.load(Ordering::Acquire))
    }

    /// Makes every write up to `seq` durable. The fsync runs outside the WAL lock, so writers
    /// keep appending meanwhile; concurrent callers coalesce: while one fsyncs, the others wait
    /// for it, and one fsync then covers all of their writes.
    pub(crate) fn sync_wal_to(&self, seq: u64) -> Result<()> {
        if self.synced_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let _syncer = lock(&self.syncer);
        if self.synced_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        self.check_open()?;
        let (pending, target) = {
            let mut wal = lock(&self.wal);
            let pending = wal.begin_sync().map_err(|e| self.fail_sync(e.into()))?;
            let appended = self.appended_seq.load(Ordering::Acquire);
            self.written_seq.fetch_max(appended, Ordering::AcqRel);
            (pending, appended)
        };
        let result = pending.sync();
        lock(&self.wal).finish_sync(&pending, &result);
        if let Err(e) = result {
            return Err(self.fail_sync(e.into()));
        }
        self.synced_seq.fetch_max(target, Ordering::AcqRel);
        self.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Hands every buffered WAL record up to `seq` to the OS (with `manual_wal_flush`).
    pub(crate) fn flush_wal_to(&self, seq: u64) -> Result<()> {
        if self.written_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        self.check_open()?;
        let mut wal = lock(&self.wal);
        if self.written_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        wal.flush().map_err(|e| self.fail_sync(e.into()))?;
        hint_wal_writeback(&mut wal);
        self.written_seq
            .fetch_max(self.appended_seq.load(Ordering::Acquire), Ordering::AcqRel);
        Ok(())
    }

    /// A failed WAL write or fsync poisons the database: what reached the disk is unknown.
    fn fail_sync(&self, e: Error) -> Error {
        self.set_bg_error(e.clone());
        e
    }

    // ---- reads ------------------------------------------------------------------------

    /// The live value of `key` and its expiry (Unix ms), as of `snapshot` and the clock now.
    pub(crate) fn get_entry(
        &self,
        ks: KeyspaceId,
        key: &[u8],
        snapshot: Option<&Snapshot>,
    ) -> Result<Option<(Vec<u8>, Option<u64>)>> {
        let sv = self.super_version()?;
        let seq = snapshot.map_or_else(
            || self.visible_seq.load(Ordering::Acquire),
            Snapshot::sequence,
        );
        let clock = &self.options.clock;
        let now = || clock.now_ms();
        let found = |l: Lookup| match l {
            Lookup::Value(v, expiry) => Some(Some((v, expiry))),
            Lookup::Deleted => Some(None),
            Lookup::Absent => None,
        };
        for gen in std::iter::once(&sv.mem).chain(sv.imm.iter().rev()) {
            if let Some(mem) = gen.get(ks) {
                if let Some(r) = found(mem.get(key, seq, now)) {
                    return Ok(r);
                }
            }
        }
        let Some(tree) = sv.version.tree(ks) else {
            return Ok(None);
        };
        for file in tree.candidates(key) {
            if let Some((_, kind, value)) = file.table.get(key, seq)? {
                return Ok(found(resolve(kind, &value, now)).flatten());
            }
        }
        Ok(None)
    }

    pub(crate) fn iter(&self, ks: KeyspaceId, options: &ReadOptions<'_>) -> Result<DbIterator> {
        let sv = self.super_version()?;
        let seq = options.snapshot.map_or_else(
            || self.visible_seq.load(Ordering::Acquire),
            Snapshot::sequence,
        );
        let mut children: Vec<BoxedIter> = Vec::new();
        for gen in std::iter::once(&sv.mem).chain(sv.imm.iter().rev()) {
            if let Some(mem) = gen.get(ks) {
                children.push(Box::new(mem.iter()));
            }
        }
        if let Some(tree) = sv.version.tree(ks) {
            // L0 tables overlap: each is a run of its own. A deeper level is one run.
            for f in &tree.levels[0] {
                children.push(Box::new(f.table.iter()));
            }
            for (level, files) in tree.levels.iter().enumerate().skip(1) {
                match files.as_slice() {
                    [] => {}
                    [f] => children.push(Box::new(f.table.iter())),
                    _ => {
                        children.push(Box::new(LevelIter::new(Arc::clone(&sv.version), ks, level)))
                    }
                }
            }
        }
        Ok(DbIterator::new(
            MergingIter::new(children),
            seq,
            options.lower_bound.clone(),
            options.upper_bound.clone(),
            Arc::clone(&sv.version),
            self.options.clock.now_ms(),
        ))
    }

    fn stats(&self) -> Stats {
        let st = lock(&self.state);
        let sv = st.sv.clone();
        drop(st);
        let names = self
            .keyspaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut keyspaces = Vec::new();
        for (name, id) in names {
            let mut levels = Vec::new();
            if let Some(tree) = sv.version.tree(id) {
                let cfg = self.tuned.picker_config(&self.options);
                let view = crate::compact::view(tree, &Default::default());
                let targets = strata_compaction::picker::targets(&view, &cfg);
                let scores = strata_compaction::picker::scores(&view, &cfg, &targets);
                for (level, files) in tree.levels.iter().enumerate() {
                    levels.push(LevelStats {
                        level,
                        files: files.len(),
                        bytes: files.iter().map(|f| f.meta.size).sum(),
                        entries: files.iter().map(|f| f.table.properties().num_entries).sum(),
                        score: scores.get(level).copied().unwrap_or(0.0),
                        target_bytes: targets.bytes.get(level).copied().unwrap_or(0),
                    });
                }
            }
            let memtable_bytes = std::iter::once(&sv.mem)
                .chain(sv.imm.iter())
                .filter_map(|g| g.get(id))
                .map(|m| m.approximate_bytes() as u64)
                .sum();
            keyspaces.push(KeyspaceStats {
                name,
                levels,
                memtable_bytes,
            });
        }
        keyspaces.sort_by(|a, b| a.name.cmp(&b.name));
        let c = &self.counters;
        let compaction: Vec<CompactionStats> = lock(&c.levels)
            .iter()
            .enumerate()
            .map(|(level, w)| CompactionStats {
                level,
                compactions: w.count,
                moves: w.moves,
                read_bytes: w.read_bytes,
                write_bytes: w.write_bytes,
                micros: w.micros,
            })
            .collect();
        let user = c.user_bytes_written.load(Ordering::Relaxed);
        let written = c.flush_bytes.load(Ordering::Relaxed)
            + compaction.iter().map(|l| l.write_bytes).sum::<u64>();
        let now = self.options.clock.now_ms();
        let expired_bytes_estimate = sv
            .version
            .trees
            .values()
            .flat_map(|t| t.all_files())
            .map(|(_, f)| {
                let p = f.table.properties();
                if p.min_expiry_ms.is_some_and(|e| e <= now) && p.num_entries > 0 {
                    f.meta.size * p.num_expiring / p.num_entries
                } else {
                    0
                }
            })
            .sum();
        Stats {
            expired_dropped: c.expired_dropped.load(Ordering::Relaxed),
            expired_bytes_estimate,
            compaction,
            write_amplification: if user == 0 {
                0.0
            } else {
                written as f64 / user as f64
            },
            last_sequence: self.visible_seq.load(Ordering::Acquire),
            next_file_number: self.next_file.load(Ordering::Relaxed),
            immutable_memtables: sv.imm.len(),
            active_memtable_bytes: sv.mem.bytes() as u64,
            keyspaces,
            user_bytes_written: c.user_bytes_written.load(Ordering::Relaxed),
            flush_count: c.flush_count.load(Ordering::Relaxed),
            flush_bytes: c.flush_bytes.load(Ordering::Relaxed),
            stall_count: c.stall_count.load(Ordering::Relaxed),
            stall_micros: c.stall_micros.load(Ordering::Relaxed),
            wal_syncs: c.wal_syncs.load(Ordering::Relaxed),
            write_groups: c.write_groups.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            block_cache_bytes: self.cache.used_bytes(),
            block_cache_capacity: self.cache.capacity(),
            memory: MemoryStats {
                budget: self.options.memory_budget,
                memtables: std::iter::once(&sv.mem)
                    .chain(sv.imm.iter())
                    .map(|g| g.bytes() as u64)
                    .sum(),
                memtable_limit: (self.tuned.memtable_size.load(Ordering::Acquire) as u64)
                    .saturating_mul(1 + self.options.max_immutable_memtables as u64),
                pinned_index_and_filters: sv
                    .version
                    .trees
                    .values()
                    .flat_map(|t| t.all_files())
                    .map(|(_, f)| f.table.pinned_meta_bytes())
                    .sum(),
                cache: self.cache.usage(),
                table_builders: self.cache.reserved_bytes(),
            },
        }
    }

    // ---- flush ------------------------------------------------------------------------

    /// Flushes frozen memtables, oldest first, until none is left.
    fn flush_pending(&self) -> Result<()> {
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

    fn flush_gen(&self, gen: &Arc<MemGen>) -> Result<()> {
        let mut edit = VersionEdit::default();
        let mut opened: HashMap<u64, Arc<TableFile>> = HashMap::new();
        for (ks, mem) in gen.sorted_tables() {
            if mem.is_empty() {
                continue;
            }
            let number = self.new_file_number();
            let (file, expired) = write_table(
                &self.dir,
                number,
                &mem,
                &self.options,
                0,
                &self.cache,
                self.snapshots.sequences(),
            )?;
            self.counters
                .expired_dropped
                .fetch_add(expired, Ordering::Relaxed);
            let Some(file) = file else {
                continue;
            };
            self.counters
                .flush_bytes
                .fetch_add(file.meta.size, Ordering::Relaxed);
            edit.new_files.push((ks, 0, file.meta.clone()));
            opened.insert(number, file);
        }
        filename::sync_dir(&self.dir)?;

        let mut manifest = lock(&self.manifest);
        let next_log = {
            let st = lock(&self.state);
            st.sv
                .imm
                .get(1)
                .map_or(st.sv.mem.log_number, |g| g.log_number)
        };
        edit.log_number = Some(next_log);
        edit.next_file = Some(self.next_file.load(Ordering::SeqCst));
        edit.last_seq = Some(self.visible_seq.load(Ordering::Acquire));
        manifest.log(&edit)?;
        {
            let mut st = lock(&self.state);
            let version = st.sv.version.apply(&edit, |_, meta| {
                opened.get(&meta.number).cloned().ok_or_else(|| {
                    Error::InvalidArgument(format!("flush lost table {}", meta.number))
                })
            })?;
            st.sv.version = Arc::new(version);
            if st.sv.imm.first().is_some_and(|g| Arc::ptr_eq(g, gen)) {
                st.sv.imm.remove(0);
            }
            st.flushes_done += 1;
        }
        drop(manifest);
        self.counters.flush_count.fetch_add(1, Ordering::Relaxed);
        self.state_cv.notify_all();
        self.schedule_compaction();
        // The WAL of the flushed memtables is no longer needed.
        let _ = fs::remove_file(filename::log_path(&self.dir, gen.log_number));
        Ok(())
    }

    fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Wake stalled writers so they see `closed`.
        self.state_cv.notify_all();
        // Wait for in-flight writers: take leadership of the queue by waiting for it to drain.
        {
            let mut q = lock(&self.writers);
            while !q.is_empty() {
                self.writers_sleeping.fetch_add(1, Ordering::Relaxed);
                q = self.writers_cv.wait(q).unwrap_or_else(|e| e.into_inner());
                self.writers_sleeping.fetch_sub(1, Ordering::Relaxed);
            }
        }
        *lock(&self.bg_tx) = None;
        *lock(&self.compact_tx) = None;
        *lock(&self.reclaim_tx) = None;
        let threads = std::mem::take(&mut *lock(&self.threads));
        for t in threads {
            let _ = t.join();
        }
        let sync = lock(&self.wal).finish();
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

/// Opens the table file at `path` with the database's cache (none when the cache is off,
/// capacity 0) and its choice of where index and filter live.
pub(crate) fn open_table_file(
    path: &Path,
    cache: &Arc<BlockCache>,
    options: &Options,
) -> Result<Table> {
    let cache = (cache.capacity() > 0).then(|| Arc::clone(cache));
    let meta = if options.cache_index_and_filter_blocks {
        MetaBlocks::Cached
    } else {
        MetaBlocks::Pinned
    };
    Ok(Table::open_with(path, cache, meta)?)
}

/// A builder for a new table at `path` for `level`. Under a memory budget its memory (8
/// bytes per key for the filter, the index block) is charged to the block cache, which
/// shrinks while the table is built.
pub(crate) fn create_table(
    path: &Path,
    options: &Options,
    level: usize,
    cache: &Arc<BlockCache>,
) -> strata_sstable::Result<TableBuilder> {
    let mut builder = TableBuilder::create(path, options.table_options(level))?;
    if options.memory_budget.is_some() {
        builder.charge_memory_to(cache);
    }
    Ok(builder)
}

/// Writes the contents of `mem` to table `number` at `level`, keeping what a compaction
/// would (RocksDB's flush runs the same iterator): per snapshot stripe (`snapshots`,
/// ascending) only the newest version of a key, tombstones, and expired entries as
/// tombstones. A memtable of overwrites thus flushes each key once (in random overwrites of
/// 2M keys, a 64 MiB memtable holds ~11% shadowed versions). Returns the table, `None` if
/// nothing was left to write (a non-empty memtable never is: each key's newest version
/// stays), and how many expired entries became tombstones.
pub(crate) fn write_table(
    dir: &Path,
    number: u64,
    mem: &Arc<Memtable>,
    options: &Options,
    level: usize,
    cache: &Arc<BlockCache>,
    snapshots: Vec<SeqNo>,
) -> Result<(Option<Arc<TableFile>>, u64)> {
    let path = filename::table_path(dir, number);
    let opts = strata_compaction::job::JobOptions {
        snapshots,
        // Tombstones stay: older versions may lie in any table.
        bottommost: false,
        output_level: level,
        // One table, however large.
        target_file_size: u64::MAX,
        grandparents: Vec::new(),
        // Compaction filters run in compactions only (as in RocksDB by default).
        filter: None,
        now_ms: options.clock.now_ms(),
    };
    let mut created = false;
    let result = strata_compaction::job::run(&mut mem.iter(), &opts, || {
        created = true;
        Ok((number, create_table(&path, options, level, cache)?))
    });
    let (outputs, stats) = match result {
        Ok(r) => r,
        Err(e) => {
            if created {
                let _ = std::fs::remove_file(&path);
            }
            return Err(crate::compact::job_error(e));
        }
    };
    let Some(out) = outputs.into_iter().next() else {
        return Ok((None, stats.expired));
    };
    let table = Arc::new(open_table_file(&path, cache, options)?);
    let p = &out.summary.properties;
    let file = TableFile::new(
        FileMeta {
            number,
            size: out.summary.file_size,
            smallest_seq: p.smallest_seq,
            largest_seq: p.largest_seq,
            smallest: p.smallest_key.clone(),
            largest: p.largest_key.clone(),
        },
        table,
    );
    Ok((Some(file), stats.expired))
}

fn flush_thread(inner: &Inner, rx: &Receiver<BgTask>) {
    while let Ok(BgTask::Flush) = rx.recv() {
        if let Err(e) = inner.flush_pending() {
            inner.set_bg_error(e);
        }
        return_free_memory();
    }
}

/// Hands memory the allocator holds free back to the OS. A flushed memtable frees its
/// entries (millions of small allocations) at once, and compaction frees its buffers;
/// glibc's malloc keeps such freed pages in its per-thread arenas unless asked, so the
/// process would keep them beyond the memory budget. Called after each flush and
/// compaction (each frees megabytes) and when the block cache has churned; the read
/// benchmarks show no cost from it (docs/benchmarks.md).
pub(crate) fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free pages of the allocator's own arenas to the
    // OS (madvise); it takes the arena locks itself and touches no memory we own.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How often the reclaim thread looks at the block cache's churn.
const RECLAIM_TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// Returns freed memory to the OS while the block cache churns (see
/// [`Inner::return_free_memory_if_churned`]), until the database closes. This is what
/// jemalloc's background purge thread does for its own arenas; glibc's malloc has none.
fn reclaim_thread(inner: &Inner, stop: &Receiver<()>) {
    use crossbeam_channel::RecvTimeoutError;
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(RECLAIM_TICK) {
        inner.return_free_memory_if_churned();
    }
}

fn sync_thread(inner: &Inner, every: std::time::Duration) {
    let tick = every.min(std::time::Duration::from_millis(100));
    while !inner.closed.load(Ordering::Acquire) {
        std::thread::sleep(tick);
        // The fsync itself runs outside the WAL lock, so writers never wait for the ticker.
        let due = lock(&inner.wal).sync_is_due();
        if due && inner.sync_wal().is_err() {
            return; // The database is poisoned; the error is kept for callers.
        }
    }
}

/// What recovery hands to `Inner`.
pub(crate) struct Recovered {
    pub version: Version,
    pub wal: strata_wal::Writer,
    pub manifest: Manifest,
    pub log_number: u64,
    pub next_file: u64,
    pub last_seq: SeqNo,
    pub keyspaces: HashMap<String, KeyspaceId>,
}

/// Steps in which a WAL file is grown ahead of its records (see
/// [`strata_wal::Writer::preallocate`]): a synced write then rarely changes the file's length,
/// so its `fdatasync` commits data only.
const WAL_PREALLOCATION: u64 = 1 << 20;

/// Bytes of WAL between two writeback hints (RocksDB's `wal_bytes_per_sync`).
const WAL_WRITEBACK_STEP: u64 = 1 << 20;

/// Asks the OS to start writing back the WAL bytes written since the last hint, once there
/// are `WAL_WRITEBACK_STEP` of them, without waiting for it. Unsynced WAL data otherwise
/// piles up (64 MiB per memtable under `SyncMode::Never`) until the fsync at the memtable
/// switch, which the write leader then waits for (45-63 ms at 5M fillrandom). Only a hint:
/// durability still comes from `fdatasync`, so its result is ignored.
fn hint_wal_writeback(wal: &mut strata_wal::Writer) {
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

/// Creates WAL `number` in `dir`, growing ahead of its records.
pub(crate) fn create_wal(dir: &Path, number: u64, mode: SyncMode) -> Result<strata_wal::Writer> {
    let mut wal = strata_wal::Writer::create_with_format(
        &filename::log_path(dir, number),
        number,
        BatchFormat::Varint as u32,
        mode,
    )?;
    wal.preallocate(WAL_PREALLOCATION)?;
    Ok(wal)
}

/// Replays WAL `path` into `gen`; returns the highest sequence number seen.
pub(crate) fn replay_log(path: &Path, mode: RecoveryMode, gen: &MemGen) -> Result<SeqNo> {
    let mut reader = strata_wal::Reader::open(path, mode)?;
    // No header (an empty log or a torn one) means no records either.
    let format = reader.record_format().unwrap_or(0);
    let format = BatchFormat::from_wal(format).ok_or_else(|| {
        Error::corruption(path, 0, format!("unknown write batch format {format}"))
    })?;
    let mut max_seq = 0;
    loop {
        let offset = reader.valid_end();
        let Some(record) = reader.next_record()? else {
            break;
        };
        let rec = DecodedRecord::parse(&record, format)
            .map_err(|r| Error::corruption(path, offset, r))?;
        let mut seq = rec.seq;
        let mut ops = rec.ops();
        while let Some(op) = ops.next_checked() {
            let op = op.map_err(|r| Error::corruption(path, offset, r))?;
            gen.insert(op.keyspace, op.key, seq, op.kind, op.value);
            max_seq = max_seq.max(seq);
            seq += 1;
        }
    }
    Ok(max_seq)
}

pub(crate) fn new_memgen(log_number: u64, capacity: usize) -> MemGen {
    MemGen::new(log_number, capacity)
}

pub(crate) fn memgen_tables(gen: &MemGen) -> Vec<(KeyspaceId, Arc<Memtable>)> {
    gen.sorted_tables()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn open_never_sync(dir: &Path) -> Db {
        let options = Options {
            sync_mode: SyncMode::Never,
            ..Options::default()
        };
        Db::open(dir, options).unwrap()
    }

    #[test]
    fn waiters_for_durability_share_one_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(open_never_sync(dir.path()));
        db.put("before", "x").unwrap();
        let syncs_before = db.stats().wal_syncs;

        // Hold the syncer as if an fsync were running; four committers write and queue up.
        let held = lock(&db.inner.syncer);
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let db = Arc::clone(&db);
                std::thread::spawn(move || {
                    db.put(format!("k{i}"), "v").unwrap();
                    let seq = db.latest_sequence();
                    db.sync_wal_to(seq).unwrap();
                    assert!(db.synced_sequence() >= seq);
                })
            })
            .collect();
        while db.latest_sequence() < 5 {
            std::thread::yield_now();
        }
        assert!(
            db.synced_sequence() < 5,
            "nothing synced while the syncer is held"
        );
        drop(held);
        for t in threads {
            t.join().unwrap();
        }
        // The first to get the syncer covered all four writes.
        assert_eq!(db.stats().wal_syncs, syncs_before + 1);
        assert_eq!(db.synced_sequence(), 5);
        // Already durable: no fsync at all.
        db.sync_wal_to(5).unwrap();
        db.sync_wal().unwrap();
        assert_eq!(db.stats().wal_syncs, syncs_before + 1);
    }

    #[test]
    fn a_sync_write_and_a_rotation_advance_the_durable_point() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_never_sync(dir.path());
        db.put("a", "1").unwrap();
        assert_eq!(db.synced_sequence(), 0);
        let mut batch = WriteBatch::new();
        batch.put("b", "2");
        db.write(batch, WriteOptions { sync: true }).unwrap();
        assert_eq!(db.synced_sequence(), 2);
        db.put("c", "3").unwrap();
        db.flush().unwrap();
        assert_eq!(
            db.synced_sequence(),
            3,
            "the old WAL is synced when it rotates"
        );
    }
}
