//! Key-space and expiry commands, and the database ones: SELECT, DBSIZE, FLUSHDB, FLUSHALL,
//! SWAPDB.

use strata_redis::RedisType;
use strata_redis::RenameOutcome;

use super::args::Args;
use super::number::parse_i64;
use super::reply::{bulks, or_error, syntax_error, CmdResult};
use super::scan::{parse_scan, scan_reply};
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

fn key_refs(args: &[Vec<u8>]) -> Vec<&[u8]> {
    args.iter().map(Vec::as_slice).collect()
}

pub(super) fn del(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.del(session.db, &key_refs(args)), |n| {
        Reply::Integer(n as i64)
    })
}

pub(super) fn exists(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.exists(session.db, &key_refs(args)), |n| {
        Reply::Integer(n as i64)
    })
}

pub(super) fn type_(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.key_type(session.db, &args[0]), |t| {
        Reply::Simple(t.map_or("none", |t| t.name()).into())
    })
}

pub(super) fn rename(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    rename_generic(server, session, args, false)
}

pub(super) fn renamenx(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    rename_generic(server, session, args, true)
}

fn rename_generic(server: &Server, session: &Session, args: &[Vec<u8>], nx: bool) -> CmdResult {
    or_error(
        server.store.rename(session.db, &args[0], &args[1], nx),
        |outcome| match outcome {
            RenameOutcome::NoSuchKey => Reply::error("ERR no such key"),
            RenameOutcome::DestinationExists => Reply::Integer(0),
            RenameOutcome::Renamed if nx => Reply::Integer(1),
            RenameOutcome::Renamed => Reply::ok(),
        },
    )
}

/// Reads a database index, checked against `databases`.
fn next_db(a: &mut Args, server: &Server) -> Result<u8, Reply> {
    let n = a.next_i64()?;
    if n < 0 || n >= server.config.get_i64("databases") {
        return Err(Reply::error("ERR DB index is out of range"));
    }
    Ok(n as u8)
}

/// `COPY source destination [DB destination-db] [REPLACE]`.
pub(super) fn copy(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let (mut dst_db, mut replace) = (session.db, false);
    let mut a = Args::new(&args[2..]);
    while !a.is_empty() {
        match a.next_keyword(&["REPLACE", "DB"])? {
            Some("REPLACE") => replace = true,
            Some("DB") => dst_db = next_db(&mut a, server)?,
            _ => return Err(syntax_error()),
        }
    }
    if dst_db == session.db && args[0] == args[1] {
        return Err(Reply::error(
            "ERR source and destination objects are the same",
        ));
    }
    or_error(
        server
            .store
            .copy(session.db, &args[0], dst_db, &args[1], replace),
        |copied| Reply::Integer(i64::from(copied)),
    )
}

/// `MOVE key db`.
pub(super) fn move_(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let dst = next_db(&mut Args::new(&args[1..]), server)?;
    if dst == session.db {
        return Err(Reply::error(
            "ERR source and destination objects are the same",
        ));
    }
    or_error(server.store.move_key(session.db, &args[0], dst), |moved| {
        if moved {
            // The source key is touched with the command's keys; the destination here.
            server.watches.touch(dst, &args[0]);
        }
        Reply::Integer(i64::from(moved))
    })
}

/// Touches, for WATCH, the watched keys of database `db` that exist in `db` or `other`.
fn touch_existing(server: &Server, db: u8, other: u8) {
    let exists = |d: u8, k: &[u8]| matches!(server.store.expiry(d, k), Ok(Some(_)));
    server
        .watches
        .touch_db(db, |k| exists(db, k) || exists(other, k));
}

