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
        "del" | "unlink" | "exists" => -2,
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
        _ => unknown(name, args),
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
