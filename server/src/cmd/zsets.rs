//! Sorted-set commands.

use strata_redis::{
    Aggregate, Condition, LexBound, ScoreBound, Scored, ZOp, ZRange, ZRangeSpec, ZaddOptions,
    ZaddOutcome,
};

use super::args::{card_limit, numkeys, random_args};
use super::number::{parse_float, parse_i64};
use super::reply::{
    integer, not_a_float, not_an_integer, or_error, or_update_error, pairs_reply, store_error,
    syntax_error,
};
use super::scan::{parse_scan, scan_reply};
use crate::blocking::block_on;
use crate::resp::{format_double, Reply};
use crate::server::Server;
use crate::session::Session;

/// Members, with their scores if asked (RESP2: flat; RESP3: pairs).
fn scored_reply(session: &Session, members: Scored, with_scores: bool) -> Reply {
    if with_scores {
        pairs_reply(
            session,
            members
                .into_iter()
                .map(|(m, s)| (Reply::Bulk(m), Reply::Double(s)))
                .collect(),
        )
    } else {
        Reply::Array(members.into_iter().map(|(m, _)| Reply::Bulk(m)).collect())
    }
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`.
pub(super) fn zadd(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let mut opts = ZaddOptions::default();
    let (mut nx, mut xx) = (false, false);
    let mut i = 1;
    while let Some(word) = args.get(i) {
        match word.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => opts.gt = true,
            b"LT" => opts.lt = true,
            b"CH" => opts.ch = true,
            b"INCR" => opts.incr = true,
            _ => break,
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return syntax_error();
    }
    if nx && xx {
        return Reply::error("ERR XX and NX options at the same time are not compatible");
    }
    if (nx && (opts.gt || opts.lt)) || (opts.gt && opts.lt) {
        return Reply::error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if opts.incr && rest.len() > 2 {
        return Reply::error("ERR INCR option supports a single increment-element pair");
    }
    opts.condition = match (nx, xx) {
        (true, _) => Condition::IfAbsent,
        (_, true) => Condition::IfPresent,
        _ => Condition::Always,
    };
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for p in rest.chunks_exact(2) {
        let Some(score) = parse_float(&p[0]) else {
            return not_a_float();
        };
        pairs.push((score, p[1].as_slice()));
    }
    zadd_reply(server.store.zadd(session.db, &args[0], opts, &pairs))
}

fn zadd_reply(r: strata_redis::Result<Result<ZaddOutcome, String>>) -> Reply {
    or_update_error(r, |outcome| match outcome {
        ZaddOutcome::Count(n) => integer(n),
        ZaddOutcome::Score(s) => s.map_or(Reply::Null, Reply::Double),
    })
}

pub(super) fn zincrby(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let Some(by) = parse_float(&args[1]) else {
        return not_a_float();
    };
    let opts = ZaddOptions {
        incr: true,
        ..ZaddOptions::default()
    };
    let pair = [(by, args[2].as_slice())];
    zadd_reply(server.store.zadd(session.db, &args[0], opts, &pair))
}

pub(super) fn zrem(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    or_error(server.store.zrem(session.db, &args[0], &args[1..]), integer)
}

pub(super) fn zscore(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    or_error(
        server.store.zscores(session.db, &args[0], &args[1..2]),
        |v| {
            v.into_iter()
                .next()
                .flatten()
                .map_or(Reply::Null, Reply::Double)
        },
    )
}

pub(super) fn zmscore(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    or_error(
        server.store.zscores(session.db, &args[0], &args[1..]),
        |v| {
            Reply::Array(
                v.into_iter()
                    .map(|s| s.map_or(Reply::Null, Reply::Double))
                    .collect(),
            )
        },
    )
}

pub(super) fn zcard(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    or_error(server.store.zcard(session.db, &args[0]), integer)
}

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

pub(super) fn zcount(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match score_range(&args[1], &args[2]) {
        Ok(r) => or_error(server.store.zcount(session.db, &args[0], r), integer),
        Err(reply) => reply,
    }
}

pub(super) fn zlexcount(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match lex_range(&args[1], &args[2]) {
        Ok(r) => or_error(server.store.zcount(session.db, &args[0], r), integer),
        Err(reply) => reply,
    }
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
    let mut i = 0;
    while let Some(word) = opts.get(i) {
        match word.to_ascii_uppercase().as_slice() {
            b"WITHSCORES" if !store => with_scores = true,
            b"LIMIT" => {
                let (Some(o), Some(c)) = (opts.get(i + 1), opts.get(i + 2)) else {
                    return Err(syntax_error());
                };
                let (Some(o), Some(c)) = (parse_i64(o), parse_i64(c)) else {
                    return Err(not_an_integer());
                };
                limit = Some((o, c));
                i += 2;
            }
            b"BYSCORE" if modern && by == By::Rank => by = By::Score,
            b"BYLEX" if modern && by == By::Rank => by = By::Lex,
            b"REV" if modern => rev = true,
            _ => return Err(syntax_error()),
        }
        i += 1;
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
) -> Reply {
    match range_spec(&args[1], &args[2], &args[3..], by, rev, modern, false) {
        Ok((spec, with_scores)) => {
            or_error(server.store.zrange(session.db, &args[0], &spec), |m| {
                scored_reply(session, m, with_scores)
            })
        }
        Err(reply) => reply,
    }
}

pub(super) fn zrange(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    range_reply(server, session, args, By::Rank, false, true)
}

pub(super) fn zrevrange(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    range_reply(server, session, args, By::Rank, true, false)
}

pub(super) fn zrangebyscore(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    range_reply(server, session, args, By::Score, false, false)
}

pub(super) fn zrevrangebyscore(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    range_reply(server, session, args, By::Score, true, false)
}

pub(super) fn zrangebylex(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    range_reply(server, session, args, By::Lex, false, false)
}

pub(super) fn zrevrangebylex(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    range_reply(server, session, args, By::Lex, true, false)
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`.
pub(super) fn zrangestore(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match range_spec(&args[2], &args[3], &args[4..], By::Rank, false, true, true) {
        Ok((spec, _)) => or_error(
            server
                .store
                .zrangestore(session.db, &args[0], &args[1], &spec),
            integer,
        ),
        Err(reply) => reply,
    }
}

fn rank_reply(server: &Server, session: &Session, args: &[Vec<u8>], rev: bool) -> Reply {
    let with_score = match &args[2..] {
        [] => false,
        [w] if w.eq_ignore_ascii_case(b"WITHSCORE") => true,
        _ => return syntax_error(),
    };
    or_error(
        server.store.zrank(session.db, &args[0], &args[1], rev),
        |found| match (found, with_score) {
            (None, false) => Reply::Null,
            (None, true) => Reply::NullArray,
            (Some((rank, _)), false) => integer(rank),
            (Some((rank, score)), true) => Reply::Array(vec![integer(rank), Reply::Double(score)]),
        },
    )
}

pub(super) fn zrank(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    rank_reply(server, session, args, false)
}

pub(super) fn zrevrank(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    rank_reply(server, session, args, true)
}

fn remrange(server: &Server, session: &Session, key: &[u8], range: Result<ZRange, Reply>) -> Reply {
    match range {
        Ok(r) => or_error(server.store.zremrange(session.db, key, r), integer),
        Err(reply) => reply,
    }
}

pub(super) fn zremrangebyrank(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let range = match (parse_i64(&args[1]), parse_i64(&args[2])) {
        (Some(a), Some(b)) => Ok(ZRange::Rank(a, b)),
        _ => Err(not_an_integer()),
    };
    remrange(server, session, &args[0], range)
}

pub(super) fn zremrangebyscore(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    remrange(server, session, &args[0], score_range(&args[1], &args[2]))
}

pub(super) fn zremrangebylex(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    remrange(server, session, &args[0], lex_range(&args[1], &args[2]))
}

fn pop_reply(server: &Server, session: &Session, args: &[Vec<u8>], max: bool) -> Reply {
    let count = match &args[1..] {
        [] => None,
        [n] => match parse_i64(n) {
            Some(n) if n >= 0 => Some(n.unsigned_abs()),
            _ => return Reply::error("ERR value is out of range, must be positive"),
        },
        _ => return syntax_error(),
    };
    or_error(
        server
            .store
            .zpop(session.db, &args[0], max, count.unwrap_or(1)),
        |popped| {
            let popped = popped.unwrap_or_default();
            match count {
                // Without a count RESP3 gets a flat pair too.
                None => Reply::Array(
                    popped
                        .into_iter()
                        .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)])
                        .collect(),
                ),
                Some(_) => scored_reply(session, popped, true),
            }
        },
    )
}

