//! `CONFIG GET|SET|RESETSTAT|HELP`: the command over the server's parameters (the parameters
//! themselves and the config file are `crate::config`).

use std::sync::atomic::Ordering;

use super::args::Args;
use super::reply::{bulk, help, unknown_subcommand, wrong_arity, CmdResult};
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

/// `CONFIG GET|SET|RESETSTAT|HELP`.
pub(super) fn config(server: &Server, _session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let sub = args[0].to_ascii_lowercase();
    let rest = &args[1..];
    match sub.as_slice() {
        b"get" => get(server, rest),
        b"set" => set(server, rest),
        b"resetstat" => resetstat(server, rest),
        b"help" => Ok(help(&[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
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
    let old: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, _)| {
            let n = n.to_ascii_lowercase();
            let v = server.config.get(&n);
            (n, v)
        })
        .collect();
    let set = server.config.set(&pairs).map_err(|e| Reply::error(e.0))?;
    for (name, _) in &set {
        if let Err(e) = server.apply(name) {
            // All or nothing, like Redis: put every value back.
            if server.config.set(&old).is_ok() {
                for (n, _) in &set {
                    let _ = server.apply(n);
                }
            }
            return Err(Reply::error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
            )));
        }
    }
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
    }
    Ok(Reply::ok())
}
