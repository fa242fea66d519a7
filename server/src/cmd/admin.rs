//! Connection and server commands: PING ECHO QUIT RESET HELLO AUTH CLIENT COMMAND INFO CONFIG
//! TIME SLOWLOG LASTSAVE SAVE BGSAVE SHUTDOWN.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::number::parse_i64;
use super::reply::{bulk, help, store_error, syntax_error, unknown_subcommand, wrong_arity};
use super::{lookup, Command, COMMANDS};
use crate::resp::{Protocol, Reply};
use crate::server::{unix_secs, Server, REDIS_COMPAT_VERSION};
use crate::session::Session;

pub(super) fn ping(_server: &Server, _session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match args {
        [] => Reply::Simple("PONG".into()),
        [msg] => Reply::Bulk(msg.clone()),
        _ => wrong_arity("ping"),
    }
}

pub(super) fn echo(_server: &Server, _session: &mut Session, args: &[Vec<u8>]) -> Reply {
    Reply::Bulk(args[0].clone())
}

pub(super) fn quit(_server: &Server, session: &mut Session, _args: &[Vec<u8>]) -> Reply {
    session.quit = true;
    Reply::ok()
}

/// Whether a password is required.
fn password(server: &Server) -> Option<String> {
    Some(server.config.get("requirepass")).filter(|p| !p.is_empty())
}

/// `RESET`: back to a fresh connection's state (database 0, RESP2, logged out if a password
/// is set); the client name stays, as in Redis.
pub(super) fn reset(server: &Server, session: &mut Session, _args: &[Vec<u8>]) -> Reply {
    session.db = 0;
    session.client.db.store(0, Ordering::Relaxed);
    session.protocol = Protocol::Resp2;
    session.client.resp.store(2, Ordering::Relaxed);
    session.authenticated = password(server).is_none();
    Reply::Simple("RESET".into())
}

/// Checks a user name and password; `Err` is the reply to send.
fn check_credentials(server: &Server, user: &[u8], pass: &[u8]) -> Result<(), Reply> {
    let wrong = || Reply::error("WRONGPASS invalid username-password pair or user is disabled.");
    match password(server) {
        // Without requirepass the default user has no password: any password works for it.
        None if user == b"default" => Ok(()),
        Some(p) if user == b"default" && p.as_bytes() == pass => Ok(()),
        _ => Err(wrong()),
    }
}

/// `AUTH [username] password`.
pub(super) fn auth(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let (user, pass) = match args {
        [pass] => (&b"default"[..], pass),
        [user, pass] => (user.as_slice(), pass),
        _ => return syntax_error(),
    };
    if args.len() == 1 && password(server).is_none() {
        return Reply::error(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        );
    }
    match check_credentials(server, user, pass) {
        Ok(()) => {
            session.authenticated = true;
            Reply::ok()
        }
        Err(reply) => reply,
    }
}

/// Client names may not hold spaces, newlines or other special characters.
fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
pub(super) fn hello(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let mut proto = session.protocol;
    if let Some(v) = args.first() {
        match parse_i64(v) {
            None => return Reply::error("ERR Protocol version is not an integer or out of range"),
            Some(2) => proto = Protocol::Resp2,
            Some(3) => proto = Protocol::Resp3,
            Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
        }
    }
    let mut name = None;
    let mut i = 1;
    while i < args.len() {
        let rest = args.len() - i - 1;
        if args[i].eq_ignore_ascii_case(b"AUTH") && rest >= 2 {
            if let Err(reply) = check_credentials(server, &args[i + 1], &args[i + 2]) {
                return reply;
            }
            session.authenticated = true;
            i += 3;
        } else if args[i].eq_ignore_ascii_case(b"SETNAME") && rest >= 1 {
            name = Some(&args[i + 1]);
            i += 2;
        } else {
            return Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[i])
            ));
        }
    }
    if !session.authenticated {
        return Reply::error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    if let Some(name) = name {
        if !valid_client_name(name) {
            return Reply::error(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            );
        }
        if let Ok(mut n) = session.client.name.lock() {
            *n = String::from_utf8_lossy(name).into_owned();
        }
    }
    session.protocol = proto;
    session.client.resp.store(
        if proto == Protocol::Resp3 { 3 } else { 2 },
        Ordering::Relaxed,
    );
    Reply::Map(vec![
        (bulk("server"), bulk("redis")),
        (bulk("version"), bulk(REDIS_COMPAT_VERSION)),
        (
            bulk("proto"),
            Reply::Integer(if proto == Protocol::Resp3 { 3 } else { 2 }),
        ),
        (bulk("id"), Reply::Integer(session.client.id as i64)),
        (bulk("mode"), bulk("standalone")),
        (bulk("role"), bulk("master")),
        (bulk("modules"), Reply::Array(Vec::new())),
    ])
}

