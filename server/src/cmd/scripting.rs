//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (the interpreter is `crate::script`).
//!
//! A script runs through `Store::atomically`: alone, its writes one engine batch (whole or
//! absent after a crash), its reads seeing its own writes. Commands it calls run on a session
//! of its own, in the caller's database; a command Redis does not allow in scripts
//! (`noscript`: MULTI, EXEC, WATCH, EVAL, ...) answers Redis's error.

use super::number::parse_i64;
use super::reply::CmdResult;
use super::{lookup, run_in_exec, Session};
use crate::resp::{Protocol, Reply};
use crate::script::{RestorePolicy, ScriptFlags};
use crate::server::Server;
use strata_redis::rdb;

/// The keys and the arguments of a script call.
type KeysAndArgs<'a> = (&'a [Vec<u8>], &'a [Vec<u8>]);

/// `numkeys` and the keys and arguments after it.
fn split_keys(args: &[Vec<u8>]) -> Result<KeysAndArgs<'_>, Reply> {
    let n = super::number::integer_arg(&args[0])?;
    if n < 0 {
        return Err(Reply::error("ERR Number of keys can't be negative"));
    }
    let rest = &args[1..];
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if n > rest.len() {
        return Err(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok(rest.split_at(n))
}

/// Runs the loaded script `sha` for `session`.
fn run(
    server: &Server,
    session: &mut Session,
    sha: &str,
    args: &[Vec<u8>],
    read_only: bool,
) -> CmdResult {
    let (keys, argv) = split_keys(args)?;
    if let Some(flags) = server.scripting.script_flags(sha) {
        prepare(server, flags, read_only)?;
    }
    match as_script(server, session, |call| {
        server.scripting.run(sha, keys, argv, read_only, call)
    })? {
        Some(reply) => Ok(reply),
        None => Err(Reply::error(
            "NOSCRIPT No matching script. Please use EVAL.",
        )),
    }
}

/// What Redis checks before a script with declared flags runs: one that may write is refused
/// where writes are (MISCONF, NOREPLICAS) and by the `*_RO` commands.
fn prepare(server: &Server, flags: ScriptFlags, read_only: bool) -> Result<(), Reply> {
    if !flags.declared || flags.read_only {
        return Ok(());
    }
    if let Some(e) = server.store.engine().background_error() {
        return Err(Reply::error(format!(
            "MISCONF Errors writing to the WAL: {e}"
        )));
    }
    if read_only {
        return Err(Reply::error(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    server.write_refusal().map_or(Ok(()), Err)
}

/// Runs `body` (a script or function) atomically, its commands on a session of its own that
/// starts in the caller's database; the caller has written if the script did.
fn as_script<R>(
    server: &Server,
    session: &mut Session,
    body: impl FnOnce(&mut dyn FnMut(&mut [Vec<u8>], bool) -> Reply) -> R,
) -> Result<R, Reply> {
    let mut script_session = Session::new(std::sync::Arc::clone(&session.client), true);
    script_session.db = session.db;
    script_session.in_script = true;
    script_session.user_name.clone_from(&session.user_name);
    script_session.user.clone_from(&session.user);
    script_session.acl_version = session.acl_version;
    script_session.unrestricted = session.unrestricted;
    let mut wrote = false;
    crate::script::take_error_counted();
    let ran = server.store.atomically(|| {
        body(&mut |cmd_args, may_write| {
            let (reply, write) = call(server, &mut script_session, cmd_args, may_write);
            wrote |= write;
            reply
        })
    });
    session.wrote |= wrote;
    session.error_counted = crate::script::take_error_counted();
    ran.map_err(|e| Reply::error(format!("ERR {e}")))
}

/// SCRIPT KILL (`function` false) and FUNCTION KILL.
fn kill(server: &Server, function: bool) -> CmdResult {
    match server.scripting.kill(function) {
        crate::script::Kill::OtherKind if function => Err(Reply::error(
            "BUSY No function is running: a script is. Use SCRIPT KILL.",
        )),
        crate::script::Kill::OtherKind => Err(Reply::error(
            "BUSY A function is running, not a script. Use FUNCTION KILL.",
        )),
        crate::script::Kill::Killed => Ok(Reply::ok()),
        crate::script::Kill::NotBusy => {
            Err(Reply::error("NOTBUSY No scripts in execution right now."))
        }
        crate::script::Kill::Unkillable => Err(Reply::error(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. \
             You can either wait the script termination or kill the server in a hard way using \
             the SHUTDOWN NOSAVE command.",
        )),
    }
}

/// One `redis.call` of a script: its reply, and whether it was a write.
fn call(
    server: &Server,
    session: &mut Session,
    argv: &mut [Vec<u8>],
    may_write: bool,
) -> (Reply, bool) {
    match refusal(server, session, argv, may_write) {
        Ok(write) => {
            if write {
                server.scripting.note_write();
            }
            // The script's replies come in the protocol it asked for (`redis.setresp`).
            session.protocol = if crate::script::script_resp3() {
                Protocol::Resp3
            } else {
                Protocol::Resp2
            };
            (run_in_exec(server, session, argv), write)
        }
        // Counted here, as a command's own error is when it runs: the script's error, if
        // it raises this one, is not counted again.
        Err(e) => {
            server.count_error(&e);
            (Reply::Error(e), false)
        }
    }
}

/// Why a script may not run `argv` (Redis's words), or whether it writes.
fn refusal(
    server: &Server,
    session: &mut Session,
    argv: &[Vec<u8>],
    may_write: bool,
) -> Result<bool, String> {
    let Some(cmd) = argv.first().and_then(|n| lookup(n)) else {
        return Err("ERR Unknown Redis command called from script".into());
    };
    if !super::arity_ok(cmd.arity, argv.len()) {
        return Err("ERR Wrong number of args calling Redis command from script".into());
    }
    if cmd.flags.contains(&"noscript") || cmd.flags.contains(&"blocking") {
        return Err("ERR This Redis command is not allowed from script".into());
    }
    let user = session.user_name.clone();
    match super::acl_check(server, session, cmd, &argv[1..]) {
        Ok(()) => {}
        Err(super::AclDenied::Command(name)) => {
            super::log_acl_denial(server, session, "command", name, &user);
            return Err(
                "ERR The user executing the script can't run this command or subcommand".into(),
            );
        }
        Err(super::AclDenied::Key(k)) => {
            super::log_acl_denial(
                server,
                session,
                "key",
                String::from_utf8_lossy(&k).into(),
                &user,
            );
            return Err("ERR The user executing the script can't access at least one of the keys mentioned in the command".into());
        }
        Err(super::AclDenied::Channel(c)) => {
            super::log_acl_denial(
                server,
                session,
                "channel",
                String::from_utf8_lossy(&c).into(),
                &user,
            );
            return Err("ERR The user executing the script can't publish to the channel mentioned in the command".into());
        }
        Err(super::AclDenied::Gone) => {
            return Err("ERR The user executing the script no longer exists".into())
        }
    }
    let write = cmd.flags.contains(&"write");
    // PUBLISH and the other commands Redis propagates count as writes here (CLIENT PAUSE
    // WRITE must not let a read-only script through with them).
    if (write || cmd.flags.contains(&"may-replicate")) && !may_write {
        return Err("ERR Write commands are not allowed from read-only scripts.".into());
    }
    if write {
        if let Some(Reply::Error(e)) = server.write_refusal() {
            return Err(e);
        }
    }
    Ok(write)
}

pub(super) fn eval(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    eval_generic(server, session, args, false)
}

pub(super) fn eval_ro(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    eval_generic(server, session, args, true)
}

fn eval_generic(
    server: &Server,
    session: &mut Session,
    args: &[Vec<u8>],
    read_only: bool,
) -> CmdResult {
    split_keys(&args[1..])?;
    let sha = server.scripting.load(&args[0]).map_err(Reply::Error)?;
    run(server, session, &sha, &args[1..], read_only)
}

pub(super) fn evalsha(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    evalsha_generic(server, session, args, false)
}

pub(super) fn evalsha_ro(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    evalsha_generic(server, session, args, true)
}

fn evalsha_generic(
    server: &Server,
    session: &mut Session,
    args: &[Vec<u8>],
    read_only: bool,
) -> CmdResult {
    split_keys(&args[1..])?;
    let sha = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    run(server, session, &sha, &args[1..], read_only)
}

pub(super) fn script(server: &Server, _session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let sub = args[0].to_ascii_lowercase();
    let rest = &args[1..];
    match sub.as_slice() {
        b"load" if rest.len() == 1 => {
            let sha = server.scripting.load(&rest[0]).map_err(Reply::Error)?;
            Ok(Reply::Bulk(sha.into_bytes()))
        }
        b"exists" if !rest.is_empty() => Ok(Reply::Array(
            rest.iter()
                .map(|sha| Reply::Integer(i64::from(server.scripting.exists(sha))))
                .collect(),
        )),
        b"flush" if rest.len() <= 1 => {
            if let Some(mode) = rest.first() {
                let m = mode.to_ascii_uppercase();
                if m != b"ASYNC" && m != b"SYNC" {
                    return Err(Reply::error(
                        "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
                    ));
                }
            }
            server.scripting.flush();
            Ok(Reply::ok())
        }
        b"kill" if rest.is_empty() => kill(server, false),
        b"help" if rest.is_empty() => Ok(Reply::Array(
            [
                "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]",
                "    Flush the Lua scripts cache. Very dangerous on replicas.",
                "KILL",
                "    Kill the currently executing Lua script.",
                "LOAD <script>",
                "    Load a script into the scripts cache without executing it.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|l| Reply::Simple((*l).into()))
            .collect(),
        )),
        _ => Err(Reply::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SCRIPT HELP.",
            String::from_utf8_lossy(&args[0])
        ))),
    }
}

pub(super) fn fcall(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    fcall_generic(server, session, args, false)
}

pub(super) fn fcall_ro(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    fcall_generic(server, session, args, true)
}

/// `FCALL function numkeys key... arg...`: like EVALSHA, the function getting KEYS and ARGV
/// as its arguments.
fn fcall_generic(
    server: &Server,
    session: &mut Session,
    args: &[Vec<u8>],
    read_only: bool,
) -> CmdResult {
    let Some(flags) = server.scripting.function_flags(&args[0]) else {
        return Err(Reply::error("ERR Function not found"));
    };
    if parse_i64(&args[1]).is_none() {
        return Err(Reply::error("ERR Bad number of keys provided"));
    }
    let (keys, argv) = split_keys(&args[1..])?;
    prepare(server, flags, read_only)?;
    as_script(server, session, |call| {
        server
            .scripting
            .call_function(&args[0], keys, argv, read_only, call)
    })
}

pub(super) fn function(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let sub = args[0].to_ascii_lowercase();
    let rest = &args[1..];
    let wrong = || {
        Reply::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
            String::from_utf8_lossy(&args[0])
        ))
    };
    let store_error = |e: strata_redis::Error| Reply::error(format!("ERR {e}"));
    match sub.as_slice() {
        b"load" => {
            // Options, then the code (Redis's order and errors).
            let mut replace = false;
            let Some((code, options)) = rest.split_last() else {
                return Err(wrong());
            };
            for opt in options {
                if !opt.eq_ignore_ascii_case(b"replace") {
                    return Err(Reply::error(format!(
                        "ERR Unknown option given: {}",
                        String::from_utf8_lossy(opt)
                    )));
                }
                replace = true;
            }
            let name = server
                .scripting
                .load_library(code, replace)
                .map_err(Reply::Error)?;
            // Kept in the engine: libraries survive a restart.
            server
                .store
                .put_function_library(name.as_bytes(), code)
                .map_err(store_error)?;
            session.wrote = true;
            Ok(Reply::Bulk(name.into_bytes()))
        }
        b"delete" if rest.len() == 1 => {
            let name = String::from_utf8_lossy(&rest[0]).into_owned();
            if !server.scripting.delete_library(&name) {
                return Err(Reply::error("ERR Library not found"));
            }
            server
                .store
                .delete_function_library(name.as_bytes())
                .map_err(store_error)?;
            session.wrote = true;
            Ok(Reply::ok())
        }
        b"flush" if rest.len() <= 1 => {
            if let Some(mode) = rest.first() {
                let m = mode.to_ascii_uppercase();
                if m != b"ASYNC" && m != b"SYNC" {
                    return Err(Reply::error(
                        "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
                    ));
                }
            }
            server.scripting.flush_functions();
            server
                .store
                .set_function_libraries(&[])
                .map_err(store_error)?;
            session.wrote = true;
            Ok(Reply::ok())
        }
        b"dump" if rest.is_empty() => {
            let mut body = Vec::new();
            for (_, code) in server.scripting.library_codes() {
                body.push(rdb::OPCODE_FUNCTION2);
                rdb::put_string(&mut body, &code);
            }
            Ok(Reply::Bulk(rdb::seal(body)))
        }
        b"restore" if rest.len() == 1 || rest.len() == 2 => {
            let policy = match rest.get(1).map(|p| p.to_ascii_lowercase()).as_deref() {
                None | Some(b"append") => RestorePolicy::Append,
                Some(b"replace") => RestorePolicy::Replace,
                Some(b"flush") => RestorePolicy::Flush,
                Some(_) => {
                    return Err(Reply::error(
                        "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
                    ))
                }
            };
            let (body, _) = rdb::open(&rest[0]).map_err(|e| Reply::error(format!("ERR {e}")))?;
            let mut reader = rdb::Reader::new(body);
            let mut codes = Vec::new();
            while !reader.is_empty() {
                let kind = reader
                    .byte()
                    .map_err(|_| Reply::error("ERR can not read data type"))?;
                if kind != rdb::OPCODE_FUNCTION2 {
                    return Err(Reply::error("ERR given type is not a function"));
                }
                codes.push(
                    reader.string().map_err(|_| {
                        Reply::error("ERR failed loading the given functions payload")
                    })?,
                );
            }
            server
                .scripting
                .restore_libraries(&codes, policy)
                .map_err(Reply::Error)?;
            server
                .store
                .set_function_libraries(&server.scripting.library_codes())
                .map_err(store_error)?;
            session.wrote = true;
            Ok(Reply::ok())
        }
        b"list" => {
            let (mut pattern, mut with_code) = (None, false);
            let mut i = 0;
            while i < rest.len() {
                if rest[i].eq_ignore_ascii_case(b"withcode") && !with_code {
                    with_code = true;
                } else if rest[i].eq_ignore_ascii_case(b"libraryname") && pattern.is_none() {
                    i += 1;
                    let Some(p) = rest.get(i) else {
                        return Err(Reply::error("ERR library name argument was not given"));
                    };
                    pattern = Some(p.as_slice());
                } else {
                    return Err(Reply::error(format!(
                        "ERR Unknown argument {}",
                        String::from_utf8_lossy(&rest[i])
                    )));
                }
                i += 1;
            }
            Ok(server.scripting.list_libraries(pattern, with_code))
        }
        b"stats" if rest.is_empty() => {
            let (libraries, functions) = server.scripting.function_counts();
            let running = match server.scripting.running_function() {
                Some((name, command, ms)) => Reply::Map(vec![
                    (
                        Reply::Bulk(b"name".to_vec()),
                        Reply::Bulk(name.into_bytes()),
                    ),
                    (
                        Reply::Bulk(b"command".to_vec()),
                        Reply::Array(command.into_iter().map(Reply::Bulk).collect()),
                    ),
                    (
                        Reply::Bulk(b"duration_ms".to_vec()),
                        Reply::Integer(ms as i64),
                    ),
                ]),
                None => Reply::Null,
            };
            Ok(Reply::Map(vec![
                (Reply::Bulk(b"running_script".to_vec()), running),
                (
                    Reply::Bulk(b"engines".to_vec()),
                    Reply::Map(vec![(
                        Reply::Bulk(b"LUA".to_vec()),
                        Reply::Map(vec![
                            (
                                Reply::Bulk(b"libraries_count".to_vec()),
                                Reply::Integer(libraries as i64),
                            ),
                            (
                                Reply::Bulk(b"functions_count".to_vec()),
                                Reply::Integer(functions as i64),
                            ),
                        ]),
                    )]),
                ),
            ]))
        }
        b"kill" if rest.is_empty() => kill(server, true),
        _ => Err(wrong()),
    }
}
