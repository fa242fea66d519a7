//! Client-side caching (`CLIENT TRACKING`), as Redis's `tracking.c`: the server remembers
//! which keys each tracking client read, and when one of them changes (a write, an expiry, a
//! flush) it sends that client an invalidation message, as a RESP3 push
//! (`>2 invalidate [key]`) or, redirected to another connection, a RESP3 push there or a
//! Pub/Sub message on `__redis__:invalidate` when that connection speaks RESP2.
//!
//! In BCAST mode nothing is remembered: every key that starts with one of the client's
//! prefixes is invalidated when it changes, the keys of one command batched in one message
//! per prefix. The table of remembered keys holds at most `tracking-table-max-keys` keys: past
//! it, keys are dropped and their clients told as if they changed.
//!
//! With nobody tracking, a write pays one atomic load.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::pubsub::Frame;
use crate::resp::{Protocol, Reply};
use crate::server::{Client, Server};

/// One client's tracking mode (`CLIENT TRACKING ON ...`).
#[derive(Debug, Default, Clone)]
pub struct Mode {
    /// Tracking is on.
    pub on: bool,
    /// BCAST: by prefixes, nothing remembered.
    pub bcast: bool,
    /// OPTIN: only the keys of a command after `CLIENT CACHING yes`.
    pub optin: bool,
    /// OPTOUT: all keys but those of a command after `CLIENT CACHING no`.
    pub optout: bool,
    /// NOLOOP: not told of its own writes.
    pub noloop: bool,
    /// `CLIENT CACHING yes|no` was the last command.
    pub caching: bool,
    /// The client messages go to (0: itself).
    pub redirect: u64,
    /// The redirect client is gone.
    pub broken: bool,
    /// BCAST prefixes (the empty prefix for all keys).
    pub prefixes: BTreeSet<Vec<u8>>,
}

/// One BCAST prefix: its clients, and the keys changed in the current command.
#[derive(Debug, Default)]
struct Prefix {
    clients: BTreeSet<u64>,
    pending: Vec<Changed>,
}

/// A key changed, and the client that changed it (0: the server, an expiry).
type Changed = (Vec<u8>, u64);

#[derive(Debug, Default)]
struct Table {
    /// Key -> the clients that read it.
    keys: HashMap<Vec<u8>, BTreeSet<u64>>,
    /// Sum of the clients over all keys (`tracking_total_items`).
    items: usize,
    prefixes: BTreeMap<Vec<u8>, Prefix>,
}

/// Every tracking client's keys and prefixes.
#[derive(Debug, Default)]
pub struct Tracking {
    table: Mutex<Table>,
    /// Clients with tracking on (`tracking_clients`).
    clients: AtomicUsize,
    /// Keys in the table, and the bound (`tracking-table-max-keys`, 0: none).
    keys: AtomicUsize,
    max_keys: AtomicUsize,
    /// BCAST keys wait to be sent.
    pending: AtomicBool,
    /// Invalidation messages sent (for tests and INFO).
    pub messages: AtomicU64,
}

/// A client's tracking state, kept on its registry entry (other clients' writes read it).
#[derive(Debug, Default)]
pub struct ClientTracking {
    /// The mode.
    pub mode: Mutex<Mode>,
    /// A script this client runs called a read command (its declared keys are remembered).
    pub script_read: AtomicBool,
}

impl ClientTracking {
    /// A copy of the mode now.
    pub fn snapshot(&self) -> Mode {
        self.mode.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

fn invalidate_push(keys: Option<Vec<Vec<u8>>>) -> Reply {
    Reply::Push(vec![
        Reply::Bulk(b"invalidate".to_vec()),
        keys.map_or(Reply::Null, |k| {
            Reply::Array(k.into_iter().map(Reply::Bulk).collect())
        }),
    ])
}

impl Tracking {
    /// Whether any client tracks (one atomic load).
    pub fn active(&self) -> bool {
        self.clients.load(Ordering::Relaxed) > 0
    }

    /// Sets `tracking-table-max-keys`.
    pub fn set_max_keys(&self, n: usize) {
        self.max_keys.store(n, Ordering::Relaxed);
    }

    /// `INFO`: tracking clients, keys, items, prefixes.
    pub fn sizes(&self) -> (usize, usize, usize, usize) {
        let t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        (
            self.clients.load(Ordering::Relaxed),
            t.keys.len(),
            t.items,
            t.prefixes.len(),
        )
    }

    /// Checks `CLIENT TRACKING ON` prefixes against each other and the client's, as Redis:
    /// none may be a prefix of another.
    pub fn check_prefixes(current: &BTreeSet<Vec<u8>>, new: &[Vec<u8>]) -> Result<(), String> {
        let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        for (i, p) in new.iter().enumerate() {
            if let Some(old) = current.iter().find(|old| overlap(p, old)) {
                return Err(format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    s(p),
                    s(old)
                ));
            }
            if let Some(other) = new[i + 1..].iter().find(|o| overlap(p, o)) {
                return Err(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    s(p),
                    s(other)
                ));
            }
        }
        Ok(())
    }

