//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN, ...) and their wake-ups.
//!
//! A blocked connection registers one [`Notify`] under each key it waits for, retries its
//! command, and sleeps on the notify until a write to one of the keys signals it, its timeout
//! passes, or it is killed or disconnects. Every write command signals its keys (only when
//! someone is blocked: one atomic load otherwise). `Notify` keeps a wake-up that arrives
//! between the retry and the sleep, so none is lost, and nothing polls.
//!
//! Waiters on a key are served in the order they blocked, as in Redis: a write wakes only the
//! oldest waiter of the key, and a waiter that leaves (served with data or an error, timed
//! out, disconnected) wakes the next, which retries and finds whatever data is left. So one
//! push of three elements serves the three oldest clients in turn, and a client whose
//! BLMOVE destination has the wrong type gets its error before a younger one takes the
//! element.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

/// A command that found no data and waits for some (set by its handler in the session).
pub struct Blocked {
    /// The keys whose writes wake it.
    pub keys: Vec<Vec<u8>>,
    /// When it gives up (`None`: timeout 0, never).
    pub deadline: Option<Instant>,
    /// Its arguments (after the name), for the retries.
    pub args: Vec<Vec<u8>>,
    /// Tries the command again: `Some(reply)` once it is served (data or an error).
    pub retry: fn(&Server, &mut Session, &[Vec<u8>]) -> Option<Reply>,
    /// The reply when the timeout passes.
    pub timeout_reply: Reply,
    /// The keys it writes when served (its sources, BLMOVE's destination): touched for
    /// WATCH, and signalled for clients blocked on them, as any write's keys are.
    pub written: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocked")
            .field("keys", &self.keys.len())
            .field("deadline", &self.deadline)
            .finish()
    }
}

type Waiters = HashMap<(u8, Vec<u8>), Vec<(u64, Arc<Notify>)>>;

/// The registry of blocked clients, by database and key.
#[derive(Debug, Default)]
pub struct Blocking {
    waiters: Mutex<Waiters>,
    /// Registered waiters (blocked clients); zero means writes need not look.
    blocked: AtomicUsize,
    next_id: AtomicU64,
}

/// A registration; removed from the registry when dropped.
#[derive(Debug)]
pub struct Waiter<'a> {
    registry: &'a Blocking,
    id: u64,
    keys: Vec<(u8, Vec<u8>)>,
    /// Woken by writes to the keys.
    pub notify: Arc<Notify>,
}

impl Blocking {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a waiter for `keys` of database `db`.
    pub fn register(&self, db: u8, keys: &[Vec<u8>]) -> Waiter<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        let mut keys: Vec<(u8, Vec<u8>)> = keys.iter().map(|k| (db, k.clone())).collect();
        keys.sort();
        keys.dedup();
        let mut w = self.lock();
        for k in &keys {
            w.entry(k.clone())
                .or_default()
                .push((id, Arc::clone(&notify)));
        }
        self.blocked.fetch_add(1, Ordering::SeqCst);
        Waiter {
            registry: self,
            id,
            keys,
            notify,
        }
    }

    /// Clients blocked now (`INFO clients` `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.blocked.load(Ordering::Relaxed)
    }

    /// Wakes the oldest client waiting on `key` of database `db` (the next one is woken when
    /// it leaves). Call after the write that may have given it data is visible.
    pub fn signal(&self, db: u8, key: &[u8]) {
        if self.blocked.load(Ordering::SeqCst) == 0 {
            return;
        }
        let w = self.lock();
        if let Some((_, n)) = w.get(&(db, key.to_vec())).and_then(|list| list.first()) {
            n.notify_one();
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut w = self.registry.lock();
        for k in &self.keys {
            if let Some(list) = w.get_mut(k) {
                list.retain(|(id, _)| *id != self.id);
                // The next in line retries: data may be left for it (a wake-up with none
                // costs one retry).
                match list.first() {
                    Some((_, next)) => next.notify_one(),
                    None => {
                        w.remove(k);
                    }
                }
            }
        }
        self.registry.blocked.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `attempt`; if it finds no data, blocks the session on `keys` until `deadline`
/// (`None`: no timeout) and returns [`Reply::NoReply`].
pub(crate) fn block_on(
    server: &Server,
    session: &mut Session,
    args: &[Vec<u8>],
    keys: &[Vec<u8>],
    deadline: Option<Instant>,
    attempt: fn(&Server, &mut Session, &[Vec<u8>]) -> Option<Reply>,
) -> Reply {
    if let Some(reply) = attempt(server, session, args) {
        return reply;
    }
    session.blocked = Some(Blocked {
        keys: keys.to_vec(),
        deadline,
        args: args.to_vec(),
        retry: attempt,
        timeout_reply: Reply::NullArray,
        written: keys.to_vec(),
    });
    Reply::NoReply
}