/// `CLIENT ID|SETNAME|GETNAME|LIST|INFO|KILL|SETINFO|HELP`.
pub(super) fn client(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let sub = args[0].to_ascii_lowercase();
    let rest = &args[1..];
    let arity = |ok: bool| {
        if ok {
            None
        } else {
            Some(wrong_arity(&format!(
                "client|{}",
                String::from_utf8_lossy(&sub)
            )))
        }
    };
    match sub.as_slice() {
        b"id" => arity(rest.is_empty()).unwrap_or(Reply::Integer(session.client.id as i64)),
        b"getname" => arity(rest.is_empty()).unwrap_or_else(|| {
            let name = session
                .client
                .name
                .lock()
                .map(|n| n.clone())
                .unwrap_or_default();
            if name.is_empty() {
                Reply::Null
            } else {
                bulk(name)
            }
        }),
        b"setname" => {
            if let Some(r) = arity(rest.len() == 1) {
                return r;
            }
            if !valid_client_name(&rest[0]) {
                return Reply::error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
            }
            if let Ok(mut n) = session.client.name.lock() {
                *n = String::from_utf8_lossy(&rest[0]).into_owned();
            }
            Reply::ok()
        }
        b"setinfo" => {
            if let Some(r) = arity(rest.len() == 2) {
                return r;
            }
            let attr = rest[0].to_ascii_lowercase();
            let value = String::from_utf8_lossy(&rest[1]).into_owned();
            if !valid_client_name(&rest[1]) && !rest[1].is_empty() {
                return Reply::error(format!(
                    "ERR {} cannot contain spaces, newlines or special characters.",
                    String::from_utf8_lossy(&rest[0])
                ));
            }
            let Ok(mut lib) = session.client.lib.lock() else {
                return Reply::ok();
            };
            match attr.as_slice() {
                b"lib-name" => lib.0 = value,
                b"lib-ver" => lib.1 = value,
                _ => {
                    return Reply::error(format!(
                        "ERR Unrecognized option '{}'",
                        String::from_utf8_lossy(&rest[0])
                    ))
                }
            }
            Reply::ok()
        }
        b"info" => arity(rest.is_empty())
            .unwrap_or_else(|| Reply::Verbatim(session.client.info_line() + "\n")),
        b"list" => client_list(server, rest),
        b"kill" => client_kill(server, session, rest),
        b"help" => help(&[
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "GETNAME",
            "    Return the name of the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are LIB-NAME and LIB-VER.",
            "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> [<id> ...]]",
            "    Return information about client connections.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are: ID, ADDR, LADDR, SKIPME (YES|NO), TYPE, USER.",
            "HELP",
            "    Print this help.",
        ]),
        _ => unknown_subcommand(&args[0], "client"),
    }
}

