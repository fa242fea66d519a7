//! String commands.

use strata_redis::{Condition, Error, Expiry, SetOptions};

use super::args::Args;
use super::number::{add_float, add_int};
use super::reply::{or_error, store_error, syntax_error, wrong_arity, CmdResult};
use super::take_arg;
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

pub(super) fn get(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.get(session.db, &args[0]), |v| {
        v.map_or(Reply::Null, Reply::Bulk)
    })
}

pub(super) fn setnx(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let opts = SetOptions {
        condition: Condition::IfAbsent,
        ..SetOptions::default()
    };
    let value = take_arg(args, 1);
    or_error(server.store.set(session.db, &args[0], value, opts), |out| {
        Reply::Integer(i64::from(out.written))
    })
}

pub(super) fn getset(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let opts = SetOptions {
        get: true,
        ..SetOptions::default()
    };
    let value = take_arg(args, 1);
    or_error(server.store.set(session.db, &args[0], value, opts), |out| {
        out.old.map_or(Reply::Null, Reply::Bulk)
    })
}

pub(super) fn getdel(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.getdel(session.db, &args[0]), |v| {
        v.map_or(Reply::Null, Reply::Bulk)
    })
}

/// The words of an expiry option that a time follows.
const EXPIRY_UNITS: &[&str] = &["EX", "PX", "EXAT", "PXAT"];

/// `GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST]`.
pub(super) fn getex(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let now = server.store.now_ms();
    let mut a = Args::new(&args[1..]);
    let expiry = match a.remaining() {
        0 => Expiry::Keep,
        1 if a.eat("PERSIST") => Expiry::Clear,
        2 => match a.eat_keyword(EXPIRY_UNITS) {
            Some(unit) => Expiry::At(next_expiry(&mut a, unit, now, "getex")?),
            None => return Err(syntax_error()),
        },
        _ => return Err(syntax_error()),
    };
    or_error(server.store.getex(session.db, &args[0], expiry), |v| {
        v.map_or(Reply::Null, Reply::Bulk)
    })
}

/// Reads the time of `EX s`, `PX ms`, `EXAT s` or `PXAT ms` (`unit`) as an absolute Unix
/// time in ms, or the error reply for a bad number (as `cmd` words it: SET, GETEX, SETEX,
/// PSETEX).
fn next_expiry(a: &mut Args, unit: &str, now: u64, cmd: &str) -> Result<u64, Reply> {
    let n = a.next_i64()?;
    let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let n = n as u64;
    let at = match unit {
        "EX" => n.checked_mul(1000).and_then(|ms| ms.checked_add(now)),
        "PX" => n.checked_add(now),
        "EXAT" => n.checked_mul(1000),
        _ => Some(n),
    };
    match at {
        Some(at) if at <= i64::MAX as u64 => Ok(at),
        _ => Err(invalid()),
    }
}

pub(super) fn setex(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    set_with_expiry(server, session, args, "EX", "setex")
}

pub(super) fn psetex(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    set_with_expiry(server, session, args, "PX", "psetex")
}

/// `SETEX key seconds value`, `PSETEX key ms value`.
fn set_with_expiry(
    server: &Server,
    session: &Session,
    args: &mut [Vec<u8>],
    unit: &str,
    cmd: &str,
) -> CmdResult {
    let at = next_expiry(&mut Args::new(&args[1..]), unit, server.store.now_ms(), cmd)?;
    let opts = SetOptions {
        expiry: Expiry::At(at),
        ..SetOptions::default()
    };
    let value = take_arg(args, 2);
    or_error(server.store.set(session.db, &args[0], value, opts), |_| {
        Reply::ok()
    })
}

/// `MGET`: a key that is missing or not a string answers nil, as in Redis; a failed read
/// (corruption, I/O) fails the command instead of hiding as a nil.
pub(super) fn mget(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let mut values = Vec::with_capacity(args.len());
    for k in args {
        values.push(match server.store.get(session.db, k) {
            Ok(Some(v)) => Reply::Bulk(v),
            Ok(None) | Err(Error::WrongType) => Reply::Null,
            Err(e) => return Err(store_error(e)),
        });
    }
    Ok(Reply::Array(values))
}

