//! The argument cursor handlers read their arguments with (after mini-redis's `Parse`): one
//! method a kind of argument, each failing with the error reply Redis sends for a bad one.
//! Reading past the last argument is a syntax error. Option words match in any case.

use std::time::{Duration, Instant};

use super::number::{parse_float, parse_i64};
use super::reply::{not_a_float, not_an_integer, syntax_error};
use crate::resp::Reply;

/// Redis's error for a `numkeys` larger than the arguments after it.
pub(super) const TOO_MANY_KEYS: &str = "ERR Number of keys can't be greater than number of args";

/// Most elements a negative count (repeats allowed) may ask for: the reply is built in memory,
/// so a count of -10^12 must not take the server down (Redis would stream it until it runs out
/// of memory).
const MAX_RANDOM_REPEATS: i64 = 1 << 24;

/// A cursor over a command's arguments (the name excluded).
#[derive(Debug, Clone)]
pub(super) struct Args<'a> {
    /// The arguments not read yet.
    left: &'a [Vec<u8>],
}

impl<'a> Args<'a> {
    /// A cursor at the first of `args`.
    pub(super) fn new(args: &'a [Vec<u8>]) -> Self {
        Args { left: args }
    }

    /// How many arguments are left.
    pub(super) fn remaining(&self) -> usize {
        self.left.len()
    }

    /// Whether every argument has been read.
    pub(super) fn is_empty(&self) -> bool {
        self.left.is_empty()
    }

    /// A syntax error if any argument is left.
    pub(super) fn finish(&self) -> Result<(), Reply> {
        if self.left.is_empty() {
            Ok(())
        } else {
            Err(syntax_error())
        }
    }

