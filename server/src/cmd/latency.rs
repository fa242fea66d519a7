//! `LATENCY HISTOGRAM|LATEST|HISTORY|RESET|HELP` over `crate::latency`.

use super::reply::{bulk, help, unknown_subcommand, wrong_arity, CmdResult};
use super::{lookup, COMMANDS};
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

/// `LATENCY <subcommand>`.
pub(super) fn latency(server: &Server, _session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let sub = args[0].to_ascii_lowercase();
    let rest = &args[1..];
    match sub.as_slice() {
        b"histogram" => Ok(histogram(server, rest)),
        b"latest" if rest.is_empty() => Ok(Reply::Array(
            server
                .latency_monitor
                .latest()
                .into_iter()
                .map(|(event, time, ms, max)| {
                    Reply::Array(vec![
                        bulk(event),
                        Reply::Integer(time as i64),
                        Reply::Integer(ms as i64),
                        Reply::Integer(max as i64),
                    ])
                })
                .collect(),
        )),
        b"history" if rest.len() == 1 => Ok(Reply::Array(
            server
                .latency_monitor
                .history(&rest[0])
                .into_iter()
                .map(|(time, ms)| {
                    Reply::Array(vec![Reply::Integer(time as i64), Reply::Integer(ms as i64)])
                })
                .collect(),
        )),
        b"reset" => Ok(Reply::Integer(server.latency_monitor.reset(rest) as i64)),
        b"help" if rest.is_empty() => Ok(help(&[
            "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
            "HELP",
            "    Prints this help.",
        ])),
        b"latest" | b"history" | b"help" => Err(wrong_arity(&format!(
            "latency|{}",
            String::from_utf8_lossy(&sub)
        ))),
        _ => Err(unknown_subcommand(&args[0], "latency")),
    }
}

/// `LATENCY HISTOGRAM [command ...]`: for each command that ran (or each named one that
/// did), its calls and cumulative run-time distribution in µs.
fn histogram(server: &Server, names: &[Vec<u8>]) -> Reply {
    let mut out = Vec::new();
    for (cmd, stats) in COMMANDS.iter().zip(&server.command_stats) {
        let named = names.is_empty()
            || names
                .iter()
                .any(|n| lookup(n).is_some_and(|c| c.name == cmd.name));
        let calls = stats.latency.total();
        if !named || calls == 0 {
            continue;
        }
        let cdf = stats
            .latency
            .cumulative_usec()
            .into_iter()
            .map(|(usec, count)| (Reply::Integer(usec as i64), Reply::Integer(count as i64)))
            .collect();
        out.push((
            bulk(cmd.name),
            Reply::Map(vec![
                (bulk("calls"), Reply::Integer(calls as i64)),
                (bulk("histogram_usec"), Reply::Map(cdf)),
            ]),
        ));
    }
    Reply::Map(out)
}
