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
//! Large values (key-value separation): with a [`BlobStorage`], a value of at least
//! [`JobOptions::min_blob_size`] bytes is written to a blob file and the table keeps a
//! reference (kind `Blob` or `BlobExpiring`). References pass through unchanged, except those
//! into the files the storage wants emptied (its garbage collection): their values are read and
//! written again. Each output table records the blob files it refers to.
//!
//! Outputs are cut at user-key boundaries (all versions of a key stay in one table, so files of
//! a level never share a user key) when a table reaches the target size or overlaps more than
//! ten target sizes of the grandparent level.

use std::sync::Arc;

use std::borrow::Cow;
use std::collections::BTreeSet;

use strata_sstable::{
    parse_internal_key, BlobRef, InternalIterator, SeqNo, TableBuilder, TableSummary, ValueKind,
};

use crate::error::Result;
use crate::filter::{CompactionFilter, Decision};
use crate::picker::FileInfo;

/// How a job treats what it reads.
#[derive(Debug, Clone)]
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
    /// Values at least this long go to blob files, when the job has a [`BlobStorage`]
    /// (`usize::MAX`: none do).
    pub min_blob_size: usize,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            snapshots: Vec::new(),
            bottommost: false,
            output_level: 0,
            target_file_size: 0,
            grandparents: Vec::new(),
            filter: None,
            now_ms: 0,
            min_blob_size: usize::MAX,
        }
    }
}

/// Where a job keeps large values: the blob files it writes, reads and empties.
pub trait BlobStorage {
    /// Appends `value` (of `user_key`) to the job's current blob file.
    ///
    /// # Errors
    /// I/O errors.
    fn write(&mut self, user_key: &[u8], value: &[u8]) -> strata_sstable::Result<BlobRef>;
    /// Reads the value `r` points at.
    ///
    /// # Errors
    /// I/O errors; corruption (a damaged record, a file that is not live).
    fn read(&self, user_key: &[u8], r: &BlobRef) -> strata_sstable::Result<Vec<u8>>;
    /// True if the values in blob file `file` are to move out of it (garbage collection:
    /// once nothing refers to it, it is deleted).
    fn relocate(&self, file: u64) -> bool;
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
    /// Values written to blob files (separated or relocated).
    pub blobs_written: u64,
    /// Bytes of those values.
    pub blob_bytes_written: u64,
    /// Of them, values moved out of a blob file being emptied.
    pub blobs_relocated: u64,
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
    new_table: impl FnMut() -> Result<(u64, TableBuilder)>,
) -> Result<(Vec<Output>, JobStats)> {
    run_with_blobs(input, opts, new_table, None)
}

