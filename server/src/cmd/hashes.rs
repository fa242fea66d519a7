//! Hash commands.

use strata_redis::Pairs;

use super::strings::{add_float, parse_float};
use super::{
    not_an_integer, or_error, parse_i64, parse_scan, scan_reply, store_error, wrong_arity,
};
use crate::resp::{Protocol, Reply};
use crate::server::Server;
use crate::session::Session;

/// The `field value ...` pairs of HSET/HMSET, or `None` for an odd count.
fn field_pairs(args: &[Vec<u8>]) -> Option<Vec<(&[u8], &[u8])>> {
    if args.is_empty() || !args.len().is_multiple_of(2) {
        return None;
    }
    Some(
        args.chunks_exact(2)
            .map(|p| (p[0].as_slice(), p[1].as_slice()))
            .collect(),
    )
}

pub(super) fn hset(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let Some(pairs) = field_pairs(&args[1..]) else {
        return wrong_arity("hset");
    };
    or_error(
        server.store.hset(session.db, &args[0], &pairs, false),
        |n| Reply::Integer(n as i64),
    )
}

pub(super) fn hmset(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let Some(pairs) = field_pairs(&args[1..]) else {
        return wrong_arity("hmset");
    };
    or_error(
        server.store.hset(session.db, &args[0], &pairs, false),
        |_| Reply::ok(),
    )
}

pub(super) fn hsetnx(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let pair = [(args[1].as_slice(), args[2].as_slice())];
    or_error(server.store.hset(session.db, &args[0], &pair, true), |n| {
        Reply::Integer(n as i64)
    })
}

pub(super) fn hget(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    or_error(server.store.hget(session.db, &args[0], &args[1]), |v| {
        v.map_or(Reply::Null, Reply::Bulk)
    })
}

pub(super) fn hmget(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    or_error(server.store.hmget(session.db, &args[0], &args[1..]), |vs| {
        Reply::Array(
            vs.into_iter()
                .map(|v| v.map_or(Reply::Null, Reply::Bulk))
                .collect(),
        )
    })
}

pub(super) fn hdel(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    or_error(server.store.hdel(session.db, &args[0], &args[1..]), |n| {
        Reply::Integer(n as i64)
    })
}

pub(super) fn hlen(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    or_error(server.store.hlen(session.db, &args[0]), |n| {
        Reply::Integer(n as i64)
    })
}

pub(super) fn hstrlen(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    or_error(server.store.hget(session.db, &args[0], &args[1]), |v| {
        Reply::Integer(v.map_or(0, |v| v.len() as i64))
    })
}

pub(super) fn hexists(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    or_error(server.store.hget(session.db, &args[0], &args[1]), |v| {
        Reply::Integer(i64::from(v.is_some()))
    })
}

pub(super) fn hkeys(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    or_error(server.store.hgetall(session.db, &args[0]), |pairs| {
        Reply::Array(pairs.into_iter().map(|(f, _)| Reply::Bulk(f)).collect())
    })
}

pub(super) fn hvals(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    or_error(server.store.hgetall(session.db, &args[0]), |pairs| {
        Reply::Array(pairs.into_iter().map(|(_, v)| Reply::Bulk(v)).collect())
    })
}

pub(super) fn hgetall(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    or_error(server.store.hgetall(session.db, &args[0]), |pairs| {
        Reply::Map(
            pairs
                .into_iter()
                .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v)))
                .collect(),
        )
    })
}

pub(super) fn hincrby(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let Some(by) = parse_i64(&args[2]) else {
        return not_an_integer();
    };
    let r = server.store.hupdate(session.db, &args[0], &args[1], |old| {
        let cur = match old {
            None => 0,
            Some(v) => parse_i64(v).ok_or("ERR hash value is not an integer")?,
        };
        let new = cur
            .checked_add(by)
            .ok_or("ERR increment or decrement would overflow")?;
        Ok((new.to_string().into_bytes(), new))
    });
    match r {
        Ok(Ok(n)) => Reply::Integer(n),
        Ok(Err(msg)) => Reply::error(msg),
        Err(e) => store_error(e),
    }
}

