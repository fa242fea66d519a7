//! Running compactions: pick (a pure function, `strata-compaction`) and reserve under a lock,
//! merge without locks, install the result with one manifest edit.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use strata_compaction::job::{self, JobOptions};
use strata_compaction::picker::{self, Choice, FileInfo, Task};
use strata_compaction::{BoxedIter, MergingIter};

use crate::db::{lock, Inner};
use crate::error::{Error, Result};
use crate::filename;
use crate::keyspace::KeyspaceId;
use crate::manifest::{FileMeta, VersionEdit};
use crate::options::NUM_LEVELS;
use crate::version::{TableFile, Tree};

/// What running compactions own.
#[derive(Debug, Default)]
pub(crate) struct Compacting {
    /// Numbers of the files being compacted.
    files: HashSet<u64>,
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

/// A compaction job's error as the engine's.
pub(crate) fn job_error(e: strata_compaction::Error) -> Error {
    match e {
        strata_compaction::Error::Table(t) => t.into(),
        other => Error::InvalidArgument(other.to_string()),
    }
}

pub(crate) fn compaction_thread(inner: &Inner, rx: &Receiver<()>) {
    use crossbeam_channel::RecvTimeoutError;
    loop {
        // Woken by flushes and compactions, and every `ttl_check_interval` to look for
        // expired data.
        match rx.recv_timeout(inner.options.ttl_check_interval) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if inner.tuned.auto_compactions_disabled() {
            continue; // only manual compactions, which run on the caller's thread
        }
        loop {
            if inner.closed.load(Ordering::Acquire) || lock(&inner.state).bg_error.is_some() {
                break;
            }
            let Some(work) = inner.pick().or_else(|| inner.pick_expired()) else {
                break;
            };
            if let Err(e) = inner.run(work) {
                inner.set_bg_error(e);
                break;
            }
            crate::db::return_free_memory();
        }
    }
}

impl Inner {
    /// Wakes a compaction thread to look for work.
    pub(crate) fn schedule_compaction(&self) {
        if self.tuned.auto_compactions_disabled() {
            return;
        }
        if let Some(tx) = lock(&self.compact_tx).as_ref() {
            let _ = tx.send(());
        }
    }

    /// Picks the next automatic compaction over every keyspace and reserves its files.
    fn pick(&self) -> Option<Work> {
        let version = Arc::clone(&lock(&self.state).sv.version);
        let cfg = self.tuned.picker_config(&self.options);
        let mut c = lock(&self.compacting);
        for (&ks, tree) in &version.trees {
            let levels = view(tree, &c.files);
            match picker::choose(&levels, &cfg) {
                Choice::Nothing => {}
                Choice::Move { level, file, to } => {
                    c.files.insert(file);
                    return Some(Work::Move {
                        ks,
                        level,
                        file,
                        to,
                    });
                }
                Choice::Merge(task) => {
                    c.files.extend(task.inputs.iter().chain(&task.overlapping));
                    return Some(Work::Merge { ks, task });
                }
            }
        }
        None
    }

    /// Periodic TTL compaction, when no size-driven compaction is due: at most one per
    /// `ttl_check_interval`, so it never crowds out normal compaction.
    fn pick_expired(&self) -> Option<Work> {
        if self.tuned.auto_compactions_disabled() {
            return None;
        }
        let mut last = lock(&self.last_ttl_compaction);
        if last.is_some_and(|t| t.elapsed() < self.options.ttl_check_interval) {
            return None;
        }
        let version = Arc::clone(&lock(&self.state).sv.version);
        let cfg = self.tuned.picker_config(&self.options);
        let now = self.options.clock.now_ms();
        let mut c = lock(&self.compacting);
        for (&ks, tree) in &version.trees {
            if let Some(task) = picker::choose_expired(&view(tree, &c.files), &cfg, now) {
                c.files.extend(task.inputs.iter().chain(&task.overlapping));
                *last = Some(Instant::now());
                return Some(Work::Merge { ks, task });
            }
        }
        None
    }

