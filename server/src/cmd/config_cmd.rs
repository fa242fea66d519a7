//! `CONFIG GET|SET|RESETSTAT|HELP`: the command over the server's parameters (the parameters
//! themselves and the config file are `crate::config`).

use std::sync::atomic::Ordering;

use super::reply::{bulk, help, unknown_subcommand, wrong_arity};
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

/// `CONFIG GET|SET|RESETSTAT|HELP`.
pub(super) fn config(server: &Server, _session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let sub = args[0].to_ascii_lowercase();
    let rest = &args[1..];
    match sub.as_slice() {
        b"get" => {
            if rest.is_empty() {
                return wrong_arity("config|get");
            }
            Reply::Map(
                server
                    .config
                    .matching(rest)
                    .into_iter()
                    .map(|(k, v)| (bulk(k), bulk(v)))
                    .collect(),
            )
        }
        b"set" => {
            if rest.is_empty() || !rest.len().is_multiple_of(2) {
                return wrong_arity("config|set");
            }
            let pairs: Vec<(String, String)> = rest
                .chunks(2)
                .map(|p| {
                    (
                        String::from_utf8_lossy(&p[0]).into_owned(),
                        String::from_utf8_lossy(&p[1]).into_owned(),
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
            let set = match server.config.set(&pairs) {
                Ok(set) => set,
                Err(e) => return Reply::error(e.0),
            };
            for (name, _) in &set {
                if let Err(e) = server.apply(name) {
                    // All or nothing, like Redis: put every value back.
                    if server.config.set(&old).is_ok() {
                        for (n, _) in &set {
                            let _ = server.apply(n);
                        }
                    }
                    return Reply::error(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
                    ));
                }
            }
            Reply::ok()
        }
        b"resetstat" => {
            if !rest.is_empty() {
                return wrong_arity("config|resetstat");
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
            server.store.reset_stats();
            Reply::ok()
        }
        b"help" => help(&[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "HELP",
            "    Print this help.",
        ]),
        _ => unknown_subcommand(&args[0], "config"),
    }
}
