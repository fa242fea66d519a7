//! Set commands.

use strata_redis::SetOp;

use super::args::Args;
use super::reply::{integer, or_error, syntax_error, CmdResult};
use super::scan::{parse_scan, scan_reply};
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

fn members(v: Vec<Vec<u8>>) -> Reply {
    Reply::Set(v.into_iter().map(Reply::Bulk).collect())
}

pub(super) fn sadd(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.sadd(session.db, &args[0], &args[1..]), integer)
}

pub(super) fn srem(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.srem(session.db, &args[0], &args[1..]), integer)
}

pub(super) fn smembers(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.smembers(session.db, &args[0]), members)
}

pub(super) fn sismember(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(
        server.store.smismember(session.db, &args[0], &args[1..2]),
        |v| Reply::Integer(i64::from(v.first() == Some(&true))),
    )
}

pub(super) fn smismember(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    or_error(
        server.store.smismember(session.db, &args[0], &args[1..]),
        |v| {
            Reply::Array(
                v.into_iter()
                    .map(|b| Reply::Integer(i64::from(b)))
                    .collect(),
            )
        },
    )
}

pub(super) fn scard(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.scard(session.db, &args[0]), integer)
}

pub(super) fn spop(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    match Args::new(&args[1..]).optional_count()? {
        None => or_error(server.store.spop(session.db, &args[0], 1), |v| {
            v.into_iter().next().map_or(Reply::Null, Reply::Bulk)
        }),
        Some(n) => or_error(server.store.spop(session.db, &args[0], n), members),
    }
}

pub(super) fn srandmember(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    let mut a = Args::new(&args[1..]);
    match a.remaining() {
        0 => or_error(server.store.srandmember(session.db, &args[0], 1), |v| {
            v.into_iter().next().map_or(Reply::Null, Reply::Bulk)
        }),
        1 => {
            let n = a.next_random_count(false)?;
            or_error(server.store.srandmember(session.db, &args[0], n), |v| {
                Reply::Array(v.into_iter().map(Reply::Bulk).collect())
            })
        }
        _ => Err(syntax_error()),
    }
}

pub(super) fn smove(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(
        server.store.smove(session.db, &args[0], &args[1], &args[2]),
        |moved| Reply::Integer(i64::from(moved)),
    )
}

fn combine(server: &Server, session: &Session, keys: &[Vec<u8>], op: SetOp) -> CmdResult {
    or_error(server.store.set_combine(session.db, keys, op, 0), members)
}

fn combine_store(server: &Server, session: &Session, args: &[Vec<u8>], op: SetOp) -> CmdResult {
    or_error(
        server
            .store
            .set_combine_store(session.db, &args[0], &args[1..], op),
        integer,
    )
}

pub(super) fn sinter(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    combine(server, session, args, SetOp::Inter)
}

pub(super) fn sunion(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    combine(server, session, args, SetOp::Union)
}

pub(super) fn sdiff(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    combine(server, session, args, SetOp::Diff)
}

pub(super) fn sinterstore(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    combine_store(server, session, args, SetOp::Inter)
}

pub(super) fn sunionstore(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    combine_store(server, session, args, SetOp::Union)
}

pub(super) fn sdiffstore(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    combine_store(server, session, args, SetOp::Diff)
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`.
pub(super) fn sintercard(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    let mut a = Args::new(args);
    let keys = a.numkeys()?;
    let limit = usize::try_from(a.card_limit()?).unwrap_or(usize::MAX);
    or_error(
        server
            .store
            .set_combine(session.db, keys, SetOp::Inter, limit),
        |v| integer(v.len() as u64),
    )
}

pub(super) fn sscan(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let scan = parse_scan(&mut Args::new(&args[1..]), &[], false)?;
    let r = server.store.sscan(session.db, &args[0], scan.step());
    or_error(r, |(next, found)| {
        scan_reply(next, found.into_iter().map(Reply::Bulk).collect())
    })
}
