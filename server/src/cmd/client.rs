//! `CLIENT` and its subcommands: ID, GETNAME, SETNAME, SETINFO, INFO, LIST, KILL, REPLY,
//! UNBLOCK, HELP.

use std::sync::Arc;

use super::args::Args;
use super::number::parse_i64;
use super::reply::{bulk, help, syntax_error, unknown_subcommand, CmdResult};
use crate::resp::Reply;
use crate::server::{Client, Server};
use crate::session::{valid_client_name, Session};

/// `CLIENT ID|SETNAME|GETNAME|LIST|INFO|KILL|SETINFO|HELP`.
pub(super) fn client(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let sub = args[0].to_ascii_lowercase();
    let rest = &args[1..];
    let arity = |ok: bool| super::reply::subcommand_arity("client", &sub, ok);
    match sub.as_slice() {
        b"id" => {
            arity(rest.is_empty())?;
            Ok(Reply::Integer(session.client.id as i64))
        }
        b"getname" => {
            arity(rest.is_empty())?;
            let name = session
                .client
                .name
                .lock()
                .map(|n| n.clone())
                .unwrap_or_default();
            Ok(if name.is_empty() {
                Reply::Null
            } else {
                bulk(name)
            })
        }
        b"setname" => {
            arity(rest.len() == 1)?;
            session.set_name(&rest[0])?;
            Ok(Reply::ok())
        }
        b"setinfo" => {
            arity(rest.len() == 2)?;
            let attr = rest[0].to_ascii_lowercase();
            let value = String::from_utf8_lossy(&rest[1]).into_owned();
            if !valid_client_name(&rest[1]) && !rest[1].is_empty() {
                return Err(Reply::error(format!(
                    "ERR {} cannot contain spaces, newlines or special characters.",
                    String::from_utf8_lossy(&rest[0])
                )));
            }
            let Ok(mut lib) = session.client.lib.lock() else {
                return Ok(Reply::ok());
            };
            match attr.as_slice() {
                b"lib-name" => lib.0 = value,
                b"lib-ver" => lib.1 = value,
                _ => {
                    return Err(Reply::error(format!(
                        "ERR Unrecognized option '{}'",
                        String::from_utf8_lossy(&rest[0])
                    )))
                }
            }
            Ok(Reply::ok())
        }
        b"info" => {
            arity(rest.is_empty())?;
            Ok(Reply::Verbatim(session.client.info_line() + "\n"))
        }
        b"list" => client_list(server, rest),
        b"kill" => {
            arity(!rest.is_empty())?;
            client_kill(server, session, rest)
        }
        b"reply" => {
            arity(rest.len() == 1)?;
            match rest[0].to_ascii_lowercase().as_slice() {
                b"on" => {
                    session.reply_off = false;
                    session.reply_skip = false;
                    Ok(Reply::ok())
                }
                b"off" => {
                    session.reply_off = true;
                    Ok(Reply::NoReply)
                }
                b"skip" => {
                    if !session.reply_off {
                        session.reply_skip_next = true;
                    }
                    Ok(Reply::NoReply)
                }
                _ => Err(syntax_error()),
            }
        }
        b"pause" => {
            arity(rest.len() == 1 || rest.len() == 2)?;
            let ms = super::number::parse_i64(&rest[0])
                .filter(|n| *n >= 0)
                .ok_or_else(|| Reply::error("ERR timeout is not an integer or out of range"))?;
            let all = match rest.get(1).map(|m| m.to_ascii_lowercase()).as_deref() {
                None | Some(b"all") => true,
                Some(b"write") => false,
                Some(_) => return Err(syntax_error()),
            };
            let until = std::time::Instant::now() + std::time::Duration::from_millis(ms as u64);
            server.pause_clients(until, all);
            Ok(Reply::ok())
        }
        b"unpause" => {
            arity(rest.is_empty())?;
            server.unpause_clients();
            Ok(Reply::ok())
        }
        b"no-evict" | b"no-touch" => {
            arity(rest.len() == 1)?;
            let on = match rest[0].to_ascii_lowercase().as_slice() {
                b"on" => true,
                b"off" => false,
                _ => return Err(syntax_error()),
            };
            let flag = if sub.as_slice() == b"no-evict" {
                &session.client.no_evict
            } else {
                &session.client.no_touch
            };
            flag.store(on, std::sync::atomic::Ordering::Relaxed);
            Ok(Reply::ok())
        }
        b"tracking" => {
            arity(!rest.is_empty())?;
            tracking(server, session, rest)
        }
        b"caching" => {
            arity(rest.len() == 1)?;
            caching(session, &rest[0])
        }
        b"getredir" => {
            arity(rest.is_empty())?;
            let mode = session.client.tracking.snapshot();
            Ok(Reply::Integer(if mode.on {
                mode.redirect as i64
            } else {
                -1
            }))
        }
        b"trackinginfo" => {
            arity(rest.is_empty())?;
            Ok(tracking_info(session))
        }
        b"unblock" if !rest.is_empty() && rest.len() <= 2 => {
            let id = super::number::integer_arg(&rest[0])?;
            let mode = match rest.get(1).map(|m| m.to_ascii_lowercase()).as_deref() {
                None | Some(b"timeout") => 1,
                Some(b"error") => 2,
                Some(_) => {
                    return Err(Reply::error(
                        "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
                    ))
                }
            };
            let target = u64::try_from(id)
                .ok()
                .and_then(|id| server.clients.lock().ok()?.get(&id).cloned());
            Ok(Reply::Integer(match target {
                Some(c) if c.blocked.load(std::sync::atomic::Ordering::SeqCst) => {
                    c.unblock.store(mode, std::sync::atomic::Ordering::SeqCst);
                    c.unblocked.notify_one();
                    1
                }
                _ => 0,
            }))
        }
        b"help" => Ok(help(&[
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "GETNAME",
            "    Return the name of the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are LIB-NAME and LIB-VER.",
            "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> [<id> ...]]",
            "    Return information about client connections.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are: ID, ADDR, LADDR, SKIPME (YES|NO), TYPE, USER.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "CACHING (YES|NO)",
            "    Enable or disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "HELP",
            "    Print this help.",
        ])),
        _ => Err(unknown_subcommand(&args[0], "client")),
    }
}

