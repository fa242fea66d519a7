//! The compaction worker: pick (a pure function of `strata-compaction`) and reserve under a
//! lock, merge without locks, install the result with one manifest edit. The worker reaches
//! the database only through [`CompactionContext`], the few things a compaction needs;
//! [`Compactor`] owns the worker's own state (which files are being compacted, the work
//! done per level).

use std::collections::{HashMap, HashSet};

use crate::blob::BlobJob;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use strata_compaction::job::{self, JobOptions};
use strata_compaction::picker::{self, Choice, Config, FileInfo, Task};
use strata_compaction::{BoxedIter, CompactionFilter, MergingIter};
use strata_sstable::SeqNo;

use crate::error::{Error, Result};
use crate::ids::KeyspaceId;
use crate::manifest::VersionEdit;
use crate::mutex::lock;
use crate::options::NUM_LEVELS;
use crate::reclaim::return_free_memory;
use crate::tables::{file_meta, Tables};
use crate::version::{NewFiles, TableFile, Tree, Version};

/// What a compaction needs from the database.
pub(crate) trait CompactionContext {
    /// The worker's own state.
    fn compactor(&self) -> &Compactor;
    /// Where tables live and how they are made.
    fn tables(&self) -> Tables<'_>;
    /// The current version.
    fn version(&self) -> Arc<Version>;
    fn new_file_number(&self) -> u64;
    /// Sequence numbers of the live snapshots, ascending.
    fn snapshots(&self) -> Vec<SeqNo>;
    /// The picker's configuration, with `Db::set_options`' changes.
    fn picker_config(&self) -> Config;
    fn auto_compactions(&self) -> bool;
    /// How often to look for expired data, and the least time between two TTL compactions.
    fn ttl_check_interval(&self) -> Duration;
    /// The name of keyspace `ks` (recorded in the tables it writes).
    fn keyspace_name(&self, ks: KeyspaceId) -> Option<String>;
    /// The compaction filter of keyspace `ks`, if it has one.
    fn filter(&self, ks: KeyspaceId) -> Option<Arc<dyn CompactionFilter>>;
    /// Logs `edit` in the manifest and makes it the current version; the files it removes
    /// (and does not re-add) become obsolete, deleted when the last reader lets go.
    fn install(&self, edit: VersionEdit, opened: &NewFiles) -> Result<()>;
    /// An error if the database is closed or poisoned.
    fn check(&self) -> Result<()>;
    /// Poisons the database after a failed compaction.
    fn fail(&self, e: Error);
}

/// Work done by compactions whose output went to one level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LevelWork {
    pub count: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub micros: u64,
    pub moves: u64,
}

/// The compaction worker's state.
#[derive(Debug)]
pub(crate) struct Compactor {
    /// Numbers of the files being compacted.
    busy: Mutex<HashSet<u64>>,
    /// When the last periodic TTL compaction started (they are rate-limited).
    last_ttl_compaction: Mutex<Option<Instant>>,
    /// Wakes the compaction threads; `None` once the database closes.
    wake: Mutex<Option<Sender<()>>>,
    /// Work by output level.
    levels: Mutex<Vec<LevelWork>>,
    /// Expired entries compactions turned into tombstones or dropped.
    expired: AtomicU64,
}

impl Default for Compactor {
    fn default() -> Self {
        Compactor {
            busy: Mutex::default(),
            last_ttl_compaction: Mutex::default(),
            wake: Mutex::default(),
            levels: Mutex::new(vec![LevelWork::default(); NUM_LEVELS]),
            expired: AtomicU64::new(0),
        }
    }
}

enum Work {
    Move {
        ks: KeyspaceId,
        level: usize,
        file: u64,
        to: usize,
    },
    Merge {
        ks: KeyspaceId,
        task: Task,
    },
}

