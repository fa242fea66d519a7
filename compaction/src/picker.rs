//! The picker: which compaction to run next, as a pure function of the levels.
//!
//! Rules (RocksDB's leveled compaction with `level_compaction_dynamic_level_bytes`):
//! - **Targets** ([`targets`]). The largest level sets the last level's target; each level
//!   above has a tenth (`level_multiplier`) of the one below, and L0 compacts straight into
//!   the first level whose share is at most `base_level_bytes`, the **base level**. No target
//!   is below `base_level_bytes`. An empty tree's base level is the last.
//! - **Scores** ([`scores`]). L0: files / `l0_trigger`, or its bytes over the base level's size
//!   once it outgrows it. Ln: bytes / target. The highest score `>= 1` wins.
//! - **L0 -> base**: all L0 files (they overlap each other) plus every overlapping base file.
//! - **Ln -> Ln+1**: the file with the least overlap in Ln+1 for its size, plus that overlap.
//!   If nothing overlaps, the file is moved (a trivial move: a manifest edit, no I/O).
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
    /// Target bytes per level; 0 for L0 and for levels above the base level (they have none).
    pub bytes: Vec<u64>,
    /// The deepest level that holds data but is not needed for the tree's size (the tree
    /// shrank, or the first level in use is more than the tree needs): it and every level
    /// above it drain downwards.
    pub lowest_unnecessary: Option<usize>,
}

/// Computes dynamic level targets from the levels' current sizes (RocksDB's
/// `CalculateBaseBytes`).
///
/// The largest level below L0 sets the last level's target; each level above gets a
/// `level_multiplier`-th of the one below, up to the first level whose share would be at most
/// `base_level_bytes`: that is the base level. No level's target is below
/// `base_level_bytes`: a base level smaller than what L0 sends it at once (`l0_trigger`
/// memtables) would pass every byte on to the level below right away, which doubles the
/// write amplification of a small tree without saving space.
pub fn targets(levels: &[Vec<FileInfo>], cfg: &Config) -> Targets {
    let n = cfg.num_levels.max(2);
    let last = n - 1;
    let mut bytes = vec![0u64; n];
    let sizes: Vec<u64> = (0..n)
        .map(|l| levels.get(l).map_or(0, |files| level_bytes(files)))
        .collect();
    let largest = sizes[1..].iter().copied().max().unwrap_or(0);
    let Some(first_used) = (1..n).find(|&l| sizes[l] > 0) else {
        // Nothing below L0: L0 goes straight to the last level.
        bytes[last] = cfg.base_level_bytes;
        return Targets {
            base_level: last,
            bytes,
            lowest_unnecessary: None,
        };
    };
    let mult = cfg.level_multiplier.max(2);
    let base_max = cfg.base_level_bytes.max(1);
    let base_min = base_max / mult;
    // What the first level in use would get if the largest level were the last level's
    // target; levels at or below `base_min` on the way are not needed.
    let mut share = largest;
    let mut lowest_unnecessary = None;
    for level in (first_used..last).rev() {
        share /= mult;
        if lowest_unnecessary.is_none() && share <= base_min {
            lowest_unnecessary = Some(level);
        }
    }
    let (base_level, base_bytes) = if share <= base_min {
        (first_used, base_min + 1)
    } else {
        let mut base = first_used;
        while base > 1 && share > base_max {
            base -= 1;
            share /= mult;
        }
        (base, share.clamp(1, base_max))
    };
    let mut target = base_bytes;
    for (level, b) in bytes.iter_mut().enumerate().skip(base_level) {
        if level > base_level {
            target = target.saturating_mul(mult);
        }
        *b = target.max(base_max);
    }
    Targets {
        base_level,
        bytes,
        lowest_unnecessary,
    }
}