pub(super) fn hincrbyfloat(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let Some(by) = parse_float(&args[2]) else {
        return Reply::error("ERR value is not a valid float");
    };
    let r = server.store.hupdate(session.db, &args[0], &args[1], |old| {
        let text = add_float(old, by, "ERR hash value is not a float")?;
        Ok((text.clone(), text))
    });
    match r {
        Ok(Ok(v)) => Reply::Bulk(v),
        Ok(Err(msg)) => Reply::error(msg),
        Err(e) => store_error(e),
    }
}

/// Field-value pairs as HRANDFIELD WITHVALUES and ZRANDMEMBER WITHSCORES answer: a flat
/// array in RESP2, an array of pairs in RESP3.
pub(super) fn pairs_reply(session: &Session, pairs: Vec<(Reply, Reply)>) -> Reply {
    if session.protocol == Protocol::Resp3 {
        Reply::Array(
            pairs
                .into_iter()
                .map(|(a, b)| Reply::Array(vec![a, b]))
                .collect(),
        )
    } else {
        Reply::Array(pairs.into_iter().flat_map(|(a, b)| [a, b]).collect())
    }
}

/// Most elements a negative count (repeats allowed) may ask for: the reply is built in memory,
/// so a count of -10^12 must not take the server down (Redis would stream it until it runs out
/// of memory).
const MAX_RANDOM_REPEATS: i64 = 1 << 24;

/// The `count` of HRANDFIELD, SRANDMEMBER and ZRANDMEMBER, with Redis's range check when
/// values come along (the reply would hold twice as many items), and [`MAX_RANDOM_REPEATS`].
pub(super) fn random_count(arg: &[u8], with_values: bool) -> Result<i64, Reply> {
    let n = parse_i64(arg).ok_or_else(not_an_integer)?;
    let limit = if with_values { i64::MAX / 2 } else { i64::MAX };
    if n < -limit || n > limit || n < -MAX_RANDOM_REPEATS {
        return Err(Reply::error("ERR value is out of range"));
    }
    Ok(n)
}

/// The arguments after the key of HRANDFIELD/ZRANDMEMBER: `None` without a count, else the
/// count and whether `word` (WITHVALUES, WITHSCORES) follows.
pub(super) fn random_args(rest: &[Vec<u8>], word: &[u8]) -> Result<Option<(i64, bool)>, Reply> {
    let (count, with_values) = match rest {
        [] => return Ok(None),
        [n] => (n, false),
        [n, opt] if opt.eq_ignore_ascii_case(word) => (n, true),
        _ => return Err(super::syntax_error()),
    };
    Ok(Some((random_count(count, with_values)?, with_values)))
}

pub(super) fn hrandfield(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let (count, with_values) = match random_args(&args[1..], b"WITHVALUES") {
        Ok(Some(v)) => v,
        Ok(None) => {
            return or_error(server.store.hrandfield(session.db, &args[0], 1), |p| {
                p.into_iter()
                    .next()
                    .map_or(Reply::Null, |(f, _)| Reply::Bulk(f))
            })
        }
        Err(reply) => return reply,
    };
    or_error(server.store.hrandfield(session.db, &args[0], count), |p| {
        if with_values {
            pairs_reply(
                session,
                p.into_iter()
                    .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v)))
                    .collect(),
            )
        } else {
            Reply::Array(p.into_iter().map(|(f, _)| Reply::Bulk(f)).collect())
        }
    })
}

pub(super) fn hscan(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let scan = match parse_scan(&args[1..], &[b"NOVALUES"], false) {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let novalues = scan.flags.contains(&b"NOVALUES".as_slice());
    let r = server
        .store
        .hscan(session.db, &args[0], scan.cursor, scan.pattern, scan.count);
    or_error(r, |(next, pairs): (u64, Pairs)| {
        let items = pairs
            .into_iter()
            .flat_map(|(f, v)| {
                let v = (!novalues).then_some(Reply::Bulk(v));
                std::iter::once(Reply::Bulk(f)).chain(v)
            })
            .collect();
        scan_reply(next, items)
    })
}
