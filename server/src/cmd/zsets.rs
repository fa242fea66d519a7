//! Sorted-set commands other than ranges (those are in `zranges.rs`): members and scores,
//! ranks, pops (blocking too), ZUNION/ZINTER/ZDIFF, random members and ZSCAN.

use strata_redis::{Aggregate, Condition, ZOp, ZaddOptions, ZaddOutcome};

use super::args::{Args, TOO_MANY_KEYS};
use super::number::parse_float;
use super::reply::{integer, or_error, scored_reply, store_error, syntax_error, CmdResult};
use super::scan::{parse_scan, scan_reply};
use crate::blocking::block_on;
use crate::resp::{format_double, Reply};
use crate::server::Server;
use crate::session::Session;

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`.
pub(super) fn zadd(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let mut opts = ZaddOptions::default();
    let (mut nx, mut xx) = (false, false);
    let mut a = Args::new(&args[1..]);
    while let Some(word) = a.eat_keyword(&["NX", "XX", "GT", "LT", "CH", "INCR"]) {
        match word {
            "NX" => nx = true,
            "XX" => xx = true,
            "GT" => opts.gt = true,
            "LT" => opts.lt = true,
            "CH" => opts.ch = true,
            _ => opts.incr = true, // INCR
        }
    }
    if a.is_empty() || !a.remaining().is_multiple_of(2) {
        return Err(syntax_error());
    }
    if nx && xx {
        return Err(Reply::error(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (nx && (opts.gt || opts.lt)) || (opts.gt && opts.lt) {
        return Err(Reply::error(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if opts.incr && a.remaining() > 2 {
        return Err(Reply::error(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    opts.condition = match (nx, xx) {
        (true, _) => Condition::IfAbsent,
        (_, true) => Condition::IfPresent,
        _ => Condition::Always,
    };
    let mut pairs = Vec::with_capacity(a.remaining() / 2);
    while !a.is_empty() {
        pairs.push((a.next_f64()?, a.next_bytes()?));
    }
    zadd_reply(server.store.zadd(session.db, &args[0], opts, &pairs))
}

fn zadd_reply(r: strata_redis::Result<ZaddOutcome>) -> CmdResult {
    or_error(r, |outcome| match outcome {
        ZaddOutcome::Count(n) => integer(n),
        ZaddOutcome::Score(s) => s.map_or(Reply::Null, Reply::Double),
    })
}

pub(super) fn zincrby(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let by = Args::new(&args[1..]).next_f64()?;
    let opts = ZaddOptions {
        incr: true,
        ..ZaddOptions::default()
    };
    let pair = [(by, args[2].as_slice())];
    zadd_reply(server.store.zadd(session.db, &args[0], opts, &pair))
}

pub(super) fn zrem(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.zrem(session.db, &args[0], &args[1..]), integer)
}

pub(super) fn zscore(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
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

pub(super) fn zmscore(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
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

pub(super) fn zcard(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.zcard(session.db, &args[0]), integer)
}

fn rank_reply(server: &Server, session: &Session, args: &[Vec<u8>], rev: bool) -> CmdResult {
    let mut a = Args::new(&args[2..]);
    let with_score = a.eat("WITHSCORE");
    a.finish()?;
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

pub(super) fn zrank(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    rank_reply(server, session, args, false)
}

pub(super) fn zrevrank(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    rank_reply(server, session, args, true)
}

fn pop_reply(server: &Server, session: &Session, args: &[Vec<u8>], max: bool) -> CmdResult {
    let count = Args::new(&args[1..]).optional_count()?;
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

pub(super) fn zpopmin(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    pop_reply(server, session, args, false)
}

pub(super) fn zpopmax(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
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
) -> CmdResult {
    let (keys, deadline) = Args::new(args).keys_then_timeout()?;
    Ok(block_on(server, session, args, keys, deadline, attempt))
}

pub(super) fn bzpopmin(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    bzpop(server, session, args, bzpopmin_try)
}

pub(super) fn bzpopmax(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    bzpop(server, session, args, bzpopmax_try)
}

/// Reads `numkeys key... MIN|MAX [COUNT count]` (ZMPOP, BZMPOP): the keys, whether to pop
/// the highest scores, how many.
fn zmpop_args<'a>(a: &mut Args<'a>) -> Result<(&'a [Vec<u8>], bool, u64), Reply> {
    let keys = a.numkeys()?;
    let which = a.next_bytes()?;
    let max = if which.eq_ignore_ascii_case(b"MAX") {
        true
    } else if which.eq_ignore_ascii_case(b"MIN") {
        false
    } else {
        return Err(syntax_error());
    };
    Ok((keys, max, a.mpop_count()?))
}

/// ZMPOP's reply (the key, then `[member, score]` pairs), or `None` if every sorted set is
/// empty.
fn zmpop_try(
    server: &Server,
    session: &Session,
    keys: &[Vec<u8>],
    max: bool,
    count: u64,
) -> Option<Reply> {
    for k in keys {
        match server.store.zpop(session.db, k, max, count) {
            Ok(Some(popped)) if !popped.is_empty() => {
                let pairs = popped
                    .into_iter()
                    .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                    .collect();
                return Some(Reply::Array(vec![
                    Reply::Bulk(k.clone()),
                    Reply::Array(pairs),
                ]));
            }
            Ok(_) => {}
            Err(e) => return Some(store_error(e)),
        }
    }
    None
}

/// `ZMPOP numkeys key... MIN|MAX [COUNT count]`.
pub(super) fn zmpop(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let (keys, max, count) = zmpop_args(&mut Args::new(args))?;
    Ok(zmpop_try(server, session, keys, max, count).unwrap_or(Reply::NullArray))
}

fn bzmpop_try(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Option<Reply> {
    let (keys, max, count) = zmpop_args(&mut Args::new(&args[1..])).ok()?;
    zmpop_try(server, session, keys, max, count)
}

/// `BZMPOP timeout numkeys key... MIN|MAX [COUNT count]`. The timeout is read after the rest
/// (its errors come second), as for BLMPOP.
pub(super) fn bzmpop(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let (keys, _, _) = zmpop_args(&mut Args::new(&args[1..]))?;
    let deadline = Args::new(args).next_timeout()?;
    Ok(block_on(server, session, args, keys, deadline, bzmpop_try))
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
    let mut a = Args::new(args);
    let keys = a.numkeys_or(|| no_keys(name), syntax_error)?;
    let mut out = Combine {
        keys,
        weights: Vec::new(),
        agg: Aggregate::Sum,
        with_scores: false,
    };
    while !a.is_empty() {
        match a.next_keyword(&["WEIGHTS", "AGGREGATE", "WITHSCORES"])? {
            Some("WEIGHTS") if op != ZOp::Diff => {
                // All present, then all numbers.
                out.weights = a
                    .next_n(keys.len())?
                    .iter()
                    .map(|w| parse_float(w))
                    .collect::<Option<Vec<f64>>>()
                    .ok_or_else(|| Reply::error("ERR weight value is not a float"))?;
            }
            Some("AGGREGATE") if op != ZOp::Diff => {
                out.agg = match a.next_keyword(&["SUM", "MIN", "MAX"])? {
                    Some("SUM") => Aggregate::Sum,
                    Some("MIN") => Aggregate::Min,
                    Some("MAX") => Aggregate::Max,
                    _ => return Err(syntax_error()),
                };
            }
            Some("WITHSCORES") if !store => out.with_scores = true,
            _ => return Err(syntax_error()),
        }
    }
    Ok(out)
}

/// ZINTERCARD's and the ZUNION family's error for a `numkeys` below 1.
fn no_keys(name: &str) -> Reply {
    Reply::error(format!(
        "ERR at least 1 input key is needed for '{name}' command"
    ))
}

fn combine(server: &Server, session: &Session, args: &[Vec<u8>], op: ZOp, name: &str) -> CmdResult {
    let c = combine_args(args, op, false, name)?;
    or_error(
        server
            .store
            .zcombine(session.db, c.keys, &c.weights, c.agg, op),
        |m| scored_reply(session, m, c.with_scores),
    )
}

fn combine_store(
    server: &Server,
    session: &Session,
    args: &[Vec<u8>],
    op: ZOp,
    name: &str,
) -> CmdResult {
    let c = combine_args(&args[1..], op, true, name)?;
    or_error(
        server
            .store
            .zcombine_store(session.db, &args[0], c.keys, &c.weights, c.agg, op),
        integer,
    )
}

pub(super) fn zunion(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    combine(server, session, args, ZOp::Union, "zunion")
}

pub(super) fn zinter(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    combine(server, session, args, ZOp::Inter, "zinter")
}

pub(super) fn zdiff(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    combine(server, session, args, ZOp::Diff, "zdiff")
}

pub(super) fn zunionstore(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    combine_store(server, session, args, ZOp::Union, "zunionstore")
}

pub(super) fn zinterstore(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    combine_store(server, session, args, ZOp::Inter, "zinterstore")
}

pub(super) fn zdiffstore(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    combine_store(server, session, args, ZOp::Diff, "zdiffstore")
}

/// `ZINTERCARD numkeys key... [LIMIT limit]`.
pub(super) fn zintercard(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    let mut a = Args::new(args);
    let keys = a.numkeys_or(|| no_keys("zintercard"), || Reply::error(TOO_MANY_KEYS))?;
    let limit = a.card_limit()?;
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

pub(super) fn zrandmember(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    let Some((count, with_scores)) = Args::new(&args[1..]).random_args("WITHSCORES")? else {
        return or_error(server.store.zrandmember(session.db, &args[0], 1), |m| {
            m.into_iter()
                .next()
                .map_or(Reply::Null, |(m, _)| Reply::Bulk(m))
        });
    };
    or_error(server.store.zrandmember(session.db, &args[0], count), |m| {
        scored_reply(session, m, with_scores)
    })
}

pub(super) fn zscan(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let scan = parse_scan(&mut Args::new(&args[1..]), &[], false)?;
    let r = server.store.zscan(session.db, &args[0], scan.step());
    or_error(r, |(next, found)| {
        let items = found
            .into_iter()
            .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Bulk(format_double(s).into_bytes())]);
        scan_reply(next, items.collect())
    })
}