    fn keyspace_name(&self, ks: KeyspaceId) -> Option<String> {
        let map = self.keyspaces.read().unwrap_or_else(|e| e.into_inner());
        map.iter().find(|(_, &id)| id == ks).map(|(n, _)| n.clone())
    }

    fn release(&self, files: impl IntoIterator<Item = u64>) {
        let mut c = lock(&self.compacting);
        for f in files {
            c.files.remove(&f);
        }
    }

    fn run(&self, work: Work) -> Result<()> {
        match work {
            Work::Move {
                ks,
                level,
                file,
                to,
            } => {
                let r = self.run_move(ks, level, file, to);
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
                let r = self.run_merge(ks, &task);
                self.release(reserved);
                r
            }
        }
    }

    fn run_move(&self, ks: KeyspaceId, level: usize, number: u64, to: usize) -> Result<()> {
        let version = Arc::clone(&lock(&self.state).sv.version);
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
        self.install(&edit, &HashMap::from([(number, file)]))?;
        lock(&self.counters.levels)[to].moves += 1;
        Ok(())
    }

    fn run_merge(&self, ks: KeyspaceId, task: &Task) -> Result<()> {
        let started = Instant::now();
        let version = Arc::clone(&lock(&self.state).sv.version);
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
        let opts = JobOptions {
            snapshots: self.snapshots.sequences(),
            bottommost,
            output_level: task.output_level,
            target_file_size: task.target_file_size,
            grandparents: task.grandparents.clone(),
            filter: self
                .keyspace_name(ks)
                .and_then(|n| self.options.filter_for(&n)),
            now_ms: self.options.clock.now_ms(),
        };
        let children: Vec<BoxedIter> = inputs
            .iter()
            .map(|f| Box::new(f.table.iter_uncached()) as BoxedIter)
            .collect();
        let mut merged = MergingIter::new(children);
        let mut created = Vec::new();
        let result = job::run(&mut merged, &opts, || {
            let number = self.new_file_number();
            created.push(number);
            let builder = crate::db::create_table(
                &filename::table_path(&self.dir, number),
                &self.options,
                task.output_level,
                &self.cache,
            )?;
            Ok((number, builder))
        });
        let (outputs, job_stats) = match result {
            Ok(r) => r,
            Err(e) => {
                for n in created {
                    let _ = std::fs::remove_file(filename::table_path(&self.dir, n));
                }
                return Err(job_error(e));
            }
        };
        filename::sync_dir(&self.dir)?;

        let mut edit = VersionEdit::default();
        for n in &task.inputs {
            edit.deleted_files.push((ks, task.level, *n));
        }
        for n in &task.overlapping {
            edit.deleted_files.push((ks, task.output_level, *n));
        }
        let mut opened = HashMap::new();
        let mut write_bytes = 0;
        for out in outputs {
            let p = &out.summary.properties;
            let meta = FileMeta {
                number: out.number,
                size: out.summary.file_size,
                smallest_seq: p.smallest_seq,
                largest_seq: p.largest_seq,
                smallest: p.smallest_key.clone(),
                largest: p.largest_key.clone(),
            };
            write_bytes += meta.size;
            let table = crate::db::open_table_file(
                &filename::table_path(&self.dir, out.number),
                &self.cache,
                &self.options,
            )?;
            edit.new_files.push((ks, task.output_level, meta.clone()));
            opened.insert(out.number, TableFile::new(meta, Arc::new(table)));
        }
        self.install(&edit, &opened)?;
        self.counters
            .expired_dropped
            .fetch_add(job_stats.expired, Ordering::Relaxed);
        let mut levels = lock(&self.counters.levels);
        let w = &mut levels[task.output_level];
        w.count += 1;
        w.read_bytes += read_bytes;
        w.write_bytes += write_bytes;
        w.micros += started.elapsed().as_micros() as u64;
        Ok(())
    }