fn client_list(server: &Server, args: &[Vec<u8>]) -> Reply {
    let clients: Vec<_> = server
        .clients
        .lock()
        .map(|c| c.values().cloned().collect())
        .unwrap_or_default();
    let mut ids: Option<Vec<u64>> = None;
    let mut i = 0;
    while i < args.len() {
        if args[i].eq_ignore_ascii_case(b"TYPE") && i + 1 < args.len() {
            match args[i + 1].to_ascii_lowercase().as_slice() {
                b"normal" => {}
                b"master" | b"replica" | b"slave" | b"pubsub" => ids = Some(Vec::new()),
                _ => {
                    return Reply::error(format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(&args[i + 1])
                    ))
                }
            }
            i += 2;
        } else if args[i].eq_ignore_ascii_case(b"ID") && i + 1 < args.len() {
            let mut list = Vec::new();
            for a in &args[i + 1..] {
                match parse_i64(a) {
                    Some(n) if n > 0 => list.push(n as u64),
                    _ => return Reply::error("ERR Invalid client ID"),
                }
            }
            ids = Some(list);
            i = args.len();
        } else {
            return syntax_error();
        }
    }
    let mut out = String::new();
    for c in clients {
        if ids.as_ref().is_none_or(|ids| ids.contains(&c.id)) {
            out.push_str(&c.info_line());
            out.push('\n');
        }
    }
    Reply::Verbatim(out)
}

fn client_kill(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let clients: Vec<_> = server
        .clients
        .lock()
        .map(|c| c.values().cloned().collect())
        .unwrap_or_default();
    let kill = |c: &Arc<crate::server::Client>, session: &mut Session| {
        if c.id == session.client.id {
            session.quit = true;
        } else {
            c.kill();
        }
    };
    if let [addr] = args {
        // The old form: CLIENT KILL ip:port.
        let addr = String::from_utf8_lossy(addr);
        return match clients.iter().find(|c| c.addr.to_string() == addr) {
            Some(c) => {
                kill(c, session);
                Reply::ok()
            }
            None => Reply::error("ERR No such client"),
        };
    }
    if args.is_empty() || !args.len().is_multiple_of(2) {
        return syntax_error();
    }
    let (mut id, mut addr, mut laddr, mut skipme, mut user) = (None, None, None, true, None);
    for pair in args.chunks(2) {
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        match pair[0].to_ascii_lowercase().as_slice() {
            b"id" => match parse_i64(&pair[1]) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return Reply::error("ERR client-id should be greater than 0"),
            },
            b"addr" => addr = Some(value),
            b"laddr" => laddr = Some(value),
            b"user" => user = Some(value),
            b"type" => {
                if !matches!(
                    value.to_ascii_lowercase().as_str(),
                    "normal" | "master" | "replica" | "slave" | "pubsub"
                ) {
                    return Reply::error(format!("ERR Unknown client type '{value}'"));
                }
            }
            b"skipme" => match value.to_ascii_lowercase().as_str() {
                "yes" => skipme = true,
                "no" => skipme = false,
                _ => return syntax_error(),
            },
            _ => return syntax_error(),
        }
    }
    let mut killed = 0;
    for c in &clients {
        let matches = id.is_none_or(|id| c.id == id)
            && addr.as_ref().is_none_or(|a| c.addr.to_string() == *a)
            && laddr.as_ref().is_none_or(|a| c.laddr.to_string() == *a)
            && user.as_ref().is_none_or(|u| u == "default")
            && !(skipme && c.id == session.client.id);
        if matches {
            kill(c, session);
            killed += 1;
        }
    }
    Reply::Integer(killed)
}

/// Redis's ACL categories of a command, from its group and flags.
fn acl_categories(c: &Command) -> Vec<Reply> {
    let mut cats = vec![format!(
        "@{}",
        match c.group {
            "generic" => "keyspace",
            "server" => "admin",
            g => g,
        }
    )];
    for (flag, cat) in [
        ("write", "@write"),
        ("readonly", "@read"),
        ("fast", "@fast"),
    ] {
        if c.flags.contains(&flag) {
            cats.push(cat.into());
        }
    }
    if !c.flags.contains(&"fast") {
        cats.push("@slow".into());
    }
    cats.into_iter().map(Reply::Simple).collect()
}

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
        Reply::Set(acl_categories(c)),
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