    /// Turns tracking on for `client` with `mode` (checked by the caller), adding BCAST
    /// prefixes to those it has.
    pub fn enable(&self, client: &Client, mut mode: Mode, prefixes: Vec<Vec<u8>>) {
        let mut current = client
            .tracking
            .mode
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !current.on {
            self.clients.fetch_add(1, Ordering::Relaxed);
        }
        mode.on = true;
        mode.prefixes = std::mem::take(&mut current.prefixes);
        if mode.bcast {
            let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
            let new = if prefixes.is_empty() && mode.prefixes.is_empty() {
                vec![Vec::new()]
            } else {
                prefixes
            };
            for p in new {
                t.prefixes
                    .entry(p.clone())
                    .or_default()
                    .clients
                    .insert(client.id);
                mode.prefixes.insert(p);
            }
        }
        *current = mode;
    }

    /// Turns tracking off for `client` (the keys it read stay in the table until they
    /// change, as in Redis; messages for them are no longer sent).
    pub fn disable(&self, client: &Client) {
        let mut mode = client
            .tracking
            .mode
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !mode.on {
            return;
        }
        self.clients.fetch_sub(1, Ordering::Relaxed);
        if !mode.prefixes.is_empty() {
            let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
            for p in &mode.prefixes {
                if let Some(prefix) = t.prefixes.get_mut(p) {
                    prefix.clients.remove(&client.id);
                    if prefix.clients.is_empty() {
                        t.prefixes.remove(p);
                    }
                }
            }
        }
        *mode = Mode::default();
    }

    /// After a read command of `client`: remembers `keys` for it, unless its mode says not
    /// to (BCAST, OPTIN without CACHING yes, OPTOUT after CACHING no).
    pub fn remember(&self, client: &Client, keys: &[&Vec<u8>]) {
        {
            let mode = client
                .tracking
                .mode
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if !mode.on
                || mode.bcast
                || (mode.optin && !mode.caching)
                || (mode.optout && mode.caching)
            {
                return;
            }
        }
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        for k in keys {
            let clients = t.keys.entry((*k).clone()).or_default();
            if clients.insert(client.id) {
                t.items += 1;
            }
        }
        self.keys.store(t.keys.len(), Ordering::Relaxed);
    }

    /// `key` changed (`by`: the client whose command changed it, 0 for the server): tells
    /// the clients that read it, and queues it for the BCAST prefixes it matches.
    pub fn invalidate(&self, server: &Server, key: &[u8], by: u64) {
        let readers = {
            let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
            let readers = t.keys.remove(key);
            if let Some(r) = &readers {
                t.items -= r.len();
                self.keys.store(t.keys.len(), Ordering::Relaxed);
            }
            // The prefixes `key` starts with: by walking them all, or (with more prefixes
            // than the key has bytes) by looking each of the key's own prefixes up, so many
            // BCAST prefixes do not make every write slow (Redis uses a radix tree).
            let mut queued = false;
            if t.prefixes.len() <= key.len() {
                for (p, prefix) in t.prefixes.iter_mut() {
                    if key.starts_with(p) {
                        prefix.pending.push((key.to_vec(), by));
                        queued = true;
                    }
                }
            } else {
                for len in 0..=key.len() {
                    if let Some(prefix) = t.prefixes.get_mut(&key[..len]) {
                        prefix.pending.push((key.to_vec(), by));
                        queued = true;
                    }
                }
            }
            if queued {
                self.pending.store(true, Ordering::Relaxed);
            }
            readers
        };
        self.tell_readers(server, key, readers, Some(by));
    }

    /// Tells each reader of `key` it is no longer valid; `by` is the client that changed it
    /// (a NOLOOP reader is not told of its own change), `None` when the table let it go.
    fn tell_readers(
        &self,
        server: &Server,
        key: &[u8],
        readers: Option<BTreeSet<u64>>,
        by: Option<u64>,
    ) {
        for id in readers.into_iter().flatten() {
            let Some(client) = server.client(id) else {
                continue;
            };
            let mode = client.tracking.snapshot();
            // A client that turned tracking off, or went BCAST, is no longer told.
            if !mode.on || mode.bcast || (mode.noloop && Some(id) == by) {
                continue;
            }
            self.send(server, &client, &mode, Some(vec![key.to_vec()]));
        }
    }

    /// Sends the BCAST messages of the keys changed since the last call: one per prefix and
    /// client, without the keys a NOLOOP client changed itself.
    pub fn flush_bcast(&self, server: &Server) {
        if !self.pending.swap(false, Ordering::Relaxed) {
            return;
        }
        let batches: Vec<(BTreeSet<u64>, Vec<Changed>)> = {
            let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
            t.prefixes
                .values_mut()
                .filter(|p| !p.pending.is_empty())
                .map(|p| (p.clients.clone(), std::mem::take(&mut p.pending)))
                .collect()
        };
        for (clients, keys) in batches {
            for id in clients {
                let Some(client) = server.client(id) else {
                    continue;
                };
                let mode = client.tracking.snapshot();
                let keys: Vec<Vec<u8>> = keys
                    .iter()
                    .filter(|(_, by)| !(mode.noloop && *by == id))
                    .map(|(k, _)| k.clone())
                    .collect();
                if !keys.is_empty() {
                    self.send(server, &client, &mode, Some(keys));
                }
            }
        }
    }

