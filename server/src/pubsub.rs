//! Pub/Sub and MONITOR: who is subscribed to what, and the queue of messages waiting to be
//! written to each subscriber.
//!
//! A publisher encodes a message once and appends it to the outbox of every subscriber (a
//! client's [`Outbox`]); the subscriber's connection writes its outbox out between commands
//! and whenever it is woken while idle. Messages to one subscriber keep publish order. A
//! subscriber that does not read is disconnected once its outbox passes Redis's
//! `client-output-buffer-limit pubsub` (hard limit at once, soft limit after it has stayed
//! over it for the given seconds), instead of growing the server's memory.
//!
//! Nothing here costs a command anything while nobody subscribes or monitors: publishing
//! looks up one map, and commands feed MONITOR only when [`PubSub::monitoring`] says so.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::resp::{Protocol, Reply};
use crate::server::Client;

/// A message waiting in an outbox.
#[derive(Debug, Clone)]
pub enum Frame {
    /// An array after its type byte (`3\r\n$7\r\nmessage\r\n...`): written as an array in
    /// RESP2 and a push (`>`) in RESP3.
    Push(Arc<[u8]>),
    /// Written as it is (MONITOR's `+...` lines).
    Raw(Arc<[u8]>),
}

impl Frame {
    /// A push of `items` (encoded once, for any number of subscribers).
    pub fn push(items: Vec<Reply>) -> Frame {
        let mut out = Vec::new();
        Reply::Array(items).write(Protocol::Resp2, &mut out);
        Frame::Push(out[1..].into())
    }

    fn len(&self) -> usize {
        match self {
            Frame::Push(b) => b.len() + 1,
            Frame::Raw(b) => b.len(),
        }
    }

    /// Appends the frame to `out` as `protocol` writes it.
    pub fn write(&self, protocol: Protocol, out: &mut Vec<u8>) {
        match self {
            Frame::Push(body) => {
                out.push(if protocol == Protocol::Resp3 {
                    b'>'
                } else {
                    b'*'
                });
                out.extend_from_slice(body);
            }
            Frame::Raw(b) => out.extend_from_slice(b),
        }
    }
}

/// The messages waiting to be written to one client, and what it is subscribed to.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: Mutex<VecDeque<Frame>>,
    bytes: AtomicUsize,
    /// When the outbox went over the soft limit (ms since the server's epoch, 0: it is not).
    soft_since_ms: AtomicU64,
    /// Wakes the connection when a frame arrives.
    pub ready: tokio::sync::Notify,
    /// The client's subscriptions (its own connection changes them; the registry mirrors
    /// them).
    pub subs: Mutex<Subscriptions>,
    /// Subscribed channels and patterns, shard channels (`CLIENT LIST`'s `sub`, `psub`,
    /// `ssub`).
    pub counts: [AtomicU32; 3],
    /// In MONITOR mode.
    pub monitor: AtomicBool,
}

impl Outbox {
    /// Whether anything is waiting.
    pub fn pending(&self) -> bool {
        self.bytes.load(Ordering::Acquire) > 0
    }

    /// Appends everything waiting to `out`, up to about `max` bytes; returns whether more is
    /// left.
    pub fn drain_into(&self, protocol: Protocol, out: &mut Vec<u8>, max: usize) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken = 0;
        while taken < max {
            let Some(frame) = queue.pop_front() else {
                break;
            };
            taken += frame.len();
            frame.write(protocol, out);
        }
        let left = self.bytes.fetch_sub(taken, Ordering::AcqRel) - taken;
        if left == 0 {
            self.soft_since_ms.store(0, Ordering::Relaxed);
        }
        !queue.is_empty()
    }

    /// Bytes of messages waiting.
    pub fn queued_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Whether the client takes pushes (it subscribes or monitors).
    pub fn active(&self) -> bool {
        self.monitor.load(Ordering::Relaxed)
            || self.counts.iter().any(|c| c.load(Ordering::Relaxed) > 0)
    }

    /// Subscribed to any channel or pattern (RESP2's subscribed mode).
    pub fn subscribed(&self) -> bool {
        self.counts.iter().any(|c| c.load(Ordering::Relaxed) > 0)
    }

    fn count(&self, kind: Kind) -> u32 {
        self.counts[kind as usize].load(Ordering::Relaxed)
    }
}

/// The three kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE.
    Channel = 0,
    /// PSUBSCRIBE.
    Pattern = 1,
    /// SSUBSCRIBE (shard channels: one shard here).
    Shard = 2,
}

impl Kind {
    /// The reply words of (un)subscribing and of a message.
    pub fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Channel => ("subscribe", "unsubscribe", "message"),
            Kind::Pattern => ("psubscribe", "punsubscribe", "pmessage"),
            Kind::Shard => ("ssubscribe", "sunsubscribe", "smessage"),
        }
    }
}

