//! The Redis data model over Strata's ordered keys (`docs/format-redis.md`).
//!
//! - `key`: the engine key of every Redis key (`db | slot | key`, with Redis Cluster's hash
//!   slots, so a slot can later move between nodes as one key range).
//! - `meta`: the metadata entry of a Redis key (type, encoding version, expiry, and a
//!   string's value inline, so `GET` is one engine read).
//! - [`pattern`]: Redis's glob patterns for `KEYS` and `SCAN MATCH`.
//! - [`Store`]: string and key-space operations with per-slot locks and one engine batch per
//!   command, exact per-slot key counts (`DBSIZE` in O(1)), the expiry index and its background
//!   expire cycle, SCAN cursors, O(1) `SWAPDB`. On-disk layout: `docs/format-redis.md`.
//!
//! - `sub`: the engine keys of collection elements (hashes, sets, sorted sets, lists:
//!   metadata + versioned elements, `docs/format-redis.md`), and `ElementGc`, the
//!   compaction filter that removes the elements of deleted collections.
//!
//! Its public API is what the server uses: [`Store`] with its option and outcome types,
//! the typed [`Error`], [`RedisType`] and [`pattern`].
//!
//! It is not: a network server (that is `strata-server`), nor a storage engine.

mod gc;
mod key;
mod meta;
pub mod pattern;
pub mod rdb;
mod store;
mod sub;

pub use meta::RedisType;

pub use store::{
    Aggregate, Condition, DbCounts, ElementScan, EncodingLimits, End, Error, ExpireCycle,
    ExpiredListener, Expiry, LexBound, LposOptions, LsetOutcome, Pairs, Popped, RenameOutcome,
    Result, ScoreBound, Scored, SetOp, SetOptions, SetOutcome, Store, StoreStats, ZOp, ZRange,
    ZRangeSpec, ZaddOptions, ZaddOutcome,
};
