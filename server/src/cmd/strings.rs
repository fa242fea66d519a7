//! String commands.

use strata_redis::{Condition, Expiry, SetOptions};

use super::number::{add_float, add_int, parse_float, parse_i64};
use super::reply::{
    not_a_float, not_an_integer, or_update_error, store_error, syntax_error, wrong_arity,
};
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

pub(super) fn get(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match server.store.get(session.db, &args[0]) {
        Ok(Some(v)) => Reply::Bulk(v),
        Ok(None) => Reply::Null,
        Err(e) => store_error(e),
    }
}

pub(super) fn setnx(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let opts = SetOptions {
        condition: Condition::IfAbsent,
        ..SetOptions::default()
    };
    match server.store.set(session.db, &args[0], &args[1], opts) {
        Ok(out) => Reply::Integer(i64::from(out.written)),
        Err(e) => store_error(e),
    }
}

pub(super) fn getset(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let opts = SetOptions {
        get: true,
        ..SetOptions::default()
    };
    match server.store.set(session.db, &args[0], &args[1], opts) {
        Ok(out) => out.old.map_or(Reply::Null, Reply::Bulk),
        Err(e) => store_error(e),
    }
}

pub(super) fn getdel(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match server.store.getdel(session.db, &args[0]) {
        Ok(v) => v.map_or(Reply::Null, Reply::Bulk),
        Err(e) => store_error(e),
    }
}

/// `GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST]`.
pub(super) fn getex(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let now = server.store.now_ms();
    let expiry = match &args[1..] {
        [] => Expiry::Keep,
        [opt] if opt.eq_ignore_ascii_case(b"PERSIST") => Expiry::Clear,
        [opt, n] => match expiry_option(opt, n, now, "getex") {
            Ok(Some(at)) => Expiry::At(at),
            Ok(None) => return syntax_error(),
            Err(reply) => return reply,
        },
        _ => return syntax_error(),
    };
    match server.store.getex(session.db, &args[0], expiry) {
        Ok(v) => v.map_or(Reply::Null, Reply::Bulk),
        Err(e) => store_error(e),
    }
}

/// Parses `EX s`, `PX ms`, `EXAT s`, `PXAT ms` into an absolute Unix time in ms: `Ok(None)`
/// if `opt` is none of them, an error reply for a bad number (as `SET` and `GETEX` word it).
pub(super) fn expiry_option(
    opt: &[u8],
    n: &[u8],
    now: u64,
    cmd: &str,
) -> Result<Option<u64>, Reply> {
    let opt = opt.to_ascii_uppercase();
    if !matches!(opt.as_slice(), b"EX" | b"PX" | b"EXAT" | b"PXAT") {
        return Ok(None);
    }
    let n = parse_i64(n).ok_or_else(not_an_integer)?;
    let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let n = n as u64;
    let at = match opt.as_slice() {
        b"EX" => n.checked_mul(1000).and_then(|ms| ms.checked_add(now)),
        b"PX" => n.checked_add(now),
        b"EXAT" => n.checked_mul(1000),
        _ => Some(n),
    };
    match at {
        Some(at) if at <= i64::MAX as u64 => Ok(Some(at)),
        _ => Err(invalid()),
    }
}

pub(super) fn setex(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    set_with_expiry(server, session, args, "setex")
}

pub(super) fn psetex(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    set_with_expiry(server, session, args, "psetex")
}

fn set_with_expiry(server: &Server, session: &Session, args: &[Vec<u8>], cmd: &str) -> Reply {
    let Some(n) = parse_i64(&args[1]) else {
        return not_an_integer();
    };
    let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
    if n <= 0 {
        return invalid();
    }
    let ms = if cmd == "setex" {
        n.checked_mul(1000)
    } else {
        Some(n)
    };
    let Some(at) = ms.and_then(|ms| ms.checked_add(server.store.now_ms() as i64)) else {
        return invalid();
    };
    let opts = SetOptions {
        expiry: Expiry::At(at as u64),
        ..SetOptions::default()
    };
    match server.store.set(session.db, &args[0], &args[2], opts) {
        Ok(_) => Reply::ok(),
        Err(e) => store_error(e),
    }
}

pub(super) fn mget(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    Reply::Array(
        args.iter()
            .map(|k| match server.store.get(session.db, k) {
                Ok(Some(v)) => Reply::Bulk(v),
                _ => Reply::Null,
            })
            .collect(),
    )
}

pub(super) fn mset(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    mset_generic(server, session, args, false)
}

pub(super) fn msetnx(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    mset_generic(server, session, args, true)
}

fn mset_generic(server: &Server, session: &Session, args: &[Vec<u8>], nx: bool) -> Reply {
    let name = if nx { "msetnx" } else { "mset" };
    if !args.len().is_multiple_of(2) {
        return wrong_arity(name);
    }
    let pairs: Vec<(&[u8], &[u8])> = args
        .chunks(2)
        .map(|p| (p[0].as_slice(), p[1].as_slice()))
        .collect();
    match server.store.mset(session.db, &pairs, nx) {
        Ok(wrote) if nx => Reply::Integer(i64::from(wrote)),
        Ok(_) => Reply::ok(),
        Err(e) => store_error(e),
    }
}