/// The clients connected now, by id.
fn connected(server: &Server) -> Vec<Arc<Client>> {
    server
        .clients
        .lock()
        .map(|c| c.values().cloned().collect())
        .unwrap_or_default()
}

/// `CLIENT LIST [TYPE type] [ID id...]`.
fn client_list(server: &Server, args: &[Vec<u8>]) -> CmdResult {
    let clients = connected(server);
    let mut ids: Option<Vec<u64>> = None;
    let mut a = Args::new(args);
    while !a.is_empty() {
        match a.next_keyword(&["TYPE", "ID"])? {
            Some("TYPE") if !a.is_empty() => {
                let ty = a.next_bytes()?;
                match ty.to_ascii_lowercase().as_slice() {
                    b"normal" => {}
                    b"master" | b"replica" | b"slave" | b"pubsub" => ids = Some(Vec::new()),
                    _ => {
                        return Err(Reply::error(format!(
                            "ERR Unknown client type '{}'",
                            String::from_utf8_lossy(ty)
                        )))
                    }
                }
            }
            // The ids run to the end.
            Some("ID") if !a.is_empty() => {
                let mut list = Vec::new();
                for id in a.rest() {
                    match parse_i64(id) {
                        Some(n) if n > 0 => list.push(n as u64),
                        _ => return Err(Reply::error("ERR Invalid client ID")),
                    }
                }
                ids = Some(list);
            }
            _ => return Err(syntax_error()),
        }
    }
    let mut out = String::new();
    for c in clients {
        if ids.as_ref().is_none_or(|ids| ids.contains(&c.id)) {
            out.push_str(&c.info_line());
            out.push('\n');
        }
    }
    Ok(Reply::Verbatim(out))
}

