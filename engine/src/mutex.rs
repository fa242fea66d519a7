//! Taking a lock without unwrapping. A leaf: it imports nothing of the crate.

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, recovering the guard if a panicking thread poisoned it: every structure
/// behind these mutexes is left consistent between statements, and a failed background job
/// reports through the database's background error, not through lock poisoning.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