fn level_bytes(files: &[FileInfo]) -> u64 {
    files.iter().map(|f| f.size).sum()
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

/// Above 1, a score is scaled by this, so a level can be made less urgent (divided by the
/// bytes about to arrive from above) without falling below the threshold.
const SCORE_SCALE: f64 = 10.0;

/// Scores of every level (RocksDB's `ComputeCompactionScore` with dynamic level bytes); a
/// level with a score of at least 1 wants compaction, the highest first.
///
/// - L0: files / `l0_trigger`. When its bytes exceed the base level's target, at least its
///   bytes over the base level's (actual or target) size, so L0 never outgrows the level it
///   drains into.
/// - Ln: bytes / target; once over its target, bytes / (target + bytes on their way down from
///   the levels above), so the level about to receive a large compaction waits for it.
/// - A level above the base level or not needed for the tree's size that still holds data
///   drains with a score just over `SCORE_SCALE`, deepest first.
/// - The last level never scores.
pub fn scores(levels: &[Vec<FileInfo>], cfg: &Config, t: &Targets) -> Vec<f64> {
    let mut scores = vec![0.0; cfg.num_levels];
    let mut incoming = 0u64;
    if let Some(l0) = levels.first() {
        incoming = level_bytes(l0);
        let live: Vec<&FileInfo> = l0.iter().filter(|f| !f.being_compacted).collect();
        let bytes: u64 = live.iter().map(|f| f.size).sum();
        let mut score = live.len() as f64 / cfg.l0_trigger.max(1) as f64;
        if bytes >= cfg.base_level_bytes {
            score = score.max(1.01);
        }
        let base_target = t.bytes.get(t.base_level).copied().unwrap_or(0);
        if bytes > base_target {
            let base_size = levels.get(t.base_level).map_or(0, |f| level_bytes(f));
            score = score.max(bytes as f64 / base_size.max(base_target).max(1) as f64);
        }
        scores[0] = scale(score);
    }
    for (level, files) in levels.iter().enumerate().skip(1) {
        if level >= scores.len() || level + 1 >= cfg.num_levels {
            continue; // the last level never compacts into anything
        }
        let total = level_bytes(files);
        let size: u64 = files
            .iter()
            .filter(|f| !f.being_compacted)
            .map(|f| f.size)
            .sum();
        let target = t.bytes.get(level).copied().unwrap_or(0);
        let unnecessary = level < t.base_level || t.lowest_unnecessary.is_some_and(|u| level <= u);
        let mut score = if target == 0 {
            0.0
        } else if size < target {
            size as f64 / target as f64
        } else {
            size as f64 / (target + incoming) as f64 * SCORE_SCALE
        };
        if unnecessary {
            if size > 0 {
                let depth = t
                    .lowest_unnecessary
                    .unwrap_or(t.base_level)
                    .saturating_sub(level);
                score = score.max(SCORE_SCALE * (1.001 + 0.001 * depth as f64));
            }
            incoming += total;
        } else {
            incoming += total.saturating_sub(target);
        }
        scores[level] = score;
    }
    scores
}

fn scale(score: f64) -> f64 {
    if score > 1.0 {
        score * SCORE_SCALE
    } else {
        score
    }
}

/// Picks the next compaction.
pub fn choose(levels: &[Vec<FileInfo>], cfg: &Config) -> Choice {
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
            pick_level(levels, cfg, level)
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

/// One file of `level` to push down: the one whose overlap with the next level is smallest
/// for its size (RocksDB's `kMinOverlappingRatio`), so each compaction moves the most data
/// for the bytes it rewrites. A file with no overlap is moved instead.
fn pick_level(levels: &[Vec<FileInfo>], cfg: &Config, level: usize) -> Option<Choice> {
    let files = levels.get(level)?;
    let output_level = level + 1;
    let below = levels.get(output_level).map(Vec::as_slice).unwrap_or(&[]);
    let mut best: Option<(u128, &FileInfo)> = None;
    for f in files.iter().filter(|f| !f.being_compacted) {
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
        let overlap: u64 = overlapping.iter().map(|g| g.size).sum();
        let ratio = u128::from(overlap) * 1024 / u128::from(f.size.max(1));
        if best.is_none_or(|(r, _)| ratio < r) {
            best = Some((ratio, f));
        }
    }
    let (_, f) = best?;
    build_task(levels, cfg, level, output_level, &[f], 0.0).map(Choice::Merge)
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