pub(super) fn zpopmin(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    pop_reply(server, session, args, false)
}

pub(super) fn zpopmax(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    pop_reply(server, session, args, true)
}

fn bzpop_try(server: &Server, session: &mut Session, args: &[Vec<u8>], max: bool) -> Option<Reply> {
    for k in &args[..args.len() - 1] {
        match server.store.zpop(session.db, k, max, 1) {
            Ok(Some(popped)) => {
                if let Some((m, s)) = popped.into_iter().next() {
                    return Some(Reply::Array(vec![
                        Reply::Bulk(k.clone()),
                        Reply::Bulk(m),
                        Reply::Double(s),
                    ]));
                }
            }
            Ok(None) => {}
            Err(e) => return Some(store_error(e)),
        }
    }
    None
}

fn bzpopmin_try(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Option<Reply> {
    bzpop_try(server, session, args, false)
}

fn bzpopmax_try(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Option<Reply> {
    bzpop_try(server, session, args, true)
}

fn bzpop(
    server: &Server,
    session: &mut Session,
    args: &[Vec<u8>],
    attempt: fn(&Server, &mut Session, &[Vec<u8>]) -> Option<Reply>,
) -> Reply {
    let (timeout, keys) = args.split_last().unwrap_or((&args[0], &[]));
    block_on(session, args, keys, timeout, attempt, server)
}

pub(super) fn bzpopmin(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    bzpop(server, session, args, bzpopmin_try)
}

pub(super) fn bzpopmax(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    bzpop(server, session, args, bzpopmax_try)
}

/// The parsed arguments of ZUNION/ZINTER/ZDIFF (and their STORE forms).
struct Combine<'a> {
    keys: &'a [Vec<u8>],
    weights: Vec<f64>,
    agg: Aggregate,
    with_scores: bool,
}

/// Parses `numkeys key... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`: weights and
/// the aggregate unless `op` is a difference, WITHSCORES unless `store`.
fn combine_args<'a>(
    args: &'a [Vec<u8>],
    op: ZOp,
    store: bool,
    name: &str,
) -> Result<Combine<'a>, Reply> {
    let (keys, rest) = match parse_i64(&args[0]) {
        Some(n) if n < 1 => {
            return Err(Reply::error(format!(
                "ERR at least 1 input key is needed for '{name}' command"
            )))
        }
        Some(_) => numkeys(args).map_err(|_| syntax_error())?,
        None => return Err(not_an_integer()),
    };
    let mut out = Combine {
        keys,
        weights: Vec::new(),
        agg: Aggregate::Sum,
        with_scores: false,
    };
    let mut i = 0;
    while let Some(word) = rest.get(i) {
        match word.to_ascii_uppercase().as_slice() {
            b"WEIGHTS" if op != ZOp::Diff => {
                let ws = rest
                    .get(i + 1..i + 1 + keys.len())
                    .ok_or_else(syntax_error)?;
                out.weights = ws
                    .iter()
                    .map(|w| parse_float(w))
                    .collect::<Option<Vec<f64>>>()
                    .ok_or_else(|| Reply::error("ERR weight value is not a float"))?;
                i += keys.len();
            }
            b"AGGREGATE" if op != ZOp::Diff => {
                let how = rest.get(i + 1).ok_or_else(syntax_error)?;
                out.agg = match how.to_ascii_uppercase().as_slice() {
                    b"SUM" => Aggregate::Sum,
                    b"MIN" => Aggregate::Min,
                    b"MAX" => Aggregate::Max,
                    _ => return Err(syntax_error()),
                };
                i += 1;
            }
            b"WITHSCORES" if !store => out.with_scores = true,
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    Ok(out)
}

fn combine(server: &Server, session: &Session, args: &[Vec<u8>], op: ZOp, name: &str) -> Reply {
    match combine_args(args, op, false, name) {
        Ok(c) => or_error(
            server
                .store
                .zcombine(session.db, c.keys, &c.weights, c.agg, op),
            |m| scored_reply(session, m, c.with_scores),
        ),
        Err(reply) => reply,
    }
}

fn combine_store(
    server: &Server,
    session: &Session,
    args: &[Vec<u8>],
    op: ZOp,
    name: &str,
) -> Reply {
    match combine_args(&args[1..], op, true, name) {
        Ok(c) => or_error(
            server
                .store
                .zcombine_store(session.db, &args[0], c.keys, &c.weights, c.agg, op),
            integer,
        ),
        Err(reply) => reply,
    }
}

pub(super) fn zunion(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    combine(server, session, args, ZOp::Union, "zunion")
}

pub(super) fn zinter(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    combine(server, session, args, ZOp::Inter, "zinter")
}

pub(super) fn zdiff(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    combine(server, session, args, ZOp::Diff, "zdiff")
}

pub(super) fn zunionstore(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    combine_store(server, session, args, ZOp::Union, "zunionstore")
}

pub(super) fn zinterstore(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    combine_store(server, session, args, ZOp::Inter, "zinterstore")
}

pub(super) fn zdiffstore(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    combine_store(server, session, args, ZOp::Diff, "zdiffstore")
}

/// `ZINTERCARD numkeys key... [LIMIT limit]`.
pub(super) fn zintercard(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let (keys, rest) = match parse_i64(&args[0]) {
        Some(n) if n < 1 => {
            return Reply::error("ERR at least 1 input key is needed for 'zintercard' command")
        }
        Some(_) => match numkeys(args) {
            Ok(v) => v,
            Err(reply) => return reply,
        },
        None => return not_an_integer(),
    };
    let limit = match card_limit(rest) {
        Ok(n) => n,
        Err(reply) => return reply,
    };
    or_error(
        server
            .store
            .zcombine(session.db, keys, &[], Aggregate::Sum, ZOp::Inter),
        |m| {
            let n = m.len() as u64;
            integer(if limit == 0 { n } else { n.min(limit) })
        },
    )
}

pub(super) fn zrandmember(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let (count, with_scores) = match random_args(&args[1..], b"WITHSCORES") {
        Ok(Some(v)) => v,
        Ok(None) => {
            return or_error(server.store.zrandmember(session.db, &args[0], 1), |m| {
                m.into_iter()
                    .next()
                    .map_or(Reply::Null, |(m, _)| Reply::Bulk(m))
            })
        }
        Err(reply) => return reply,
    };
    or_error(server.store.zrandmember(session.db, &args[0], count), |m| {
        scored_reply(session, m, with_scores)
    })
}

pub(super) fn zscan(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let scan = match parse_scan(&args[1..], &[], false) {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let r = server
        .store
        .zscan(session.db, &args[0], scan.cursor, scan.pattern, scan.count);
    or_error(r, |(next, found)| {
        let items = found
            .into_iter()
            .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Bulk(format_double(s).into_bytes())]);
        scan_reply(next, items.collect())
    })
}
