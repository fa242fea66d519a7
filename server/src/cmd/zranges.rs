//! Sorted-set ranges: by rank, by score (`(1.5`, `-inf`) and by lex (`[a`, `-`): ZCOUNT,
//! ZLEXCOUNT, the ZRANGE family, ZRANGESTORE and the ZREMRANGEBY commands.

use strata_redis::{LexBound, ScoreBound, ZRange, ZRangeSpec};

use super::args::Args;
use super::number::{parse_float, parse_i64};
use super::reply::{integer, not_an_integer, or_error, scored_reply, syntax_error, CmdResult};
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

/// A score bound: `1.5`, `(1.5`, `-inf`, `+inf`.
fn score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (exclusive, num) = match arg.strip_prefix(b"(") {
        Some(rest) => (true, rest),
        None => (false, arg),
    };
    Some(ScoreBound {
        score: parse_float(num)?,
        exclusive,
    })
}

/// A lex bound: `-`, `+`, `[member`, `(member`.
fn lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg {
        b"-" => Some(LexBound::Min),
        b"+" => Some(LexBound::Max),
        [b'[', rest @ ..] => Some(LexBound::Inclusive(rest.to_vec())),
        [b'(', rest @ ..] => Some(LexBound::Exclusive(rest.to_vec())),
        _ => None,
    }
}

fn score_range(min: &[u8], max: &[u8]) -> Result<ZRange, Reply> {
    match (score_bound(min), score_bound(max)) {
        (Some(lo), Some(hi)) => Ok(ZRange::Score(lo, hi)),
        _ => Err(Reply::error("ERR min or max is not a float")),
    }
}

fn lex_range(min: &[u8], max: &[u8]) -> Result<ZRange, Reply> {
    match (lex_bound(min), lex_bound(max)) {
        (Some(lo), Some(hi)) => Ok(ZRange::Lex(lo, hi)),
        _ => Err(Reply::error("ERR min or max not valid string range item")),
    }
}

pub(super) fn zcount(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let range = score_range(&args[1], &args[2])?;
    or_error(server.store.zcount(session.db, &args[0], range), integer)
}

pub(super) fn zlexcount(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let range = lex_range(&args[1], &args[2])?;
    or_error(server.store.zcount(session.db, &args[0], range), integer)
}

/// How a range command reads its two bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// Parses the bounds and options of the ZRANGE family. `modern` (ZRANGE, ZRANGESTORE)
/// accepts BYSCORE, BYLEX and REV; `store` refuses WITHSCORES. Bounds come as written: for a
/// reversed score or lex range the first is the maximum.
fn range_spec(
    a: &[u8],
    b: &[u8],
    opts: &[Vec<u8>],
    mut by: By,
    mut rev: bool,
    modern: bool,
    store: bool,
) -> Result<(ZRangeSpec, bool), Reply> {
    let mut with_scores = false;
    let mut limit = None;
    let mut opts = Args::new(opts);
    while !opts.is_empty() {
        match opts.next_keyword(&["WITHSCORES", "LIMIT", "BYSCORE", "BYLEX", "REV"])? {
            Some("WITHSCORES") if !store => with_scores = true,
            Some("LIMIT") => {
                // Both present, then both numbers.
                let (o, c) = (opts.next_bytes()?, opts.next_bytes()?);
                let (Some(o), Some(c)) = (parse_i64(o), parse_i64(c)) else {
                    return Err(not_an_integer());
                };
                limit = Some((o, c));
            }
            Some("BYSCORE") if modern && by == By::Rank => by = By::Score,
            Some("BYLEX") if modern && by == By::Rank => by = By::Lex,
            Some("REV") if modern => rev = true,
            _ => return Err(syntax_error()),
        }
    }
    if limit.is_some() && by == By::Rank {
        return Err(Reply::error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && by == By::Lex {
        return Err(Reply::error(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (lo, hi) = if rev { (b, a) } else { (a, b) };
    let range = match by {
        By::Rank => match (parse_i64(a), parse_i64(b)) {
            (Some(start), Some(stop)) => ZRange::Rank(start, stop),
            _ => return Err(not_an_integer()),
        },
        By::Score => score_range(lo, hi)?,
        By::Lex => lex_range(lo, hi)?,
    };
    // A negative offset selects nothing; a negative count means no limit.
    let limit = match limit {
        None => None,
        Some((o, _)) if o < 0 => Some((u64::MAX, Some(0))),
        Some((o, c)) => Some((o.unsigned_abs(), (c >= 0).then_some(c.unsigned_abs()))),
    };
    Ok((ZRangeSpec { range, rev, limit }, with_scores))
}

fn range_reply(
    server: &Server,
    session: &Session,
    args: &[Vec<u8>],
    by: By,
    rev: bool,
    modern: bool,
) -> CmdResult {
    let (spec, with_scores) = range_spec(&args[1], &args[2], &args[3..], by, rev, modern, false)?;
    or_error(server.store.zrange(session.db, &args[0], &spec), |m| {
        scored_reply(session, m, with_scores)
    })
}

pub(super) fn zrange(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    range_reply(server, session, args, By::Rank, false, true)
}

pub(super) fn zrevrange(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    range_reply(server, session, args, By::Rank, true, false)
}

pub(super) fn zrangebyscore(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    range_reply(server, session, args, By::Score, false, false)
}

pub(super) fn zrevrangebyscore(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    range_reply(server, session, args, By::Score, true, false)
}

pub(super) fn zrangebylex(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    range_reply(server, session, args, By::Lex, false, false)
}

pub(super) fn zrevrangebylex(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    range_reply(server, session, args, By::Lex, true, false)
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`.
pub(super) fn zrangestore(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    let (spec, _) = range_spec(&args[2], &args[3], &args[4..], By::Rank, false, true, true)?;
    or_error(
        server
            .store
            .zrangestore(session.db, &args[0], &args[1], &spec),
        integer,
    )
}

fn remrange(server: &Server, session: &Session, key: &[u8], range: ZRange) -> CmdResult {
    or_error(server.store.zremrange(session.db, key, range), integer)
}

pub(super) fn zremrangebyrank(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    let mut a = Args::new(&args[1..]);
    let range = ZRange::Rank(a.next_i64()?, a.next_i64()?);
    remrange(server, session, &args[0], range)
}

pub(super) fn zremrangebyscore(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    remrange(server, session, &args[0], score_range(&args[1], &args[2])?)
}

pub(super) fn zremrangebylex(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    remrange(server, session, &args[0], lex_range(&args[1], &args[2])?)
}
