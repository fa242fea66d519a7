//! Snapshots: a pinned sequence number.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use strata_sstable::SeqNo;

/// The sequence numbers pinned by live snapshots (compaction keeps what they can see).
#[derive(Debug, Default)]
pub(crate) struct SnapshotList {
    live: Mutex<BTreeMap<SeqNo, usize>>,
}

impl SnapshotList {
    pub fn pin(self: &Arc<Self>, seq: SeqNo) -> Snapshot {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        *live.entry(seq).or_insert(0) += 1;
        Snapshot {
            seq,
            list: Arc::clone(self),
        }
    }

    /// Sequence numbers of live snapshots, ascending.
    pub fn sequences(&self) -> Vec<SeqNo> {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.keys().copied().collect()
    }

    fn unpin(&self, seq: SeqNo) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = live.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                live.remove(&seq);
            }
        }
    }
}

/// A consistent, read-only view of the database as of one moment. Reads through it
/// ([`ReadOptions::at`](crate::ReadOptions::at), [`Keyspace::get_at`](crate::Keyspace::get_at))
/// see every write acknowledged before it was taken and none after. Dropping it releases the
/// versions it kept alive.
#[derive(Debug)]
pub struct Snapshot {
    seq: SeqNo,
    list: Arc<SnapshotList>,
}

impl Snapshot {
    /// The sequence number this snapshot reads at.
    pub fn sequence(&self) -> SeqNo {
        self.seq
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.list.unpin(self.seq);
    }
}