pub(super) fn keys(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.keys(session.db, &args[0]), bulks)
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
pub(super) fn scan(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let scan = parse_scan(&mut Args::new(args), &[], true)?;
    let ty = match scan.ty {
        None => None,
        Some(name) => match name.to_ascii_lowercase().as_slice() {
            b"string" => Some(RedisType::String),
            b"hash" => Some(RedisType::Hash),
            b"list" => Some(RedisType::List),
            b"set" => Some(RedisType::Set),
            b"zset" => Some(RedisType::ZSet),
            _ => {
                return Err(Reply::error(format!(
                    "ERR unknown type name '{}'",
                    String::from_utf8_lossy(name)
                )))
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

pub(super) fn randomkey(
    server: &Server,
    session: &mut Session,
    _args: &mut [Vec<u8>],
) -> CmdResult {
    or_error(server.store.random_key(session.db), |k| {
        k.map_or(Reply::Null, Reply::Bulk)
    })
}

pub(super) fn dbsize(server: &Server, session: &mut Session, _args: &mut [Vec<u8>]) -> CmdResult {
    Ok(Reply::Integer(
        server.store.counts_of(session.db).keys as i64,
    ))
}

/// Reads the optional `ASYNC|SYNC` of FLUSHDB and FLUSHALL (both run synchronously here).
fn flush_mode(args: &[Vec<u8>]) -> Result<(), Reply> {
    let mut a = Args::new(args);
    a.eat_keyword(&["ASYNC", "SYNC"]);
    a.finish()
}

pub(super) fn flushdb(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    flush_mode(args)?;
    touch_existing(server, session.db, session.db);
    or_error(server.store.flushdb(session.db), |()| Reply::ok())
}

pub(super) fn flushall(server: &Server, _session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    flush_mode(args)?;
    for db in 0..server.config.get_i64("databases").clamp(0, 256) {
        touch_existing(server, db as u8, db as u8);
    }
    or_error(server.store.flushall(), |()| Reply::ok())
}

pub(super) fn select(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let db = next_db(&mut Args::new(args), server)?;
    session.db = db;
    session
        .client
        .db
        .store(db, std::sync::atomic::Ordering::Relaxed);
    Ok(Reply::ok())
}

pub(super) fn swapdb(server: &Server, _session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    // Redis words a bad index its own way here.
    let a = parse_i64(&args[0]).ok_or_else(|| Reply::error("ERR invalid first DB index"))?;
    let b = parse_i64(&args[1]).ok_or_else(|| Reply::error("ERR invalid second DB index"))?;
    let n = server.config.get_i64("databases");
    if !(0..n).contains(&a) || !(0..n).contains(&b) {
        return Err(Reply::error("ERR DB index is out of range"));
    }
    // A watched key is touched if it exists on either side (an expired one does not).
    let (a, b) = (a as u8, b as u8);
    touch_existing(server, a, b);
    touch_existing(server, b, a);
    or_error(server.store.swapdb(a, b), |()| Reply::ok())
}

pub(super) fn expire(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    expire_generic(server, session, "expire", args)
}

pub(super) fn pexpire(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    expire_generic(server, session, "pexpire", args)
}

pub(super) fn expireat(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    expire_generic(server, session, "expireat", args)
}

pub(super) fn pexpireat(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
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

fn ttl_generic(server: &Server, session: &Session, key: &[u8], unit: TtlUnit) -> CmdResult {
    or_error(
        server.store.expiry(session.db, key),
        |expiry| match expiry {
            None => Reply::Integer(-2),
            Some(None) => Reply::Integer(-1),
            Some(Some(at)) => {
                let left = at.saturating_sub(server.store.now_ms());
                Reply::Integer(match unit {
                    // Rounded to the nearest second, as Redis does.
                    TtlUnit::Seconds => ((left + 500) / 1000) as i64,
                    TtlUnit::Millis => left as i64,
                    TtlUnit::UnixSeconds => (at / 1000) as i64,
                    TtlUnit::UnixMillis => at as i64,
                })
            }
        },
    )
}

pub(super) fn ttl(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    ttl_generic(server, session, &args[0], TtlUnit::Seconds)
}

pub(super) fn pttl(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    ttl_generic(server, session, &args[0], TtlUnit::Millis)
}

pub(super) fn expiretime(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    ttl_generic(server, session, &args[0], TtlUnit::UnixSeconds)
}

pub(super) fn pexpiretime(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    ttl_generic(server, session, &args[0], TtlUnit::UnixMillis)
}

pub(super) fn persist(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(
        server
            .store
            .set_expiry(session.db, &args[0], None, |cur| cur.is_some()),
        |changed| Reply::Integer(i64::from(changed)),
    )
}

/// `EXPIRE key seconds [NX|XX|GT|LT]` and its `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` siblings.
fn expire_generic(
    server: &Server,
    session: &Session,
    cmd: &str,
    args: &mut [Vec<u8>],
) -> CmdResult {
    let now = server.store.now_ms() as i64;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[2..] {
        match opt.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Err(Reply::error(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(opt)
                )))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(Reply::error(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(Reply::error(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    // The options come first, then the time.
    let n = Args::new(&args[1..]).next_i64()?;
    let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
    let at = match cmd {
        "expire" => n.checked_mul(1000).and_then(|ms| ms.checked_add(now)),
        "pexpire" => n.checked_add(now),
        "expireat" => n.checked_mul(1000),
        _ => Some(n),
    };
    let at = at.ok_or_else(invalid)?;
    // A time in the past deletes the key (if the conditions allow the change).
    let at = u64::try_from(at).unwrap_or(0);
    let allow = |cur: Option<u64>| {
        (!nx || cur.is_none())
            && (!xx || cur.is_some())
            && (!gt || cur.is_some_and(|c| at > c))
            && (!lt || cur.is_none_or(|c| at < c))
    };
    or_error(
        server
            .store
            .set_expiry(session.db, &args[0], Some(at), allow),
        |changed| Reply::Integer(i64::from(changed)),
    )
}
