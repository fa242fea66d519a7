//! User-facing iterators: [`DbIterator`] (a cursor, like RocksDB's `Iterator`) and [`Scan`]
//! (a Rust double-ended iterator). Both hide versions newer than their sequence number,
//! versions shadowed by newer ones, and tombstones (LevelDB's `db_iter.cc` is the model).

use strata_sstable::{
    encode_internal_key, parse_internal_key, InternalIterator, SeqNo, ValueKind, KIND_FOR_SEEK,
    MAX_SEQNO,
};

use crate::blob;
use crate::error::{Error, Result};
use std::sync::Arc;

use strata_compaction::MergingIter;

use crate::memtable::is_live;
use crate::version::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// `inner` is at the entry that is the iterator's current position.
    Forward,
    /// `inner` is before every entry of the current key, which is held in `saved_*`.
    Reverse,
}

/// A cursor over one keyspace as of one sequence number, within optional bounds.
///
/// Starts unpositioned: call [`seek_to_first`](Self::seek_to_first),
/// [`seek_to_last`](Self::seek_to_last), [`seek`](Self::seek) or
/// [`seek_for_prev`](Self::seek_for_prev). When [`valid`](Self::valid) turns false, check
/// [`status`](Self::status): it tells a clean end from an I/O error or corruption.
pub struct DbIterator {
    inner: MergingIter,
    seq: SeqNo,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
    direction: Direction,
    valid: bool,
    saved_key: Vec<u8>,
    saved_value: Vec<u8>,
    /// Moving forward, the value of the current entry when it is kept in a blob file (read
    /// when the cursor lands on it).
    blob_value: Option<Vec<u8>>,
    error: Option<Error>,
    /// Keeps the tables under `inner` from being deleted while the iterator lives.
    version: Arc<Version>,
    /// The one clock reading expiry is judged against for the iterator's whole life.
    now_ms: u64,
    /// A transaction's writes are merged in, at `MAX_SEQNO`: visible whatever `seq` is.
    pub(crate) overlay: bool,
}

impl std::fmt::Debug for DbIterator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbIterator")
            .field("seq", &self.seq)
            .field("valid", &self.valid)
            .finish()
    }
}

fn user_key(ikey: &[u8]) -> &[u8] {
    parse_internal_key(ikey).map_or(ikey, |k| k.user_key)
}

/// The user's part of a stored value: an expiring value loses its expiry header.
fn user_value<'a>(ikey: &[u8], stored: &'a [u8]) -> &'a [u8] {
    match parse_internal_key(ikey) {
        Some(k) if ValueKind::has_expiry(k.kind) => {
            strata_sstable::split_expiring(stored).map_or(stored, |(_, v)| v)
        }
        _ => stored,
    }
}

impl DbIterator {
    pub(crate) fn new(
        inner: MergingIter,
        seq: SeqNo,
        lower: Option<Vec<u8>>,
        upper: Option<Vec<u8>>,
        version: Arc<Version>,
        now_ms: u64,
    ) -> Self {
        DbIterator {
            version,
            now_ms,
            inner,
            seq,
            lower,
            upper,
            direction: Direction::Forward,
            valid: false,
            saved_key: Vec::new(),
            saved_value: Vec::new(),
            blob_value: None,
            error: None,
            overlay: false,
        }
    }

    /// True if the cursor is at an entry.
    pub fn valid(&self) -> bool {
        self.valid
    }

    /// The current key. Empty if not [`valid`](Self::valid).
    pub fn key(&self) -> &[u8] {
        if !self.valid {
            return &[];
        }
        match self.direction {
            Direction::Forward => user_key(self.inner.key()),
            Direction::Reverse => &self.saved_key,
        }
    }

    /// The current value. Empty if not [`valid`](Self::valid).
    pub fn value(&self) -> &[u8] {
        if !self.valid {
            return &[];
        }
        match (self.direction, &self.blob_value) {
            (Direction::Forward, Some(v)) => v,
            (Direction::Forward, None) => user_value(self.inner.key(), self.inner.value()),
            (Direction::Reverse, _) => &self.saved_value,
        }
    }

