//! List commands, including the blocking ones (see [`crate::blocking`]).

use std::time::Instant;

use strata_redis::{End, LposOptions, LsetOutcome};

use super::args::Args;
use super::reply::{bulks, integer, or_error, store_error, syntax_error, CmdResult};
use crate::blocking::block_on;
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

fn parse_end(arg: &[u8]) -> Option<End> {
    if arg.eq_ignore_ascii_case(b"LEFT") {
        Some(End::Left)
    } else if arg.eq_ignore_ascii_case(b"RIGHT") {
        Some(End::Right)
    } else {
        None
    }
}

/// Reads `LEFT` or `RIGHT`.
fn next_end(a: &mut Args) -> Result<End, Reply> {
    parse_end(a.next_bytes()?).ok_or_else(syntax_error)
}

fn push(
    server: &Server,
    session: &Session,
    args: &[Vec<u8>],
    end: End,
    only_existing: bool,
) -> CmdResult {
    or_error(
        server
            .store
            .push(session.db, &args[0], end, &args[1..], only_existing),
        integer,
    )
}

pub(super) fn lpush(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    push(server, session, args, End::Left, false)
}

pub(super) fn rpush(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    push(server, session, args, End::Right, false)
}

pub(super) fn lpushx(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    push(server, session, args, End::Left, true)
}

pub(super) fn rpushx(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    push(server, session, args, End::Right, true)
}

/// `LPOP key [count]`, `RPOP key [count]`.
fn pop(server: &Server, session: &Session, args: &[Vec<u8>], end: End) -> CmdResult {
    if args.len() > 2 {
        // Redis answers LPOP/RPOP with extra arguments by arity, not syntax.
        let name = if end == End::Left { "lpop" } else { "rpop" };
        return Err(super::reply::wrong_arity(name));
    }
    match Args::new(&args[1..]).optional_count()? {
        None => or_error(server.store.pop(session.db, &args[0], end, 1), |v| {
            v.and_then(|v| v.into_iter().next())
                .map_or(Reply::Null, Reply::Bulk)
        }),
        Some(n) => or_error(server.store.pop(session.db, &args[0], end, n), |v| {
            v.map_or(Reply::NullArray, bulks)
        }),
    }
}

pub(super) fn lpop(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    pop(server, session, args, End::Left)
}

pub(super) fn rpop(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    pop(server, session, args, End::Right)
}

pub(super) fn llen(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.llen(session.db, &args[0]), integer)
}

pub(super) fn lindex(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let i = Args::new(&args[1..]).next_i64()?;
    or_error(server.store.lindex(session.db, &args[0], i), |v| {
        v.map_or(Reply::Null, Reply::Bulk)
    })
}

pub(super) fn lrange(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let mut a = Args::new(&args[1..]);
    let (start, stop) = (a.next_i64()?, a.next_i64()?);
    or_error(
        server.store.lrange(session.db, &args[0], start, stop),
        bulks,
    )
}

pub(super) fn lset(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let i = Args::new(&args[1..]).next_i64()?;
    or_error(
        server.store.lset(session.db, &args[0], i, &args[2]),
        |o| match o {
            LsetOutcome::Set => Reply::ok(),
            LsetOutcome::NoSuchKey => Reply::error("ERR no such key"),
            LsetOutcome::OutOfRange => Reply::error("ERR index out of range"),
        },
    )
}

pub(super) fn ltrim(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let mut a = Args::new(&args[1..]);
    let (start, stop) = (a.next_i64()?, a.next_i64()?);
    or_error(
        server.store.ltrim(session.db, &args[0], start, stop),
        |()| Reply::ok(),
    )
}

pub(super) fn lrem(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let count = Args::new(&args[1..]).next_i64()?;
    or_error(
        server.store.lrem(session.db, &args[0], count, &args[2]),
        integer,
    )
}

