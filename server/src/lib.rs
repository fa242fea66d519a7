//! The Redis-protocol front-end of Strata.
//!
//! Built so far: [`resp`], the wire protocol: a request parser (multibulk and inline commands,
//! pipelining, Redis's limits and error strings) and a reply writer for RESP2 and RESP3.
//! Connections, the command table and the `strata-server` binary come next (issue 5); until
//! then this crate is a library only.
//!
//! It is not: the Redis data model (that is `strata-redis`, over the engine), nor a client.

pub mod resp;
