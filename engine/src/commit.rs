//! Group commit's queue: writers enqueue; the writer at the head
//! becomes the leader, takes the queue as one group and writes it (one WAL append, at most
//! one fsync, the memtable inserts); then it hands every follower the group's result and
//! passes leadership to the next writer in line. What writing a group means is the caller's
//! closure: this file owns only the queue and the hand-offs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::batch::WriteBatch;
use crate::error::Result;
use crate::mutex::lock;

/// Spins of a queued writer before it yields, and yields before it sleeps: a group takes
/// microseconds, and sleeping on the condition variable costs two context switches.
const WRITER_SPINS: u32 = 64;
const WRITER_YIELDS: u32 = 16;

/// A leader stops adding followers' batches to its group past this many bytes.
const MAX_GROUP_BYTES: usize = 1 << 20;

/// A writer waiting in the queue: a batch, or a request to switch to a new memtable and WAL.
#[derive(Debug)]
pub(crate) struct QueuedWrite {
    batch: Mutex<Option<WriteBatch>>,
    sync: bool,
    rotate: bool,
    result: Mutex<Option<Result<()>>>,
    /// Set (under the queue lock) when this writer reaches the head of the queue.
    lead: AtomicBool,
    /// Set (under the queue lock, after `result`) when a leader wrote this batch.
    done: AtomicBool,
}

impl QueuedWrite {
    /// A batch to write, fsynced before it is acknowledged if `sync`.
    pub(crate) fn batch(batch: WriteBatch, sync: bool) -> QueuedWrite {
        QueuedWrite::new(Some(batch), sync, false)
    }

    /// A request to freeze the memtable and start a new WAL, in order with the writes.
    pub(crate) fn rotation() -> QueuedWrite {
        QueuedWrite::new(None, false, true)
    }

    fn new(batch: Option<WriteBatch>, sync: bool, rotate: bool) -> QueuedWrite {
        QueuedWrite {
            batch: Mutex::new(batch),
            sync,
            rotate,
            result: Mutex::new(None),
            lead: AtomicBool::new(false),
            done: AtomicBool::new(false),
        }
    }

    /// The batch, taken by the leader writing it.
    pub(crate) fn take_batch(&self) -> Option<WriteBatch> {
        lock(&self.batch).take()
    }

    pub(crate) fn wants_sync(&self) -> bool {
        self.sync
    }

    pub(crate) fn is_rotation(&self) -> bool {
        self.rotate
    }

    fn turn_came(&self) -> bool {
        self.lead.load(Ordering::Acquire) || self.done.load(Ordering::Acquire)
    }
}

/// The writers in line, first the leader.
#[derive(Debug, Default)]
pub(crate) struct WriteQueue {
    writers: Mutex<VecDeque<Arc<QueuedWrite>>>,
    cv: Condvar,
    /// Threads waiting on `cv` (changed under the `writers` lock).
    sleeping: AtomicUsize,
}

impl WriteQueue {
    /// Queues `write` and returns its result: either a leader wrote it in its group, or it
    /// leads and calls `write_group` with its group (itself first; a rotation leads a group
    /// of its own).
    pub(crate) fn commit(
        &self,
        write: QueuedWrite,
        write_group: impl FnOnce(&[Arc<QueuedWrite>]) -> Result<()>,
    ) -> Result<()> {
        let me = Arc::new(write);
        {
            let mut queue = lock(&self.writers);
            if queue.is_empty() {
                me.lead.store(true, Ordering::Release);
            }
            queue.push_back(Arc::clone(&me));
        }
        self.await_turn(&me);
        if me.done.load(Ordering::Acquire) {
            return lock(&me.result).take().unwrap_or(Ok(()));
        }
        let queue = lock(&self.writers);
        let mut group = vec![Arc::clone(&me)];
        if !me.rotate {
            let mut bytes = 0usize;
            for w in queue.iter().skip(1) {
                if w.rotate || bytes > MAX_GROUP_BYTES {
                    break;
                }
                bytes += lock(&w.batch).as_ref().map_or(0, WriteBatch::size_in_bytes);
                group.push(Arc::clone(w));
            }
        }
        drop(queue);

        let result = write_group(&group);

        let mut queue = lock(&self.writers);
        for w in &group {
            queue.pop_front();
            if !Arc::ptr_eq(w, &me) {
                *lock(&w.result) = Some(result.clone());
                w.done.store(true, Ordering::Release);
            }
        }
        if let Some(next) = queue.front() {
            next.lead.store(true, Ordering::Release);
        }
        let sleeping = self.sleeping.load(Ordering::Relaxed) > 0;
        drop(queue);
        if sleeping {
            self.cv.notify_all();
        }
        result
    }

    /// Waits until `write` leads the queue or a leader wrote it: spins, then yields, then
    /// sleeps on the condition variable (counted in `sleeping`, so a leader skips the
    /// wake-up syscall when nobody sleeps).
    fn await_turn(&self, write: &QueuedWrite) {
        for i in 0..WRITER_SPINS + WRITER_YIELDS {
            if write.turn_came() {
                return;
            }
            if i < WRITER_SPINS {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let mut queue = lock(&self.writers);
        while !write.turn_came() {
            self.sleeping.fetch_add(1, Ordering::Relaxed);
            queue = self.cv.wait(queue).unwrap_or_else(|e| e.into_inner());
            self.sleeping.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Blocks until the queue is empty (at close: in-flight writers finish).
    pub(crate) fn drain(&self) {
        let mut queue = lock(&self.writers);
        while !queue.is_empty() {
            self.sleeping.fetch_add(1, Ordering::Relaxed);
            queue = self.cv.wait(queue).unwrap_or_else(|e| e.into_inner());
            self.sleeping.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
