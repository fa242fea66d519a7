//! Key-space and expiry commands.

use strata_redis::meta::RedisType;
use strata_redis::RenameOutcome;

use super::number::parse_i64;
use super::reply::{not_an_integer, or_error, store_error, syntax_error};
use super::scan::{parse_scan, scan_reply};
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

fn key_refs(args: &[Vec<u8>]) -> Vec<&[u8]> {
    args.iter().map(Vec::as_slice).collect()
}

pub(super) fn del(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match server.store.del(session.db, &key_refs(args)) {
        Ok(n) => Reply::Integer(n as i64),
        Err(e) => store_error(e),
    }
}

pub(super) fn exists(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match server.store.exists(session.db, &key_refs(args)) {
        Ok(n) => Reply::Integer(n as i64),
        Err(e) => store_error(e),
    }
}

pub(super) fn type_(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match server.store.key_type(session.db, &args[0]) {
        Ok(Some(t)) => Reply::Simple(t.name().into()),
        Ok(None) => Reply::Simple("none".into()),
        Err(e) => store_error(e),
    }
}

pub(super) fn rename(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    rename_generic(server, session, args, false)
}

pub(super) fn renamenx(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    rename_generic(server, session, args, true)
}

fn rename_generic(server: &Server, session: &Session, args: &[Vec<u8>], nx: bool) -> Reply {
    match server.store.rename(session.db, &args[0], &args[1], nx) {
        Ok(RenameOutcome::NoSuchKey) => Reply::error("ERR no such key"),
        Ok(RenameOutcome::DestinationExists) => Reply::Integer(0),
        Ok(RenameOutcome::Renamed) if nx => Reply::Integer(1),
        Ok(RenameOutcome::Renamed) => Reply::ok(),
        Err(e) => store_error(e),
    }
}

/// A database index argument, checked against `databases`.
fn db_index(server: &Server, arg: &[u8]) -> Result<u8, Reply> {
    let n = parse_i64(arg).ok_or_else(not_an_integer)?;
    if n < 0 || n >= server.config.get_i64("databases") {
        return Err(Reply::error("ERR DB index is out of range"));
    }
    Ok(n as u8)
}

/// `COPY source destination [DB destination-db] [REPLACE]`.
pub(super) fn copy(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let (mut dst_db, mut replace) = (session.db, false);
    let mut i = 2;
    while i < args.len() {
        if args[i].eq_ignore_ascii_case(b"REPLACE") {
            replace = true;
        } else if args[i].eq_ignore_ascii_case(b"DB") && i + 1 < args.len() {
            i += 1;
            dst_db = match db_index(server, &args[i]) {
                Ok(db) => db,
                Err(reply) => return reply,
            };
        } else {
            return syntax_error();
        }
        i += 1;
    }
    if dst_db == session.db && args[0] == args[1] {
        return Reply::error("ERR source and destination objects are the same");
    }
    match server
        .store
        .copy(session.db, &args[0], dst_db, &args[1], replace)
    {
        Ok(copied) => Reply::Integer(i64::from(copied)),
        Err(e) => store_error(e),
    }
}

/// `MOVE key db`.
pub(super) fn move_(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let dst = match db_index(server, &args[1]) {
        Ok(db) => db,
        Err(reply) => return reply,
    };
    if dst == session.db {
        return Reply::error("ERR source and destination objects are the same");
    }
    match server.store.move_key(session.db, &args[0], dst) {
        Ok(moved) => Reply::Integer(i64::from(moved)),
        Err(e) => store_error(e),
    }
}

