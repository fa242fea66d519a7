//! The picker: which compaction to run next, as a pure function of the levels.
//!
//! Rules (RocksDB's leveled compaction with `level_compaction_dynamic_level_bytes`):
//! - **Targets.** The last level's target is its actual size (at least `base_level_bytes`);
//!   each level above has a tenth (`level_multiplier`) of the one below. Levels whose target
//!   would fall below `base_level_bytes / level_multiplier` stay empty, and L0 compacts straight
//!   into the first level in use, the **base level**. An empty tree's base level is the last.
//! - **Scores.** L0: files / `l0_trigger`, or its bytes over the base level's target if that is
//!   higher (and L0 has at least two files). Ln: bytes / target. The highest score `>= 1` wins.
//! - **L0 -> base**: all L0 files (they overlap each other) plus every overlapping base file.
//! - **Ln -> Ln+1**: one file, chosen round-robin by key after the level's cursor, plus every
//!   overlapping file of Ln+1. If none overlaps, the file is moved (a trivial move: a manifest
//!   edit, no I/O).
//! - Files already being compacted are never picked twice.

use std::cmp::Ordering;

use strata_sstable::parse_internal_key;

/// What the picker knows about a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The file number.
    pub number: u64,
    /// Bytes on disk.
    pub size: u64,
    /// Smallest internal key.
    pub smallest: Vec<u8>,
    /// Largest internal key.
    pub largest: Vec<u8>,
    /// A running compaction owns this file.
    pub being_compacted: bool,
    /// Earliest expiry (Unix ms) of an expiring entry in the file, if any.
    pub min_expiry_ms: Option<u64>,
}

impl FileInfo {
    /// Smallest user key.
    pub fn smallest_user_key(&self) -> &[u8] {
        parse_internal_key(&self.smallest).map_or(&[], |k| k.user_key)
    }

    /// Largest user key.
    pub fn largest_user_key(&self) -> &[u8] {
        parse_internal_key(&self.largest).map_or(&[], |k| k.user_key)
    }

    /// True if the file's user-key range intersects `[lo, hi]`.
    pub fn overlaps(&self, lo: &[u8], hi: &[u8]) -> bool {
        self.smallest_user_key() <= hi && lo <= self.largest_user_key()
    }
}

/// Tuning of the leveled shape. `Default` gives RocksDB's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Levels, L0 included. Default 7.
    pub num_levels: usize,
    /// L0 files that trigger a compaction. Default 4.
    pub l0_trigger: usize,
    /// Size ratio between adjacent levels. Default 10.
    pub level_multiplier: u64,
    /// Target size of the base level. Default 256 MiB.
    pub base_level_bytes: u64,
    /// Target size of one output table. Default 64 MiB.
    pub target_file_size: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            num_levels: 7,
            l0_trigger: 4,
            level_multiplier: 10,
            base_level_bytes: 256 << 20,
            target_file_size: 64 << 20,
        }
    }
}

/// The size targets of every level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    /// The level L0 compacts into.
    pub base_level: usize,
    /// Target bytes per level; 0 for L0 and for levels above the base level.
    pub bytes: Vec<u64>,
}

/// Computes dynamic level targets from the levels' current sizes.
pub fn targets(levels: &[Vec<FileInfo>], cfg: &Config) -> Targets {
    let n = cfg.num_levels.max(2);
    let last = n - 1;
    let mut bytes = vec![0u64; n];
    let largest = levels
        .iter()
        .skip(1)
        .map(|files| files.iter().map(|f| f.size).sum::<u64>())
        .max()
        .unwrap_or(0);
    if largest == 0 {
        bytes[last] = cfg.base_level_bytes;
        return Targets {
            base_level: last,
            bytes,
        };
    }
    let mult = cfg.level_multiplier.max(2);
    let min_target = cfg.base_level_bytes / mult;
    bytes[last] = largest.max(cfg.base_level_bytes);
    let mut base_level = last;
    for level in (1..last).rev() {
        let t = bytes[level + 1] / mult;
        if t <= min_target {
            break;
        }
        bytes[level] = t;
        base_level = level;
    }
    Targets { base_level, bytes }
}

/// A compaction to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The level whose files are being pushed down.
    pub level: usize,
    /// Where the outputs go.
    pub output_level: usize,
    /// Files of `level`.
    pub inputs: Vec<u64>,
    /// Overlapping files of `output_level`.
    pub overlapping: Vec<u64>,
    /// Smallest and largest user key covered by all inputs.
    pub range: (Vec<u8>, Vec<u8>),
    /// Files of `output_level + 1` overlapping the range: outputs are cut so that none overlaps
    /// too many of them (bounds the cost of the next compaction).
    pub grandparents: Vec<FileInfo>,
    /// Target bytes of one output table.
    pub target_file_size: u64,
    /// The score that made this level win (>= 1 for automatic picks).
    pub score: f64,
}