/// `COMMAND [COUNT | INFO name... | DOCS name... | GETKEYS cmd args... | LIST | HELP]`.
pub(super) fn command(_server: &Server, _session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let Some(sub) = args.first() else {
        return Reply::Array(COMMANDS.iter().map(command_info).collect());
    };
    let rest = &args[1..];
    match sub.to_ascii_lowercase().as_slice() {
        b"count" => Reply::Integer(COMMANDS.len() as i64),
        b"list" => Reply::Array(COMMANDS.iter().map(|c| bulk(c.name)).collect()),
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
                return Reply::error("ERR Invalid command specified");
            };
            let argc = rest.len() as i32;
            if (c.arity >= 0 && argc != c.arity) || argc < c.arity.abs() {
                return Reply::error("ERR Invalid number of arguments specified for command");
            }
            if c.first_key == 0 {
                return Reply::error("ERR The command has no key arguments");
            }
            let last = if c.last_key < 0 {
                argc + c.last_key
            } else {
                c.last_key.min(argc - 1)
            };
            let mut keys = Vec::new();
            let mut i = c.first_key;
            while i <= last {
                keys.push(Reply::Bulk(rest[i as usize].clone()));
                i += c.step;
            }
            Reply::Array(keys)
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
        _ => unknown_subcommand(sub, "command"),
    }
}

fn human_bytes(n: u64) -> String {
    let f = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if n < 1 << 20 {
        format!("{:.2}K", f / 1024.0)
    } else if n < 1 << 30 {
        format!("{:.2}M", f / f64::from(1u32 << 20))
    } else {
        format!("{:.2}G", f / f64::from(1u32 << 30))
    }
}