    /// FLUSHDB / FLUSHALL: every tracking client is told all its keys are invalid (a null
    /// key list), and the table is emptied.
    pub fn flush_all(&self, server: &Server) {
        {
            let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
            t.keys.clear();
            t.items = 0;
            self.keys.store(0, Ordering::Relaxed);
        }
        if !self.active() {
            return;
        }
        let clients: Vec<Arc<Client>> = server
            .clients
            .lock()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default();
        for client in clients {
            let mode = client.tracking.snapshot();
            if mode.on {
                self.send(server, &client, &mode, None);
            }
        }
    }

    /// Drops keys from the table until it holds at most `tracking-table-max-keys`, telling
    /// their clients as if the keys changed.
    pub fn enforce_limit(&self, server: &Server) {
        let max = self.max_keys.load(Ordering::Relaxed);
        if max == 0 || self.keys.load(Ordering::Relaxed) <= max {
            return;
        }
        let victims: Vec<Vec<u8>> = {
            let t = self.table.lock().unwrap_or_else(|e| e.into_inner());
            let over = t.keys.len().saturating_sub(max);
            t.keys.keys().take(over).cloned().collect()
        };
        for key in victims {
            // Told to every reader, NOLOOP or not: the key did not change, the table let go.
            let readers = {
                let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
                let r = t.keys.remove(&key);
                if let Some(r) = &r {
                    t.items -= r.len();
                }
                self.keys.store(t.keys.len(), Ordering::Relaxed);
                r
            };
            self.tell_readers(server, &key, readers, None);
        }
    }

    /// Sends one invalidation message for `client` (to it, or to its redirect client), as
    /// Redis's `sendTrackingMessage`.
    fn send(&self, server: &Server, client: &Client, mode: &Mode, keys: Option<Vec<Vec<u8>>>) {
        let proto = |c: &Client| Server::protocol_of(c.resp.load(Ordering::Relaxed));
        let target = if mode.redirect == 0 {
            None
        } else {
            match server.client(mode.redirect) {
                Some(t) => Some(t),
                None => {
                    // The redirect client is gone: a RESP3 client is told so, once per change.
                    if let Ok(mut m) = client.tracking.mode.lock() {
                        m.broken = true;
                    }
                    if proto(client) == Protocol::Resp3 {
                        let push = Reply::Push(vec![
                            Reply::Bulk(b"tracking-redir-broken".to_vec()),
                            Reply::Integer(mode.redirect as i64),
                        ]);
                        let frame = Frame::Raw(push.to_bytes(Protocol::Resp3).into());
                        server.pubsub.send(client, frame);
                    }
                    return;
                }
            }
        };
        let (to, redirected) = match &target {
            Some(t) => (t.as_ref(), true),
            None => (client, false),
        };
        let frame = match proto(to) {
            Protocol::Resp3 => invalidate_push(keys).to_bytes(Protocol::Resp3),
            // RESP2 has no pushes: only a redirect client in Pub/Sub mode can be told, by a
            // message on `__redis__:invalidate`.
            Protocol::Resp2 if redirected && to.outbox.subscribed() => Reply::Push(vec![
                Reply::Bulk(b"message".to_vec()),
                Reply::Bulk(b"__redis__:invalidate".to_vec()),
                keys.map_or(Reply::Null, |k| {
                    Reply::Array(k.into_iter().map(Reply::Bulk).collect())
                }),
            ])
            .to_bytes(Protocol::Resp2),
            Protocol::Resp2 => return,
        };
        self.messages.fetch_add(1, Ordering::Relaxed);
        server.pubsub.send(to, Frame::Raw(frame.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_must_not_overlap() {
        let none = BTreeSet::new();
        let p = |v: &[&str]| -> Vec<Vec<u8>> { v.iter().map(|s| s.as_bytes().to_vec()).collect() };
        let e = Tracking::check_prefixes(&none, &p(&["FOOBAR", "FOO"])).unwrap_err();
        assert!(
            e.starts_with("ERR Prefix 'FOOBAR' overlaps with another provided prefix 'FOO'"),
            "{e}"
        );
        let have: BTreeSet<Vec<u8>> = p(&["FOO", "BAR"]).into_iter().collect();
        let e = Tracking::check_prefixes(&have, &p(&["FO"])).unwrap_err();
        assert!(
            e.starts_with("ERR Prefix 'FO' overlaps with an existing prefix 'FOO'"),
            "{e}"
        );
        assert!(Tracking::check_prefixes(&have, &p(&["BAZ"])).is_ok());
    }
}