pub(super) fn mset(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    mset_generic(server, session, args, false)
}

pub(super) fn msetnx(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    mset_generic(server, session, args, true)
}

fn mset_generic(server: &Server, session: &Session, args: &[Vec<u8>], nx: bool) -> CmdResult {
    let name = if nx { "msetnx" } else { "mset" };
    let pairs = Args::new(args).pairs().ok_or_else(|| wrong_arity(name))?;
    or_error(server.store.mset(session.db, &pairs, nx), |wrote| {
        if nx {
            Reply::Integer(i64::from(wrote))
        } else {
            Reply::ok()
        }
    })
}

pub(super) fn append(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let add = &args[1];
    let r = server.store.update_string(session.db, &args[0], |old| {
        let mut v = old.map(<[u8]>::to_vec).unwrap_or_default();
        if v.len() + add.len() > MAX_STRING {
            return Err(Error::TooLarge);
        }
        v.extend_from_slice(add);
        let len = v.len() as i64;
        Ok((Some(v), len))
    });
    or_error(r, Reply::Integer)
}

pub(super) fn strlen(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    or_error(server.store.get(session.db, &args[0]), |v| {
        Reply::Integer(v.map_or(0, |v| v.len() as i64))
    })
}

pub(super) fn getrange(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let mut a = Args::new(&args[1..]);
    let (start, end) = (a.next_i64()?, a.next_i64()?);
    or_error(server.store.get(session.db, &args[0]), |v| {
        Reply::Bulk(range(&v.unwrap_or_default(), start, end).to_vec())
    })
}

pub(super) fn setrange(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let offset = Args::new(&args[1..]).next_i64()?;
    if offset < 0 {
        return Err(Reply::error("ERR offset is out of range"));
    }
    let (offset, add) = (offset as usize, &args[2]);
    let r = server.store.update_string(session.db, &args[0], |old| {
        let len = old.map_or(0, <[u8]>::len) as i64;
        if add.is_empty() {
            return Ok((None, len)); // Redis neither creates nor changes the key
        }
        if offset.saturating_add(add.len()) > MAX_STRING {
            return Err(Error::TooLarge);
        }
        let mut v = old.map(<[u8]>::to_vec).unwrap_or_default();
        if v.len() < offset + add.len() {
            v.resize(offset + add.len(), 0);
        }
        v[offset..offset + add.len()].copy_from_slice(add);
        let n = v.len() as i64;
        Ok((Some(v), n))
    });
    or_error(r, Reply::Integer)
}

/// A bit offset as Redis reads one: a non-negative integer whose byte lies within
/// `proto-max-bulk-len` (512 MiB).
fn bit_offset(arg: &[u8]) -> Result<(usize, u8), Reply> {
    match super::number::parse_i64(arg) {
        Some(n) if n >= 0 && (n >> 3) < MAX_STRING as i64 => {
            // Bit 0 is the most significant bit of the first byte.
            Ok(((n >> 3) as usize, 1u8 << (7 - (n & 7))))
        }
        _ => Err(Reply::error(
            "ERR bit offset is not an integer or out of range",
        )),
    }
}

/// `SETBIT key offset 0|1`: the bit's old value; the string grows with zero bytes to hold it.
pub(super) fn setbit(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let (byte, mask) = bit_offset(&args[1])?;
    let on = match super::number::parse_i64(&args[2]) {
        Some(b @ (0 | 1)) => b == 1,
        _ => return Err(Reply::error("ERR bit is not an integer or out of range")),
    };
    let r = server.store.update_string(session.db, &args[0], |old| {
        let current = old.and_then(|o| o.get(byte)).copied();
        let was = current.is_some_and(|b| b & mask != 0);
        // A string whose bit is already right is left as is (Redis writes nothing).
        if current.is_some() && was == on {
            return Ok((None, i64::from(was)));
        }
        let mut v = old.map(<[u8]>::to_vec).unwrap_or_default();
        if v.len() <= byte {
            v.resize(byte + 1, 0);
        }
        if on {
            v[byte] |= mask;
        } else {
            v[byte] &= !mask;
        }
        Ok((Some(v), i64::from(was)))
    });
    or_error(r, Reply::Integer)
}

