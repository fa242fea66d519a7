//! RESP: the Redis serialization protocol, versions 2 and 3.
//!
//! - [`Parser`] turns bytes from a client into commands (argument vectors), one at a time, so
//!   pipelined requests are answered in order; it enforces Redis's limits with Redis's error
//!   strings.
//! - [`Reply`] is what a command answers; [`Reply::write`] encodes it for the connection's
//!   protocol version, downgrading RESP3-only types for RESP2 clients as Redis does.

mod parse;
mod reply;

pub use parse::{split_args, Limits, Parsed, Parser, ProtocolError};
pub use reply::{format_double, format_g, Protocol, Reply};