/// The picker's view of `tree`: each level's files, those in `busy` marked as being
/// compacted.
pub(crate) fn view(tree: &Tree, busy: &HashSet<u64>) -> Vec<Vec<FileInfo>> {
    tree.levels
        .iter()
        .map(|files| {
            files
                .iter()
                .map(|f| FileInfo {
                    number: f.meta.number,
                    size: f.meta.size,
                    smallest: f.meta.smallest.clone(),
                    largest: f.meta.largest.clone(),
                    being_compacted: busy.contains(&f.meta.number),
                    min_expiry_ms: f.table.properties().min_expiry_ms,
                })
                .collect()
        })
        .collect()
}

/// A compaction thread: runs automatic compactions while there are any, then sleeps until
/// woken by a flush or compaction, or for `ttl_check_interval` to look for expired data.
/// Returns when the wake channel disconnects (the database closes).
pub(crate) fn compaction_thread(cx: &impl CompactionContext, rx: &Receiver<()>) {
    let compactor = cx.compactor();
    loop {
        match rx.recv_timeout(cx.ttl_check_interval()) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if !cx.auto_compactions() {
            continue; // only manual compactions, which run on the caller's thread
        }
        while cx.check().is_ok() {
            let Some(work) = compactor.pick(cx).or_else(|| compactor.pick_expired(cx)) else {
                break;
            };
            if let Err(e) = compactor.run(cx, work) {
                cx.fail(e);
                break;
            }
            return_free_memory();
        }
    }
}

impl Compactor {
    /// Starts waking compaction threads through `wake` (at open).
    pub(crate) fn connect(&self, wake: Sender<()>) {
        *lock(&self.wake) = Some(wake);
    }

    /// Stops waking them: their channel disconnects and they return (at close).
    pub(crate) fn disconnect(&self) {
        *lock(&self.wake) = None;
    }

    /// Wakes a compaction thread to look for work (unless automatic compactions are off).
    pub(crate) fn schedule(&self, auto_compactions: bool) {
        if !auto_compactions {
            return;
        }
        if let Some(tx) = lock(&self.wake).as_ref() {
            let _ = tx.send(());
        }
    }

    /// Work done per output level.
    pub(crate) fn level_work(&self) -> Vec<LevelWork> {
        lock(&self.levels).clone()
    }

    /// Expired entries compactions turned into tombstones or dropped.
    pub(crate) fn expired_dropped(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }

    /// Picks the next automatic compaction over every keyspace and reserves its files.
    fn pick(&self, cx: &impl CompactionContext) -> Option<Work> {
        let version = cx.version();
        let cfg = cx.picker_config();
        let mut busy = lock(&self.busy);
        for (&ks, tree) in &version.trees {
            match picker::choose(&view(tree, &busy), &cfg) {
                Choice::Nothing => {}
                Choice::Move { level, file, to } => {
                    busy.insert(file);
                    return Some(Work::Move {
                        ks,
                        level,
                        file,
                        to,
                    });
                }
                Choice::Merge(task) => {
                    busy.extend(task.inputs.iter().chain(&task.overlapping));
                    return Some(Work::Merge { ks, task });
                }
            }
        }
        None
    }

    /// Periodic TTL compaction, when no size-driven compaction is due: at most one per
    /// `ttl_check_interval`, so it never crowds out normal compaction.
    fn pick_expired(&self, cx: &impl CompactionContext) -> Option<Work> {
        if !cx.auto_compactions() {
            return None;
        }
        let mut last = lock(&self.last_ttl_compaction);
        if last.is_some_and(|t| t.elapsed() < cx.ttl_check_interval()) {
            return None;
        }
        let version = cx.version();
        let cfg = cx.picker_config();
        let now = cx.tables().options.clock.now_ms();
        let mut busy = lock(&self.busy);
        for (&ks, tree) in &version.trees {
            if let Some(task) = picker::choose_expired(&view(tree, &busy), &cfg, now) {
                busy.extend(task.inputs.iter().chain(&task.overlapping));
                *last = Some(Instant::now());
                return Some(Work::Merge { ks, task });
            }
        }
        None
    }

    fn release(&self, files: impl IntoIterator<Item = u64>) {
        let mut busy = lock(&self.busy);
        for f in files {
            busy.remove(&f);
        }
    }

