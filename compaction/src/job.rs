//! The compaction job: merge sorted input, keep what readers can still see, write tables.
//!
//! For every user key, versions arrive newest first. Live snapshots `s0 < s1 < ...` cut the
//! sequence numbers into **stripes**: `(.., s0]`, `(s0, s1]`, ..., `(s_last, ..)`. A reader at a
//! snapshot sees the newest version at or below it, so within one stripe only the newest version
//! can ever be read: the job keeps that one and drops the rest (shadowed versions).
//!
//! Tombstones: a tombstone in the oldest stripe (no snapshot predates it) is dropped together
//! with every older version when the output is the bottommost data for its range (no older
//! version can exist in a lower level). Elsewhere it is kept, to keep hiding older versions.
//!
//! Expiry: a `PutExpiring` entry whose expiry is at or before the job's clock reading is treated
//! as a tombstone (readers at any snapshot see it as absent already), so it is dropped at the
//! bottom and turned into a tombstone elsewhere ("TTL tombstones").
//!
//! The compaction filter sees the newest version of a key when no snapshot can see it.
//!
//! Sequence numbers: at the bottommost output (below L0), a version in the oldest stripe is
//! the only version of its key left and every reader sees it, so its sequence number no
//! longer orders anything: it is written as 0 (RocksDB does the same), which table format 3
//! stores in one byte instead of eight.
//!
//! Outputs are cut at user-key boundaries (all versions of a key stay in one table, so files of
//! a level never share a user key) when a table reaches the target size or overlaps more than
//! ten target sizes of the grandparent level.

use std::sync::Arc;

use strata_sstable::{
    parse_internal_key, InternalIterator, SeqNo, TableBuilder, TableSummary, ValueKind,
};

use crate::error::Result;
use crate::filter::{CompactionFilter, Decision};
use crate::picker::FileInfo;

/// How a job treats what it reads.
#[derive(Debug, Clone, Default)]
pub struct JobOptions {
    /// Sequence numbers of live snapshots, ascending.
    pub snapshots: Vec<SeqNo>,
    /// No level below the output holds data in the job's key range.
    pub bottommost: bool,
    /// The level the outputs go to (given to the filter).
    pub output_level: usize,
    /// Target bytes of one output table.
    pub target_file_size: u64,
    /// Files of the level below the output, sorted by key (for output cuts).
    pub grandparents: Vec<FileInfo>,
    /// The keyspace's compaction filter.
    pub filter: Option<Arc<dyn CompactionFilter>>,
    /// The clock reading (Unix ms) expiry is judged against: a `PutExpiring` entry whose expiry
    /// is at or before it is treated as a tombstone.
    pub now_ms: u64,
}

/// Counts of what a job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobStats {
    /// Entries read.
    pub entries_in: u64,
    /// Entries written.
    pub entries_out: u64,
    /// Versions dropped because a newer one in the same stripe shadows them.
    pub dropped_shadowed: u64,
    /// Tombstones (and the versions under them) dropped at the bottom.
    pub dropped_tombstones: u64,
    /// Entries the filter removed or changed.
    pub filtered: u64,
    /// Expired entries turned into tombstones or dropped.
    pub expired: u64,
    /// Entries written at the bottom with their sequence number set to 0.
    pub zeroed_seqnos: u64,
}

/// One table the job wrote.
#[derive(Debug)]
pub struct Output {
    /// The number the caller gave the table.
    pub number: u64,
    /// What the builder reported.
    pub summary: TableSummary,
}