    /// `Ok` unless iteration stopped on an error.
    ///
    /// # Errors
    /// The I/O error or corruption that made the cursor invalid.
    pub fn status(&self) -> Result<()> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        self.inner.status().map_err(Error::from)
    }

    /// Reads the value of the current (forward) entry, of blob kind `kind`, from its blob
    /// file; a failure ends the iteration with the error.
    fn read_blob(&mut self, user_key: Vec<u8>, kind: u8) {
        let stored = self.inner.value();
        let body = if ValueKind::has_expiry(kind) {
            strata_sstable::split_expiring(stored).map_or(stored, |(_, v)| v)
        } else {
            stored
        };
        match blob::read_value(&self.version.blobs, &user_key, body) {
            Ok(v) => self.blob_value = Some(v),
            Err(e) => {
                self.error = Some(e);
                self.valid = false;
            }
        }
    }

    fn parse_failed(&mut self) {
        self.error = Some(Error::corruption(
            "<iterator>",
            0,
            "malformed internal key in a memtable or table",
        ));
        self.valid = false;
    }

    /// Whether an entry at sequence number `seq` is visible to the iterator.
    fn visible(&self, seq: SeqNo) -> bool {
        seq <= self.seq || (self.overlay && seq == MAX_SEQNO)
    }

    fn below_lower(&self, key: &[u8]) -> bool {
        self.lower.as_deref().is_some_and(|l| key < l)
    }

    fn at_or_above_upper(&self, key: &[u8]) -> bool {
        self.upper.as_deref().is_some_and(|u| key >= u)
    }

    /// Positions at the first key in bounds.
    pub fn seek_to_first(&mut self) {
        match self.lower.clone() {
            Some(l) => self.seek(&l),
            None => {
                self.direction = Direction::Forward;
                self.inner.seek_to_first();
                self.find_next_user_entry(false);
            }
        }
    }

    /// Positions at the last key in bounds.
    pub fn seek_to_last(&mut self) {
        self.direction = Direction::Reverse;
        match &self.upper {
            Some(u) => {
                let probe = encode_internal_key(u, MAX_SEQNO, KIND_FOR_SEEK);
                self.inner.seek_for_prev(&probe);
            }
            None => self.inner.seek_to_last(),
        }
        self.find_prev_user_entry();
    }

    /// Positions at the first key `>= target` (and within bounds).
    pub fn seek(&mut self, target: &[u8]) {
        self.direction = Direction::Forward;
        self.saved_value.clear();
        let target = match &self.lower {
            Some(l) if target < l.as_slice() => l.clone(),
            _ => target.to_vec(),
        };
        // Overlay entries sort before every real version of their key.
        let probe_seq = if self.overlay { MAX_SEQNO } else { self.seq };
        let probe = encode_internal_key(&target, probe_seq, KIND_FOR_SEEK);
        self.inner.seek(&probe);
        self.find_next_user_entry(false);
    }

    /// Positions at the last key `<= target` (and within bounds).
    pub fn seek_for_prev(&mut self, target: &[u8]) {
        if self.at_or_above_upper(target) {
            self.seek_to_last();
            return;
        }
        self.direction = Direction::Reverse;
        let probe = encode_internal_key(target, 0, ValueKind::Delete as u8);
        self.inner.seek_for_prev(&probe);
        self.find_prev_user_entry();
    }

    /// Moves to the next key.
    pub fn next(&mut self) {
        if !self.valid {
            return;
        }
        if self.direction == Direction::Reverse {
            self.direction = Direction::Forward;
            // `inner` is before all entries of saved_key: step into them, then skip them.
            if self.inner.valid() {
                self.inner.next();
            } else {
                self.inner.seek_to_first();
            }
        } else {
            self.saved_key.clear();
            self.saved_key.extend_from_slice(user_key(self.inner.key()));
            self.inner.next();
        }
        self.find_next_user_entry(true);
    }

    /// Moves to the previous key.
    pub fn prev(&mut self) {
        if !self.valid {
            return;
        }
        if self.direction == Direction::Forward {
            // `inner` is at the current entry: back up to before all entries of its key.
            self.saved_key.clear();
            self.saved_key.extend_from_slice(user_key(self.inner.key()));
            loop {
                self.inner.prev();
                if !self.inner.valid() {
                    self.valid = false;
                    self.saved_key.clear();
                    self.saved_value.clear();
                    return;
                }
                if user_key(self.inner.key()) < self.saved_key.as_slice() {
                    break;
                }
            }
            self.direction = Direction::Reverse;
        }
        self.find_prev_user_entry();
    }

    /// Moves `inner` forward to the newest visible version of the next live key. If
    /// `skipping`, keys `<= saved_key` are hidden (already returned or deleted).
    fn find_next_user_entry(&mut self, mut skipping: bool) {
        self.blob_value = None;
        while self.inner.valid() {
            let Some(k) = parse_internal_key(self.inner.key()) else {
                self.parse_failed();
                return;
            };
            if self.at_or_above_upper(k.user_key) {
                break;
            }
            if self.visible(k.seq) {
                if is_live(k.kind, self.inner.value(), self.now_ms) {
                    if !(skipping && k.user_key <= self.saved_key.as_slice()) {
                        self.valid = true;
                        self.saved_key.clear();
                        if ValueKind::is_blob(k.kind) {
                            self.read_blob(k.user_key.to_vec(), k.kind);
                        }
                        return;
                    }
                } else {
                    // A tombstone (or an expired value) hides every older version of its key.
                    self.saved_key.clear();
                    self.saved_key.extend_from_slice(k.user_key);
                    skipping = true;
                }
            }
            self.inner.next();
        }
        self.valid = false;
        self.saved_key.clear();
    }

    /// Moves `inner` backward past every version of the previous live key, keeping its newest
    /// visible value in `saved_*`.
    fn find_prev_user_entry(&mut self) {
        self.blob_value = None;
        let mut found_put = false;
        // The kind of the entry in saved_value (a blob reference is read once chosen).
        let mut saved_kind = 0;
        while self.inner.valid() {
            let Some(k) = parse_internal_key(self.inner.key()) else {
                self.parse_failed();
                return;
            };
            if self.visible(k.seq) && !self.at_or_above_upper(k.user_key) {
                if found_put && k.user_key < self.saved_key.as_slice() {
                    break; // saved_key's versions are all behind us
                }
                if self.below_lower(k.user_key) {
                    break;
                }
                if is_live(k.kind, self.inner.value(), self.now_ms) {
                    found_put = true;
                    self.saved_key.clear();
                    self.saved_key.extend_from_slice(k.user_key);
                    self.saved_value.clear();
                    let v = user_value(self.inner.key(), self.inner.value());
                    self.saved_value.extend_from_slice(v);
                    saved_kind = k.kind;
                } else {
                    found_put = false;
                    self.saved_key.clear();
                    self.saved_value.clear();
                }
            }
            self.inner.prev();
        }
        if found_put {
            self.valid = true;
            if ValueKind::is_blob(saved_kind) {
                // saved_value holds the reference (its expiry header already dropped).
                match blob::read_value(&self.version.blobs, &self.saved_key, &self.saved_value) {
                    Ok(v) => self.saved_value = v,
                    Err(e) => {
                        self.error = Some(e);
                        self.valid = false;
                    }
                }
            }
        } else {
            self.valid = false;
            self.saved_key.clear();
            self.saved_value.clear();
            self.direction = Direction::Forward;
        }
    }
}

