//! List commands, including the blocking ones (see [`crate::blocking`]).

use strata_redis::{End, LposOptions, LsetOutcome};

use super::args::numkeys;
use super::number::parse_i64;
use super::reply::{bulks, integer, not_an_integer, or_error, store_error, syntax_error};
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

fn push(
    server: &Server,
    session: &Session,
    args: &[Vec<u8>],
    end: End,
    only_existing: bool,
) -> Reply {
    or_error(
        server
            .store
            .push(session.db, &args[0], end, &args[1..], only_existing),
        integer,
    )
}

pub(super) fn lpush(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    push(server, session, args, End::Left, false)
}

pub(super) fn rpush(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    push(server, session, args, End::Right, false)
}

pub(super) fn lpushx(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    push(server, session, args, End::Left, true)
}

pub(super) fn rpushx(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    push(server, session, args, End::Right, true)
}

/// A positive pop count (`LPOP key count`, `LMPOP ... COUNT n` words it differently).
fn pop_count(arg: &[u8]) -> Result<u64, Reply> {
    match parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n.unsigned_abs()),
        _ => Err(Reply::error("ERR value is out of range, must be positive")),
    }
}

fn pop(server: &Server, session: &Session, args: &[Vec<u8>], end: End) -> Reply {
    match &args[1..] {
        [] => or_error(server.store.pop(session.db, &args[0], end, 1), |v| {
            v.and_then(|v| v.into_iter().next())
                .map_or(Reply::Null, Reply::Bulk)
        }),
        [n] => match pop_count(n) {
            Ok(n) => or_error(server.store.pop(session.db, &args[0], end, n), |v| {
                v.map_or(Reply::NullArray, bulks)
            }),
            Err(reply) => reply,
        },
        _ => syntax_error(),
    }
}

pub(super) fn lpop(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    pop(server, session, args, End::Left)
}

pub(super) fn rpop(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    pop(server, session, args, End::Right)
}

pub(super) fn llen(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    or_error(server.store.llen(session.db, &args[0]), integer)
}

pub(super) fn lindex(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let Some(i) = parse_i64(&args[1]) else {
        return not_an_integer();
    };
    or_error(server.store.lindex(session.db, &args[0], i), |v| {
        v.map_or(Reply::Null, Reply::Bulk)
    })
}

pub(super) fn lrange(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let (Some(start), Some(stop)) = (parse_i64(&args[1]), parse_i64(&args[2])) else {
        return not_an_integer();
    };
    or_error(
        server.store.lrange(session.db, &args[0], start, stop),
        bulks,
    )
}

pub(super) fn lset(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let Some(i) = parse_i64(&args[1]) else {
        return not_an_integer();
    };
    or_error(
        server.store.lset(session.db, &args[0], i, &args[2]),
        |o| match o {
            LsetOutcome::Set => Reply::ok(),
            LsetOutcome::NoSuchKey => Reply::error("ERR no such key"),
            LsetOutcome::OutOfRange => Reply::error("ERR index out of range"),
        },
    )
}

pub(super) fn ltrim(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let (Some(start), Some(stop)) = (parse_i64(&args[1]), parse_i64(&args[2])) else {
        return not_an_integer();
    };
    or_error(
        server.store.ltrim(session.db, &args[0], start, stop),
        |()| Reply::ok(),
    )
}

pub(super) fn lrem(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let Some(count) = parse_i64(&args[1]) else {
        return not_an_integer();
    };
    or_error(
        server.store.lrem(session.db, &args[0], count, &args[2]),
        integer,
    )
}