/// [`run`], keeping large values in `blobs` (see the module documentation).
///
/// # Errors
/// As [`run`], and the blob storage's errors.
pub fn run_with_blobs(
    input: &mut dyn InternalIterator,
    opts: &JobOptions,
    mut new_table: impl FnMut() -> Result<(u64, TableBuilder)>,
    mut blobs: Option<&mut dyn BlobStorage>,
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
    // Blob files the current output refers to.
    let mut refs: BTreeSet<u64> = BTreeSet::new();

    input.seek_to_first();
    while input.valid() {
        stats.entries_in += 1;
        let Some(k) = parse_internal_key(input.key()) else {
            input.status()?;
            return Err(corrupt("malformed internal key"));
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
                        outputs.push(finish(number, b, &mut refs)?);
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

        let stored = input.value();
        let mut delete = k.kind == ValueKind::Delete as u8;
        // The expiry header of a live expiring entry.
        let mut expiry = None;
        if ValueKind::has_expiry(k.kind) {
            match strata_sstable::split_expiring(stored) {
                Some((e, _)) if e > opts.now_ms => expiry = Some(e),
                // Expired for every reader (expiry is judged by the clock, not the
                // snapshot).
                _ => {
                    stats.expired += 1;
                    delete = true;
                }
            }
        }
        // The stored value after any expiry header: the user's value or a blob reference.
        let body = expiry.map_or(stored, |_| &stored[strata_sstable::EXPIRY_HEADER_LEN..]);
        let blob = if ValueKind::is_blob(k.kind) && !delete {
            Some(BlobRef::decode(body).ok_or_else(|| corrupt("malformed blob reference"))?)
        } else {
            None
        };
        // A new user value (from the filter or a relocated blob), to be stored again.
        let mut changed: Option<Cow<'_, [u8]>> = None;
        if !delete && invisible_to_snapshots {
            if let Some(f) = &opts.filter {
                let decision = match f.filter_by_key(opts.output_level, k.user_key) {
                    Some(d) => d,
                    None => match &blob {
                        // A value that cannot be read is kept as it is: the filter collects
                        // garbage, it never decides blind.
                        Some(r) => match read_blob(&blobs, k.user_key, r) {
                            Ok(v) => {
                                let d = f.filter(opts.output_level, k.user_key, &v);
                                if d == Decision::Keep {
                                    // Read anyway: keep it if the file is being emptied.
                                    if blobs.as_ref().is_some_and(|b| b.relocate(r.file)) {
                                        changed = Some(Cow::Owned(v));
                                    }
                                }
                                d
                            }
                            Err(_) => Decision::Keep,
                        },
                        None => f.filter(opts.output_level, k.user_key, body),
                    },
                };
                match decision {
                    Decision::Keep => {}
                    Decision::Remove => {
                        stats.filtered += 1;
                        delete = true;
                    }
                    Decision::Change(v) => {
                        stats.filtered += 1;
                        changed = Some(Cow::Owned(v));
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
        let seq = if zero_seq {
            stats.zeroed_seqnos += 1;
            0
        } else {
            k.seq
        };
        // What to write: the kind and the stored value.
        let mut out_value: Option<Vec<u8>> = None;
        let kind = if delete {
            ValueKind::Delete as u8
        } else {
            if changed.is_none() {
                if let Some(r) = &blob {
                    if blobs.as_ref().is_some_and(|b| b.relocate(r.file)) {
                        changed = Some(Cow::Owned(read_blob(&blobs, k.user_key, r)?));
                        stats.blobs_relocated += 1;
                    }
                }
            }
            let user_value: Option<&[u8]> = match &changed {
                Some(v) => Some(v),
                None if blob.is_none() => Some(body),
                None => None, // a reference that stays
            };
            match (user_value, blobs.as_deref_mut()) {
                (Some(v), Some(storage)) if v.len() >= opts.min_blob_size => {
                    let r = storage.write(k.user_key, v)?;
                    stats.blobs_written += 1;
                    stats.blob_bytes_written += v.len() as u64;
                    refs.insert(r.file);
                    out_value = Some(with_expiry(expiry, &r.encode()));
                    if expiry.is_some() {
                        ValueKind::BlobExpiring as u8
                    } else {
                        ValueKind::Blob as u8
                    }
                }
                (Some(v), _) => {
                    if changed.is_some() || blob.is_some() {
                        out_value = Some(with_expiry(expiry, v));
                    }
                    if expiry.is_some() {
                        ValueKind::PutExpiring as u8
                    } else {
                        ValueKind::Put as u8
                    }
                }
                (None, _) => {
                    if let Some(r) = &blob {
                        refs.insert(r.file);
                    }
                    k.kind
                }
            }
        };
        let key = if kind != k.kind || seq != k.seq {
            rewritten.clear();
            strata_sstable::encode_internal_key_into(&mut rewritten, k.user_key, seq, kind);
            rewritten.as_slice()
        } else {
            input.key()
        };
        match (&out_value, delete) {
            (_, true) => b.add(key, &[])?,
            (Some(v), false) => b.add(key, v)?,
            (None, false) => b.add(key, stored)?,
        }
        stats.entries_out += 1;
        input.next();
    }
    input.status()?;
    if let Some((number, b)) = current.take() {
        outputs.push(finish(number, b, &mut refs)?);
    }
    Ok((outputs, stats))
}

/// Finishes output `number`, recording the blob files it refers to (and forgetting them for
/// the next output).
fn finish(number: u64, mut b: TableBuilder, refs: &mut BTreeSet<u64>) -> Result<Output> {
    b.set_blob_files(std::mem::take(refs));
    Ok(Output {
        number,
        summary: b.finish()?,
    })
}

fn corrupt(reason: &str) -> crate::Error {
    strata_sstable::Error::Corruption {
        file: "<compaction input>".into(),
        offset: 0,
        reason: reason.into(),
    }
    .into()
}

/// Reads a blob value through the job's storage (a job without one cannot).
fn read_blob(
    blobs: &Option<&mut dyn BlobStorage>,
    user_key: &[u8],
    r: &BlobRef,
) -> Result<Vec<u8>> {
    match blobs {
        Some(b) => Ok(b.read(user_key, r)?),
        None => Err(corrupt("a blob reference in a job without blob storage")),
    }
}

/// `value`, after an expiry header if there is one.
fn with_expiry(expiry: Option<u64>, value: &[u8]) -> Vec<u8> {
    match expiry {
        Some(e) => strata_sstable::encode_expiring(e, value),
        None => value.to_vec(),
    }
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