pub(super) fn linsert(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let after = match Args::new(&args[1..]).next_keyword(&["AFTER", "BEFORE"])? {
        Some("AFTER") => true,
        Some("BEFORE") => false,
        _ => return Err(syntax_error()),
    };
    or_error(
        server
            .store
            .linsert(session.db, &args[0], after, &args[2], &args[3]),
        Reply::Integer,
    )
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`.
pub(super) fn lpos(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let mut opts = LposOptions {
        rank: 1,
        count: 0,
        maxlen: 0,
    };
    let mut with_count = false;
    let mut a = Args::new(&args[2..]);
    while !a.is_empty() {
        // The number is read, and checked, before the word.
        let opt = a.next_keyword(&["RANK", "COUNT", "MAXLEN"])?;
        let n = a.next_i64()?;
        match opt {
            Some("RANK") if n == 0 => {
                return Err(Reply::error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"))
            }
            Some("RANK") if n == i64::MIN => return Err(Reply::error("ERR value is out of range")),
            Some("RANK") => opts.rank = n,
            Some("COUNT") if n < 0 => return Err(Reply::error("ERR COUNT can't be negative")),
            Some("COUNT") => {
                opts.count = n.unsigned_abs();
                with_count = true;
            }
            Some("MAXLEN") if n < 0 => return Err(Reply::error("ERR MAXLEN can't be negative")),
            Some("MAXLEN") => opts.maxlen = n.unsigned_abs(),
            _ => return Err(syntax_error()),
        }
    }
    if !with_count {
        opts.count = 1;
    }
    or_error(
        server.store.lpos(session.db, &args[0], &args[1], opts),
        |found| {
            if with_count {
                Reply::Array(found.into_iter().map(integer).collect())
            } else {
                found.first().map_or(Reply::Null, |&p| integer(p))
            }
        },
    )
}

fn lmove_reply(
    server: &Server,
    session: &Session,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> CmdResult {
    or_error(server.store.lmove(session.db, src, dst, from, to), |v| {
        v.map_or(Reply::Null, Reply::Bulk)
    })
}

pub(super) fn lmove(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let mut a = Args::new(&args[2..]);
    let (from, to) = (next_end(&mut a)?, next_end(&mut a)?);
    lmove_reply(server, session, &args[0], &args[1], from, to)
}

pub(super) fn rpoplpush(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    lmove_reply(server, session, &args[0], &args[1], End::Right, End::Left)
}

/// Reads `numkeys key... LEFT|RIGHT [COUNT count]` (LMPOP, BLMPOP).
fn mpop_args<'a>(a: &mut Args<'a>) -> Result<(&'a [Vec<u8>], End, u64), Reply> {
    let keys = a.numkeys()?;
    let end = next_end(a)?;
    Ok((keys, end, a.mpop_count()?))
}

/// LMPOP's reply, or `None` if every list is empty.
fn mpop_try(
    server: &Server,
    session: &Session,
    keys: &[Vec<u8>],
    end: End,
    count: u64,
) -> Option<Reply> {
    match server.store.mpop(session.db, keys, end, count) {
        Ok(Some((key, elements))) => Some(Reply::Array(vec![Reply::Bulk(key), bulks(elements)])),
        Ok(None) => None,
        Err(e) => Some(store_error(e)),
    }
}

pub(super) fn lmpop(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let (keys, end, count) = mpop_args(&mut Args::new(args))?;
    Ok(mpop_try(server, session, keys, end, count).unwrap_or(Reply::NullArray))
}

fn bpop_try(server: &Server, session: &mut Session, args: &[Vec<u8>], end: End) -> Option<Reply> {
    let keys = &args[..args.len() - 1];
    for k in keys {
        match server.store.pop(session.db, k, end, 1) {
            Ok(Some(v)) => {
                if let Some(e) = v.into_iter().next() {
                    return Some(Reply::Array(vec![Reply::Bulk(k.clone()), Reply::Bulk(e)]));
                }
            }
            Ok(None) => {}
            Err(e) => return Some(store_error(e)),
        }
    }
    None
}

fn blpop_try(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Option<Reply> {
    bpop_try(server, session, args, End::Left)
}

fn brpop_try(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Option<Reply> {
    bpop_try(server, session, args, End::Right)
}

pub(super) fn blpop(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let (keys, deadline) = Args::new(args).keys_then_timeout()?;
    Ok(block_on(server, session, args, keys, deadline, blpop_try))
}

pub(super) fn brpop(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let (keys, deadline) = Args::new(args).keys_then_timeout()?;
    Ok(block_on(server, session, args, keys, deadline, brpop_try))
}

fn blmove_try(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Option<Reply> {
    let (from, to) = match args.len() {
        // BRPOPLPUSH src dst timeout
        3 => (End::Right, End::Left),
        _ => (parse_end(&args[2])?, parse_end(&args[3])?),
    };
    match server.store.lmove(session.db, &args[0], &args[1], from, to) {
        Ok(Some(e)) => {
            // Served after blocking, outside the dispatcher: wake the destination's waiters.
            server.blocking.signal(session.db, &args[1]);
            Some(Reply::Bulk(e))
        }
        Ok(None) => None,
        Err(e) => Some(store_error(e)),
    }
}

/// `BLMOVE src dst LEFT|RIGHT LEFT|RIGHT timeout`.
pub(super) fn blmove(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let mut a = Args::new(&args[2..]);
    next_end(&mut a)?;
    next_end(&mut a)?;
    let deadline = a.next_timeout()?;
    block_on_source(server, session, args, deadline)
}

/// `BRPOPLPUSH src dst timeout`.
pub(super) fn brpoplpush(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    let deadline = Args::new(&args[2..]).next_timeout()?;
    block_on_source(server, session, args, deadline)
}

/// BLMOVE and BRPOPLPUSH: moves now, or blocks on the source list until `deadline`.
fn block_on_source(
    server: &Server,
    session: &mut Session,
    args: &[Vec<u8>],
    deadline: Option<Instant>,
) -> CmdResult {
    let source = &args[..1];
    let reply = block_on(server, session, args, source, deadline, blmove_try);
    if let Some(blocked) = session.blocked.as_mut() {
        blocked.written.push(args[1].clone());
    }
    Ok(reply)
}

fn blmpop_try(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Option<Reply> {
    let (keys, end, count) = mpop_args(&mut Args::new(&args[1..])).ok()?;
    mpop_try(server, session, keys, end, count)
}

/// `BLMPOP timeout numkeys key... LEFT|RIGHT [COUNT count]`. The timeout is read after the
/// rest (its errors come second).
pub(super) fn blmpop(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let (keys, _, _) = mpop_args(&mut Args::new(&args[1..]))?;
    let deadline = Args::new(args).next_timeout()?;
    Ok(block_on(server, session, args, keys, deadline, blmpop_try))
}
