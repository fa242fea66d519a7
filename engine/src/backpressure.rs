//! Write stalls: when flush or compaction falls behind, the
//! write leader slows down, then stops, so memory and L0 never grow without bound. The
//! decision is a pure function of what the leader sees ([`room`]); [`Stalls`] counts and
//! times the stalls for statistics and for `Db::is_write_stalled`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// What the write leader sees before writing a group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pressure {
    /// The most L0 files of any keyspace.
    pub l0_files: usize,
    /// Bytes in the active memtables.
    pub memtable_bytes: usize,
    /// Frozen memtables waiting for flush.
    pub immutable: usize,
}

/// The thresholds in force (some change with `Db::set_options`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub l0_slowdown: usize,
    pub l0_stop: usize,
    pub memtable_size: usize,
    pub max_immutable: usize,
    /// Without automatic compactions L0 never shrinks by itself: its triggers do not apply.
    pub auto_compactions: bool,
}

/// What the leader does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Room {
    /// Write.
    Ready,
    /// Too many L0 files: wait for a compaction.
    WaitForCompaction,
    /// The memtable must be frozen but too many frozen ones wait for flush: wait.
    WaitForFlush,
    /// Freeze the memtable and start a new WAL, then look again.
    Rotate,
}

/// The leader's next step. `force` asks for a rotation even if the memtable is not full
/// (a flush request); an empty memtable is never rotated.
pub(crate) fn room(p: Pressure, limits: Limits, force: bool) -> Room {
    if limits.auto_compactions && p.l0_files >= limits.l0_stop {
        return Room::WaitForCompaction;
    }
    let full = p.memtable_bytes >= limits.memtable_size;
    if (!full && !force) || (force && p.memtable_bytes == 0) {
        return Room::Ready;
    }
    if p.immutable >= limits.max_immutable {
        return Room::WaitForFlush;
    }
    Room::Rotate
}

/// Whether a ready leader should pause briefly, giving compaction room before L0 reaches
/// the stop trigger.
pub(crate) fn slow_down(l0_files: usize, limits: Limits) -> bool {
    limits.auto_compactions && l0_files >= limits.l0_slowdown
}

/// Stall counters and the "stalled now" flag.
#[derive(Debug, Default)]
pub(crate) struct Stalls {
    stalled: AtomicBool,
    count: AtomicU64,
    micros: AtomicU64,
}

impl Stalls {
    /// A stall starts now.
    pub(crate) fn begin(&self) -> Instant {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.stalled.store(true, Ordering::Release);
        Instant::now()
    }

    /// The stall that began at `start` is over.
    pub(crate) fn end(&self, start: Instant) {
        self.micros
            .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.stalled.store(false, Ordering::Release);
    }

    pub(crate) fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::Acquire)
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub(crate) fn micros(&self) -> u64 {
        self.micros.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        l0_slowdown: 8,
        l0_stop: 12,
        memtable_size: 100,
        max_immutable: 2,
        auto_compactions: true,
    };

    fn pressure(l0_files: usize, memtable_bytes: usize, immutable: usize) -> Pressure {
        Pressure {
            l0_files,
            memtable_bytes,
            immutable,
        }
    }

    #[test]
    fn a_memtable_with_room_is_written() {
        assert_eq!(room(pressure(0, 99, 0), LIMITS, false), Room::Ready);
        assert_eq!(room(pressure(11, 99, 2), LIMITS, false), Room::Ready);
    }

    #[test]
    fn a_full_memtable_rotates_unless_flush_is_behind() {
        assert_eq!(room(pressure(0, 100, 1), LIMITS, false), Room::Rotate);
        assert_eq!(room(pressure(0, 100, 2), LIMITS, false), Room::WaitForFlush);
    }

    #[test]
    fn a_forced_rotation_skips_an_empty_memtable() {
        assert_eq!(room(pressure(0, 1, 0), LIMITS, true), Room::Rotate);
        assert_eq!(room(pressure(0, 0, 0), LIMITS, true), Room::Ready);
    }

    #[test]
    fn l0_triggers_apply_only_with_automatic_compactions() {
        assert_eq!(
            room(pressure(12, 0, 0), LIMITS, false),
            Room::WaitForCompaction
        );
        assert!(slow_down(8, LIMITS) && !slow_down(7, LIMITS));
        let manual = Limits {
            auto_compactions: false,
            ..LIMITS
        };
        assert_eq!(room(pressure(50, 0, 0), manual, false), Room::Ready);
        assert!(!slow_down(50, manual));
    }
}
