//! `CONFIG GET|SET|RESETSTAT|REWRITE|HELP`: the command over the server's parameters (the parameters
//! themselves and the config file are `crate::config`).

use std::sync::atomic::Ordering;

use super::args::Args;
use super::reply::{bulk, help, unknown_subcommand, wrong_arity, CmdResult};
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

/// `CONFIG GET|SET|RESETSTAT|REWRITE|HELP`.
pub(super) fn config(server: &Server, _session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let sub = args[0].to_ascii_lowercase();
    let rest = &args[1..];
    match sub.as_slice() {
        b"get" => get(server, rest),
        b"set" => set(server, rest),
        b"resetstat" => resetstat(server, rest),
        b"rewrite" => rewrite(server, rest),
        b"help" => Ok(help(&[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
            "HELP",
            "    Print this help.",
        ])),
        _ => Err(unknown_subcommand(&args[0], "config")),
    }
}

/// `CONFIG GET pattern [pattern ...]`.
fn get(server: &Server, patterns: &[Vec<u8>]) -> CmdResult {
    if patterns.is_empty() {
        return Err(wrong_arity("config|get"));
    }
    Ok(Reply::Map(
        server
            .config
            .matching(patterns)
            .into_iter()
            .map(|(k, v)| (bulk(k), bulk(v)))
            .collect(),
    ))
}

/// `CONFIG SET name value [name value ...]`: all or nothing.
fn set(server: &Server, args: &[Vec<u8>]) -> CmdResult {
    let pairs: Vec<(String, String)> = Args::new(args)
        .pairs()
        .ok_or_else(|| wrong_arity("config|set"))?
        .into_iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    let changed = server.config.set(&pairs).map_err(|e| Reply::error(e.0))?;
    for (i, c) in changed.iter().enumerate() {
        if let Err(e) = server.apply(c.name) {
            // All or nothing, like Redis: put every value back and apply again the ones
            // applied so far, the failed one included (it may have half taken effect: a new
            // port failing after the old one was closed).
            server.config.restore(&changed);
            for done in &changed[..=i] {
                let _ = server.apply(done.name);
            }
            let name = pairs
                .iter()
                .map(|(n, _)| n)
                .find(|n| crate::config::Config::canonical(n) == Some(c.name))
                .map_or(c.name, |n| n.as_str());
            return Err(Reply::error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
            )));
        }
    }
    Ok(Reply::ok())
}

/// `CONFIG REWRITE`: writes the current values into the config file the server started with.
fn rewrite(server: &Server, args: &[Vec<u8>]) -> CmdResult {
    if !args.is_empty() {
        return Err(wrong_arity("config|rewrite"));
    }
    let Some(path) = &server.config_file else {
        return Err(Reply::error(
            "ERR The server is running without a config file",
        ));
    };
    let users = server
        .acl
        .users_for_config(&server.config.get("requirepass"));
    server
        .config
        .rewrite(path, &users)
        .map_err(|e| Reply::error(format!("ERR Rewriting config file: {e}")))?;
    Ok(Reply::ok())
}

/// `CONFIG RESETSTAT`: zeroes the counters INFO reports.
fn resetstat(server: &Server, args: &[Vec<u8>]) -> CmdResult {
    if !args.is_empty() {
        return Err(wrong_arity("config|resetstat"));
    }
    let c = &server.counters;
    for counter in [
        &c.connections_received,
        &c.rejected_connections,
        &c.commands_processed,
        &c.error_replies,
        &c.net_input_bytes,
        &c.net_output_bytes,
    ] {
        counter.store(0, Ordering::Relaxed);
    }
    server
        .counters
        .error_codes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    server.store.reset_stats();
    for s in &server.command_stats {
        for counter in [&s.calls, &s.usec, &s.rejected, &s.failed] {
            counter.store(0, Ordering::Relaxed);
        }
        s.latency.reset();
    }
    Ok(Reply::ok())
}
