//! Keyspace notifications (`notify-keyspace-events`): after a write command, the events
//! Redis emits for it are published on `__keyspace@<db>__:<key>` (the event as message) and
//! `__keyevent@<db>__:<event>` (the key as message), for the classes switched on.
//!
//! Each command's events follow Redis's `notifyKeyspaceEvent` calls: the event name (often
//! not the command's: INCR emits `incrby`, HMSET `hset`), its class, the keys, and when it
//! fires (SADD only if it added a member). Two events are found by looking at the keys
//! before and after the command, only while they are switched on: `new` (a key that did not
//! exist and does now) and `del` (a key that existed and does not: DEL, UNLINK, GETDEL, and a
//! collection whose last element went). `expired` comes from the store, when the expire
//! cycle or a write removes an expired key.
//!
//! With notifications off (the default) a command pays one atomic load.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::events::{
    GENERIC, HASH, KEYEVENT, KEYSPACE, KEY_MISS, LIST, NEW, SET, STRING, ZSET,
};
use crate::pubsub::Kind;
use crate::resp::Reply;
use crate::server::Server;

/// The classes switched on (`notify-keyspace-events`, parsed).
#[derive(Debug, Default)]
pub struct Notifications {
    flags: AtomicU32,
}

impl Notifications {
    /// Sets the classes.
    pub fn set(&self, flags: u32) {
        self.flags.store(flags, Ordering::Relaxed);
    }

    /// Whether any event is published at all (a channel kind and a class).
    pub fn on(&self) -> bool {
        let f = self.flags.load(Ordering::Relaxed);
        f & (KEYSPACE | KEYEVENT) != 0 && f & !(KEYSPACE | KEYEVENT) != 0
    }

    /// Whether `keymiss` events are wanted (reads of missing keys).
    pub fn wants_keymiss(&self) -> bool {
        let f = self.flags.load(Ordering::Relaxed);
        f & KEY_MISS != 0 && f & (KEYSPACE | KEYEVENT) != 0
    }

    /// Whether `new` or `del` events are wanted: they need the keys looked at before and
    /// after the command.
    pub fn wants_existence(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & (NEW | GENERIC) != 0
    }
}

/// One event a command emits.
#[derive(Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// Its class (`GENERIC`, `STRING`, ...).
    pub class: u32,
    /// Its name (`set`, `lpush`, `rename_from`, ...).
    pub name: &'static str,
    /// The key.
    pub key: &'a [u8],
    /// The database, when not the client's (MOVE's and COPY's destination).
    pub db: Option<u8>,
}

impl Server {
    /// Publishes one event of `class` named `event` for `key` in database `db`, if its class
    /// is switched on.
    pub fn notify(&self, class: u32, event: &str, key: &[u8], db: u8) {
        let flags = self.notifications.flags.load(Ordering::Relaxed);
        if flags & class == 0 {
            return;
        }
        if flags & KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            self.pubsub
                .publish(Kind::Channel, &channel, event.as_bytes());
        }
        if flags & KEYEVENT != 0 {
            let channel = format!("__keyevent@{db}__:{event}");
            self.pubsub.publish(Kind::Channel, channel.as_bytes(), key);
        }
    }
}

fn has(args: &[Vec<u8>], word: &[u8]) -> bool {
    args.iter().any(|a| a.eq_ignore_ascii_case(word))
}

fn positive(reply: &Reply) -> bool {
    matches!(reply, Reply::Integer(n) if *n > 0)
}

fn is_null(reply: &Reply) -> bool {
    matches!(reply, Reply::Null | Reply::NullArray)
}

/// A non-empty array reply (what the pops answer when they popped).
fn non_empty(reply: &Reply) -> bool {
    match reply {
        Reply::Array(a) | Reply::Set(a) => !a.is_empty(),
        Reply::Null | Reply::NullArray => false,
        _ => true,
    }
}

/// The key an LMPOP/ZMPOP/BLPOP-style reply names first.
fn first_key(reply: &Reply) -> Option<&[u8]> {
    match reply {
        Reply::Array(items) => match items.first() {
            Some(Reply::Bulk(k)) => Some(k),
            _ => None,
        },
        _ => None,
    }
}

