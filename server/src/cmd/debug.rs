//! `DEBUG`: the subcommands Redis's tests and operators use that cannot hurt the server
//! (SLEEP, SET-ACTIVE-EXPIRE), refused as Redis refuses DEBUG unless `enable-debug-command`
//! allows it (`yes`, or `local` for loopback clients; `no` by default).

use std::time::Duration;

use super::reply::{help, unknown_subcommand, wrong_arity, CmdResult};
use crate::resp::Reply;
use crate::server::Server;
use crate::session::Session;

/// `DEBUG SLEEP seconds | SET-ACTIVE-EXPIRE 0|1 | HELP`.
pub(super) fn debug(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let allowed = match server.config.get("enable-debug-command").as_str() {
        "yes" => true,
        "local" => session.client.addr.ip().is_loopback(),
        _ => false,
    };
    if !allowed {
        return Err(Reply::error(
            "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        ));
    }
    let sub = args[0].to_ascii_lowercase();
    let rest = &args[1..];
    match (sub.as_slice(), rest) {
        // The whole server waits, as Redis's one thread does: run with every other command
        // held off.
        (b"sleep", [secs]) => {
            let secs: f64 = std::str::from_utf8(secs)
                .ok()
                .and_then(|s| s.parse().ok())
                .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| Reply::error("ERR value is not a valid float"))?;
            let pause = Duration::from_secs_f64(secs.min(3600.0));
            server
                .store
                .atomically(|| std::thread::sleep(pause))
                .map_err(|e| Reply::error(format!("ERR {e}")))?;
            Ok(Reply::ok())
        }
        (b"set-active-expire", [on]) => {
            let on = match on.as_slice() {
                b"0" => false,
                b"1" => true,
                _ => return Err(Reply::error("ERR value is out of range, must be positive")),
            };
            server.store.set_active_expire(on);
            Ok(Reply::ok())
        }
        (b"help", []) => Ok(help(&[
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
            "HELP",
            "    Print this help.",
        ])),
        (b"sleep" | b"set-active-expire" | b"help", _) => Err(wrong_arity(&format!(
            "debug|{}",
            String::from_utf8_lossy(&sub)
        ))),
        _ => Err(unknown_subcommand(&args[0], "debug")),
    }
}