/// The picker's decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// Every level is within its target.
    Nothing,
    /// Move one file down a level without rewriting it.
    Move {
        /// The file's level.
        level: usize,
        /// The file.
        file: u64,
        /// Its new level.
        to: usize,
    },
    /// Merge files into new tables.
    Merge(Task),
}

/// Scores of every level: L0 by file count, deeper levels by bytes over target.
pub fn scores(levels: &[Vec<FileInfo>], cfg: &Config, t: &Targets) -> Vec<f64> {
    let mut scores = vec![0.0; cfg.num_levels];
    if let Some(l0) = levels.first() {
        let live: Vec<&FileInfo> = l0.iter().filter(|f| !f.being_compacted).collect();
        let by_count = live.len() as f64 / cfg.l0_trigger.max(1) as f64;
        // L0 is also held to the base level's target, so it never outgrows the level it drains
        // into (RocksDB bounds the L0 -> base fan-out the same way). In a small tree this keeps
        // flushed data from sitting in L0, which would cost space and a probe per table on
        // every read.
        let target = t.bytes.get(t.base_level).copied().unwrap_or(0).max(1);
        let bytes: u64 = live.iter().map(|f| f.size).sum();
        let by_size = if live.len() >= 2 {
            bytes as f64 / target as f64
        } else {
            0.0
        };
        scores[0] = by_count.max(by_size);
    }
    for (level, files) in levels.iter().enumerate().skip(1) {
        if level >= scores.len() || level + 1 >= cfg.num_levels {
            continue; // the last level never compacts into anything
        }
        let target = t.bytes.get(level).copied().unwrap_or(0);
        let size: u64 = files
            .iter()
            .filter(|f| !f.being_compacted)
            .map(|f| f.size)
            .sum();
        scores[level] = if target == 0 {
            // A level above the base level holding data (the tree shrank): drain it.
            if size > 0 {
                f64::MAX
            } else {
                0.0
            }
        } else {
            size as f64 / target as f64
        };
    }
    scores
}

/// Picks the next compaction. `cursors[level]` is the largest user key of the last file
/// compacted out of that level (round-robin position); the caller advances it.
pub fn choose(levels: &[Vec<FileInfo>], cfg: &Config, cursors: &[Vec<u8>]) -> Choice {
    let t = targets(levels, cfg);
    let scores = scores(levels, cfg, &t);
    let mut order: Vec<usize> = (0..scores.len()).filter(|&l| scores[l] >= 1.0).collect();
    order.sort_by(|a, b| {
        scores[*b]
            .partial_cmp(&scores[*a])
            .unwrap_or(Ordering::Equal)
    });
    for level in order {
        let choice = if level == 0 {
            pick_l0(levels, cfg, &t)
        } else {
            pick_level(
                levels,
                cfg,
                &t,
                level,
                cursors.get(level).map(Vec::as_slice),
            )
        };
        if let Some(mut c) = choice {
            if let Choice::Merge(task) = &mut c {
                task.score = scores[level];
            }
            return c;
        }
    }
    Choice::Nothing
}

/// A manual compaction of `[lo, hi]` from `level` into the next level in use.
pub fn manual(
    levels: &[Vec<FileInfo>],
    cfg: &Config,
    level: usize,
    lo: &[u8],
    hi: &[u8],
) -> Option<Task> {
    let t = targets(levels, cfg);
    let files = levels.get(level)?;
    let inputs: Vec<&FileInfo> = files.iter().filter(|f| f.overlaps(lo, hi)).collect();
    if inputs.is_empty() || inputs.iter().any(|f| f.being_compacted) {
        return None;
    }
    let output_level = if level == 0 { t.base_level } else { level + 1 };
    if output_level >= cfg.num_levels {
        return None;
    }
    build_task(levels, cfg, level, output_level, &inputs, 0.0)
}

/// Periodic TTL compaction: the file whose earliest expiry has passed longest ago (`<= now_ms`),
/// compacted even though no level is over its target, so expired data gives its space back
/// without new writes. An L0 file brings all of L0 into the base level; a file of a middle
/// level merges into the next; a file of the last level is rewritten in place. `None` if no
/// file qualifies or a qualifying one is busy.
pub fn choose_expired(levels: &[Vec<FileInfo>], cfg: &Config, now_ms: u64) -> Option<Task> {
    let t = targets(levels, cfg);
    let last = cfg.num_levels.saturating_sub(1);
    let (level, file) = levels
        .iter()
        .enumerate()
        .flat_map(|(l, files)| files.iter().map(move |f| (l, f)))
        .filter(|(_, f)| !f.being_compacted && f.min_expiry_ms.is_some_and(|e| e <= now_ms))
        .min_by_key(|(_, f)| f.min_expiry_ms)?;
    if level == 0 {
        return match pick_l0(levels, cfg, &t)? {
            Choice::Merge(task) => Some(task),
            _ => None,
        };
    }
    if level >= last {
        return Some(Task {
            level,
            output_level: level,
            inputs: vec![file.number],
            overlapping: Vec::new(),
            range: (
                file.smallest_user_key().to_vec(),
                file.largest_user_key().to_vec(),
            ),
            grandparents: Vec::new(),
            target_file_size: cfg.target_file_size,
            score: 0.0,
        });
    }
    build_task(levels, cfg, level, level + 1, &[file], 0.0)
}

