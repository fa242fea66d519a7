//! `CLIENT` and its subcommands: ID, GETNAME, SETNAME, SETINFO, INFO, LIST, KILL, HELP.

use std::sync::Arc;

use super::number::parse_i64;
use super::reply::{bulk, help, syntax_error, unknown_subcommand, wrong_arity};
use crate::resp::Reply;
use crate::server::{Client, Server};
use crate::session::{valid_client_name, Session};

/// `CLIENT ID|SETNAME|GETNAME|LIST|INFO|KILL|SETINFO|HELP`.
pub(super) fn client(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let sub = args[0].to_ascii_lowercase();
    let rest = &args[1..];
    let arity = |ok: bool| {
        if ok {
            None
        } else {
            Some(wrong_arity(&format!(
                "client|{}",
                String::from_utf8_lossy(&sub)
            )))
        }
    };
    match sub.as_slice() {
        b"id" => arity(rest.is_empty()).unwrap_or(Reply::Integer(session.client.id as i64)),
        b"getname" => arity(rest.is_empty()).unwrap_or_else(|| {
            let name = session
                .client
                .name
                .lock()
                .map(|n| n.clone())
                .unwrap_or_default();
            if name.is_empty() {
                Reply::Null
            } else {
                bulk(name)
            }
        }),
        b"setname" => {
            if let Some(r) = arity(rest.len() == 1) {
                return r;
            }
            match session.set_name(&rest[0]) {
                Ok(()) => Reply::ok(),
                Err(reply) => reply,
            }
        }
        b"setinfo" => {
            if let Some(r) = arity(rest.len() == 2) {
                return r;
            }
            let attr = rest[0].to_ascii_lowercase();
            let value = String::from_utf8_lossy(&rest[1]).into_owned();
            if !valid_client_name(&rest[1]) && !rest[1].is_empty() {
                return Reply::error(format!(
                    "ERR {} cannot contain spaces, newlines or special characters.",
                    String::from_utf8_lossy(&rest[0])
                ));
            }
            let Ok(mut lib) = session.client.lib.lock() else {
                return Reply::ok();
            };
            match attr.as_slice() {
                b"lib-name" => lib.0 = value,
                b"lib-ver" => lib.1 = value,
                _ => {
                    return Reply::error(format!(
                        "ERR Unrecognized option '{}'",
                        String::from_utf8_lossy(&rest[0])
                    ))
                }
            }
            Reply::ok()
        }
        b"info" => arity(rest.is_empty())
            .unwrap_or_else(|| Reply::Verbatim(session.client.info_line() + "\n")),
        b"list" => client_list(server, rest),
        b"kill" => client_kill(server, session, rest),
        b"help" => help(&[
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
            "HELP",
            "    Print this help.",
        ]),
        _ => unknown_subcommand(&args[0], "client"),
    }
}

fn client_list(server: &Server, args: &[Vec<u8>]) -> Reply {
    let clients: Vec<_> = server
        .clients
        .lock()
        .map(|c| c.values().cloned().collect())
        .unwrap_or_default();
    let mut ids: Option<Vec<u64>> = None;
    let mut i = 0;
    while i < args.len() {
        if args[i].eq_ignore_ascii_case(b"TYPE") && i + 1 < args.len() {
            match args[i + 1].to_ascii_lowercase().as_slice() {
                b"normal" => {}
                b"master" | b"replica" | b"slave" | b"pubsub" => ids = Some(Vec::new()),
                _ => {
                    return Reply::error(format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(&args[i + 1])
                    ))
                }
            }
            i += 2;
        } else if args[i].eq_ignore_ascii_case(b"ID") && i + 1 < args.len() {
            let mut list = Vec::new();
            for a in &args[i + 1..] {
                match parse_i64(a) {
                    Some(n) if n > 0 => list.push(n as u64),
                    _ => return Reply::error("ERR Invalid client ID"),
                }
            }
            ids = Some(list);
            i = args.len();
        } else {
            return syntax_error();
        }
    }
    let mut out = String::new();
    for c in clients {
        if ids.as_ref().is_none_or(|ids| ids.contains(&c.id)) {
            out.push_str(&c.info_line());
            out.push('\n');
        }
    }
    Reply::Verbatim(out)
}

fn client_kill(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let clients: Vec<_> = server
        .clients
        .lock()
        .map(|c| c.values().cloned().collect())
        .unwrap_or_default();
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
                Reply::ok()
            }
            None => Reply::error("ERR No such client"),
        };
    }
    if args.is_empty() || !args.len().is_multiple_of(2) {
        return syntax_error();
    }
    let (mut id, mut addr, mut laddr, mut skipme, mut user) = (None, None, None, true, None);
    for pair in args.chunks(2) {
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        match pair[0].to_ascii_lowercase().as_slice() {
            b"id" => match parse_i64(&pair[1]) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return Reply::error("ERR client-id should be greater than 0"),
            },
            b"addr" => addr = Some(value),
            b"laddr" => laddr = Some(value),
            b"user" => user = Some(value),
            b"type" => {
                if !matches!(
                    value.to_ascii_lowercase().as_str(),
                    "normal" | "master" | "replica" | "slave" | "pubsub"
                ) {
                    return Reply::error(format!("ERR Unknown client type '{value}'"));
                }
            }
            b"skipme" => match value.to_ascii_lowercase().as_str() {
                "yes" => skipme = true,
                "no" => skipme = false,
                _ => return syntax_error(),
            },
            _ => return syntax_error(),
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
    Reply::Integer(killed)
}