pub(super) fn append(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let add = &args[1];
    let r = server.store.update_string(session.db, &args[0], |old| {
        let mut v = old.map(<[u8]>::to_vec).unwrap_or_default();
        if v.len() + add.len() > MAX_STRING {
            return Err(TOO_BIG.into());
        }
        v.extend_from_slice(add);
        let len = v.len() as i64;
        Ok((Some(v), len))
    });
    or_update_error(r, Reply::Integer)
}

pub(super) fn strlen(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match server.store.get(session.db, &args[0]) {
        Ok(v) => Reply::Integer(v.map_or(0, |v| v.len() as i64)),
        Err(e) => store_error(e),
    }
}

pub(super) fn getrange(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let (Some(start), Some(end)) = (parse_i64(&args[1]), parse_i64(&args[2])) else {
        return not_an_integer();
    };
    match server.store.get(session.db, &args[0]) {
        Ok(v) => Reply::Bulk(range(&v.unwrap_or_default(), start, end).to_vec()),
        Err(e) => store_error(e),
    }
}

pub(super) fn setrange(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let Some(offset) = parse_i64(&args[1]) else {
        return not_an_integer();
    };
    if offset < 0 {
        return Reply::error("ERR offset is out of range");
    }
    let (offset, add) = (offset as usize, &args[2]);
    let r = server.store.update_string(session.db, &args[0], |old| {
        let len = old.map_or(0, <[u8]>::len) as i64;
        if add.is_empty() {
            return Ok((None, len)); // Redis neither creates nor changes the key
        }
        if offset.saturating_add(add.len()) > MAX_STRING {
            return Err(TOO_BIG.into());
        }
        let mut v = old.map(<[u8]>::to_vec).unwrap_or_default();
        if v.len() < offset + add.len() {
            v.resize(offset + add.len(), 0);
        }
        v[offset..offset + add.len()].copy_from_slice(add);
        let n = v.len() as i64;
        Ok((Some(v), n))
    });
    or_update_error(r, Reply::Integer)
}

pub(super) fn incr(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    incr_by(server, session, &args[0], 1)
}

pub(super) fn decr(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    incr_by(server, session, &args[0], -1)
}

pub(super) fn incrby(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match parse_i64(&args[1]) {
        None => not_an_integer(),
        Some(n) => incr_by(server, session, &args[0], n),
    }
}

pub(super) fn decrby(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match parse_i64(&args[1]) {
        None => not_an_integer(),
        Some(i64::MIN) => Reply::error("ERR decrement would overflow"),
        Some(n) => incr_by(server, session, &args[0], -n),
    }
}

/// `INCRBYFLOAT key increment`. Computed in `f64` (Redis uses `long double`) and written in
/// Redis's human form: fixed-point, no exponent, no trailing zeros (`10.5` + `0.1` = `10.6`,
/// `5.0e3` + `2.0e2` = `5200`).
pub(super) fn incrbyfloat(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let Some(by) = parse_float(&args[1]) else {
        return not_a_float();
    };
    let r = server.store.update_string(session.db, &args[0], |old| {
        let text = add_float(old, by, "ERR value is not a valid float")?;
        Ok((Some(text.clone()), text))
    });
    or_update_error(r, Reply::Bulk)
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

const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

fn incr_by(server: &Server, session: &Session, key: &[u8], by: i64) -> Reply {
    let r = server.store.update_string(session.db, key, |old| {
        let new = add_int(old, by, "ERR value is not an integer or out of range")?;
        Ok((Some(new.to_string().into_bytes()), new))
    });
    or_update_error(r, Reply::Integer)
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`.
pub(super) fn set(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let now = server.store.now_ms();
    let (key, value) = (&args[0], &args[1]);
    let mut opts = SetOptions::default();
    let mut expiry_given = false;
    let mut i = 2;
    while i < args.len() {
        let opt = args[i].to_ascii_uppercase();
        match opt.as_slice() {
            b"NX" if opts.condition == Condition::Always => opts.condition = Condition::IfAbsent,
            b"XX" if opts.condition == Condition::Always => opts.condition = Condition::IfPresent,
            b"GET" if !opts.get => opts.get = true,
            b"KEEPTTL" if !expiry_given => {
                expiry_given = true;
                opts.expiry = Expiry::Keep;
            }
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if !expiry_given => {
                expiry_given = true;
                let Some(arg) = args.get(i + 1) else {
                    return syntax_error();
                };
                i += 1;
                match expiry_option(&opt, arg, now, "set") {
                    Ok(Some(at)) => opts.expiry = Expiry::At(at),
                    Ok(None) => return syntax_error(),
                    Err(reply) => return reply,
                }
            }
            _ => return syntax_error(),
        }
        i += 1;
    }
    match server.store.set(session.db, key, value, opts) {
        Ok(out) if opts.get => out.old.map_or(Reply::Null, Reply::Bulk),
        Ok(out) if out.written => Reply::ok(),
        Ok(_) => Reply::Null,
        Err(e) => store_error(e),
    }
}