/// One client's subscriptions, in name order.
#[derive(Debug, Default)]
pub struct Subscriptions {
    sets: [BTreeSet<Vec<u8>>; 3],
}

impl Subscriptions {
    /// The client's subscriptions of `kind`.
    pub fn of(&self, kind: Kind) -> &BTreeSet<Vec<u8>> {
        &self.sets[kind as usize]
    }
}

type Subscribers = BTreeMap<u64, Arc<Client>>;

/// Output limits for a class of clients: hard bytes, soft bytes, soft seconds (0: none).
#[derive(Debug, Default)]
struct Limits {
    hard: AtomicU64,
    soft: AtomicU64,
    soft_secs: AtomicU64,
}

/// Every subscription and monitor.
#[derive(Debug)]
pub struct PubSub {
    maps: [RwLock<HashMap<Vec<u8>, Subscribers>>; 3],
    monitors: RwLock<Subscribers>,
    patterns: AtomicUsize,
    monitoring: AtomicUsize,
    /// `client-output-buffer-limit pubsub`.
    pubsub_limits: Limits,
    /// `client-output-buffer-limit normal` (for monitors; see [`PubSub::set_limits`]).
    normal_limits: Limits,
    epoch: Instant,
    /// Clients closed for passing their output limit (`INFO stats`).
    pub limit_disconnections: AtomicU64,
}

impl Default for PubSub {
    fn default() -> Self {
        PubSub {
            maps: Default::default(),
            monitors: RwLock::default(),
            patterns: AtomicUsize::new(0),
            monitoring: AtomicUsize::new(0),
            pubsub_limits: Limits::default(),
            normal_limits: Limits::default(),
            epoch: Instant::now(),
            limit_disconnections: AtomicU64::new(0),
        }
    }
}

impl PubSub {
    /// Sets the output limits from `client-output-buffer-limit`'s value (`normal h s t
    /// slave h s t pubsub h s t`).
    pub fn set_limits(&self, value: &str) {
        let words: Vec<&str> = value.split_whitespace().collect();
        for group in words.chunks_exact(4) {
            let limits = match group[0] {
                "normal" => &self.normal_limits,
                "pubsub" => &self.pubsub_limits,
                _ => continue,
            };
            let n = |s: &str| s.parse::<u64>().unwrap_or(0);
            limits.hard.store(n(group[1]), Ordering::Relaxed);
            limits.soft.store(n(group[2]), Ordering::Relaxed);
            limits.soft_secs.store(n(group[3]), Ordering::Relaxed);
        }
    }

    /// Subscribes `client` to `name` (nothing if it already is).
    pub fn subscribe(&self, client: &Arc<Client>, kind: Kind, name: &[u8]) {
        let outbox = &client.outbox;
        let mut subs = outbox.subs.lock().unwrap_or_else(|e| e.into_inner());
        if !subs.sets[kind as usize].insert(name.to_vec()) {
            return;
        }
        outbox.counts[kind as usize].fetch_add(1, Ordering::Relaxed);
        let mut map = self.maps[kind as usize]
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let subscribers = map.entry(name.to_vec()).or_default();
        if subscribers.is_empty() && kind == Kind::Pattern {
            self.patterns.fetch_add(1, Ordering::Relaxed);
        }
        subscribers.insert(client.id, Arc::clone(client));
    }

    /// Unsubscribes `client` from `name`.
    pub fn unsubscribe(&self, client: &Client, kind: Kind, name: &[u8]) {
        let outbox = &client.outbox;
        let mut subs = outbox.subs.lock().unwrap_or_else(|e| e.into_inner());
        if !subs.sets[kind as usize].remove(name) {
            return;
        }
        outbox.counts[kind as usize].fetch_sub(1, Ordering::Relaxed);
        self.forget(client.id, kind, name);
    }