/// The events a successful write command emits, in Redis's order, besides `new` and `del`
/// (see the module comment). `gone(key)` says whether the command removed `key`.
pub fn command_events<'a>(
    name: &'static str,
    args: &'a [Vec<u8>],
    reply: &'a Reply,
    gone: &dyn Fn(&[u8]) -> bool,
) -> Vec<Event<'a>> {
    let ev = |class, name, key: &'a [u8]| Event {
        class,
        name,
        key,
        db: None,
    };
    let key = args.first().map_or(&[][..], Vec::as_slice);
    let second = args.get(1).map_or(&[][..], Vec::as_slice);
    let mut out = Vec::new();
    let ttl_option = || {
        ["ex", "px", "exat", "pxat"]
            .iter()
            .any(|o| has(&args[2.min(args.len())..], o.as_bytes()))
    };
    match name {
        // Strings.
        "set" => {
            let refused =
                is_null(reply) && !has(args, b"get") && (has(args, b"nx") || has(args, b"xx"));
            if !refused {
                out.push(ev(STRING, "set", key));
                if ttl_option() {
                    out.push(ev(GENERIC, "expire", key));
                }
            }
        }
        "setex" | "psetex" => {
            out.push(ev(STRING, "set", key));
            out.push(ev(GENERIC, "expire", key));
        }
        "setnx" if positive(reply) => out.push(ev(STRING, "set", key)),
        "getset" => out.push(ev(STRING, "set", key)),
        "mset" => out.extend(args.iter().step_by(2).map(|k| ev(STRING, "set", k))),
        "msetnx" if positive(reply) => {
            out.extend(args.iter().step_by(2).map(|k| ev(STRING, "set", k)));
        }
        "append" => out.push(ev(STRING, "append", key)),
        "setrange" if args.get(2).is_some_and(|v| !v.is_empty()) => {
            out.push(ev(STRING, "setrange", key));
        }
        "incr" | "decr" | "incrby" | "decrby" => out.push(ev(STRING, "incrby", key)),
        "incrbyfloat" => out.push(ev(STRING, "incrbyfloat", key)),
        "getex" if !is_null(reply) => {
            if has(&args[1..], b"persist") {
                out.push(ev(GENERIC, "persist", key));
            } else if args.len() > 1 {
                out.push(ev(GENERIC, "expire", key));
            }
        }
        "setbit" => out.push(ev(STRING, "setbit", key)),
        "bitfield" if has(&args[1..], b"set") || has(&args[1..], b"incrby") => {
            out.push(ev(STRING, "setbit", key));
        }
        "bitop" if !gone(second) && positive(reply) => out.push(ev(STRING, "set", second)),
        "pfadd" if positive(reply) => out.push(ev(STRING, "pfadd", key)),
        "pfmerge" => out.push(ev(STRING, "pfadd", key)),
        // Keys.
        "expire" | "pexpire" | "expireat" | "pexpireat" if positive(reply) && !gone(key) => {
            out.push(ev(GENERIC, "expire", key));
        }
        "persist" if positive(reply) => out.push(ev(GENERIC, "persist", key)),
        "rename" | "renamenx" if matches!(reply, Reply::Simple(_)) || positive(reply) => {
            out.push(ev(GENERIC, "rename_from", key));
            out.push(ev(GENERIC, "rename_to", second));
        }
        "move" if positive(reply) => {
            out.push(ev(GENERIC, "move_from", key));
            let db = std::str::from_utf8(second)
                .ok()
                .and_then(|d| d.parse().ok());
            out.push(Event {
                class: GENERIC,
                name: "move_to",
                key,
                db,
            });
        }
        "copy" if positive(reply) => {
            let at = args.iter().position(|a| a.eq_ignore_ascii_case(b"db"));
            let db = at
                .and_then(|i| args.get(i + 1))
                .and_then(|d| std::str::from_utf8(d).ok()?.parse().ok());
            out.push(Event {
                class: GENERIC,
                name: "copy_to",
                key: second,
                db,
            });
        }
        "restore" => out.push(ev(GENERIC, "restore", key)),
        "sort" => {
            if let Some(i) = args.iter().position(|a| a.eq_ignore_ascii_case(b"store")) {
                if let Some(dst) = args.get(i + 1) {
                    if positive(reply) {
                        out.push(ev(LIST, "sortstore", dst));
                    }
                }
            }
        }
        // Lists.
        "lpush" | "rpush" => out.push(ev(LIST, &name[..5], key)),
        "lpushx" | "rpushx" if positive(reply) => out.push(ev(LIST, &name[..5], key)),
        "linsert" if positive(reply) => out.push(ev(LIST, "linsert", key)),
        "lset" => out.push(ev(LIST, "lset", key)),
        "lpop" | "rpop" if non_empty(reply) => out.push(ev(LIST, name, key)),
        "blpop" | "brpop" => {
            if let Some(k) = first_key(reply) {
                out.push(ev(LIST, &name[1..], k));
            }
        }
        "lmpop" | "blmpop" => {
            if let Some(k) = first_key(reply) {
                let left = has(args, b"left");
                out.push(ev(LIST, if left { "lpop" } else { "rpop" }, k));
            }
        }
        "rpoplpush" | "brpoplpush" if !is_null(reply) => {
            out.push(ev(LIST, "rpop", key));
            out.push(ev(LIST, "lpush", second));
        }
        "lmove" | "blmove" if !is_null(reply) => {
            let from_left = args.get(2).is_some_and(|w| w.eq_ignore_ascii_case(b"left"));
            let to_left = args.get(3).is_some_and(|w| w.eq_ignore_ascii_case(b"left"));
            out.push(ev(LIST, if from_left { "lpop" } else { "rpop" }, key));
            out.push(ev(LIST, if to_left { "lpush" } else { "rpush" }, second));
        }
        "ltrim" => out.push(ev(LIST, "ltrim", key)),
        "lrem" if positive(reply) => out.push(ev(LIST, "lrem", key)),
        // Sets.
        "sadd" if positive(reply) => out.push(ev(SET, "sadd", key)),
        "srem" if positive(reply) => out.push(ev(SET, "srem", key)),
        "spop" if non_empty(reply) => out.push(ev(SET, "spop", key)),
        "smove" if positive(reply) => {
            out.push(ev(SET, "srem", key));
            out.push(ev(SET, "sadd", second));
        }
        "sinterstore" | "sunionstore" | "sdiffstore" if positive(reply) => {
            out.push(ev(SET, name, key));
        }
        // Hashes.
        "hset" | "hmset" => out.push(ev(HASH, "hset", key)),
        "hsetnx" if positive(reply) => out.push(ev(HASH, "hset", key)),
        "hdel" if positive(reply) => out.push(ev(HASH, "hdel", key)),
        "hincrby" | "hincrbyfloat" => out.push(ev(HASH, name, key)),
        // Sorted sets.
        "zadd" | "geoadd" => {
            if has(args, b"incr") {
                if !is_null(reply) {
                    out.push(ev(ZSET, "zincr", key));
                }
            } else if positive(reply) || !has(args, b"nx") {
                // Without CH the reply counts only new members: a score update is not
                // seen in it, so the event is sent unless NX added nothing.
                out.push(ev(ZSET, "zadd", key));
            }
        }
        "zincrby" => out.push(ev(ZSET, "zincr", key)),
        "zrem" if positive(reply) => out.push(ev(ZSET, "zrem", key)),
        "zremrangebyscore" | "zremrangebyrank" | "zremrangebylex" if positive(reply) => {
            out.push(ev(ZSET, name, key));
        }
        "zpopmin" | "zpopmax" if non_empty(reply) => out.push(ev(ZSET, name, key)),
        "bzpopmin" | "bzpopmax" => {
            if let Some(k) = first_key(reply) {
                out.push(ev(ZSET, &name[1..], k));
            }
        }
        "zmpop" | "bzmpop" => {
            if let Some(k) = first_key(reply) {
                let min = has(args, b"min");
                out.push(ev(ZSET, if min { "zpopmin" } else { "zpopmax" }, k));
            }
        }
        "zunionstore" | "zinterstore" | "zdiffstore" | "zrangestore" if positive(reply) => {
            out.push(ev(ZSET, name, key));
        }
        "geosearchstore" if positive(reply) => out.push(ev(ZSET, "geosearchstore", key)),
        "georadius" | "georadiusbymember" if positive(reply) => {
            if let Some(i) = args.iter().position(|a| {
                a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist")
            }) {
                if let Some(dst) = args.get(i + 1) {
                    out.push(ev(ZSET, "georadiusstore", dst));
                }
            }
        }
        _ => {}
    }
    out
}

/// Read commands whose misses are not `keymiss` events (Redis looks their keys up without
/// notifying: they ask whether a key exists, or about it).
pub fn quiet_reads(name: &str) -> bool {
    matches!(
        name,
        "exists"
            | "type"
            | "ttl"
            | "pttl"
            | "expiretime"
            | "pexpiretime"
            | "object"
            | "touch"
            | "memory"
            | "dump"
            | "scan"
            | "keys"
            | "randomkey"
            | "dbsize"
    )
}

/// Commands whose removed keys are not `del` events (they report them their own way).
pub fn moves_keys(name: &str) -> bool {
    matches!(name, "rename" | "renamenx" | "move")
}