    fn run(&self, cx: &impl CompactionContext, work: Work) -> Result<()> {
        match work {
            Work::Move {
                ks,
                level,
                file,
                to,
            } => {
                let r = self.run_move(cx, ks, level, file, to);
                self.release([file]);
                r
            }
            Work::Merge { ks, task } => {
                let reserved: Vec<u64> = task
                    .inputs
                    .iter()
                    .chain(&task.overlapping)
                    .copied()
                    .collect();
                let r = self.run_merge(cx, ks, &task);
                self.release(reserved);
                r
            }
        }
    }

    fn run_move(
        &self,
        cx: &impl CompactionContext,
        ks: KeyspaceId,
        level: usize,
        number: u64,
        to: usize,
    ) -> Result<()> {
        let version = cx.version();
        let Some(file) = version
            .tree(ks)
            .and_then(|t| t.levels[level].iter().find(|f| f.meta.number == number))
            .cloned()
        else {
            return Ok(()); // already gone
        };
        let edit = VersionEdit {
            deleted_files: vec![(ks, level, number)],
            new_files: vec![(ks, to, file.meta.clone())],
            ..VersionEdit::default()
        };
        let opened = NewFiles {
            tables: HashMap::from([(number, file)]),
            ..NewFiles::default()
        };
        cx.install(edit, &opened)?;
        lock(&self.levels)[to].moves += 1;
        Ok(())
    }

    fn run_merge(&self, cx: &impl CompactionContext, ks: KeyspaceId, task: &Task) -> Result<()> {
        let started = Instant::now();
        let version = cx.version();
        let Some(tree) = version.tree(ks) else {
            return Ok(());
        };
        let pick = |level: usize, numbers: &[u64]| -> Vec<Arc<TableFile>> {
            tree.levels[level]
                .iter()
                .filter(|f| numbers.contains(&f.meta.number))
                .cloned()
                .collect()
        };
        let mut inputs = pick(task.level, &task.inputs);
        inputs.extend(pick(task.output_level, &task.overlapping));
        let read_bytes: u64 = inputs.iter().map(|f| f.meta.size).sum();
        let (lo, hi) = (&task.range.0, &task.range.1);
        let bottommost = tree.levels[task.output_level + 1..].iter().all(|files| {
            files.iter().all(|f| {
                !(f.smallest_user_key() <= hi.as_slice() && lo.as_slice() <= f.largest_user_key())
            })
        });
        let tables = cx.tables();
        let name = cx.keyspace_name(ks).unwrap_or_default();
        let opts = JobOptions {
            snapshots: cx.snapshots(),
            bottommost,
            output_level: task.output_level,
            target_file_size: task.target_file_size,
            grandparents: task.grandparents.clone(),
            filter: cx.filter(ks),
            now_ms: tables.options.clock.now_ms(),
            min_blob_size: tables.options.blob_threshold(),
        };
        let children: Vec<BoxedIter> = inputs
            .iter()
            .map(|f| Box::new(f.table.iter_uncached()) as BoxedIter)
            .collect();
        let mut merged = MergingIter::new(children);
        let mut created = Vec::new();
        let new_number = || cx.new_file_number();
        let mut blobs = BlobJob::new(tables, &version.blobs, &new_number, true);
        let result = job::run_with_blobs(
            &mut merged,
            &opts,
            || {
                let number = cx.new_file_number();
                created.push(number);
                Ok((number, tables.create(number, task.output_level, ks, &name)?))
            },
            Some(&mut blobs),
        );
        let remove_tables = |created: &[u64]| {
            for n in created {
                let _ = std::fs::remove_file(tables.path(*n));
            }
        };
        let (outputs, job_stats) = match result {
            Ok(r) => r,
            Err(e) => {
                remove_tables(&created);
                return Err(e.into());
            }
        };
        let blob_files = match blobs.finish() {
            Ok(b) => b,
            Err(e) => {
                remove_tables(&created);
                return Err(e);
            }
        };
        let mut opened = NewFiles::default();
        let mut write_bytes = 0;
        let mut edit = VersionEdit::default();
        for b in blob_files {
            write_bytes += b.meta.size;
            edit.new_blobs.push(b.meta);
            opened.blobs.insert(b.meta.number, b);
        }
        if let Err(e) = crate::filename::sync_dir(tables.dir) {
            remove_tables(&created);
            opened.abandon();
            return Err(e);
        }

        for n in &task.inputs {
            edit.deleted_files.push((ks, task.level, *n));
        }
        for n in &task.overlapping {
            edit.deleted_files.push((ks, task.output_level, *n));
        }
        for out in outputs {
            let meta = file_meta(out.number, &out.summary);
            write_bytes += meta.size;
            let table = match tables.open(out.number) {
                Ok(t) => t,
                Err(e) => {
                    remove_tables(&created);
                    opened.abandon();
                    return Err(e);
                }
            };
            edit.new_files.push((ks, task.output_level, meta.clone()));
            opened
                .tables
                .insert(out.number, TableFile::new(meta, Arc::new(table)));
        }
        cx.install(edit, &opened)?;
        self.expired.fetch_add(job_stats.expired, Ordering::Relaxed);
        let mut levels = lock(&self.levels);
        let w = &mut levels[task.output_level];
        w.count += 1;
        w.read_bytes += read_bytes;
        w.write_bytes += write_bytes;
        w.micros += started.elapsed().as_micros() as u64;
        Ok(())
    }

