//! The command table: argument parsing and replies, calling `strata-redis` for the data.

use std::time::{SystemTime, UNIX_EPOCH};

use strata_redis::{Condition, Expiry, SetOptions, Store};

use crate::resp::Reply;

/// Per-connection state commands can change.
#[derive(Debug, Default)]
pub struct Session {
    /// The selected database (`SELECT`).
    pub db: u8,
    /// `QUIT` was received: reply, then close.
    pub quit: bool,
}

fn syntax_error() -> Reply {
    Reply::error("ERR syntax error")
}

fn not_an_integer() -> Reply {
    Reply::error("ERR value is not an integer or out of range")
}

fn wrong_arity(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

fn unknown(name: &[u8], args: &[Vec<u8>]) -> Reply {
    let mut msg = format!(
        "ERR unknown command '{}', with args beginning with: ",
        String::from_utf8_lossy(name)
    );
    for a in args.iter().take(16) {
        msg.push_str(&format!("'{}' ", String::from_utf8_lossy(a)));
    }
    Reply::error(msg)
}

fn store_error(e: strata_redis::Error) -> Reply {
    Reply::error(e.to_string())
}

fn parse_i64(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.starts_with('+') || (s.len() > 1 && s.starts_with('0')) || s.starts_with("-0") {
        return None;
    }
    s.parse().ok()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Arity as Redis declares it: `n >= 0` exactly n words (command included), `-n` at least n.
fn arity_ok(arity: i32, argc: usize) -> bool {
    if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= arity.unsigned_abs() as usize
    }
}

/// Runs one command. `argv[0]` is the command name.
pub fn dispatch(store: &Store, session: &mut Session, argv: &[Vec<u8>]) -> Reply {
    let Some(name) = argv.first() else {
        return Reply::error("ERR empty command");
    };
    let lower = name.to_ascii_lowercase();
    let cmd = String::from_utf8_lossy(&lower).into_owned();
    let arity = match cmd.as_str() {
        "ping" => -1,
        "echo" => 2,
        "quit" => -1,
        "get" => 2,
        "set" => -3,
        "del" | "unlink" | "exists" | "mget" => -2,
        "incr" | "decr" | "strlen" | "getdel" | "ttl" | "pttl" | "persist" | "type" | "select"
        | "expiretime" | "pexpiretime" => 2,
        "incrby" | "decrby" | "append" | "setnx" | "getset" => 3,
        "setex" | "psetex" | "getrange" | "substr" | "setrange" => 4,
        "mset" | "msetnx" => -3,
        "expire" | "pexpire" | "expireat" | "pexpireat" => -3,
        _ => return unknown(name, &argv[1..]),
    };
    if !arity_ok(arity, argv.len()) {
        return wrong_arity(&cmd);
    }
    let args = &argv[1..];
    match cmd.as_str() {
        "ping" => match args {
            [] => Reply::Simple("PONG".into()),
            [msg] => Reply::Bulk(msg.clone()),
            _ => wrong_arity("ping"),
        },
        "echo" => Reply::Bulk(args[0].clone()),
        "quit" => {
            session.quit = true;
            Reply::ok()
        }
        "get" => match store.get(session.db, &args[0]) {
            Ok(Some(v)) => Reply::Bulk(v),
            Ok(None) => Reply::Null,
            Err(e) => store_error(e),
        },
        "set" => set(store, session, args),
        "del" | "unlink" => {
            let keys: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            match store.del(session.db, &keys) {
                Ok(n) => Reply::Integer(n as i64),
                Err(e) => store_error(e),
            }
        }
        "exists" => {
            let keys: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            match store.exists(session.db, &keys) {
                Ok(n) => Reply::Integer(n as i64),
                Err(e) => store_error(e),
            }
        }
        "incr" => incr_by(store, session, &args[0], 1),
        "decr" => incr_by(store, session, &args[0], -1),
        "incrby" | "decrby" => match parse_i64(&args[1]) {
            None => not_an_integer(),
            Some(i64::MIN) if cmd == "decrby" => Reply::error("ERR decrement would overflow"),
            Some(n) => incr_by(
                store,
                session,
                &args[0],
                if cmd == "decrby" { -n } else { n },
            ),
        },
        "append" => {
            let add = &args[1];
            let r = store.update_string(session.db, &args[0], |old| {
                let mut v = old.map(<[u8]>::to_vec).unwrap_or_default();
                if v.len() + add.len() > MAX_STRING {
                    return Err(TOO_BIG.into());
                }
                v.extend_from_slice(add);
                let len = v.len() as i64;
                Ok((Some(v), len))
            });
            integer_reply(r)
        }
        "strlen" => match store.get(session.db, &args[0]) {
            Ok(v) => Reply::Integer(v.map_or(0, |v| v.len() as i64)),
            Err(e) => store_error(e),
        },
        "mget" => Reply::Array(
            args.iter()
                .map(|k| match store.get(session.db, k) {
                    Ok(Some(v)) => Reply::Bulk(v),
                    _ => Reply::Null,
                })
                .collect(),
        ),
        "mset" | "msetnx" => {
            if !args.len().is_multiple_of(2) {
                return wrong_arity(&cmd);
            }
            let pairs: Vec<(&[u8], &[u8])> = args
                .chunks(2)
                .map(|p| (p[0].as_slice(), p[1].as_slice()))
                .collect();
            match store.mset(session.db, &pairs, cmd == "msetnx") {
                Ok(wrote) if cmd == "msetnx" => Reply::Integer(i64::from(wrote)),
                Ok(_) => Reply::ok(),
                Err(e) => store_error(e),
            }
        }
        "setnx" => {
            let opts = SetOptions {
                condition: Condition::IfAbsent,
                ..SetOptions::default()
            };
            match store.set(session.db, &args[0], &args[1], opts) {
                Ok(out) => Reply::Integer(i64::from(out.written)),
                Err(e) => store_error(e),
            }
        }
        "getset" => {
            let opts = SetOptions {
                get: true,
                ..SetOptions::default()
            };
            match store.set(session.db, &args[0], &args[1], opts) {
                Ok(out) => out.old.map_or(Reply::Null, Reply::Bulk),
                Err(e) => store_error(e),
            }
        }
        "getdel" => match store.get(session.db, &args[0]) {
            Ok(Some(v)) => match store.del(session.db, &[&args[0]]) {
                Ok(_) => Reply::Bulk(v),
                Err(e) => store_error(e),
            },
            Ok(None) => Reply::Null,
            Err(e) => store_error(e),
        },
        "ttl" | "pttl" | "expiretime" | "pexpiretime" => match store.expiry(session.db, &args[0]) {
            Ok(None) => Reply::Integer(-2),
            Ok(Some(None)) => Reply::Integer(-1),
            Ok(Some(Some(at))) => {
                let left = at.saturating_sub(now_ms());
                Reply::Integer(match cmd.as_str() {
                    "ttl" => ((left + 500) / 1000) as i64,
                    "pttl" => left as i64,
                    "expiretime" => (at / 1000) as i64,
                    _ => at as i64,
                })
            }
            Err(e) => store_error(e),
        },
        "persist" => match store.set_expiry(session.db, &args[0], None, |cur| cur.is_some()) {
            Ok(changed) => Reply::Integer(i64::from(changed)),
            Err(e) => store_error(e),
        },
        "expire" | "pexpire" | "expireat" | "pexpireat" => expire(store, session, &cmd, args),
        "setex" | "psetex" => {
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
            let Some(at) = ms.and_then(|ms| ms.checked_add(now_ms() as i64)) else {
                return invalid();
            };
            let opts = SetOptions {
                expiry: Expiry::At(at as u64),
                ..SetOptions::default()
            };
            match store.set(session.db, &args[0], &args[2], opts) {
                Ok(_) => Reply::ok(),
                Err(e) => store_error(e),
            }
        }
        "getrange" | "substr" => {
            let (Some(start), Some(end)) = (parse_i64(&args[1]), parse_i64(&args[2])) else {
                return not_an_integer();
            };
            match store.get(session.db, &args[0]) {
                Ok(v) => Reply::Bulk(range(&v.unwrap_or_default(), start, end).to_vec()),
                Err(e) => store_error(e),
            }
        }
        "setrange" => {
            let Some(offset) = parse_i64(&args[1]) else {
                return not_an_integer();
            };
            if offset < 0 {
                return Reply::error("ERR offset is out of range");
            }
            let (offset, add) = (offset as usize, &args[2]);
            let r = store.update_string(session.db, &args[0], |old| {
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
            integer_reply(r)
        }
        "type" => match store.key_type(session.db, &args[0]) {
            Ok(Some(t)) => Reply::Simple(t.name().into()),
            Ok(None) => Reply::Simple("none".into()),
            Err(e) => store_error(e),
        },
        "select" => match parse_i64(&args[0]) {
            None => not_an_integer(),
            Some(n) if (0..16).contains(&n) => {
                session.db = n as u8;
                Reply::ok()
            }
            Some(_) => Reply::error("ERR DB index is out of range"),
        },
        _ => unknown(name, args),
    }
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

fn incr_by(store: &Store, session: &Session, key: &[u8], by: i64) -> Reply {
    let r = store.update_string(session.db, key, |old| {
        let cur = match old {
            None => 0,
            Some(v) => parse_i64(v).ok_or("ERR value is not an integer or out of range")?,
        };
        let new = cur
            .checked_add(by)
            .ok_or("ERR increment or decrement would overflow")?;
        Ok((Some(new.to_string().into_bytes()), new))
    });
    integer_reply(r)
}

/// The reply of a read-modify-write that answers an integer (INCR, APPEND, SETRANGE).
fn integer_reply(r: strata_redis::Result<Result<i64, String>>) -> Reply {
    match r {
        Ok(Ok(n)) => Reply::Integer(n),
        Ok(Err(msg)) => Reply::error(msg),
        Err(e) => store_error(e),
    }
}

/// `EXPIRE key seconds [NX|XX|GT|LT]` and its `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` siblings.
fn expire(store: &Store, session: &Session, cmd: &str, args: &[Vec<u8>]) -> Reply {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[2..] {
        match opt.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Reply::error(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(opt)
                ))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Reply::error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return Reply::error("ERR GT and LT options at the same time are not compatible");
    }
    let Some(n) = parse_i64(&args[1]) else {
        return not_an_integer();
    };
    let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
    let at = match cmd {
        "expire" => n
            .checked_mul(1000)
            .and_then(|ms| ms.checked_add(now_ms() as i64)),
        "pexpire" => n.checked_add(now_ms() as i64),
        "expireat" => n.checked_mul(1000),
        _ => Some(n),
    };
    let Some(at) = at else {
        return invalid();
    };
    // A time in the past deletes the key (if the conditions allow the change).
    let at = u64::try_from(at).unwrap_or(0);
    let allow = |cur: Option<u64>| {
        (!nx || cur.is_none())
            && (!xx || cur.is_some())
            && (!gt || cur.is_some_and(|c| at > c))
            && (!lt || cur.is_none_or(|c| at < c))
    };
    match store.set_expiry(session.db, &args[0], Some(at), allow) {
        Ok(changed) => Reply::Integer(i64::from(changed)),
        Err(e) => store_error(e),
    }
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`.
fn set(store: &Store, session: &Session, args: &[Vec<u8>]) -> Reply {
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
                let Some(n) = parse_i64(arg) else {
                    return not_an_integer();
                };
                if n <= 0 {
                    return Reply::error("ERR invalid expire time in 'set' command");
                }
                let n = n as u64;
                let at = match opt.as_slice() {
                    b"EX" => n.checked_mul(1000).and_then(|ms| ms.checked_add(now_ms())),
                    b"PX" => n.checked_add(now_ms()),
                    b"EXAT" => n.checked_mul(1000),
                    _ => Some(n),
                };
                match at {
                    Some(at) if at <= i64::MAX as u64 => opts.expiry = Expiry::At(at),
                    _ => return Reply::error("ERR invalid expire time in 'set' command"),
                }
            }
            _ => return syntax_error(),
        }
        i += 1;
    }
    match store.set(session.db, key, value, opts) {
        Ok(out) if opts.get => out.old.map_or(Reply::Null, Reply::Bulk),
        Ok(out) if out.written => Reply::ok(),
        Ok(_) => Reply::Null,
        Err(e) => store_error(e),
    }
}