pub(super) fn keys(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match server.store.keys(session.db, &args[0]) {
        Ok(keys) => Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
        Err(e) => store_error(e),
    }
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
pub(super) fn scan(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let scan = match parse_scan(args, &[], true) {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let ty = match scan.ty {
        None => None,
        Some(name) => match name.to_ascii_lowercase().as_slice() {
            b"string" => Some(RedisType::String),
            b"hash" => Some(RedisType::Hash),
            b"list" => Some(RedisType::List),
            b"set" => Some(RedisType::Set),
            b"zset" => Some(RedisType::ZSet),
            _ => {
                return Reply::error(format!(
                    "ERR unknown type name '{}'",
                    String::from_utf8_lossy(name)
                ))
            }
        },
    };
    let r = server
        .store
        .scan(session.db, scan.cursor, scan.pattern, scan.count, ty);
    or_error(r, |(next, keys)| {
        scan_reply(next, keys.into_iter().map(Reply::Bulk).collect())
    })
}

pub(super) fn randomkey(server: &Server, session: &mut Session, _args: &[Vec<u8>]) -> Reply {
    match server.store.random_key(session.db) {
        Ok(k) => k.map_or(Reply::Null, Reply::Bulk),
        Err(e) => store_error(e),
    }
}

pub(super) fn dbsize(server: &Server, session: &mut Session, _args: &[Vec<u8>]) -> Reply {
    Reply::Integer(server.store.counts_of(session.db).keys as i64)
}

/// The optional `ASYNC|SYNC` of FLUSHDB and FLUSHALL (both run synchronously here).
fn flush_mode_ok(args: &[Vec<u8>]) -> bool {
    match args {
        [] => true,
        [mode] => mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC"),
        _ => false,
    }
}

pub(super) fn flushdb(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    if !flush_mode_ok(args) {
        return syntax_error();
    }
    match server.store.flushdb(session.db) {
        Ok(()) => Reply::ok(),
        Err(e) => store_error(e),
    }
}

pub(super) fn flushall(server: &Server, _session: &mut Session, args: &[Vec<u8>]) -> Reply {
    if !flush_mode_ok(args) {
        return syntax_error();
    }
    match server.store.flushall() {
        Ok(()) => Reply::ok(),
        Err(e) => store_error(e),
    }
}

pub(super) fn select(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match db_index(server, &args[0]) {
        Ok(db) => {
            session.db = db;
            session
                .client
                .db
                .store(db, std::sync::atomic::Ordering::Relaxed);
            Reply::ok()
        }
        Err(reply) => reply,
    }
}

pub(super) fn swapdb(server: &Server, _session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let Some(a) = parse_i64(&args[0]) else {
        return Reply::error("ERR invalid first DB index");
    };
    let Some(b) = parse_i64(&args[1]) else {
        return Reply::error("ERR invalid second DB index");
    };
    let n = server.config.get_i64("databases");
    if !(0..n).contains(&a) || !(0..n).contains(&b) {
        return Reply::error("ERR DB index is out of range");
    }
    match server.store.swapdb(a as u8, b as u8) {
        Ok(()) => Reply::ok(),
        Err(e) => store_error(e),
    }
}

pub(super) fn expire(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    expire_generic(server, session, "expire", args)
}

pub(super) fn pexpire(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    expire_generic(server, session, "pexpire", args)
}

pub(super) fn expireat(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    expire_generic(server, session, "expireat", args)
}

pub(super) fn pexpireat(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    expire_generic(server, session, "pexpireat", args)
}

/// What the TTL family reports.
#[derive(Clone, Copy)]
enum TtlUnit {
    Seconds,
    Millis,
    UnixSeconds,
    UnixMillis,
}

fn ttl_generic(server: &Server, session: &Session, key: &[u8], unit: TtlUnit) -> Reply {
    match server.store.expiry(session.db, key) {
        Ok(None) => Reply::Integer(-2),
        Ok(Some(None)) => Reply::Integer(-1),
        Ok(Some(Some(at))) => {
            let left = at.saturating_sub(server.store.now_ms());
            Reply::Integer(match unit {
                // Rounded to the nearest second, as Redis does.
                TtlUnit::Seconds => ((left + 500) / 1000) as i64,
                TtlUnit::Millis => left as i64,
                TtlUnit::UnixSeconds => (at / 1000) as i64,
                TtlUnit::UnixMillis => at as i64,
            })
        }
        Err(e) => store_error(e),
    }
}

pub(super) fn ttl(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    ttl_generic(server, session, &args[0], TtlUnit::Seconds)
}

pub(super) fn pttl(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    ttl_generic(server, session, &args[0], TtlUnit::Millis)
}

pub(super) fn expiretime(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    ttl_generic(server, session, &args[0], TtlUnit::UnixSeconds)
}

pub(super) fn pexpiretime(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    ttl_generic(server, session, &args[0], TtlUnit::UnixMillis)
}

pub(super) fn persist(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match server
        .store
        .set_expiry(session.db, &args[0], None, |cur| cur.is_some())
    {
        Ok(changed) => Reply::Integer(i64::from(changed)),
        Err(e) => store_error(e),
    }
}

/// `EXPIRE key seconds [NX|XX|GT|LT]` and its `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` siblings.
fn expire_generic(server: &Server, session: &Session, cmd: &str, args: &[Vec<u8>]) -> Reply {
    let now = server.store.now_ms() as i64;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[2..] {
        match opt.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Reply::error(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(opt)
                ))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Reply::error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return Reply::error("ERR GT and LT options at the same time are not compatible");
    }
    let Some(n) = parse_i64(&args[1]) else {
        return not_an_integer();
    };
    let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
    let at = match cmd {
        "expire" => n.checked_mul(1000).and_then(|ms| ms.checked_add(now)),
        "pexpire" => n.checked_add(now),
        "expireat" => n.checked_mul(1000),
        _ => Some(n),
    };
    let Some(at) = at else {
        return invalid();
    };
    // A time in the past deletes the key (if the conditions allow the change).
    let at = u64::try_from(at).unwrap_or(0);
    let allow = |cur: Option<u64>| {
        (!nx || cur.is_none())
            && (!xx || cur.is_some())
            && (!gt || cur.is_some_and(|c| at > c))
            && (!lt || cur.is_none_or(|c| at < c))
    };
    match server
        .store
        .set_expiry(session.db, &args[0], Some(at), allow)
    {
        Ok(changed) => Reply::Integer(i64::from(changed)),
        Err(e) => store_error(e),
    }
}