    /// The next argument.
    pub(super) fn next_bytes(&mut self) -> Result<&'a [u8], Reply> {
        let (first, rest) = self.left.split_first().ok_or_else(syntax_error)?;
        self.left = rest;
        Ok(first)
    }

    /// The next `n` arguments (a syntax error if fewer are left).
    pub(super) fn next_n(&mut self, n: usize) -> Result<&'a [Vec<u8>], Reply> {
        if n > self.left.len() {
            return Err(syntax_error());
        }
        let (taken, rest) = self.left.split_at(n);
        self.left = rest;
        Ok(taken)
    }

    /// Every argument left.
    pub(super) fn rest(&mut self) -> &'a [Vec<u8>] {
        std::mem::take(&mut self.left)
    }

    /// The next argument as an integer (Redis's `string2ll` rules, see [`parse_i64`]).
    pub(super) fn next_i64(&mut self) -> Result<i64, Reply> {
        parse_i64(self.next_bytes()?).ok_or_else(not_an_integer)
    }

    /// The next argument as a float (Redis's `string2ld` rules, see [`parse_float`]).
    pub(super) fn next_f64(&mut self) -> Result<f64, Reply> {
        parse_float(self.next_bytes()?).ok_or_else(not_a_float)
    }

    /// The next argument as a count of elements to pop (LPOP, SPOP, ZPOPMIN): an integer,
    /// not negative (`LMPOP ... COUNT n` words its error differently).
    pub(super) fn next_count(&mut self) -> Result<u64, Reply> {
        match parse_i64(self.next_bytes()?) {
            Some(n) if n >= 0 => Ok(n.unsigned_abs()),
            _ => Err(Reply::error("ERR value is out of range, must be positive")),
        }
    }

    /// An optional count that ends the arguments ([`Args::next_count`]): `None` if no
    /// argument is left, a syntax error if more than one is.
    pub(super) fn optional_count(&mut self) -> Result<Option<u64>, Reply> {
        match self.left.len() {
            0 => Ok(None),
            1 => self.next_count().map(Some),
            _ => Err(syntax_error()),
        }
    }

    /// The next argument as a blocking timeout in seconds (a float, 0 = forever), as Redis
    /// reads it: the deadline, `None` for none.
    pub(super) fn next_timeout(&mut self) -> Result<Option<Instant>, Reply> {
        let secs: f64 = std::str::from_utf8(self.next_bytes()?)
            .ok()
            .filter(|s| !s.is_empty() && !s.starts_with(char::is_whitespace))
            .and_then(|s| s.parse().ok())
            .filter(|f: &f64| !f.is_nan())
            .ok_or_else(|| Reply::error("ERR timeout is not a float or out of range"))?;
        if secs < 0.0 {
            return Err(Reply::error("ERR timeout is negative"));
        }
        let ms = (secs * 1000.0).trunc();
        if ms == 0.0 {
            return Ok(None);
        }
        // Redis keeps the deadline in ms since the epoch in an i64.
        if !ms.is_finite() || ms > 1e15 {
            return Err(Reply::error("ERR timeout is out of range"));
        }
        Ok(Some(Instant::now() + Duration::from_millis(ms as u64)))
    }

    /// `key... timeout` (BLPOP, BRPOP, BZPOPMIN, BZPOPMAX): the keys and the deadline
    /// ([`Args::next_timeout`]).
    pub(super) fn keys_then_timeout(&mut self) -> Result<(&'a [Vec<u8>], Option<Instant>), Reply> {
        let keys = self.next_n(self.left.len().saturating_sub(1))?;
        Ok((keys, self.next_timeout()?))
    }

    /// `numkeys key...` (SINTERCARD, LMPOP, ZMPOP, ...): the keys. A `numkeys` that is not
    /// a positive integer, even one that is no integer, gets Redis's "numkeys should be
    /// greater than 0" (these commands read it with a range check that carries the message).
    pub(super) fn numkeys(&mut self) -> Result<&'a [Vec<u8>], Reply> {
        let below_one = || Reply::error("ERR numkeys should be greater than 0");
        if self.left.first().is_some_and(|n| parse_i64(n).is_none()) {
            return Err(below_one());
        }
        self.numkeys_or(below_one, || Reply::error(TOO_MANY_KEYS))
    }

    /// [`Args::numkeys`] with the command's own errors for a `numkeys` below 1 and for one
    /// larger than the arguments left (the ZUNION family words them its own way).
    pub(super) fn numkeys_or(
        &mut self,
        below_one: impl FnOnce() -> Reply,
        too_many: impl FnOnce() -> Reply,
    ) -> Result<&'a [Vec<u8>], Reply> {
        let n = match parse_i64(self.next_bytes()?) {
            Some(n) if n > 0 => n.unsigned_abs(),
            Some(_) => return Err(below_one()),
            None => return Err(not_an_integer()),
        };
        match usize::try_from(n).ok().filter(|&n| n <= self.left.len()) {
            Some(n) => self.next_n(n),
            None => Err(too_many()),
        }
    }

    /// Whether the next argument is `word` (any case); if so it is read.
    pub(super) fn eat(&mut self, word: &str) -> bool {
        self.eat_keyword(&[word]).is_some()
    }

    /// Which of `words` the next argument is (any case), read; `None`, and nothing read, if
    /// it is none of them or no argument is left.
    pub(super) fn eat_keyword<'w>(&mut self, words: &[&'w str]) -> Option<&'w str> {
        let (first, rest) = self.left.split_first()?;
        let word = words
            .iter()
            .find(|w| first.eq_ignore_ascii_case(w.as_bytes()))?;
        self.left = rest;
        Some(word)
    }

    /// Reads the next argument and says which of `words` it is (any case), `None` if none.
    pub(super) fn next_keyword<'w>(&mut self, words: &[&'w str]) -> Result<Option<&'w str>, Reply> {
        let arg = self.next_bytes()?;
        Ok(words
            .iter()
            .find(|w| arg.eq_ignore_ascii_case(w.as_bytes()))
            .copied())
    }

    /// An optional `word value` that ends the arguments (`LIMIT n`, `COUNT n`): its value,
    /// `None` if no argument is left, a syntax error for anything else.
    pub(super) fn final_option(&mut self, word: &str) -> Result<Option<&'a [u8]>, Reply> {
        if self.is_empty() {
            return Ok(None);
        }
        if self.remaining() != 2 || !self.eat(word) {
            return Err(syntax_error());
        }
        self.next_bytes().map(Some)
    }

    /// The optional `COUNT count` that ends LMPOP and ZMPOP (1 without it): a positive
    /// integer.
    pub(super) fn mpop_count(&mut self) -> Result<u64, Reply> {
        match self.final_option("COUNT")? {
            None => Ok(1),
            Some(n) => match parse_i64(n) {
                Some(n) if n > 0 => Ok(n.unsigned_abs()),
                _ => Err(Reply::error("ERR count should be greater than 0")),
            },
        }
    }

    /// The optional `LIMIT limit` that ends SINTERCARD and ZINTERCARD (0: none).
    pub(super) fn card_limit(&mut self) -> Result<u64, Reply> {
        let Some(n) = self.final_option("LIMIT")? else {
            return Ok(0);
        };
        // Redis reads it with a range check carrying this message, so a LIMIT that is no
        // integer gets it too.
        match parse_i64(n) {
            Some(n) if n >= 0 => Ok(n.unsigned_abs()),
            _ => Err(Reply::error("ERR LIMIT can't be negative")),
        }
    }

    /// The rest as `name value` pairs (MSET, HSET, CONFIG SET); `None` if none is left or a
    /// value is missing.
    pub(super) fn pairs(&mut self) -> Option<Vec<(&'a [u8], &'a [u8])>> {
        if self.is_empty() || !self.left.len().is_multiple_of(2) {
            return None;
        }
        let pairs = self
            .rest()
            .chunks_exact(2)
            .map(|p| (p[0].as_slice(), p[1].as_slice()))
            .collect();
        Some(pairs)
    }

    /// The next argument as the `count` of HRANDFIELD, SRANDMEMBER and ZRANDMEMBER, with
    /// Redis's range check when values come along (the reply would hold twice as many
    /// items), and [`MAX_RANDOM_REPEATS`].
    pub(super) fn next_random_count(&mut self, with_values: bool) -> Result<i64, Reply> {
        let n = self.next_i64()?;
        let limit = if with_values { i64::MAX / 2 } else { i64::MAX };
        if n < -limit || n > limit || n < -MAX_RANDOM_REPEATS {
            return Err(Reply::error("ERR value is out of range"));
        }
        Ok(n)
    }

    /// The arguments that end HRANDFIELD/ZRANDMEMBER: `None` without a count, else the count
    /// and whether `word` (WITHVALUES, WITHSCORES) follows.
    pub(super) fn random_args(&mut self, word: &str) -> Result<Option<(i64, bool)>, Reply> {
        let with_values = match self.left {
            [] => return Ok(None),
            [_] => false,
            [_, opt] if opt.eq_ignore_ascii_case(word.as_bytes()) => true,
            _ => return Err(syntax_error()),
        };
        let count = self.next_random_count(with_values)?;
        self.left = &[]; // the word, matched above
        Ok(Some((count, with_values)))
    }
}
