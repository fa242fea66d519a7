//! Replies every handler builds: what a handler returns, Redis's common error replies, the
//! mapping of store errors, and small builders (integers, bulk arrays, pairs, scored members,
//! help text).

use strata_redis::Scored;

use crate::resp::{Protocol, Reply};
use crate::session::Session;

/// What a handler returns: its reply, or the error reply that stopped it (a bad argument, a
/// failed store call), so that handlers can use `?`. Dispatch sends either.
pub(super) type CmdResult = Result<Reply, Reply>;

pub(super) fn syntax_error() -> Reply {
    Reply::error("ERR syntax error")
}

pub(super) fn not_an_integer() -> Reply {
    Reply::error("ERR value is not an integer or out of range")
}

pub(super) fn not_a_float() -> Reply {
    Reply::error("ERR value is not a valid float")
}

pub(super) fn wrong_arity(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// `Ok` if a subcommand's argument count is right (`ok`), else the arity error naming it as
/// Redis does (`client|kill`).
pub(super) fn subcommand_arity(container: &str, sub: &[u8], ok: bool) -> Result<(), Reply> {
    if ok {
        Ok(())
    } else {
        Err(wrong_arity(&format!(
            "{container}|{}",
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        )))
    }
}

pub(super) fn unknown_subcommand(sub: &[u8], cmd: &str) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        cmd.to_ascii_uppercase()
    ))
}

/// The reply to a failed store call: Redis's error text for each of the store's typed errors
/// (the only place that turns them into protocol text).
pub(super) fn store_error(e: strata_redis::Error) -> Reply {
    match e {
        strata_redis::Error::WrongType => Reply::error(format!("WRONGTYPE {e}")),
        // A write that reached a database poisoned meanwhile (dispatch refuses the others):
        // the same MISCONF as dispatch sends.
        strata_redis::Error::Engine(strata::Error::Poisoned(_)) => {
            Reply::error(format!("MISCONF Errors writing to the WAL: {e}"))
        }
        e => Reply::error(format!("ERR {e}")),
    }
}

/// `f(value)`, or the error reply of a failed store call.
pub(super) fn or_error<T>(r: strata_redis::Result<T>, f: impl FnOnce(T) -> Reply) -> CmdResult {
    r.map(f).map_err(store_error)
}

/// A count as an integer reply (saturating at `i64::MAX`).
pub(super) fn integer(n: u64) -> Reply {
    Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Values as an array of bulk strings.
pub(super) fn bulks(v: Vec<Vec<u8>>) -> Reply {
    Reply::Array(v.into_iter().map(Reply::Bulk).collect())
}

/// A text as a bulk string.
pub(super) fn bulk(s: impl Into<String>) -> Reply {
    Reply::Bulk(s.into().into_bytes())
}

/// The reply of a `HELP` subcommand: one simple string a line.
pub(super) fn help(lines: &[&str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::Simple((*l).into())).collect())
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

/// Members, with their scores if asked (RESP2: flat; RESP3: pairs).
pub(super) fn scored_reply(session: &Session, members: Scored, with_scores: bool) -> Reply {
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