    fn forget(&self, id: u64, kind: Kind, name: &[u8]) {
        let mut map = self.maps[kind as usize]
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(subscribers) = map.get_mut(name) {
            subscribers.remove(&id);
            if subscribers.is_empty() {
                map.remove(name);
                if kind == Kind::Pattern {
                    self.patterns.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// The client's subscriptions of `kind`, in order.
    pub fn subscriptions(&self, client: &Client, kind: Kind) -> Vec<Vec<u8>> {
        let subs = client.outbox.subs.lock().unwrap_or_else(|e| e.into_inner());
        subs.of(kind).iter().cloned().collect()
    }

    /// The count a (un)subscribe reply carries: channels and patterns together, shard
    /// channels on their own (as Redis 7.0 counts them).
    pub fn reply_count(client: &Client, kind: Kind) -> i64 {
        let o = &client.outbox;
        i64::from(match kind {
            Kind::Shard => o.count(Kind::Shard),
            _ => o.count(Kind::Channel) + o.count(Kind::Pattern),
        })
    }

    /// Drops every subscription of a client (RESET, or it is gone) and its monitor mode.
    pub fn leave(&self, client: &Client) {
        let outbox = &client.outbox;
        let sets = {
            let mut subs = outbox.subs.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut subs.sets)
        };
        for (i, set) in sets.iter().enumerate() {
            let kind = [Kind::Channel, Kind::Pattern, Kind::Shard][i];
            for name in set {
                self.forget(client.id, kind, name);
            }
            outbox.counts[i].store(0, Ordering::Relaxed);
        }
        self.stop_monitor(client);
    }

    /// Publishes `message` on `channel` (PUBLISH; SPUBLISH with `Kind::Shard`): returns how
    /// many deliveries were made (a client matched by two patterns gets two).
    pub fn publish(&self, kind: Kind, channel: &[u8], message: &[u8]) -> usize {
        let bulk = |b: &[u8]| Reply::Bulk(b.to_vec());
        let mut delivered = 0;
        {
            let map = self.maps[kind as usize]
                .read()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(subscribers) = map.get(channel) {
                let frame = Frame::push(vec![
                    bulk(kind.words().2.as_bytes()),
                    bulk(channel),
                    bulk(message),
                ]);
                for c in subscribers.values() {
                    self.deliver(c, frame.clone(), &self.pubsub_limits);
                }
                delivered += subscribers.len();
            }
        }
        if kind == Kind::Channel && self.patterns.load(Ordering::Relaxed) > 0 {
            let map = self.maps[Kind::Pattern as usize]
                .read()
                .unwrap_or_else(|e| e.into_inner());
            for (pattern, subscribers) in map.iter() {
                if !strata_redis::pattern::matches(pattern, channel) {
                    continue;
                }
                let frame = Frame::push(vec![
                    bulk(b"pmessage"),
                    bulk(pattern),
                    bulk(channel),
                    bulk(message),
                ]);
                for c in subscribers.values() {
                    self.deliver(c, frame.clone(), &self.pubsub_limits);
                }
                delivered += subscribers.len();
            }
        }
        delivered
    }

    /// Appends `frame` to the client's outbox and wakes it; a client past its output limit
    /// is closed (its outbox emptied at once).
    fn deliver(&self, client: &Client, frame: Frame, limits: &Limits) {
        let outbox = &client.outbox;
        if client.killed.load(Ordering::Relaxed) {
            return;
        }
        let len = frame.len();
        let bytes = {
            let mut queue = outbox.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.push_back(frame);
            outbox.bytes.fetch_add(len, Ordering::AcqRel) + len
        } as u64;
        let hard = limits.hard.load(Ordering::Relaxed);
        let soft = limits.soft.load(Ordering::Relaxed);
        let mut over = hard > 0 && bytes > hard;
        if !over && soft > 0 && bytes > soft {
            let now = self.epoch.elapsed().as_millis() as u64 + 1;
            let since = match outbox.soft_since_ms.compare_exchange(
                0,
                now,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => now,
                Err(t) => t,
            };
            over = now - since > limits.soft_secs.load(Ordering::Relaxed) * 1000;
        }
        if over {
            self.limit_disconnections.fetch_add(1, Ordering::Relaxed);
            crate::log(&format!(
                "strata-server: client id={} addr={} closed for overcoming of output buffer \
                 limits ({bytes} bytes waiting)",
                client.id, client.addr
            ));
            client.killed.store(true, Ordering::Relaxed);
            let mut queue = outbox.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.clear();
            outbox.bytes.store(0, Ordering::Release);
            drop(queue);
            client.kill.notify_one();
            return;
        }
        outbox.ready.notify_one();
    }

    /// The channels (or shard channels) with at least one subscriber, matching `pattern` if
    /// given (PUBSUB CHANNELS / SHARDCHANNELS).
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let map = self.maps[kind as usize]
            .read()
            .unwrap_or_else(|e| e.into_inner());
        map.keys()
            .filter(|c| pattern.is_none_or(|p| strata_redis::pattern::matches(p, c)))
            .cloned()
            .collect()
    }

    /// Subscribers of one channel (PUBSUB NUMSUB / SHARDNUMSUB).
    pub fn numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        let map = self.maps[kind as usize]
            .read()
            .unwrap_or_else(|e| e.into_inner());
        map.get(channel).map_or(0, BTreeMap::len)
    }

    /// Distinct patterns subscribed to (PUBSUB NUMPAT).
    pub fn numpat(&self) -> usize {
        self.patterns.load(Ordering::Relaxed)
    }

    /// Channels and patterns with subscribers (`INFO stats`' `pubsub_channels`,
    /// `pubsub_patterns`, `pubsubshard_channels`).
    pub fn sizes(&self) -> [usize; 3] {
        [0, 1, 2].map(|i| self.maps[i].read().map_or(0, |m| m.len()))
    }

    /// Puts `client` in MONITOR mode.
    pub fn start_monitor(&self, client: &Arc<Client>) {
        if !client.outbox.monitor.swap(true, Ordering::Relaxed) {
            self.monitors
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(client.id, Arc::clone(client));
            self.monitoring.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn stop_monitor(&self, client: &Client) {
        if client.outbox.monitor.swap(false, Ordering::Relaxed) {
            self.monitors
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&client.id);
            self.monitoring.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Queues `frame` for `client` (a tracking message), held to the normal clients' output
    /// limit, or the Pub/Sub one while that is unlimited.
    pub fn send(&self, client: &Client, frame: Frame) {
        self.deliver(client, frame, self.reply_limits());
    }

    /// The limits of a client that is not a subscriber (see [`PubSub::send`]).
    fn reply_limits(&self) -> &Limits {
        if self.normal_limits.hard.load(Ordering::Relaxed) > 0
            || self.normal_limits.soft.load(Ordering::Relaxed) > 0
        {
            &self.normal_limits
        } else {
            &self.pubsub_limits
        }
    }

    /// Whether anyone monitors (one atomic load: commands check it before formatting).
    pub fn monitoring(&self) -> bool {
        self.monitoring.load(Ordering::Relaxed) > 0
    }

    /// Sends a command to every monitor, in Redis's line format: `+<unix time> [<db>
    /// <address>] "arg" ...` (`lua` as the address of a script's commands).
    pub fn feed_monitors(&self, db: u8, from: Option<SocketAddr>, argv: &[Vec<u8>]) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = format!("+{}.{:06} [{db} ", now.as_secs(), now.subsec_micros());
        match from {
            Some(addr) => line.push_str(&addr.to_string()),
            None => line.push_str("lua"),
        }
        line.push(']');
        let mut bytes = line.into_bytes();
        for (i, arg) in argv.iter().enumerate() {
            bytes.push(b' ');
            if redacted(argv, i) {
                bytes.extend_from_slice(b"\"(redacted)\"");
            } else {
                repr(arg, &mut bytes);
            }
        }
        bytes.extend_from_slice(b"\r\n");
        let frame = Frame::Raw(bytes.into());
        let monitors = self.monitors.read().unwrap_or_else(|e| e.into_inner());
        for c in monitors.values() {
            // A monitor that does not read is held to the normal clients' limit, or the
            // Pub/Sub one when that is unlimited (Redis leaves it unlimited).
            self.deliver(c, frame.clone(), self.reply_limits());
        }
    }
}

/// Whether MONITOR hides argument `i` of `argv` (passwords: AUTH's, HELLO ... AUTH's,
/// MIGRATE ... AUTH/AUTH2's).
fn redacted(argv: &[Vec<u8>], i: usize) -> bool {
    let name = argv[0].to_ascii_lowercase();
    let after = |word: &[u8], n: usize| {
        argv.iter()
            .position(|a| a.eq_ignore_ascii_case(word))
            .is_some_and(|at| i > at && i <= at + n)
    };
    match name.as_slice() {
        b"auth" => i >= 1,
        b"hello" => after(b"auth", 2),
        b"migrate" => after(b"auth", 1) || after(b"auth2", 2),
        _ => false,
    }
}

/// `s` in double quotes with Redis's escapes (`sdscatrepr`).
pub fn repr(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            b if b.is_ascii_graphic() || b == b' ' => out.push(b),
            b => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_escapes_like_redis() {
        let mut out = Vec::new();
        repr(b"a\"b\\c\n\x01 d", &mut out);
        assert_eq!(out, b"\"a\\\"b\\\\c\\n\\x01 d\"");
    }

    #[test]
    fn passwords_are_redacted() {
        let argv =
            |s: &str| -> Vec<Vec<u8>> { s.split(' ').map(|w| w.as_bytes().to_vec()).collect() };
        let a = argv("hello 3 AUTH user pass SETNAME x");
        let hidden: Vec<usize> = (0..a.len()).filter(|&i| redacted(&a, i)).collect();
        assert_eq!(hidden, [3, 4]);
        let a = argv("auth pass");
        assert!(redacted(&a, 1) && !redacted(&a, 0));
        let a = argv("migrate h 1 k 0 5000 AUTH2 u p KEYS a");
        let hidden: Vec<usize> = (0..a.len()).filter(|&i| redacted(&a, i)).collect();
        assert_eq!(hidden, [7, 8]);
    }
}
