//! `ACL SETUSER|GETUSER|DELUSER|USERS|WHOAMI|LIST|CAT|GENPASS|LOG|DRYRUN|SAVE|LOAD|HELP`
//! over `crate::acl`.

use std::io::Read;

use super::reply::{bulk, help, unknown_subcommand, wrong_arity, CmdResult};
use super::{acl_check, lookup, AclDenied, COMMANDS};
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

/// `ACL <subcommand>`.
pub(super) fn acl(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let sub = args[0].to_ascii_lowercase();
    let rest = &args[1..];
    let arity = |ok: bool| super::reply::subcommand_arity("acl", &sub, ok);
    let name = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match sub.as_slice() {
        b"setuser" => {
            arity(!rest.is_empty())?;
            server
                .acl
                .set_user(&name(&rest[0]), &rest[1..])
                .map_err(Reply::error)?;
            Ok(Reply::ok())
        }
        b"getuser" => {
            arity(rest.len() == 1)?;
            Ok(match server.acl.user(&name(&rest[0])) {
                None => Reply::Null,
                Some(u) => {
                    let mut flags = vec![bulk(if u.enabled { "on" } else { "off" })];
                    if u.nopass {
                        flags.push(bulk("nopass"));
                    }
                    Reply::Map(vec![
                        (bulk("flags"), Reply::Array(flags)),
                        (
                            bulk("passwords"),
                            Reply::Array(u.passwords.iter().map(bulk).collect()),
                        ),
                        (bulk("commands"), bulk(u.command_rules())),
                        (bulk("keys"), bulk(u.key_rules())),
                        (bulk("channels"), bulk(u.channel_rules())),
                        (bulk("selectors"), Reply::Array(Vec::new())),
                    ])
                }
            })
        }
        b"deluser" => {
            arity(!rest.is_empty())?;
            let n = server.acl.delete_users(rest).map_err(Reply::error)?;
            // Connections authenticated as a deleted user are closed, as in Redis (each
            // notices at its next command; idle ones are closed now).
            if n > 0 {
                let gone: Vec<String> = rest.iter().map(|r| name(r)).collect();
                for c in server.clients.lock().map(|c| c.clone()).unwrap_or_default().values() {
                    if gone.contains(&c.user.lock().map(|u| u.clone()).unwrap_or_default()) {
                        c.kill();
                    }
                }
            }
            Ok(Reply::Integer(n as i64))
        }
        b"users" => {
            arity(rest.is_empty())?;
            Ok(Reply::Array(
                server.acl.users().iter().map(|u| bulk(&u.name)).collect(),
            ))
        }
        b"whoami" => {
            arity(rest.is_empty())?;
            Ok(bulk(&session.user_name))
        }
        b"list" => {
            arity(rest.is_empty())?;
            Ok(Reply::Array(
                server.acl.users().iter().map(|u| bulk(u.describe())).collect(),
            ))
        }
        b"cat" => match rest {
            [] => Ok(Reply::Array(
                crate::acl::CATEGORIES.iter().map(|c| bulk(*c)).collect(),
            )),
            [cat] => {
                let cat = name(cat).to_ascii_lowercase();
                if !crate::acl::CATEGORIES.contains(&cat.as_str()) {
                    return Err(Reply::error(format!(
                        "ERR Unknown category '{cat}'"
                    )));
                }
                let mut out = Vec::new();
                for c in COMMANDS {
                    let subs = super::subcommands(c.name);
                    let names = std::iter::once(c.name.to_string())
                        .chain(subs.iter().map(|s| format!("{}|{s}", c.name)));
                    for n in names {
                        if super::categories_of(&n, c).contains(&cat.as_str()) {
                            out.push(bulk(n));
                        }
                    }
                }
                Ok(Reply::Array(out))
            }
            _ => Err(wrong_arity("acl|cat")),
        },
        b"genpass" => {
            arity(rest.len() <= 1)?;
            let bits = match rest.first() {
                None => 256,
                Some(b) => super::number::parse_i64(b)
                    .filter(|n| (1..=4096).contains(n))
                    .ok_or_else(|| {
                        Reply::error("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")
                    })?,
            };
            let chars = (bits as usize).div_ceil(4);
            let mut random = vec![0u8; chars.div_ceil(2)];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut random))
                .map_err(|e| Reply::error(format!("ERR cannot read random bytes: {e}")))?;
            let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
            Ok(bulk(&hex[..chars]))
        }
        b"log" => match rest {
            [r] if r.eq_ignore_ascii_case(b"reset") => {
                server.acl.reset_log();
                Ok(Reply::ok())
            }
            [] | [_] => {
                let count = match rest.first() {
                    None => 10,
                    Some(n) => super::number::parse_i64(n)
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| Reply::error("ERR value is out of range, must be positive"))?
                        as usize,
                };
                let now = crate::server::unix_ms();
                Ok(Reply::Array(
                    server
                        .acl
                        .log(count)
                        .into_iter()
                        .map(|e| {
                            Reply::Map(vec![
                                (bulk("count"), Reply::Integer(e.count as i64)),
                                (bulk("reason"), bulk(e.reason)),
                                (bulk("context"), bulk(e.context)),
                                (bulk("object"), bulk(&e.object)),
                                (bulk("username"), bulk(&e.username)),
                                (
                                    bulk("age-seconds"),
                                    Reply::Double(now.saturating_sub(e.created) as f64 / 1000.0),
                                ),
                                (bulk("client-info"), bulk(&e.client_info)),
                                (bulk("entry-id"), Reply::Integer(e.id as i64)),
                                (bulk("timestamp-created"), Reply::Integer(e.created as i64)),
                                (
                                    bulk("timestamp-last-updated"),
                                    Reply::Integer(e.updated as i64),
                                ),
                            ])
                        })
                        .collect(),
                ))
            }
            _ => Err(wrong_arity("acl|log")),
        },
        b"dryrun" => {
            arity(rest.len() >= 2)?;
            let user = name(&rest[0]);
            if server.acl.user(&user).is_none() {
                return Err(Reply::error(format!("ERR User '{user}' not found")));
            }
            let Some(cmd) = lookup(&rest[1]) else {
                return Err(Reply::error(format!(
                    "ERR Command '{}' not found",
                    name(&rest[1])
                )));
            };
            if !super::arity_ok(cmd.arity, rest.len() - 1) {
                return Err(Reply::error(format!(
                    "ERR wrong number of arguments for '{}' command",
                    cmd.name
                )));
            }
            let mut probe = Session::new(std::sync::Arc::clone(&session.client), true);
            probe.user_name = user.clone();
            Ok(match acl_check(server, &mut probe, cmd, &rest[2..]) {
                Ok(()) => Reply::ok(),
                Err(AclDenied::Command(c)) => bulk(format!(
                    "This user has no permissions to run the '{c}' command"
                )),
                Err(AclDenied::Key(k)) => bulk(format!(
                    "This user has no permissions to access the '{}' key",
                    name(&k)
                )),
                Err(AclDenied::Channel(c)) => bulk(format!(
                    "This user has no permissions to access the '{}' channel",
                    name(&c)
                )),
                Err(AclDenied::Gone) => return Err(Reply::error(format!("ERR User '{user}' not found"))),
            })
        }
        b"save" | b"load" => Err(Reply::error(
            "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.",
        )),
        b"help" => Ok(help(&[
            "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
            "HELP",
            "    Print this help.",
        ])),
        _ => Err(unknown_subcommand(&args[0], "acl")),
    }
}
