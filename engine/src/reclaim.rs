//! Handing freed memory back to the OS. glibc's malloc keeps freed pages in its per-thread
//! arenas unless asked; a flushed memtable (millions of small allocations), compaction's
//! buffers and a churning block cache would otherwise keep the process above its memory
//! budget. The reclaim thread does for glibc what jemalloc's background purge thread does
//! for its own arenas.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use strata_sstable::BlockCache;

/// How often the reclaim thread looks at the block cache's churn.
const RECLAIM_TICK: Duration = Duration::from_millis(100);

/// Hands memory the allocator holds free back to the OS. Called after each flush and
/// compaction (each frees megabytes) and when the block cache has churned; the read
/// benchmarks show no cost from it (docs/benchmarks.md).
pub(crate) fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free pages of the allocator's own arenas to the
    // OS (madvise); it takes the arena locks itself and touches no memory we own.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Until `stop` disconnects (the database closes), every [`RECLAIM_TICK`]: hands free memory
/// back to the OS if the block cache has freed a sixteenth of its capacity since the last
/// time: blocks it replaced (read by one thread and evicted by another, they leave freed
/// memory in the reader's allocator arena), blocks evicted to make room for table builders,
/// and the builders' buffers once finished.
pub(crate) fn reclaim_thread(cache: &Arc<BlockCache>, stop: &Receiver<()>) {
    let mut trimmed_at = 0u64;
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(RECLAIM_TICK) {
        let churn = cache
            .inserted_bytes()
            .saturating_add(cache.reservations_moved_bytes());
        if churn.saturating_sub(trimmed_at) >= (cache.capacity() / 16).max(1 << 20) {
            trimmed_at = churn;
            return_free_memory();
        }
    }
}