/// Runs a compaction over `input` (a merging iterator over every input table, in internal-key
/// order). `new_table` creates the next output table and returns its number.
///
/// # Errors
/// Corruption or I/O errors from inputs or outputs. Outputs written before the error are
/// returned to nobody: the caller deletes files it numbered but did not install.
pub fn run(
    input: &mut dyn InternalIterator,
    opts: &JobOptions,
    mut new_table: impl FnMut() -> Result<(u64, TableBuilder)>,
) -> Result<(Vec<Output>, JobStats)> {
    let mut stats = JobStats::default();
    let mut outputs = Vec::new();
    let mut current: Option<(u64, TableBuilder)> = None;
    let mut cutter = Cutter::new(opts);

    let mut user_key: Vec<u8> = Vec::new();
    let mut first = true;
    let mut last_stripe: Option<usize> = None;
    let mut drop_rest = false;
    // Scratch for a key written in another form than it was read (a tombstone in place of a
    // value, a zeroed sequence number).
    let mut rewritten = Vec::new();

    input.seek_to_first();
    while input.valid() {
        stats.entries_in += 1;
        let Some(k) = parse_internal_key(input.key()) else {
            input.status()?;
            return Err(strata_sstable::Error::Corruption {
                file: "<compaction input>".into(),
                offset: 0,
                reason: "malformed internal key".into(),
            }
            .into());
        };
        if first || k.user_key != user_key.as_slice() {
            first = false;
            user_key.clear();
            user_key.extend_from_slice(k.user_key);
            last_stripe = None;
            drop_rest = false;
            // A new user key: the only place an output may be cut.
            if let Some((_, b)) = &current {
                if cutter.should_cut(&user_key, b.estimated_size()) {
                    if let Some((number, b)) = current.take() {
                        outputs.push(Output {
                            number,
                            summary: b.finish()?,
                        });
                    }
                }
            }
            cutter.advance(&user_key);
        }
        let stripe = opts.snapshots.partition_point(|&s| s < k.seq);
        if drop_rest {
            stats.dropped_tombstones += 1;
            input.next();
            continue;
        }
        if last_stripe == Some(stripe) {
            stats.dropped_shadowed += 1;
            input.next();
            continue;
        }
        last_stripe = Some(stripe);
        let oldest_stripe = stripe == 0;
        let invisible_to_snapshots = stripe == opts.snapshots.len();

        let mut value: Option<&[u8]> = Some(input.value());
        let mut changed: Option<Vec<u8>> = None;
        let mut delete = k.kind == ValueKind::Delete as u8;
        if k.kind == ValueKind::PutExpiring as u8
            && strata_sstable::split_expiring(input.value()).is_none_or(|(e, _)| e <= opts.now_ms)
        {
            // Expired for every reader (expiry is judged by the clock, not the snapshot).
            stats.expired += 1;
            delete = true;
            value = None;
        }
        if !delete && invisible_to_snapshots {
            if let Some(f) = &opts.filter {
                // The filter sees the user's value; an expiry header stays with the entry.
                let expiry = if k.kind == ValueKind::PutExpiring as u8 {
                    strata_sstable::split_expiring(input.value())
                } else {
                    None
                };
                let user_value = expiry.map_or(input.value(), |(_, v)| v);
                match f.filter(opts.output_level, k.user_key, user_value) {
                    Decision::Keep => {}
                    Decision::Remove => {
                        stats.filtered += 1;
                        delete = true;
                        value = None;
                    }
                    Decision::Change(v) => {
                        stats.filtered += 1;
                        changed = Some(match expiry {
                            Some((e, _)) => strata_sstable::encode_expiring(e, &v),
                            None => v,
                        });
                    }
                }
            }
        }
        if delete && opts.bottommost && oldest_stripe {
            stats.dropped_tombstones += 1;
            drop_rest = true;
            input.next();
            continue;
        }
        let b = match &mut current {
            Some((_, b)) => b,
            None => &mut current.insert(new_table()?).1,
        };
        // Every version after this one is in the same (oldest) stripe, so dropped: this is
        // the key's last version in the output. L0 files are ordered by their sequence
        // numbers, so they keep them.
        let zero_seq = opts.bottommost && oldest_stripe && opts.output_level > 0 && k.seq != 0;
        let key = if delete && k.kind != ValueKind::Delete as u8 {
            // The filter removed a value, or it expired: write a tombstone in its place.
            rewritten.clear();
            strata_sstable::encode_internal_key_into(
                &mut rewritten,
                k.user_key,
                k.seq,
                ValueKind::Delete as u8,
            );
            rewritten.as_slice()
        } else if zero_seq {
            stats.zeroed_seqnos += 1;
            rewritten.clear();
            strata_sstable::encode_internal_key_into(&mut rewritten, k.user_key, 0, k.kind);
            rewritten.as_slice()
        } else {
            input.key()
        };
        match &changed {
            Some(v) => b.add(key, v)?,
            None => b.add(key, value.unwrap_or_default())?,
        }
        stats.entries_out += 1;
        input.next();
    }
    input.status()?;
    if let Some((number, b)) = current.take() {
        outputs.push(Output {
            number,
            summary: b.finish()?,
        });
    }
    Ok((outputs, stats))
}

/// Decides where outputs are cut: at the target size, or when the current output overlaps
/// more than ten target sizes of grandparent data (LevelDB's `ShouldStopBefore`).
struct Cutter<'a> {
    grandparents: &'a [FileInfo],
    index: usize,
    overlap: u64,
    target: u64,
    seen_key: bool,
}

impl<'a> Cutter<'a> {
    fn new(opts: &'a JobOptions) -> Self {
        Cutter {
            grandparents: &opts.grandparents,
            index: 0,
            overlap: 0,
            target: opts.target_file_size.max(1),
            seen_key: false,
        }
    }

    /// Accounts the grandparents entirely before `key`.
    fn advance(&mut self, key: &[u8]) {
        while let Some(g) = self.grandparents.get(self.index) {
            if g.largest_user_key() >= key {
                break;
            }
            if self.seen_key {
                self.overlap += g.size;
            }
            self.index += 1;
        }
        self.seen_key = true;
    }

    fn should_cut(&mut self, next_key: &[u8], current_size: u64) -> bool {
        let before = self.overlap;
        let mut overlap = before;
        let mut i = self.index;
        while let Some(g) = self.grandparents.get(i) {
            if g.largest_user_key() >= next_key {
                break;
            }
            overlap += g.size;
            i += 1;
        }
        if current_size >= self.target || overlap > self.target.saturating_mul(10) {
            self.overlap = 0;
            self.seen_key = false;
            return true;
        }
        false
    }
}