    /// True when no compaction runs and the picker has nothing to do.
    pub(crate) fn is_idle(&self, cx: &impl CompactionContext) -> bool {
        if !cx.auto_compactions() {
            return true;
        }
        let version = cx.version();
        let busy = lock(&self.busy);
        if !busy.is_empty() {
            return false;
        }
        let cfg = cx.picker_config();
        version
            .trees
            .values()
            .all(|tree| matches!(picker::choose(&view(tree, &busy), &cfg), Choice::Nothing))
    }

    /// Compacts every table of keyspace `ks` overlapping `[lo, hi]` down to the bottom level,
    /// on the caller's thread (the caller flushes first). With a compaction filter on the
    /// keyspace, the bottom level's tables in the range are rewritten too, so the filter sees
    /// all of it (RocksDB's `kIfHaveCompactionFilter`).
    pub(crate) fn compact_range(
        &self,
        cx: &impl CompactionContext,
        ks: KeyspaceId,
        lo: Option<&[u8]>,
        hi: Option<&[u8]>,
    ) -> Result<()> {
        let cfg = cx.picker_config();
        let has_filter = cx.filter(ks).is_some();
        for level in 0..NUM_LEVELS {
            let bottom = level == NUM_LEVELS - 1;
            if bottom && !has_filter {
                break;
            }
            loop {
                cx.check()?;
                let version = cx.version();
                let Some(tree) = version.tree(ks) else {
                    return Ok(());
                };
                let lo = lo.unwrap_or(&[]);
                let max_key = tree
                    .all_files()
                    .map(|(_, f)| f.largest_user_key())
                    .max()
                    .unwrap_or(&[]);
                let hi = hi.unwrap_or(max_key);
                if !tree.levels[level]
                    .iter()
                    .any(|f| f.smallest_user_key() <= hi && lo <= f.largest_user_key())
                {
                    break;
                }
                let task = {
                    let mut busy = lock(&self.busy);
                    let levels = view(tree, &busy);
                    let task = if bottom {
                        picker::manual_bottom(&levels, &cfg, lo, hi)
                    } else {
                        picker::manual(&levels, &cfg, level, lo, hi)
                    };
                    if let Some(t) = &task {
                        busy.extend(t.inputs.iter().chain(&t.overlapping));
                    }
                    task
                };
                match task {
                    Some(task) => {
                        self.run(cx, Work::Merge { ks, task })?;
                        if bottom {
                            break; // one pass: the rewrite's outputs are in the range too
                        }
                    }
                    // A background compaction owns some of the files: wait for it.
                    None => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }
        Ok(())
    }
}
