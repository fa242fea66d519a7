//! What the server tells about itself: `COMMAND` (the command table as Redis 7 reports it),
//! `TIME`, `SLOWLOG`, `MEMORY` and `OBJECT`.

use std::sync::atomic::Ordering;

use super::number::parse_i64;
use super::reply::{
    bulk, help, not_an_integer, store_error, syntax_error, unknown_subcommand, wrong_arity,
    CmdResult,
};
use super::{command_keys, lookup, Command, COMMANDS};
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

/// One `COMMAND INFO` entry (Redis 7 layout: name, arity, flags, first key, last key, step,
/// ACL categories, tips, key specs, subcommands).
fn command_info(c: &Command) -> Reply {
    Reply::Array(vec![
        bulk(c.name),
        Reply::Integer(i64::from(c.arity)),
        Reply::Set(c.flags.iter().map(|f| Reply::Simple((*f).into())).collect()),
        Reply::Integer(i64::from(c.first_key)),
        Reply::Integer(i64::from(c.last_key)),
        Reply::Integer(i64::from(c.step)),
        Reply::Set(
            categories_of(c.name, c)
                .into_iter()
                .map(|k| Reply::Simple(format!("@{k}")))
                .collect(),
        ),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
    ])
}

fn command_docs(c: &Command) -> Reply {
    Reply::Map(vec![
        (bulk("summary"), bulk(c.summary)),
        (bulk("since"), bulk(c.since)),
        (bulk("group"), bulk(c.group)),
    ])
}

/// Every container's subcommands, as COMMAND LIST names them (`client|list`).
const SUBCOMMANDS: &[(&str, &[&str])] = &[
    (
        "client",
        &[
            "id",
            "getname",
            "setname",
            "setinfo",
            "info",
            "list",
            "kill",
            "reply",
            "unblock",
            "pause",
            "unpause",
            "no-evict",
            "no-touch",
            "tracking",
            "caching",
            "getredir",
            "trackinginfo",
            "help",
        ],
    ),
    (
        "command",
        &["count", "info", "docs", "getkeys", "list", "help"],
    ),
    (
        "acl",
        &[
            "cat", "deluser", "dryrun", "genpass", "getuser", "list", "load", "log", "save",
            "setuser", "users", "whoami", "help",
        ],
    ),
    // Redis's CLUSTER subcommands: each answers that cluster support is disabled, as Redis
    // does when it runs without cluster mode.
    (
        "cluster",
        &[
            "addslots",
            "addslotsrange",
            "bumpepoch",
            "count-failure-reports",
            "countkeysinslot",
            "delslots",
            "delslotsrange",
            "failover",
            "flushslots",
            "forget",
            "getkeysinslot",
            "help",
            "info",
            "keyslot",
            "links",
            "meet",
            "myid",
            "nodes",
            "replicas",
            "replicate",
            "reset",
            "saveconfig",
            "set-config-epoch",
            "setslot",
            "shards",
            "slaves",
            "slots",
        ],
    ),
    ("config", &["get", "set", "resetstat", "rewrite", "help"]),
    (
        "function",
        &[
            "load", "delete", "flush", "list", "stats", "kill", "dump", "restore", "help",
        ],
    ),
    (
        "latency",
        &["histogram", "latest", "history", "reset", "help"],
    ),
    (
        "memory",
        &["usage", "doctor", "malloc-stats", "purge", "help"],
    ),
    (
        "object",
        &["encoding", "refcount", "idletime", "freq", "help"],
    ),
    (
        "pubsub",
        &[
            "channels",
            "numsub",
            "numpat",
            "shardchannels",
            "shardnumsub",
            "help",
        ],
    ),
    ("script", &["load", "exists", "flush", "kill", "help"]),
    ("slowlog", &["get", "len", "reset", "help"]),
];

/// The subcommands of container `name` (none for other commands).
pub(crate) fn subcommands(name: &str) -> &'static [&'static str] {
    SUBCOMMANDS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(&[][..], |(_, s)| *s)
}

/// A command's (or `container|sub`'s) ACL categories (without `@`): Redis's, from its
/// command table; for a command Redis does not have, derived from its flags and group.
pub(crate) fn categories_of(full_name: &str, c: &Command) -> Vec<&'static str> {
    match super::acl_categories::ACL_CATEGORIES.binary_search_by(|(n, _)| (*n).cmp(full_name)) {
        Ok(i) => super::acl_categories::ACL_CATEGORIES[i].1.to_vec(),
        Err(_) => acl_categories(c),
    }
}