/// A manual rewrite, in place, of the last level's files overlapping `[lo, hi]` (so a
/// compaction filter or expiry sees data that already reached the bottom). `None` if no file
/// overlaps or one is busy.
pub fn manual_bottom(levels: &[Vec<FileInfo>], cfg: &Config, lo: &[u8], hi: &[u8]) -> Option<Task> {
    let last = cfg.num_levels.checked_sub(1)?;
    let inputs: Vec<&FileInfo> = levels
        .get(last)?
        .iter()
        .filter(|f| f.overlaps(lo, hi))
        .collect();
    if inputs.is_empty() || inputs.iter().any(|f| f.being_compacted) {
        return None;
    }
    Some(Task {
        level: last,
        output_level: last,
        inputs: inputs.iter().map(|f| f.number).collect(),
        overlapping: Vec::new(),
        range: (
            inputs.iter().map(|f| f.smallest_user_key()).min()?.to_vec(),
            inputs.iter().map(|f| f.largest_user_key()).max()?.to_vec(),
        ),
        grandparents: Vec::new(),
        target_file_size: cfg.target_file_size,
        score: 0.0,
    })
}

fn pick_l0(levels: &[Vec<FileInfo>], cfg: &Config, t: &Targets) -> Option<Choice> {
    let l0 = levels.first()?;
    if l0.iter().any(|f| f.being_compacted) {
        return None; // one L0 compaction at a time: L0 files overlap each other
    }
    let inputs: Vec<&FileInfo> = l0.iter().collect();
    build_task(levels, cfg, 0, t.base_level, &inputs, 0.0).map(Choice::Merge)
}

fn pick_level(
    levels: &[Vec<FileInfo>],
    cfg: &Config,
    _t: &Targets,
    level: usize,
    cursor: Option<&[u8]>,
) -> Option<Choice> {
    let files = levels.get(level)?;
    if files.is_empty() {
        return None;
    }
    // Round robin: start at the first file after the cursor, wrap around.
    let start = match cursor {
        Some(c) if !c.is_empty() => files.partition_point(|f| f.smallest_user_key() <= c),
        _ => 0,
    };
    let output_level = level + 1;
    let below = levels.get(output_level).map(Vec::as_slice).unwrap_or(&[]);
    for i in (start..files.len()).chain(0..start) {
        let f = &files[i];
        if f.being_compacted {
            continue;
        }
        let (lo, hi) = (f.smallest_user_key(), f.largest_user_key());
        let overlapping: Vec<&FileInfo> = below.iter().filter(|g| g.overlaps(lo, hi)).collect();
        if overlapping.iter().any(|g| g.being_compacted) {
            continue;
        }
        if overlapping.is_empty() {
            return Some(Choice::Move {
                level,
                file: f.number,
                to: output_level,
            });
        }
        return build_task(levels, cfg, level, output_level, &[f], 0.0).map(Choice::Merge);
    }
    None
}

fn build_task(
    levels: &[Vec<FileInfo>],
    cfg: &Config,
    level: usize,
    output_level: usize,
    inputs: &[&FileInfo],
    score: f64,
) -> Option<Task> {
    let lo = inputs.iter().map(|f| f.smallest_user_key()).min()?.to_vec();
    let hi = inputs.iter().map(|f| f.largest_user_key()).max()?.to_vec();
    let below = levels.get(output_level).map(Vec::as_slice).unwrap_or(&[]);
    let overlapping: Vec<&FileInfo> = below.iter().filter(|g| g.overlaps(&lo, &hi)).collect();
    if overlapping.iter().any(|g| g.being_compacted) {
        return None;
    }
    // The output range is the union of inputs and overlapping files.
    let lo2 = overlapping
        .iter()
        .map(|f| f.smallest_user_key())
        .chain(std::iter::once(lo.as_slice()))
        .min()
        .unwrap_or(&lo)
        .to_vec();
    let hi2 = overlapping
        .iter()
        .map(|f| f.largest_user_key())
        .chain(std::iter::once(hi.as_slice()))
        .max()
        .unwrap_or(&hi)
        .to_vec();
    let grandparents = levels
        .get(output_level + 1)
        .map(|files| {
            files
                .iter()
                .filter(|g| g.overlaps(&lo2, &hi2))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Some(Task {
        level,
        output_level,
        inputs: inputs.iter().map(|f| f.number).collect(),
        overlapping: overlapping.iter().map(|f| f.number).collect(),
        range: (lo2, hi2),
        grandparents,
        target_file_size: cfg.target_file_size,
        score,
    })
}