/// `GETBIT key offset`: 0 past the end of the string or for a missing key.
pub(super) fn getbit(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let (byte, mask) = bit_offset(&args[1])?;
    or_error(server.store.get(session.db, &args[0]), |v| {
        let set = v
            .and_then(|v| v.get(byte).copied())
            .is_some_and(|b| b & mask != 0);
        Reply::Integer(i64::from(set))
    })
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`: the longest common
/// subsequence of two strings (missing keys are empty), by Redis's dynamic programme, with
/// its matching ranges walked back from the end as Redis walks them.
pub(super) fn lcs(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let (mut get_len, mut get_idx, mut with_len, mut min_len) = (false, false, false, 0u64);
    let mut opts = args[2..].iter();
    while let Some(opt) = opts.next() {
        match opt.to_ascii_uppercase().as_slice() {
            b"LEN" => get_len = true,
            b"IDX" => get_idx = true,
            b"WITHMATCHLEN" => with_len = true,
            b"MINMATCHLEN" => {
                let n = opts.next().ok_or_else(syntax_error)?;
                let n = super::number::parse_i64(n).ok_or_else(super::reply::not_an_integer)?;
                min_len = n.max(0).unsigned_abs();
            }
            _ => return Err(syntax_error()),
        }
    }
    let value = |k: &[u8]| match server.store.get(session.db, k) {
        Ok(v) => Ok(v.unwrap_or_default()),
        Err(Error::WrongType) => Err(Reply::error(
            "ERR The specified keys must contain string values",
        )),
        Err(e) => Err(store_error(e)),
    };
    let (a, b) = (value(&args[0])?, value(&args[1])?);
    if get_len && get_idx {
        return Err(Reply::error(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    // Redis 7.2's bound on the table: no more transient memory than one argument may take.
    let cells = (a.len() as u64 + 1).saturating_mul(b.len() as u64 + 1);
    if cells.saturating_mul(4) > MAX_STRING as u64 {
        return Err(Reply::error(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let w = b.len() + 1;
    let mut table = vec![0u32; (a.len() + 1) * w];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[i * w + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * w + j - 1] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + j - 1])
            };
        }
    }
    let total = table[a.len() * w + b.len()];
    if get_len {
        return Ok(Reply::Integer(i64::from(total)));
    }
    let mut common = vec![0u8; total as usize];
    let mut matches = Vec::new();
    // The range being grown backwards (a's start and end, b's start and end).
    let mut range: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j, mut k) = (a.len(), b.len(), total as usize);
    while i > 0 && j > 0 {
        let emit = if a[i - 1] == b[j - 1] {
            common[k - 1] = a[i - 1];
            range = Some(match range {
                None => (i - 1, i - 1, j - 1, j - 1),
                Some((_, a_end, _, b_end)) => (i - 1, a_end, j - 1, b_end),
            });
            // Matched the first byte of one string: nothing can extend the range.
            let first = i == 1 || j == 1;
            (i, j, k) = (i - 1, j - 1, k - 1);
            first
        } else {
            if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            range.is_some()
        };
        if let (true, Some((a_start, a_end, b_start, b_end))) = (emit, range) {
            let len = (a_end - a_start + 1) as u64;
            if min_len == 0 || len >= min_len {
                let span = |s: usize, e: usize| {
                    Reply::Array(vec![Reply::Integer(s as i64), Reply::Integer(e as i64)])
                };
                let mut m = vec![span(a_start, a_end), span(b_start, b_end)];
                if with_len {
                    m.push(Reply::Integer(len as i64));
                }
                matches.push(Reply::Array(m));
            }
            range = None;
        }
    }
    if get_idx {
        return Ok(Reply::Map(vec![
            (bulk_str("matches"), Reply::Array(matches)),
            (bulk_str("len"), Reply::Integer(i64::from(total))),
        ]));
    }
    Ok(Reply::Bulk(common))
}

fn bulk_str(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

pub(super) fn incr(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    incr_by(server, session, &args[0], 1)
}

pub(super) fn decr(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    incr_by(server, session, &args[0], -1)
}

pub(super) fn incrby(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let by = Args::new(&args[1..]).next_i64()?;
    incr_by(server, session, &args[0], by)
}

pub(super) fn decrby(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    match Args::new(&args[1..]).next_i64()? {
        i64::MIN => Err(Reply::error("ERR decrement would overflow")),
        n => incr_by(server, session, &args[0], -n),
    }
}

/// `INCRBYFLOAT key increment`. Computed in `f64` (Redis uses `long double`) and written in
/// Redis's human form: fixed-point, no exponent, no trailing zeros (`10.5` + `0.1` = `10.6`,
/// `5.0e3` + `2.0e2` = `5200`).
pub(super) fn incrbyfloat(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    let by = Args::new(&args[1..]).next_f64()?;
    let r = server.store.update_string(session.db, &args[0], |old| {
        let text = add_float(old, by, Error::NotFloat)?;
        Ok((Some(text.clone()), text))
    });
    or_error(r, Reply::Bulk)
}

/// `GETRANGE`'s index rules: negative counts from the end, both ends inclusive and clamped.
fn range(v: &[u8], start: i64, end: i64) -> &[u8] {
    let len = v.len() as i64;
    if len == 0 {
        return &[];
    }
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 {
        (len + end).max(0)
    } else {
        end.min(len - 1)
    };
    if start > end {
        return &[];
    }
    &v[start as usize..=end as usize]
}

/// Redis's `proto-max-bulk-len`: the largest string a command may build.
const MAX_STRING: usize = 512 << 20;

fn incr_by(server: &Server, session: &Session, key: &[u8], by: i64) -> CmdResult {
    let r = server.store.update_string(session.db, key, |old| {
        let new = add_int(old, by, Error::NotInteger)?;
        Ok((Some(new.to_string().into_bytes()), new))
    });
    or_error(r, Reply::Integer)
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`.
pub(super) fn set(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let now = server.store.now_ms();
    let mut opts = SetOptions::default();
    let mut expiry_given = false;
    let mut a = Args::new(&args[2..]);
    while !a.is_empty() {
        match a.next_keyword(&["NX", "XX", "GET", "KEEPTTL", "EX", "PX", "EXAT", "PXAT"])? {
            Some("NX") if opts.condition == Condition::Always => {
                opts.condition = Condition::IfAbsent;
            }
            Some("XX") if opts.condition == Condition::Always => {
                opts.condition = Condition::IfPresent;
            }
            Some("GET") if !opts.get => opts.get = true,
            Some("KEEPTTL") if !expiry_given => {
                expiry_given = true;
                opts.expiry = Expiry::Keep;
            }
            Some(unit @ ("EX" | "PX" | "EXAT" | "PXAT")) if !expiry_given => {
                expiry_given = true;
                opts.expiry = Expiry::At(next_expiry(&mut a, unit, now, "set")?);
            }
            _ => return Err(syntax_error()),
        }
    }
    // Once the options are known good: a large value is taken, not copied.
    let value = take_arg(args, 1);
    or_error(server.store.set(session.db, &args[0], value, opts), |out| {
        if opts.get {
            out.old.map_or(Reply::Null, Reply::Bulk)
        } else if out.written {
            Reply::ok()
        } else {
            Reply::Null
        }
    })
}