/// `CLIENT KILL ip:port` or `CLIENT KILL option value [option value ...]`.
fn client_kill(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> CmdResult {
    let clients = connected(server);
    let kill = |c: &Arc<Client>, session: &mut Session| {
        if c.id == session.client.id {
            session.quit = true;
        } else {
            c.kill();
        }
    };
    if let [addr] = args {
        // The old form: CLIENT KILL ip:port.
        let addr = String::from_utf8_lossy(addr);
        return match clients.iter().find(|c| c.addr.to_string() == addr) {
            Some(c) => {
                kill(c, session);
                Ok(Reply::ok())
            }
            None => Err(Reply::error("ERR No such client")),
        };
    }
    let pairs = Args::new(args).pairs().ok_or_else(syntax_error)?;
    let (mut id, mut addr, mut laddr, mut skipme, mut user) = (None, None, None, true, None);
    for (option, raw) in pairs {
        let value = String::from_utf8_lossy(raw).into_owned();
        match option.to_ascii_lowercase().as_slice() {
            b"id" => match parse_i64(raw) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return Err(Reply::error("ERR client-id should be greater than 0")),
            },
            b"addr" => addr = Some(value),
            b"laddr" => laddr = Some(value),
            b"user" => {
                // The one user there is (no ACL yet): any other name is unknown, as in Redis.
                if value != "default" {
                    return Err(Reply::error(format!("ERR No such user '{value}'")));
                }
                user = Some(value);
            }
            b"type" => {
                if !matches!(
                    value.to_ascii_lowercase().as_str(),
                    "normal" | "master" | "replica" | "slave" | "pubsub"
                ) {
                    return Err(Reply::error(format!("ERR Unknown client type '{value}'")));
                }
            }
            b"skipme" => match value.to_ascii_lowercase().as_str() {
                "yes" => skipme = true,
                "no" => skipme = false,
                _ => return Err(syntax_error()),
            },
            _ => return Err(syntax_error()),
        }
    }
    let mut killed = 0;
    for c in &clients {
        let matches = id.is_none_or(|id| c.id == id)
            && addr.as_ref().is_none_or(|a| c.addr.to_string() == *a)
            && laddr.as_ref().is_none_or(|a| c.laddr.to_string() == *a)
            && user.as_ref().is_none_or(|u| u == "default")
            && !(skipme && c.id == session.client.id);
        if matches {
            kill(c, session);
            killed += 1;
        }
    }
    Ok(Reply::Integer(killed))
}

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]`,
/// checked as Redis checks it.
fn tracking(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> CmdResult {
    let mut mode = crate::tracking::Mode::default();
    let mut prefixes: Vec<Vec<u8>> = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let more = i + 1 < args.len();
        match args[i].to_ascii_lowercase().as_slice() {
            b"redirect" if more => {
                i += 1;
                if mode.redirect != 0 {
                    return Err(Reply::error(
                        "ERR A client can only redirect to a single other client",
                    ));
                }
                let id = super::number::integer_arg(&args[i])?;
                let id = u64::try_from(id).unwrap_or(0);
                if id == 0 || server.client(id).is_none() {
                    return Err(Reply::error(
                        "ERR The client ID you want redirect to does not exist",
                    ));
                }
                mode.redirect = id;
            }
            b"bcast" => mode.bcast = true,
            b"optin" => mode.optin = true,
            b"optout" => mode.optout = true,
            b"noloop" => mode.noloop = true,
            b"prefix" if more => {
                i += 1;
                prefixes.push(args[i].clone());
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    let client = &session.client;
    match args[0].to_ascii_lowercase().as_slice() {
        b"on" => {
            let current = client
                .tracking
                .mode
                .lock()
                .map(|m| m.clone())
                .unwrap_or_default();
            if !mode.bcast && !prefixes.is_empty() {
                return Err(Reply::error(
                    "ERR PREFIX option requires BCAST mode to be enabled",
                ));
            }
            if current.on && current.bcast != mode.bcast {
                return Err(Reply::error(
                    "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
                ));
            }
            if mode.bcast && (mode.optin || mode.optout) {
                return Err(Reply::error(
                    "ERR OPTIN and OPTOUT are not compatible with BCAST",
                ));
            }
            if mode.optin && mode.optout {
                return Err(Reply::error("ERR You can't use both OPTIN and OPTOUT"));
            }
            if (mode.optin && current.optout) || (mode.optout && current.optin) {
                return Err(Reply::error(
                    "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
                ));
            }
            if mode.bcast {
                crate::tracking::Tracking::check_prefixes(&current.prefixes, &prefixes)
                    .map_err(Reply::error)?;
            }
            server.tracking.enable(client, mode, prefixes);
            session.tracking = true;
        }
        b"off" => {
            server.tracking.disable(client);
            session.tracking = false;
        }
        _ => return Err(syntax_error()),
    }
    Ok(Reply::ok())
}

/// `CLIENT CACHING YES|NO`: the next command's keys are (OPTIN) or are not (OPTOUT) tracked.
fn caching(session: &mut Session, arg: &[u8]) -> CmdResult {
    let mut mode = session
        .client
        .tracking
        .mode
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if !mode.on {
        return Err(Reply::error(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    }
    match arg.to_ascii_lowercase().as_slice() {
        b"yes" if mode.optin => mode.caching = true,
        b"yes" => {
            return Err(Reply::error(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ))
        }
        b"no" if mode.optout => mode.caching = true,
        b"no" => {
            return Err(Reply::error(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ))
        }
        _ => return Err(syntax_error()),
    }
    Ok(Reply::ok())
}

/// `CLIENT TRACKINGINFO`: flags, redirect and prefixes, as Redis answers them.
fn tracking_info(session: &Session) -> Reply {
    let mode = session.client.tracking.snapshot();
    let mut flags = Vec::new();
    if mode.on {
        flags.push("on");
        if mode.bcast {
            flags.push("bcast");
        }
        if mode.optin {
            flags.push("optin");
            if mode.caching {
                flags.push("caching-yes");
            }
        }
        if mode.optout {
            flags.push("optout");
            if mode.caching {
                flags.push("caching-no");
            }
        }
        if mode.noloop {
            flags.push("noloop");
        }
        if mode.broken {
            flags.push("broken_redirect");
        }
    } else {
        flags.push("off");
    }
    Reply::Map(vec![
        (
            bulk("flags"),
            Reply::Set(flags.into_iter().map(bulk).collect()),
        ),
        (
            bulk("redirect"),
            Reply::Integer(if mode.on { mode.redirect as i64 } else { -1 }),
        ),
        (
            bulk("prefixes"),
            Reply::Array(mode.prefixes.into_iter().map(Reply::Bulk).collect()),
        ),
    ])
}
