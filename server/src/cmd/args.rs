//! Argument parsers shared by several command families: `numkeys key...`, `LIMIT`, and the
//! counts of the random-member commands.

use super::number::parse_i64;
use super::reply::{not_an_integer, syntax_error};
use crate::resp::Reply;

/// Arguments split in two: the keys and what follows them.
type KeysAndRest<'a> = (&'a [Vec<u8>], &'a [Vec<u8>]);

/// Parses `numkeys key... ` at the start of `args` (SINTERCARD, ZUNION, LMPOP, ...): the
/// keys and the arguments after them.
pub(super) fn numkeys(args: &[Vec<u8>]) -> Result<KeysAndRest<'_>, Reply> {
    let n = match parse_i64(&args[0]) {
        Some(n) if n > 0 => n.unsigned_abs(),
        Some(_) => return Err(Reply::error("ERR numkeys should be greater than 0")),
        None => return Err(not_an_integer()),
    };
    let rest = &args[1..];
    match usize::try_from(n).ok().filter(|&n| n <= rest.len()) {
        Some(n) => Ok(rest.split_at(n)),
        None => Err(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        )),
    }
}

/// The `[LIMIT limit]` of SINTERCARD and ZINTERCARD (0: none).
pub(super) fn card_limit(rest: &[Vec<u8>]) -> Result<u64, Reply> {
    match rest {
        [] => Ok(0),
        [opt, n] if opt.eq_ignore_ascii_case(b"LIMIT") => match parse_i64(n) {
            Some(n) if n >= 0 => Ok(n.unsigned_abs()),
            Some(_) => Err(Reply::error("ERR LIMIT can't be negative")),
            None => Err(not_an_integer()),
        },
        _ => Err(syntax_error()),
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
        _ => return Err(syntax_error()),
    };
    Ok(Some((random_count(count, with_values)?, with_values)))
}
