//! The Redis data model over Strata's ordered keys (DESIGN.md section 6).
//!
//! Built so far: [`key`], the engine key of every Redis key (`db | slot | key`, with Redis
//! Cluster's hash slots, so a slot can later move between nodes as one key range), and
//! [`meta`], the metadata entry of a Redis key (type, encoding version, and a string's value
//! inline), and [`Store`], string commands over an engine database (GET, SET with all its
//! options, DEL, EXISTS) with per-key lock striping. More commands come with the server
//! (issue 5); collections with issue 6.
//!
//! It is not: a network server (that is `strata-server`), nor a storage engine.

pub mod key;
pub mod meta;
pub mod pattern;
pub mod store;

pub use store::{
    Condition, DbCounts, Error, ExpireCycle, Expiry, RenameOutcome, Result, SetOptions, SetOutcome,
    Store, StoreStats,
};