/// Resident set size of this process, from `/proc/self/statm` (0 where unavailable).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// The allocator's figures, Redis's `allocator_allocated` and `allocator_active`: bytes
/// handed out, and bytes it holds from the OS (handed out or free in its arenas, plus
/// chunks mapped on their own). From glibc's `mallinfo2`; `None` with another allocator.
fn allocator_bytes() -> Option<(u64, u64)> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallinfo2` only reads the allocator's own counters, under its own locks.
        let m = unsafe { libc::mallinfo2() };
        let mapped = m.hblkhd as u64;
        Some((m.uordblks as u64 + mapped, m.arena as u64 + mapped))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

/// The sections `INFO` prints by default, in order.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "keyspace",
    "strata",
];

/// `INFO [section ...]`: Redis's field names (so exporters and dashboards read them) plus a
/// `strata` section with the engine's figures.
pub(super) fn info(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let wanted: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| w == "all" || w == "default" || w == "everything");
    let mut out = String::new();
    for section in DEFAULT_SECTIONS {
        if all || wanted.iter().any(|w| w == section) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            info_section(server, session, section, &mut out);
        }
    }
    if session.protocol == Protocol::Resp3 {
        Reply::Verbatim(out)
    } else {
        Reply::Bulk(out.into_bytes())
    }
}

fn put(out: &mut String, k: &str, v: &dyn std::fmt::Display) {
    let _ = write!(out, "{k}:{v}\r\n");
}

fn info_section(server: &Server, _session: &Session, section: &str, out: &mut String) {
    let c = &server.counters;
    let store_stats = server.store.stats();
    let uptime = server.started.elapsed().as_secs();
    match section {
        "server" => {
            out.push_str("# Server\r\n");
            put(out, "redis_version", &REDIS_COMPAT_VERSION);
            put(out, "strata_version", &env!("CARGO_PKG_VERSION"));
            put(out, "redis_git_sha1", &"00000000");
            put(out, "redis_git_dirty", &0);
            put(out, "redis_mode", &"standalone");
            put(out, "os", &std::env::consts::OS);
            put(out, "arch_bits", &(usize::BITS));
            put(out, "multiplexing_api", &"tokio");
            put(out, "process_id", &std::process::id());
            put(out, "run_id", &server.run_id);
            put(out, "tcp_port", &server.config.get("port"));
            put(
                out,
                "server_time_usec",
                &std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros()),
            );
            put(out, "uptime_in_seconds", &uptime);
            put(out, "uptime_in_days", &(uptime / 86400));
            put(out, "hz", &server.config.get("hz"));
            put(
                out,
                "executable",
                &std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
            put(
                out,
                "config_file",
                &server
                    .config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
        }
        "clients" => {
            out.push_str("# Clients\r\n");
            put(out, "connected_clients", &server.connected());
            put(out, "maxclients", &server.config.get("maxclients"));
            put(out, "blocked_clients", &server.blocking.blocked_clients());
            put(out, "tracking_clients", &0);
        }
        "memory" => {
            let s = server.store.engine().stats();
            let used = s.memory.total();
            let rss = rss_bytes();
            out.push_str("# Memory\r\n");
            put(out, "used_memory", &used);
            put(out, "used_memory_human", &human_bytes(used));
            put(out, "used_memory_rss", &rss);
            put(out, "used_memory_rss_human", &human_bytes(rss));
            put(out, "maxmemory", &0);
            put(out, "maxmemory_human", &"0B");
            put(out, "maxmemory_policy", &"noeviction");
            put(out, "mem_allocator", &"libc");
            if let Some((allocated, active)) = allocator_bytes() {
                put(out, "allocator_allocated", &allocated);
                put(out, "allocator_active", &active);
                put(
                    out,
                    "allocator_frag_ratio",
                    &format!("{:.2}", active as f64 / allocated.max(1) as f64),
                );
                put(
                    out,
                    "allocator_frag_bytes",
                    &active.saturating_sub(allocated),
                );
            }
            put(out, "strata_block_cache_bytes", &s.block_cache_bytes);
            put(out, "strata_block_cache_capacity", &s.block_cache_capacity);
            put(out, "strata_memory_budget", &s.memory.budget.unwrap_or(0));
            put(out, "strata_memtable_bytes", &s.memory.memtables);
            put(out, "strata_memtable_limit", &s.memory.memtable_limit);
            put(out, "strata_table_builder_bytes", &s.memory.table_builders);
            let c = &s.memory.cache;
            for (name, k) in [
                ("data", &c.data),
                ("index", &c.index),
                ("filter", &c.filter),
            ] {
                put(out, &format!("strata_cache_{name}_bytes"), &k.bytes);
                put(out, &format!("strata_cache_{name}_hits"), &k.hits);
                put(out, &format!("strata_cache_{name}_misses"), &k.misses);
            }
        }
        "persistence" => {
            out.push_str("# Persistence\r\n");
            put(out, "loading", &0);
            put(out, "async_loading", &0);
            put(out, "rdb_changes_since_last_save", &0);
            put(out, "rdb_bgsave_in_progress", &0);
            put(
                out,
                "rdb_last_save_time",
                &server.last_save.load(Ordering::Relaxed),
            );
            put(out, "rdb_last_bgsave_status", &"ok");
            put(out, "aof_enabled", &1);
            put(out, "aof_rewrite_in_progress", &0);
            put(out, "aof_last_write_status", &"ok");
            put(out, "strata_appendfsync", &server.config.get("appendfsync"));
        }
        "stats" => {
            out.push_str("# Stats\r\n");
            for (name, counter) in [
                ("total_connections_received", &c.connections_received),
                ("total_commands_processed", &c.commands_processed),
                ("instantaneous_ops_per_sec", &c.instantaneous_ops),
                ("total_net_input_bytes", &c.net_input_bytes),
                ("total_net_output_bytes", &c.net_output_bytes),
                ("rejected_connections", &c.rejected_connections),
            ] {
                put(out, name, &counter.load(Ordering::Relaxed));
            }
            put(out, "expired_keys", &store_stats.expired_keys);
            put(out, "evicted_keys", &0);
            put(out, "keyspace_hits", &store_stats.keyspace_hits);
            put(out, "keyspace_misses", &store_stats.keyspace_misses);
            put(
                out,
                "total_error_replies",
                &c.error_replies.load(Ordering::Relaxed),
            );
        }
        "replication" => {
            out.push_str("# Replication\r\n");
            put(out, "role", &"master");
            put(out, "connected_slaves", &0);
            put(out, "master_repl_offset", &0);
        }
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            let dbs = server.config.get_i64("databases").clamp(1, 256);
            for db in 0..dbs as u8 {
                let n = server.store.counts_of(db);
                if n.keys > 0 {
                    let _ = write!(
                        out,
                        "db{db}:keys={},expires={},avg_ttl=0\r\n",
                        n.keys, n.expires
                    );
                }
            }
        }
        "strata" => {
            let s = server.store.engine().stats();
            out.push_str("# Strata\r\n");
            put(out, "strata_last_sequence", &s.last_sequence);
            put(
                out,
                "strata_synced_sequence",
                &server.store.engine().synced_sequence(),
            );
            put(out, "strata_writes", &s.writes);
            put(out, "strata_write_groups", &s.write_groups);
            put(out, "strata_wal_syncs", &s.wal_syncs);
            put(out, "strata_immutable_memtables", &s.immutable_memtables);
            put(
                out,
                "strata_active_memtable_bytes",
                &s.active_memtable_bytes,
            );
            put(out, "strata_flush_count", &s.flush_count);
            put(out, "strata_flush_bytes", &s.flush_bytes);
            put(out, "strata_stall_count", &s.stall_count);
            put(out, "strata_stall_micros", &s.stall_micros);
            put(
                out,
                "strata_write_amplification",
                &format!("{:.2}", s.write_amplification),
            );
            put(out, "strata_expired_dropped", &s.expired_dropped);
            let gc = server.store.element_gc();
            put(out, "strata_gc_dropped_elements", &gc.dropped());
            put(out, "strata_gc_damaged_elements", &gc.damaged());
            let compactions: u64 = s.compaction.iter().map(|c| c.compactions).sum();
            let moves: u64 = s.compaction.iter().map(|c| c.moves).sum();
            put(out, "strata_compactions", &compactions);
            put(out, "strata_trivial_moves", &moves);
            for ks in &s.keyspaces {
                let levels: Vec<String> = ks
                    .levels
                    .iter()
                    .map(|l| format!("L{}={}/{}", l.level, l.files, l.bytes))
                    .collect();
                put(
                    out,
                    &format!("strata_keyspace_{}", ks.name),
                    &format!("memtable={},{}", ks.memtable_bytes, levels.join(",")),
                );
            }
        }
        _ => {}
    }
}

/// `CONFIG GET|SET|RESETSTAT|HELP`.
pub(super) fn config(server: &Server, _session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let sub = args[0].to_ascii_lowercase();
    let rest = &args[1..];
    match sub.as_slice() {
        b"get" => {
            if rest.is_empty() {
                return wrong_arity("config|get");
            }
            Reply::Map(
                server
                    .config
                    .matching(rest)
                    .into_iter()
                    .map(|(k, v)| (bulk(k), bulk(v)))
                    .collect(),
            )
        }
        b"set" => {
            if rest.is_empty() || !rest.len().is_multiple_of(2) {
                return wrong_arity("config|set");
            }
            let pairs: Vec<(String, String)> = rest
                .chunks(2)
                .map(|p| {
                    (
                        String::from_utf8_lossy(&p[0]).into_owned(),
                        String::from_utf8_lossy(&p[1]).into_owned(),
                    )
                })
                .collect();
            let old: Vec<(String, String)> = pairs
                .iter()
                .map(|(n, _)| {
                    let n = n.to_ascii_lowercase();
                    let v = server.config.get(&n);
                    (n, v)
                })
                .collect();
            let set = match server.config.set(&pairs) {
                Ok(set) => set,
                Err(e) => return Reply::error(e.0),
            };
            for (name, _) in &set {
                if let Err(e) = server.apply(name) {
                    // All or nothing, like Redis: put every value back.
                    if server.config.set(&old).is_ok() {
                        for (n, _) in &set {
                            let _ = server.apply(n);
                        }
                    }
                    return Reply::error(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
                    ));
                }
            }
            Reply::ok()
        }
        b"resetstat" => {
            if !rest.is_empty() {
                return wrong_arity("config|resetstat");
            }
            let c = &server.counters;
            for counter in [
                &c.connections_received,
                &c.rejected_connections,
                &c.commands_processed,
                &c.error_replies,
                &c.net_input_bytes,
                &c.net_output_bytes,
            ] {
                counter.store(0, Ordering::Relaxed);
            }
            server.store.reset_stats();
            Reply::ok()
        }
        b"help" => help(&[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "HELP",
            "    Print this help.",
        ]),
        _ => unknown_subcommand(&args[0], "config"),
    }
}

pub(super) fn time(_server: &Server, _session: &mut Session, _args: &[Vec<u8>]) -> Reply {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        bulk(now.as_secs().to_string()),
        bulk(now.subsec_micros().to_string()),
    ])
}

/// `SLOWLOG GET [count] | LEN | RESET | HELP`.
pub(super) fn slowlog(server: &Server, _session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let Ok(mut log) = server.slowlog.lock() else {
        return Reply::error("ERR slow log unavailable");
    };
    match (args[0].to_ascii_lowercase().as_slice(), &args[1..]) {
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
                Some(_) => return Reply::error("ERR count should be greater than or equal to -1"),
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
        (b"len" | b"reset" | b"get" | b"help", _) => wrong_arity(&format!(
            "slowlog|{}",
            String::from_utf8_lossy(&args[0]).to_ascii_lowercase()
        )),
        _ => unknown_subcommand(&args[0], "slowlog"),
    }
}

pub(super) fn lastsave(server: &Server, _session: &mut Session, _args: &[Vec<u8>]) -> Reply {
    Reply::Integer(server.last_save.load(Ordering::Relaxed) as i64)
}

/// `SAVE`: flushes every memtable to tables (the WAL already holds every write; this makes
/// the tables self-sufficient and lets the WAL be retired).
pub(super) fn save(server: &Server, _session: &mut Session, _args: &[Vec<u8>]) -> Reply {
    match server.store.engine().flush() {
        Ok(()) => {
            server.last_save.store(unix_secs(), Ordering::Relaxed);
            Reply::ok()
        }
        Err(e) => store_error(e.into()),
    }
}

/// `BGSAVE [SCHEDULE]`: the same flush, in the background.
pub(super) fn bgsave(server: &Server, _session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match args {
        [] => {}
        [s] if s.eq_ignore_ascii_case(b"SCHEDULE") => {}
        _ => return syntax_error(),
    }
    let store = Arc::clone(&server.store);
    let started = std::thread::Builder::new()
        .name("strata-bgsave".into())
        .spawn(move || {
            if let Err(e) = store.engine().flush() {
                eprintln!("strata-server: BGSAVE flush failed: {e}");
            }
        });
    match started {
        Ok(_) => {
            server.last_save.store(unix_secs(), Ordering::Relaxed);
            Reply::Simple("Background saving started".into())
        }
        Err(e) => Reply::error(format!("ERR cannot start BGSAVE: {e}")),
    }
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: syncs the WAL and stops the server. Every
/// write is in the WAL, so SAVE and NOSAVE both keep all data.
pub(super) fn shutdown(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    for a in args {
        match a.to_ascii_uppercase().as_slice() {
            b"NOSAVE" | b"SAVE" | b"NOW" | b"FORCE" => {}
            b"ABORT" if args.len() == 1 => {
                return Reply::error("ERR No shutdown in progress.");
            }
            _ => return syntax_error(),
        }
    }
    if let Err(e) = server.store.engine().sync_wal() {
        return Reply::error(format!("ERR Errors trying to SHUTDOWN. Check logs. ({e})"));
    }
    server.shutting_down.store(true, Ordering::SeqCst);
    server.shutdown.notify_one();
    session.quit = true;
    // Redis closes the connection without replying.
    Reply::NoReply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_figures_are_human() {
        assert_eq!(human_bytes(10), "10B");
        assert_eq!(human_bytes(1536), "1.50K");
        assert_eq!(human_bytes(3 << 20), "3.00M");
    }
}