/// A command's ACL categories derived as Redis assigns them: its flags (`write`, `read`,
/// `fast` or `slow`, `blocking`) and its group's data type (`keyspace` for generic commands,
/// `admin` for the server's).
fn acl_categories(c: &Command) -> Vec<&'static str> {
    let mut cats = Vec::new();
    if c.flags.contains(&"write") {
        cats.push("write");
    }
    if c.flags.contains(&"readonly") {
        cats.push("read");
    }
    cats.push(if c.flags.contains(&"fast") {
        "fast"
    } else {
        "slow"
    });
    if c.flags.contains(&"blocking") {
        cats.push("blocking");
    }
    cats.push(match c.group {
        "string" => "string",
        "list" => "list",
        "hash" => "hash",
        "set" => "set",
        "sorted-set" => "sortedset",
        "bitmap" => "bitmap",
        "hyperloglog" => "hyperloglog",
        "geo" => "geo",
        "generic" => "keyspace",
        "connection" => "connection",
        "transactions" => "transaction",
        "scripting" => "scripting",
        "pubsub" => "pubsub",
        _ => "admin",
    });
    cats
}

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`: commands and
/// their subcommands (`client|list`).
fn command_list(args: &[Vec<u8>]) -> Result<Reply, Reply> {
    let filter = match args {
        [] => None,
        [by, kind, value] if by.eq_ignore_ascii_case(b"filterby") => {
            match kind.to_ascii_lowercase().as_slice() {
                b"module" | b"aclcat" | b"pattern" => Some((kind.to_ascii_lowercase(), value)),
                _ => return Err(super::reply::syntax_error()),
            }
        }
        _ => return Err(super::reply::syntax_error()),
    };
    let mut out = Vec::new();
    for c in COMMANDS {
        let subs = SUBCOMMANDS
            .iter()
            .find(|(n, _)| *n == c.name)
            .map_or(&[][..], |(_, s)| *s);
        let names = std::iter::once(c.name.to_string())
            .chain(subs.iter().map(|s| format!("{}|{s}", c.name)));
        for name in names {
            let keep = match &filter {
                None => true,
                // No modules are loaded.
                Some((kind, _)) if kind == b"module" => false,
                Some((kind, cat)) if kind == b"aclcat" => categories_of(&name, c)
                    .iter()
                    .any(|k| k.as_bytes().eq_ignore_ascii_case(cat)),
                Some((_, pattern)) => strata_redis::pattern::matches(pattern, name.as_bytes()),
            };
            if keep {
                out.push(Reply::Bulk(name.into_bytes()));
            }
        }
    }
    Ok(Reply::Array(out))
}

/// `COMMAND [COUNT | INFO name... | DOCS name... | GETKEYS cmd args... | LIST | HELP]`.
pub(super) fn command(_server: &Server, _session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let Some(sub) = args.first() else {
        return Ok(Reply::Array(COMMANDS.iter().map(command_info).collect()));
    };
    let rest = &args[1..];
    let reply = match sub.to_ascii_lowercase().as_slice() {
        b"count" => Reply::Integer(COMMANDS.len() as i64),
        b"list" => command_list(rest)?,
        b"info" if rest.is_empty() => Reply::Array(COMMANDS.iter().map(command_info).collect()),
        b"info" => Reply::Array(
            rest.iter()
                .map(|n| lookup(n).map_or(Reply::Null, command_info))
                .collect(),
        ),
        b"docs" => {
            let list: Vec<&Command> = if rest.is_empty() {
                COMMANDS.iter().collect()
            } else {
                rest.iter().filter_map(|n| lookup(n)).collect()
            };
            Reply::Map(
                list.into_iter()
                    .map(|c| (bulk(c.name), command_docs(c)))
                    .collect(),
            )
        }
        b"getkeys" => {
            let Some(c) = rest.first().and_then(|n| lookup(n)) else {
                return Err(Reply::error("ERR Invalid command specified"));
            };
            let argc = rest.len() as i32;
            if (c.arity >= 0 && argc != c.arity) || argc < c.arity.abs() {
                return Err(Reply::error(
                    "ERR Invalid number of arguments specified for command",
                ));
            }
            let keys = command_keys(c, &rest[1..]);
            // A container's keys come from its subcommand (MEMORY USAGE key).
            let keyed_container = matches!(c.name, "memory" | "object") && !keys.is_empty();
            if c.first_key == 0 && !c.flags.contains(&"movablekeys") && !keyed_container {
                return Err(Reply::error("ERR The command has no key arguments"));
            }
            Reply::Array(keys.into_iter().map(|k| Reply::Bulk(k.clone())).collect())
        }
        b"help" => help(&[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "HELP",
            "    Print this help.",
        ]),
        _ => return Err(unknown_subcommand(sub, "command")),
    };
    Ok(reply)
}

pub(super) fn time(_server: &Server, _session: &mut Session, _args: &mut [Vec<u8>]) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Reply::Array(vec![
        bulk(now.as_secs().to_string()),
        bulk(now.subsec_micros().to_string()),
    ]))
}

/// `SLOWLOG GET [count] | LEN | RESET | HELP`.
pub(super) fn slowlog(server: &Server, _session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let Ok(mut log) = server.slowlog.lock() else {
        return Err(Reply::error("ERR slow log unavailable"));
    };
    let reply = match (args[0].to_ascii_lowercase().as_slice(), &args[1..]) {
        (b"len", []) => Reply::Integer(log.entries.len() as i64),
        (b"reset", []) => {
            log.entries.clear();
            Reply::ok()
        }
        (b"get", rest) if rest.len() <= 1 => {
            let count = match rest.first().map(|c| parse_i64(c)) {
                None => 10,
                Some(Some(-1)) => usize::MAX,
                Some(Some(n)) if n >= 0 => n as usize,
                Some(_) => {
                    return Err(Reply::error(
                        "ERR count should be greater than or equal to -1",
                    ))
                }
            };
            Reply::Array(
                log.entries
                    .iter()
                    .take(count)
                    .map(|e| {
                        Reply::Array(vec![
                            Reply::Integer(e.id as i64),
                            Reply::Integer(e.time as i64),
                            Reply::Integer(e.micros as i64),
                            Reply::Array(e.argv.iter().cloned().map(Reply::Bulk).collect()),
                            bulk(e.addr.clone()),
                            bulk(e.name.clone()),
                        ])
                    })
                    .collect(),
            )
        }
        (b"help", []) => help(&[
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Print this help.",
        ]),
        (b"len" | b"reset" | b"get" | b"help", _) => {
            return Err(wrong_arity(&format!(
                "slowlog|{}",
                String::from_utf8_lossy(&args[0]).to_ascii_lowercase()
            )))
        }
        _ => return Err(unknown_subcommand(&args[0], "slowlog")),
    };
    Ok(reply)
}

/// Elements a `MEMORY USAGE` of a collection samples by default (Redis's
/// `OBJ_COMPUTE_SIZE_DEF_SAMPLES`).
const MEMORY_USAGE_SAMPLES: usize = 5;

/// `MEMORY USAGE key [SAMPLES n]`, `MEMORY DOCTOR`, `MEMORY MALLOC-STATS`, `MEMORY PURGE`,
/// `MEMORY HELP`.
pub(super) fn memory(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    match (args[0].to_ascii_lowercase().as_slice(), &args[1..]) {
        (b"usage", [key, options @ ..]) => {
            let mut samples = MEMORY_USAGE_SAMPLES;
            let mut rest = options.iter();
            while let Some(option) = rest.next() {
                match (option.eq_ignore_ascii_case(b"samples"), rest.next()) {
                    (true, Some(n)) => {
                        samples = match parse_i64(n) {
                            Some(0) => 0,
                            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
                            Some(_) => return Err(syntax_error()),
                            None => return Err(not_an_integer()),
                        };
                    }
                    _ => return Err(syntax_error()),
                }
            }
            match server.store.memory_usage(session.db, key, samples) {
                Ok(Some(n)) => Ok(Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX))),
                Ok(None) => Ok(Reply::Null),
                Err(e) => Err(store_error(e)),
            }
        }
        (b"stats", []) => Ok(memory_stats(server)),
        (b"doctor", []) => Ok(bulk(
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.",
        )),
        (b"malloc-stats", []) => Ok(bulk(
            "Stats not supported for the current allocator",
        )),
        (b"purge", []) => Ok(Reply::ok()),
        (b"help", []) => Ok(help(&[
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ])),
        _ => Err(unknown_subcommand(&args[0], "memory")),
    }
}

/// `MEMORY STATS`: Redis's fields, from what this server measures. `total.allocated` is
/// `used_memory` (the engine's memtables, caches and table builders, as INFO reports it);
/// the allocator's and the process's figures come from glibc and `/proc`; the `strata.*`
/// fields split the engine's part.
fn memory_stats(server: &Server) -> Reply {
    let s = server.store.engine().stats();
    let total = s.memory.total();
    let startup = server.memory_startup();
    let peak = server.memory_peak(total);
    let rss = super::info::rss_bytes();
    let (allocated, active) = super::info::allocator_bytes().unwrap_or((total, total));
    let clients: u64 = server
        .clients
        .lock()
        .map(|c| {
            c.values()
                .map(|c| c.qbuf_cap.load(Ordering::Relaxed) + c.outbox.queued_bytes() as u64)
                .sum()
        })
        .unwrap_or(0);
    let lua = server.scripting.used_memory() as u64;
    let overhead = startup + clients + lua;
    let dbs = server.config.get_i64("databases").clamp(1, 256) as u8;
    let keys: u64 = (0..dbs).map(|db| server.store.counts_of(db).keys).sum();
    let dataset = total.saturating_sub(overhead.min(total));
    let ratio = |a: u64, b: u64| Reply::Double(a as f64 / b.max(1) as f64);
    let int = |n: u64| Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    Reply::Map(vec![
        (bulk("peak.allocated"), int(peak)),
        (bulk("total.allocated"), int(total)),
        (bulk("startup.allocated"), int(startup)),
        (bulk("replication.backlog"), int(0)),
        (bulk("clients.slaves"), int(0)),
        (bulk("clients.normal"), int(clients)),
        (bulk("cluster.links"), int(0)),
        (bulk("aof.buffer"), int(0)),
        (bulk("lua.caches"), int(lua)),
        (bulk("functions.caches"), int(0)),
        (bulk("overhead.total"), int(overhead)),
        (bulk("keys.count"), int(keys)),
        (
            bulk("keys.bytes-per-key"),
            int(total.saturating_sub(startup) / keys.max(1)),
        ),
        (bulk("dataset.bytes"), int(dataset)),
        (
            bulk("dataset.percentage"),
            Reply::Double(dataset as f64 * 100.0 / total.saturating_sub(startup).max(1) as f64),
        ),
        (
            bulk("peak.percentage"),
            Reply::Double(total as f64 * 100.0 / peak.max(1) as f64),
        ),
        (bulk("allocator.allocated"), int(allocated)),
        (bulk("allocator.active"), int(active)),
        (bulk("allocator.resident"), int(rss)),
        (
            bulk("allocator-fragmentation.ratio"),
            ratio(active, allocated),
        ),
        (
            bulk("allocator-fragmentation.bytes"),
            int(active.saturating_sub(allocated)),
        ),
        (bulk("allocator.rss-ratio"), ratio(rss, active)),
        (bulk("allocator.rss-bytes"), int(rss.saturating_sub(active))),
        (bulk("rss-overhead.ratio"), Reply::Double(1.0)),
        (bulk("rss-overhead.bytes"), int(0)),
        (bulk("fragmentation"), ratio(rss, total)),
        (bulk("fragmentation.bytes"), int(rss.saturating_sub(total))),
        (bulk("strata.memtables"), int(s.memory.memtables)),
        (bulk("strata.block-cache"), int(s.block_cache_bytes)),
        (
            bulk("strata.pinned-index-and-filters"),
            int(s.memory.pinned_index_and_filters),
        ),
        (bulk("strata.table-builders"), int(s.memory.table_builders)),
    ])
}

/// The `*-max-*` settings `OBJECT ENCODING` answers by.
fn encoding_limits(server: &Server) -> strata_redis::EncodingLimits {
    let get = |name: &str| server.config.get_i64(name).max(0).unsigned_abs();
    strata_redis::EncodingLimits {
        hash_entries: get("hash-max-listpack-entries"),
        hash_value: get("hash-max-listpack-value"),
        set_intset_entries: get("set-max-intset-entries"),
        set_entries: get("set-max-listpack-entries"),
        set_value: get("set-max-listpack-value"),
        zset_entries: get("zset-max-listpack-entries"),
        zset_value: get("zset-max-listpack-value"),
        list_size: server.config.get_i64("list-max-listpack-size"),
    }
}

/// Redis's reference count of a shared object (the integers 0..9999 it keeps once).
const SHARED_REFCOUNT: i64 = 2_147_483_647;

/// `OBJECT ENCODING|REFCOUNT|IDLETIME|FREQ key`, `OBJECT HELP`.
pub(super) fn object(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let sub = args[0].to_ascii_lowercase();
    if sub == b"help" && args.len() == 1 {
        return Ok(help(&[
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ]));
    }
    let [_, key] = args else {
        return Err(unknown_subcommand(&args[0], "object"));
    };
    let encoding = server
        .store
        .object_encoding(session.db, key, &encoding_limits(server))
        .map_err(store_error)?;
    let Some(encoding) = encoding else {
        return Ok(Reply::Null);
    };
    match sub.as_slice() {
        b"encoding" => Ok(bulk(encoding)),
        b"refcount" => {
            let shared = encoding == "int"
                && server
                    .store
                    .get(session.db, key)
                    .ok()
                    .flatten()
                    .and_then(|v| parse_i64(&v))
                    .is_some_and(|n| (0..10_000).contains(&n));
            Ok(Reply::Integer(if shared { SHARED_REFCOUNT } else { 1 }))
        }
        // Keys are not tracked for access yet (issue 26): every key reads as just used.
        b"idletime" => Ok(Reply::Integer(0)),
        b"freq" => Err(Reply::error(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        )),
        _ => Err(unknown_subcommand(&args[0], "object")),
    }
}

/// `CLUSTER ...`: Strata runs as one node, as Redis does with `cluster-enabled no`.
pub(super) fn cluster(
    _server: &Server,
    _session: &mut Session,
    _args: &mut [Vec<u8>],
) -> CmdResult {
    Err(Reply::error(
        "ERR This instance has cluster support disabled",
    ))
}