/// A Rust iterator over `(key, value)` pairs in key order; `.rev()` walks backwards. Front and
/// back meet in the middle without overlap. Yields one `Err` and stops on an I/O error or
/// corruption.
pub struct Scan {
    front: DbIterator,
    back: DbIterator,
    front_started: bool,
    back_started: bool,
    last_front: Option<Vec<u8>>,
    last_back: Option<Vec<u8>>,
    done: bool,
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan").field("done", &self.done).finish()
    }
}

impl Scan {
    pub(crate) fn new(front: DbIterator, back: DbIterator) -> Result<Scan> {
        Ok(Scan {
            front,
            back,
            front_started: false,
            back_started: false,
            last_front: None,
            last_back: None,
            done: false,
        })
    }

    fn end(&mut self, status: Result<()>) -> Option<Result<(Vec<u8>, Vec<u8>)>> {
        self.done = true;
        status.err().map(Err)
    }
}

impl Iterator for Scan {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.front_started {
            self.front.next();
        } else {
            self.front_started = true;
            self.front.seek_to_first();
        }
        if !self.front.valid() {
            let status = self.front.status();
            return self.end(status);
        }
        let key = self.front.key();
        if self.last_back.as_deref().is_some_and(|b| key >= b) {
            return self.end(Ok(()));
        }
        let key = key.to_vec();
        self.last_front = Some(key.clone());
        Some(Ok((key, self.front.value().to_vec())))
    }
}

impl DoubleEndedIterator for Scan {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.back_started {
            self.back.prev();
        } else {
            self.back_started = true;
            self.back.seek_to_last();
        }
        if !self.back.valid() {
            let status = self.back.status();
            return self.end(status);
        }
        let key = self.back.key();
        if self.last_front.as_deref().is_some_and(|f| key <= f) {
            return self.end(Ok(()));
        }
        let key = key.to_vec();
        self.last_back = Some(key.clone());
        Some(Ok((key, self.back.value().to_vec())))
    }
}
