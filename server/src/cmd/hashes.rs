//! Hash commands.

use strata_redis::{Error, Pairs};

use super::args::Args;
use super::number::{add_float, add_int};
use super::reply::{or_error, pairs_reply, wrong_arity, CmdResult};
use super::scan::{parse_scan, scan_reply};
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

pub(super) fn hset(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let pairs = Args::new(&args[1..])
        .pairs()
        .ok_or_else(|| wrong_arity("hset"))?;
    or_error(
        server.store.hset(session.db, &args[0], &pairs, false),
        |n| Reply::Integer(n as i64),
    )
}

pub(super) fn hmset(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let pairs = Args::new(&args[1..])
        .pairs()
        .ok_or_else(|| wrong_arity("hmset"))?;
    or_error(
        server.store.hset(session.db, &args[0], &pairs, false),
        |_| Reply::ok(),
    )
}

pub(super) fn hsetnx(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let pair = [(args[1].as_slice(), args[2].as_slice())];
    or_error(server.store.hset(session.db, &args[0], &pair, true), |n| {
        Reply::Integer(n as i64)
    })
}

pub(super) fn hget(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.hget(session.db, &args[0], &args[1]), |v| {
        v.map_or(Reply::Null, Reply::Bulk)
    })
}

pub(super) fn hmget(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.hmget(session.db, &args[0], &args[1..]), |vs| {
        Reply::Array(
            vs.into_iter()
                .map(|v| v.map_or(Reply::Null, Reply::Bulk))
                .collect(),
        )
    })
}

pub(super) fn hdel(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.hdel(session.db, &args[0], &args[1..]), |n| {
        Reply::Integer(n as i64)
    })
}

pub(super) fn hlen(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.hlen(session.db, &args[0]), |n| {
        Reply::Integer(n as i64)
    })
}

pub(super) fn hstrlen(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.hget(session.db, &args[0], &args[1]), |v| {
        Reply::Integer(v.map_or(0, |v| v.len() as i64))
    })
}

pub(super) fn hexists(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.hget(session.db, &args[0], &args[1]), |v| {
        Reply::Integer(i64::from(v.is_some()))
    })
}

pub(super) fn hkeys(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.hgetall(session.db, &args[0]), |pairs| {
        Reply::Array(pairs.into_iter().map(|(f, _)| Reply::Bulk(f)).collect())
    })
}

pub(super) fn hvals(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.hgetall(session.db, &args[0]), |pairs| {
        Reply::Array(pairs.into_iter().map(|(_, v)| Reply::Bulk(v)).collect())
    })
}

pub(super) fn hgetall(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.hgetall(session.db, &args[0]), |pairs| {
        Reply::Map(
            pairs
                .into_iter()
                .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v)))
                .collect(),
        )
    })
}

pub(super) fn hincrby(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let by = Args::new(&args[2..]).next_i64()?;
    let r = server.store.hupdate(session.db, &args[0], &args[1], |old| {
        let new = add_int(old, by, Error::HashNotInteger)?;
        Ok((new.to_string().into_bytes(), new))
    });
    or_error(r, Reply::Integer)
}

pub(super) fn hincrbyfloat(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    let by = Args::new(&args[2..]).next_f64()?;
    if !by.is_finite() {
        // Redis checks the increment itself first (INCRBYFLOAT only checks the result).
        return Err(Reply::error("ERR value is NaN or Infinity"));
    }
    let r = server.store.hupdate(session.db, &args[0], &args[1], |old| {
        let text = add_float(old, by, Error::HashNotFloat)?;
        Ok((text.clone(), text))
    });
    or_error(r, Reply::Bulk)
}

pub(super) fn hrandfield(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    let Some((count, with_values)) = Args::new(&args[1..]).random_args("WITHVALUES")? else {
        return or_error(server.store.hrandfield(session.db, &args[0], 1), |p| {
            p.into_iter()
                .next()
                .map_or(Reply::Null, |(f, _)| Reply::Bulk(f))
        });
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

pub(super) fn hscan(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let scan = parse_scan(&mut Args::new(&args[1..]), &["NOVALUES"], false)?;
    let novalues = scan.flags.contains(&"NOVALUES");
    let r = server.store.hscan(session.db, &args[0], scan.step());
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