pub(super) fn linsert(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let after = if args[1].eq_ignore_ascii_case(b"AFTER") {
        true
    } else if args[1].eq_ignore_ascii_case(b"BEFORE") {
        false
    } else {
        return syntax_error();
    };
    or_error(
        server
            .store
            .linsert(session.db, &args[0], after, &args[2], &args[3]),
        Reply::Integer,
    )
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`.
pub(super) fn lpos(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let mut opts = LposOptions {
        rank: 1,
        count: 0,
        maxlen: 0,
    };
    let mut with_count = false;
    for pair in args[2..].chunks(2) {
        let [opt, value] = pair else {
            return syntax_error();
        };
        let Some(n) = parse_i64(value) else {
            return not_an_integer();
        };
        match opt.to_ascii_uppercase().as_slice() {
            b"RANK" if n == 0 => {
                return Reply::error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
            }
            b"RANK" if n == i64::MIN => return Reply::error("ERR value is out of range"),
            b"RANK" => opts.rank = n,
            b"COUNT" if n < 0 => return Reply::error("ERR COUNT can't be negative"),
            b"COUNT" => {
                opts.count = n.unsigned_abs();
                with_count = true;
            }
            b"MAXLEN" if n < 0 => return Reply::error("ERR MAXLEN can't be negative"),
            b"MAXLEN" => opts.maxlen = n.unsigned_abs(),
            _ => return syntax_error(),
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
) -> Reply {
    or_error(server.store.lmove(session.db, src, dst, from, to), |v| {
        v.map_or(Reply::Null, Reply::Bulk)
    })
}

pub(super) fn lmove(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let (Some(from), Some(to)) = (parse_end(&args[2]), parse_end(&args[3])) else {
        return syntax_error();
    };
    lmove_reply(server, session, &args[0], &args[1], from, to)
}

pub(super) fn rpoplpush(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    lmove_reply(server, session, &args[0], &args[1], End::Right, End::Left)
}

/// Parses `numkeys key... LEFT|RIGHT [COUNT count]` (LMPOP, BLMPOP).
fn mpop_args(args: &[Vec<u8>]) -> Result<(&[Vec<u8>], End, u64), Reply> {
    let (keys, rest) = numkeys(args)?;
    let (end, rest) = match rest.split_first() {
        Some((w, rest)) => (parse_end(w).ok_or_else(syntax_error)?, rest),
        None => return Err(syntax_error()),
    };
    let count = match rest {
        [] => 1,
        [opt, n] if opt.eq_ignore_ascii_case(b"COUNT") => match parse_i64(n) {
            Some(n) if n > 0 => n.unsigned_abs(),
            _ => return Err(Reply::error("ERR count should be greater than 0")),
        },
        _ => return Err(syntax_error()),
    };
    Ok((keys, end, count))
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

pub(super) fn lmpop(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match mpop_args(args) {
        Ok((keys, end, count)) => {
            mpop_try(server, session, keys, end, count).unwrap_or(Reply::NullArray)
        }
        Err(reply) => reply,
    }
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

pub(super) fn blpop(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let (timeout, keys) = args.split_last().unwrap_or((&args[0], &[]));
    block_on(session, args, keys, timeout, blpop_try, server)
}

pub(super) fn brpop(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let (timeout, keys) = args.split_last().unwrap_or((&args[0], &[]));
    block_on(session, args, keys, timeout, brpop_try, server)
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

pub(super) fn blmove(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    if parse_end(&args[2]).is_none() || parse_end(&args[3]).is_none() {
        return syntax_error();
    }
    block_on(session, args, &args[..1], &args[4], blmove_try, server)
}

pub(super) fn brpoplpush(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    block_on(session, args, &args[..1], &args[2], blmove_try, server)
}

fn blmpop_try(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Option<Reply> {
    let (keys, end, count) = mpop_args(&args[1..]).ok()?;
    mpop_try(server, session, keys, end, count)
}

/// `BLMPOP timeout numkeys key... LEFT|RIGHT [COUNT count]`.
pub(super) fn blmpop(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let keys = match mpop_args(&args[1..]) {
        Ok((keys, _, _)) => keys.to_vec(),
        Err(reply) => return reply,
    };
    block_on(session, args, &keys, &args[0], blmpop_try, server)
}
