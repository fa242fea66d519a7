//! The Redis-protocol front-end of Strata.
//!
//! Built so far: [`resp`], the wire protocol (a request parser for multibulk and inline
//! commands with pipelining, Redis's limits and error strings, and a reply writer for RESP2 and
//! RESP3); [`connection`], one client served over tokio; [`cmd`], the command table. The
//! `strata-server` binary is a first slice of issue 5: connection commands (PING, ECHO, QUIT,
//! SELECT), strings (GET, SET with all options, SETNX, GETSET, GETDEL, MGET, MSET, MSETNX, the
//! INCR family without INCRBYFLOAT, APPEND, STRLEN), keys (DEL, UNLINK, EXISTS, TYPE) and expiry
//! (EXPIRE family with NX/XX/GT/LT, PERSIST, TTL, PTTL, EXPIRETIME, PEXPIRETIME) over RESP2;
//! the rest of the commands, RESP3 via HELLO, AUTH, INFO and CONFIG are not built yet.
//!
//! It is not: the Redis data model (that is `strata-redis`, over the engine), nor a client.

pub mod cmd;
pub mod connection;
pub mod resp;