    /// Logs `edit` and makes it the current version. Files it removes (and does not re-add)
    /// become obsolete: deleted when the last version or iterator holding them lets go.
    fn install(&self, edit: &VersionEdit, opened: &HashMap<u64, Arc<TableFile>>) -> Result<()> {
        let mut manifest = lock(&self.manifest);
        let mut edit = edit.clone();
        edit.next_file = Some(self.next_file.load(Ordering::SeqCst));
        manifest.log(&edit)?;
        let mut st = lock(&self.state);
        let added: HashSet<u64> = edit.new_files.iter().map(|(_, _, m)| m.number).collect();
        for (ks, level, number) in &edit.deleted_files {
            if added.contains(number) {
                continue;
            }
            if let Some(f) = st
                .sv
                .version
                .tree(*ks)
                .and_then(|t| t.levels[*level].iter().find(|f| f.meta.number == *number))
            {
                f.obsolete.store(true, Ordering::Release);
            }
        }
        let version = st.sv.version.apply(&edit, |_, meta| {
            opened.get(&meta.number).cloned().ok_or_else(|| {
                Error::InvalidArgument(format!("compaction lost table {}", meta.number))
            })
        })?;
        st.sv.version = Arc::new(version);
        drop(st);
        drop(manifest);
        self.state_cv.notify_all();
        self.schedule_compaction();
        Ok(())
    }

    /// True when no flush is pending, no compaction runs and the picker has nothing to do.
    fn idle(&self) -> bool {
        let version = {
            let st = lock(&self.state);
            if !st.sv.imm.is_empty() {
                return false;
            }
            Arc::clone(&st.sv.version)
        };
        if self.tuned.auto_compactions_disabled() {
            return true;
        }
        let c = lock(&self.compacting);
        if !c.files.is_empty() {
            return false;
        }
        let cfg = self.tuned.picker_config(&self.options);
        version
            .trees
            .values()
            .all(|tree| matches!(picker::choose(&view(tree, &c.files), &cfg), Choice::Nothing))
    }

    /// Blocks until flushes and compactions have nothing left to do.
    pub(crate) fn wait_for_background_work(&self) -> Result<()> {
        loop {
            self.check_open()?;
            if let Some(e) = &lock(&self.state).bg_error {
                return Err(e.clone());
            }
            if self.idle() {
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

    /// Compacts every table of keyspace `ks` overlapping `[lo, hi]` down to the bottom level.
    /// With a compaction filter on the keyspace, the bottom level's tables in the range are
    /// rewritten too, so the filter sees all of it (RocksDB's `kIfHaveCompactionFilter`).
    pub(crate) fn compact_range(
        &self,
        ks: KeyspaceId,
        lo: Option<&[u8]>,
        hi: Option<&[u8]>,
    ) -> Result<()> {
        self.flush()?;
        let cfg = self.tuned.picker_config(&self.options);
        let has_filter = self
            .keyspace_name(ks)
            .and_then(|n| self.options.filter_for(&n))
            .is_some();
        for level in 0..NUM_LEVELS {
            let bottom = level == NUM_LEVELS - 1;
            if bottom && !has_filter {
                break;
            }
            loop {
                self.check_open()?;
                if let Some(e) = &lock(&self.state).bg_error {
                    return Err(e.clone());
                }
                let version = Arc::clone(&lock(&self.state).sv.version);
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
                    let mut c = lock(&self.compacting);
                    let levels = view(tree, &c.files);
                    let task = if bottom {
                        picker::manual_bottom(&levels, &cfg, lo, hi)
                    } else {
                        picker::manual(&levels, &cfg, level, lo, hi)
                    };
                    if let Some(t) = &task {
                        c.files.extend(t.inputs.iter().chain(&t.overlapping));
                    }
                    task
                };
                match task {
                    Some(task) => {
                        self.run(Work::Merge { ks, task })?;
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
