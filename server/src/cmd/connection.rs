//! Commands of Redis's `connection` group: PING ECHO QUIT RESET AUTH HELLO (CLIENT is in
//! `client.rs`, SELECT with the databases in `keys.rs`; the socket itself is `crate::connection`).

use std::sync::atomic::Ordering;

use super::args::Args;
use super::number::parse_i64;
use super::reply::{bulk, syntax_error, wrong_arity, CmdResult};
use crate::resp::{Protocol, Reply};
use crate::server::{Server, REDIS_COMPAT_VERSION};
use crate::session::Session;

pub(super) fn ping(_server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    if args.len() > 1 {
        return Err(wrong_arity("ping"));
    }
    // RESP2's subscribed mode answers `pong` and the message (empty without one) as an array.
    if session.pushes && session.protocol == Protocol::Resp2 && session.client.outbox.subscribed() {
        return Ok(Reply::Array(vec![
            Reply::Bulk(b"pong".to_vec()),
            Reply::Bulk(args.first().cloned().unwrap_or_default()),
        ]));
    }
    Ok(match args {
        [msg] => Reply::Bulk(msg.clone()),
        _ => Reply::Simple("PONG".into()),
    })
}

pub(super) fn echo(_server: &Server, _session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    Ok(Reply::Bulk(args[0].clone()))
}

pub(super) fn quit(_server: &Server, session: &mut Session, _args: &mut [Vec<u8>]) -> CmdResult {
    session.quit = true;
    Ok(Reply::ok())
}

/// `RESET`: back to a fresh connection's state, as Redis's `clearClientConnectionState`:
/// database 0, RESP2, logged out if a password is set, no name, no transaction or watched
/// keys, no subscriptions, not monitoring, replies on.
pub(super) fn reset(server: &Server, session: &mut Session, _args: &mut [Vec<u8>]) -> CmdResult {
    server.pubsub.leave(&session.client);
    session.pushes = false;
    server.tracking.disable(&session.client);
    session.tracking = false;
    if let Ok(mut name) = session.client.name.lock() {
        name.clear();
    }
    session.reply_off = false;
    session.reply_skip_next = false;
    session.db = 0;
    session.client.db.store(0, Ordering::Relaxed);
    session.protocol = Protocol::Resp2;
    session.client.resp.store(2, Ordering::Relaxed);
    session.authenticated = !server.acl.default_requires_auth();
    session.user_name = "default".into();
    session.acl_version = 0;
    if let Ok(mut u) = session.client.user.lock() {
        *u = "default".into();
    }
    session.multi = None;
    session.watch = None;
    Ok(Reply::Simple("RESET".into()))
}

/// Checks a user name and password and makes the connection act as that user; `Err` is
/// the reply to send (and the failure is in ACL LOG).
fn check_credentials(
    server: &Server,
    session: &mut Session,
    user: &[u8],
    pass: &[u8],
) -> Result<(), Reply> {
    let name = String::from_utf8_lossy(user).into_owned();
    if server.acl.user(&name).is_some_and(|u| u.accepts(pass)) {
        if let Ok(mut u) = session.client.user.lock() {
            u.clone_from(&name);
        }
        session.user_name = name;
        session.acl_version = 0;
        return Ok(());
    }
    super::log_acl_denial(server, session, "auth", "AUTH".into(), &name);
    Err(Reply::error(
        "WRONGPASS invalid username-password pair or user is disabled.",
    ))
}

/// `AUTH [username] password`.
pub(super) fn auth(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let (user, pass) = match &*args {
        [pass] => (&b"default"[..], pass),
        [user, pass] => (user.as_slice(), pass),
        _ => return Err(syntax_error()),
    };
    if args.len() == 1 && !server.acl.default_requires_auth() {
        return Err(Reply::error(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    let (user, pass) = (user.to_vec(), pass.clone());
    check_credentials(server, session, &user, &pass)?;
    session.authenticated = true;
    Ok(Reply::ok())
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
pub(super) fn hello(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let mut a = Args::new(args);
    let mut proto = session.protocol;
    if !a.is_empty() {
        match parse_i64(a.next_bytes()?) {
            None => {
                return Err(Reply::error(
                    "ERR Protocol version is not an integer or out of range",
                ))
            }
            Some(2) => proto = Protocol::Resp2,
            Some(3) => proto = Protocol::Resp3,
            Some(_) => return Err(Reply::error("NOPROTO unsupported protocol version")),
        }
    }
    let mut name = None;
    while !a.is_empty() {
        let values = a.remaining() - 1;
        let option = a.next_bytes()?;
        if option.eq_ignore_ascii_case(b"AUTH") && values >= 2 {
            let (user, pass) = (a.next_bytes()?.to_vec(), a.next_bytes()?.to_vec());
            check_credentials(server, session, &user, &pass)?;
            session.authenticated = true;
        } else if option.eq_ignore_ascii_case(b"SETNAME") && values >= 1 {
            name = Some(a.next_bytes()?);
        } else {
            return Err(Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(option)
            )));
        }
    }
    if !session.authenticated {
        return Err(Reply::error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(name) = name {
        session.set_name(name)?;
    }
    session.protocol = proto;
    session.client.resp.store(
        if proto == Protocol::Resp3 { 3 } else { 2 },
        Ordering::Relaxed,
    );
    Ok(Reply::Map(vec![
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
    ]))
}
