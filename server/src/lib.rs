//! The Redis-protocol front-end of Strata.
//!
//! - [`resp`]: the wire protocol (a request parser for multibulk and inline commands with
//!   pipelining, Redis's limits and error strings; a reply writer for RESP2 and RESP3).
//! - [`acl`]: ACL users, their passwords and permissions.
//! - [`config`]: parameters, the config file, `CONFIG GET`/`SET`.
//! - [`server`]: state shared by connections (clients, counters, slow log, durability mode).
//! - [`connection`]: one client served over tokio.
//! - [`durable`]: group commit for `appendfsync always` (connections await one shared fsync).
//! - [`blocking`]: clients blocked on keys (BLPOP, ...) and their wake-ups.
//! - [`pubsub`]: channel subscriptions, MONITOR, and the message queue of each subscriber.
//! - [`notify`]: keyspace notifications (the events each write command emits).
//! - [`tracking`]: client-side caching (`CLIENT TRACKING`) and its invalidation messages.
//! - [`latency`]: per-command latency histograms and the latency monitor.
//! - [`session`]: one connection's state that commands change (database, protocol, auth).
//! - [`watch`]: the keys clients WATCH and the writes that fail their EXEC.
//! - [`script`]: the Lua interpreter behind EVAL (sandbox, `redis` library, conversions).
//! - [`cmd`]: the command table and every command's argument parsing and replies.
//!
//! It is not: the Redis data model (that is `strata-redis`, over the engine), nor a client.

pub mod acl;
pub mod blocking;
pub mod cmd;
pub mod config;
pub mod connection;
pub mod durable;
pub mod fd_limit;
pub mod latency;
pub mod listen;
pub mod notify;
pub mod pubsub;
pub mod resp;
pub mod script;
pub mod server;
pub mod session;
pub mod tracking;
pub mod watch;

/// Writes a log line to stdout; a closed stdout (a supervisor gone) must not stop the server.
pub fn log(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
