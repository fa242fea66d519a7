//! Commands of Redis's `connection` group: PING ECHO QUIT RESET AUTH HELLO (CLIENT is in
//! `client.rs`, SELECT with the databases in `keys.rs`; the socket itself is `crate::connection`).

use std::sync::atomic::Ordering;

use super::number::parse_i64;
use super::reply::{bulk, syntax_error, wrong_arity};
use crate::resp::{Protocol, Reply};
use crate::server::{Server, REDIS_COMPAT_VERSION};
use crate::session::Session;

pub(super) fn ping(_server: &Server, _session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match args {
        [] => Reply::Simple("PONG".into()),
        [msg] => Reply::Bulk(msg.clone()),
        _ => wrong_arity("ping"),
    }
}

pub(super) fn echo(_server: &Server, _session: &mut Session, args: &[Vec<u8>]) -> Reply {
    Reply::Bulk(args[0].clone())
}

pub(super) fn quit(_server: &Server, session: &mut Session, _args: &[Vec<u8>]) -> Reply {
    session.quit = true;
    Reply::ok()
}

/// Whether a password is required.
fn password(server: &Server) -> Option<String> {
    Some(server.config.get("requirepass")).filter(|p| !p.is_empty())
}

/// `RESET`: back to a fresh connection's state (database 0, RESP2, logged out if a password
/// is set); the client name stays, as in Redis.
pub(super) fn reset(server: &Server, session: &mut Session, _args: &[Vec<u8>]) -> Reply {
    session.db = 0;
    session.client.db.store(0, Ordering::Relaxed);
    session.protocol = Protocol::Resp2;
    session.client.resp.store(2, Ordering::Relaxed);
    session.authenticated = password(server).is_none();
    Reply::Simple("RESET".into())
}

/// Checks a user name and password; `Err` is the reply to send.
fn check_credentials(server: &Server, user: &[u8], pass: &[u8]) -> Result<(), Reply> {
    let wrong = || Reply::error("WRONGPASS invalid username-password pair or user is disabled.");
    match password(server) {
        // Without requirepass the default user has no password: any password works for it.
        None if user == b"default" => Ok(()),
        Some(p) if user == b"default" && p.as_bytes() == pass => Ok(()),
        _ => Err(wrong()),
    }
}

/// `AUTH [username] password`.
pub(super) fn auth(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let (user, pass) = match args {
        [pass] => (&b"default"[..], pass),
        [user, pass] => (user.as_slice(), pass),
        _ => return syntax_error(),
    };
    if args.len() == 1 && password(server).is_none() {
        return Reply::error(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        );
    }
    match check_credentials(server, user, pass) {
        Ok(()) => {
            session.authenticated = true;
            Reply::ok()
        }
        Err(reply) => reply,
    }
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
pub(super) fn hello(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let mut proto = session.protocol;
    if let Some(v) = args.first() {
        match parse_i64(v) {
            None => return Reply::error("ERR Protocol version is not an integer or out of range"),
            Some(2) => proto = Protocol::Resp2,
            Some(3) => proto = Protocol::Resp3,
            Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
        }
    }
    let mut name = None;
    let mut i = 1;
    while i < args.len() {
        let rest = args.len() - i - 1;
        if args[i].eq_ignore_ascii_case(b"AUTH") && rest >= 2 {
            if let Err(reply) = check_credentials(server, &args[i + 1], &args[i + 2]) {
                return reply;
            }
            session.authenticated = true;
            i += 3;
        } else if args[i].eq_ignore_ascii_case(b"SETNAME") && rest >= 1 {
            name = Some(&args[i + 1]);
            i += 2;
        } else {
            return Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[i])
            ));
        }
    }
    if !session.authenticated {
        return Reply::error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    if let Some(name) = name {
        if let Err(reply) = session.set_name(name) {
            return reply;
        }
    }
    session.protocol = proto;
    session.client.resp.store(
        if proto == Protocol::Resp3 { 3 } else { 2 },
        Ordering::Relaxed,
    );
    Reply::Map(vec![
        (bulk("server"), bulk("redis")),
        (bulk("version"), bulk(REDIS_COMPAT_VERSION)),
        (
            bulk("proto"),
            Reply::Integer(if proto == Protocol::Resp3 { 3 } else { 2 }),
        ),
        (bulk("id"), Reply::Integer(session.client.id as i64)),
        (bulk("mode"), bulk("standalone")),
        (bulk("role"), bulk("master")),
        (bulk("modules"), Reply::Array(Vec::new())),
    ])
}
