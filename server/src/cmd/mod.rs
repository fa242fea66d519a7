//! The command table and dispatch: lookup, arity, authentication, timing (slow log), then the
//! command's handler. Handlers parse arguments and build replies; `strata-redis` does the data.

// Handlers, one file per group of commands; none imports another.
mod client;
mod config_cmd;
mod connection;
mod debug;
mod hashes;
mod info;
mod introspection;
mod keys;
mod latency;
mod lists;
mod migrate;
mod multi;
mod persistence;
mod pubsub;
mod scripting;
mod sets;
mod strings;
mod zranges;
mod zsets;

// What the handlers share.
mod acl;
mod acl_categories;
mod args;
mod bits;
mod dump;
mod geo;
mod hll;
mod number;
mod reply;
mod scan;
mod sort;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Instant;

use self::reply::{wrong_arity, CmdResult};
use crate::resp::Reply;
use crate::server::{Server, SlowLog};

pub use self::migrate::MigrateSockets;
pub use self::multi::Multi;
/// The state `dispatch` runs a command in (re-exported: callers take both from here).
pub use crate::session::Session;
pub(crate) use introspection::{categories_of, subcommands};

/// Whether `cmd` with `args` runs through `Store::atomically` (which holds the execution
/// lock exclusively), so `dispatch` does not hold it shared for it: EXEC, scripts, and
/// `SORT ... STORE`.
fn runs_atomically(cmd: &Command, args: &[Vec<u8>]) -> bool {
    RUN_ATOMICALLY.contains(&cmd.name)
        || (cmd.name == "sort" && sort::store_target(args).is_some())
        || (matches!(cmd.name, "georadius" | "georadiusbymember")
            && geo::radius_store_target(args).is_some())
}

/// Commands made of subcommands (`CLIENT LIST`), named with theirs in CLIENT LIST's `cmd`.
const CONTAINERS: &[&str] = &[
    "client", "config", "command", "object", "memory", "slowlog", "script", "function", "cluster",
    "pubsub", "latency", "acl",
];

/// Commands that always run through `Store::atomically`.
const RUN_ATOMICALLY: &[&str] = &[
    "exec",
    "debug",
    "restore",
    "geosearchstore",
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
];

/// The length from which a command may take an argument out of its argument list rather
/// than copy it ([`take_arg`]).
pub(crate) const TAKEN_ARG: usize = 64 << 10;

/// Argument `i` of `args`, taken out of the list (left empty) when it is at least
/// [`TAKEN_ARG`] bytes long (the slow log keeps what it shows of it), else copied: a large
/// `SET` value then goes to the store without a second copy alive.
pub(crate) fn take_arg(args: &mut [Vec<u8>], i: usize) -> Vec<u8> {
    match args.get_mut(i) {
        Some(a) if a.len() >= TAKEN_ARG => std::mem::take(a),
        Some(a) => a.clone(),
        None => Vec::new(),
    }
}

/// A command handler: the server, the session, the arguments after the name (a handler may
/// take a large one, see [`take_arg`]).
type Handler = fn(&Server, &mut Session, &mut [Vec<u8>]) -> CmdResult;

/// One entry of the command table, with what `COMMAND INFO` and `COMMAND DOCS` report.
#[derive(Debug)]
pub struct Command {
    /// Lowercase name.
    pub name: &'static str,
    /// Redis's arity: `n >= 0` exactly n words (name included), `-n` at least n.
    pub arity: i32,
    /// Redis's command flags (`write`, `readonly`, `fast`, ...).
    pub flags: &'static [&'static str],
    /// Position of the first key argument (0: none).
    pub first_key: i32,
    /// Position of the last key (`-1`: the last argument).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// Redis's command group (`string`, `generic`, `connection`, `server`).
    pub group: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// The Redis version that introduced it.
    pub since: &'static str,
    handler: Handler,
}

macro_rules! command {
    ($name:literal, $arity:expr, [$($flag:literal),*], $keys:expr, $group:literal, $since:literal, $summary:literal, $handler:expr) => {
        Command {
            name: $name,
            arity: $arity,
            flags: &[$($flag),*],
            first_key: $keys.0,
            last_key: $keys.1,
            step: $keys.2,
            group: $group,
            summary: $summary,
            since: $since,
            handler: $handler,
        }
    };
}

const NOKEYS: (i32, i32, i32) = (0, 0, 0);
const KEY1: (i32, i32, i32) = (1, 1, 1);
const ALLKEYS: (i32, i32, i32) = (1, -1, 1);

/// Every command the server answers.
pub static COMMANDS: &[Command] = &[
    // transactions
    command!("multi", 1, ["noscript", "loading", "stale", "fast", "allow-busy"], NOKEYS, "transactions", "1.2.0", "Starts a transaction.", multi::multi),
    command!("exec", 1, ["noscript", "loading", "stale", "skip-slowlog"], NOKEYS, "transactions", "1.2.0", "Executes all commands in a transaction.", multi::exec),
    command!("discard", 1, ["noscript", "loading", "stale", "fast", "allow-busy"], NOKEYS, "transactions", "2.0.0", "Discards a transaction.", multi::discard),
    command!("watch", -2, ["noscript", "loading", "stale", "fast", "allow-busy"], ALLKEYS, "transactions", "2.2.0", "Monitors changes to keys to determine the execution of a transaction.", multi::watch),
    command!("unwatch", 1, ["noscript", "loading", "stale", "fast", "allow-busy"], NOKEYS, "transactions", "2.2.0", "Forgets about watched keys of a transaction.", multi::unwatch),
    // scripting
    command!("eval", -3, ["noscript", "skip-monitor", "may-replicate", "no-mandatory-keys", "stale", "movablekeys"], NOKEYS, "scripting", "2.6.0", "Executes a server-side Lua script.", scripting::eval),
    command!("evalsha", -3, ["noscript", "skip-monitor", "may-replicate", "no-mandatory-keys", "stale", "movablekeys"], NOKEYS, "scripting", "2.6.0", "Executes a server-side Lua script by SHA1 digest.", scripting::evalsha),
    command!("eval_ro", -3, ["noscript", "skip-monitor", "no-mandatory-keys", "stale", "readonly", "movablekeys"], NOKEYS, "scripting", "7.0.0", "Executes a read-only server-side Lua script.", scripting::eval_ro),
    command!("evalsha_ro", -3, ["noscript", "skip-monitor", "no-mandatory-keys", "stale", "readonly", "movablekeys"], NOKEYS, "scripting", "7.0.0", "Executes a read-only server-side Lua script by SHA1 digest.", scripting::evalsha_ro),
    command!("fcall", -3, ["noscript", "skip-monitor", "may-replicate", "no-mandatory-keys", "stale", "movablekeys"], NOKEYS, "scripting", "7.0.0", "Invokes a function.", scripting::fcall),
    command!("fcall_ro", -3, ["noscript", "skip-monitor", "no-mandatory-keys", "stale", "readonly", "movablekeys"], NOKEYS, "scripting", "7.0.0", "Invokes a read-only function.", scripting::fcall_ro),
    command!("function", -2, ["noscript"], NOKEYS, "scripting", "7.0.0", "A container for function commands.", scripting::function),
    command!("script", -2, ["noscript"], NOKEYS, "scripting", "2.6.0", "A container for Lua scripts management commands.", scripting::script),
    // strings
    command!("get", 2, ["readonly", "fast"], KEY1, "string", "1.0.0", "Returns the string value of a key.", strings::get),
    command!("set", -3, ["write", "denyoom"], KEY1, "string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", strings::set),
    command!("setnx", 3, ["write", "denyoom", "fast"], KEY1, "string", "1.0.0", "Set the string value of a key only when the key doesn't exist.", strings::setnx),
    command!("setex", 4, ["write", "denyoom"], KEY1, "string", "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", strings::setex),
    command!("psetex", 4, ["write", "denyoom"], KEY1, "string", "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", strings::psetex),
    command!("mget", -2, ["readonly", "fast"], ALLKEYS, "string", "1.0.0", "Atomically returns the string values of one or more keys.", strings::mget),
    command!("mset", -3, ["write", "denyoom"], (1, -1, 2), "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.", strings::mset),
    command!("msetnx", -3, ["write", "denyoom"], (1, -1, 2), "string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", strings::msetnx),
    command!("getset", 3, ["write", "denyoom", "fast"], KEY1, "string", "1.0.0", "Returns the previous string value of a key after setting it to a new value.", strings::getset),
    command!("getdel", 2, ["write", "fast"], KEY1, "string", "6.2.0", "Returns the string value of a key after deleting the key.", strings::getdel),
    command!("getex", -2, ["write", "fast"], KEY1, "string", "6.2.0", "Returns the string value of a key after setting its expiration time.", strings::getex),
    command!("append", 3, ["write", "denyoom", "fast"], KEY1, "string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", strings::append),
    command!("strlen", 2, ["readonly", "fast"], KEY1, "string", "2.2.0", "Returns the length of a string value.", strings::strlen),
    command!("getrange", 4, ["readonly"], KEY1, "string", "2.4.0", "Returns a substring of the string stored at a key.", strings::getrange),
    command!("substr", 4, ["readonly"], KEY1, "string", "1.0.0", "Returns a substring from a string value.", strings::getrange),
    command!("lcs", -3, ["readonly"], (1, 2, 1), "string", "7.0.0", "Finds the longest common substring.", strings::lcs),
    command!("setbit", 4, ["write", "denyoom"], KEY1, "bitmap", "2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", strings::setbit),
    command!("getbit", 3, ["readonly", "fast"], KEY1, "bitmap", "2.2.0", "Returns a bit value by offset.", strings::getbit),
    command!("bitcount", -2, ["readonly"], KEY1, "bitmap", "2.6.0", "Counts the number of set bits (population counting) in a string.", bits::bitcount),
    command!("bitpos", -3, ["readonly"], KEY1, "bitmap", "2.8.7", "Finds the first set (1) or clear (0) bit in a string.", bits::bitpos),
    command!("bitop", -4, ["write", "denyoom"], (2, -1, 1), "bitmap", "2.6.0", "Performs bitwise operations on multiple strings, and stores the result.", bits::bitop),
    command!("bitfield", -2, ["write", "denyoom"], KEY1, "bitmap", "3.2.0", "Performs arbitrary bitfield integer operations on strings.", bits::bitfield),
    command!("bitfield_ro", -2, ["readonly", "fast"], KEY1, "bitmap", "6.0.0", "Performs arbitrary read-only bitfield integer operations on strings.", bits::bitfield_ro),
    command!("pfadd", -2, ["write", "denyoom", "fast"], KEY1, "hyperloglog", "2.8.9", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.", hll::pfadd),
    command!("pfcount", -2, ["readonly", "may-replicate"], (1, -1, 1), "hyperloglog", "2.8.9", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).", hll::pfcount),
    command!("pfmerge", -2, ["write", "denyoom"], (1, -1, 1), "hyperloglog", "2.8.9", "Merges one or more HyperLogLog values into a single key.", hll::pfmerge),
    command!("setrange", 4, ["write", "denyoom"], KEY1, "string", "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", strings::setrange),
    command!("incr", 2, ["write", "denyoom", "fast"], KEY1, "string", "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", strings::incr),
    command!("decr", 2, ["write", "denyoom", "fast"], KEY1, "string", "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", strings::decr),
    command!("incrby", 3, ["write", "denyoom", "fast"], KEY1, "string", "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", strings::incrby),
    command!("decrby", 3, ["write", "denyoom", "fast"], KEY1, "string", "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", strings::decrby),
    command!("incrbyfloat", 3, ["write", "denyoom", "fast"], KEY1, "string", "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", strings::incrbyfloat),
    // hashes
    command!("hset", -4, ["write", "denyoom", "fast"], KEY1, "hash", "2.0.0", "Creates or modifies the value of a field in a hash.", hashes::hset),
    command!("hsetnx", 4, ["write", "denyoom", "fast"], KEY1, "hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", hashes::hsetnx),
    command!("hmset", -4, ["write", "denyoom", "fast"], KEY1, "hash", "2.0.0", "Sets the values of multiple fields.", hashes::hmset),
    command!("hget", 3, ["readonly", "fast"], KEY1, "hash", "2.0.0", "Returns the value of a field in a hash.", hashes::hget),
    command!("hmget", -3, ["readonly", "fast"], KEY1, "hash", "2.0.0", "Returns the values of all fields in a hash.", hashes::hmget),
    command!("hdel", -3, ["write", "fast"], KEY1, "hash", "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", hashes::hdel),
    command!("hlen", 2, ["readonly", "fast"], KEY1, "hash", "2.0.0", "Returns the number of fields in a hash.", hashes::hlen),
    command!("hstrlen", 3, ["readonly", "fast"], KEY1, "hash", "3.2.0", "Returns the length of the value of a field.", hashes::hstrlen),
    command!("hexists", 3, ["readonly", "fast"], KEY1, "hash", "2.0.0", "Determines whether a field exists in a hash.", hashes::hexists),
    command!("hkeys", 2, ["readonly"], KEY1, "hash", "2.0.0", "Returns all fields in a hash.", hashes::hkeys),
    command!("hvals", 2, ["readonly"], KEY1, "hash", "2.0.0", "Returns all values in a hash.", hashes::hvals),
    command!("hgetall", 2, ["readonly"], KEY1, "hash", "2.0.0", "Returns all fields and values in a hash.", hashes::hgetall),
    command!("hincrby", 4, ["write", "denyoom", "fast"], KEY1, "hash", "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", hashes::hincrby),
    command!("hincrbyfloat", 4, ["write", "denyoom", "fast"], KEY1, "hash", "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", hashes::hincrbyfloat),
    command!("hrandfield", -2, ["readonly"], KEY1, "hash", "6.2.0", "Returns one or more random fields from a hash.", hashes::hrandfield),
    command!("hscan", -3, ["readonly"], KEY1, "hash", "2.8.0", "Iterates over fields and values of a hash.", hashes::hscan),
    // lists
    command!("lpush", -3, ["write", "denyoom", "fast"], KEY1, "list", "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", lists::lpush),
    command!("rpush", -3, ["write", "denyoom", "fast"], KEY1, "list", "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.", lists::rpush),
    command!("lpushx", -3, ["write", "denyoom", "fast"], KEY1, "list", "2.2.0", "Prepends one or more elements to a list only when the list exists.", lists::lpushx),
    command!("rpushx", -3, ["write", "denyoom", "fast"], KEY1, "list", "2.2.0", "Appends an element to a list only when the list exists.", lists::rpushx),
    command!("lpop", -2, ["write", "fast"], KEY1, "list", "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", lists::lpop),
    command!("rpop", -2, ["write", "fast"], KEY1, "list", "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", lists::rpop),
    command!("llen", 2, ["readonly", "fast"], KEY1, "list", "1.0.0", "Returns the length of a list.", lists::llen),
    command!("lindex", 3, ["readonly"], KEY1, "list", "1.0.0", "Returns an element from a list by its index.", lists::lindex),
    command!("lrange", 4, ["readonly"], KEY1, "list", "1.0.0", "Returns a range of elements from a list.", lists::lrange),
    command!("lset", 4, ["write", "denyoom"], KEY1, "list", "1.0.0", "Sets the value of an element in a list by its index.", lists::lset),
    command!("ltrim", 4, ["write"], KEY1, "list", "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", lists::ltrim),
    command!("lrem", 4, ["write"], KEY1, "list", "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.", lists::lrem),
    command!("linsert", 5, ["write", "denyoom"], KEY1, "list", "2.2.0", "Inserts an element before or after another element in a list.", lists::linsert),
    command!("lpos", -3, ["readonly"], KEY1, "list", "6.0.6", "Returns the index of matching elements in a list.", lists::lpos),
    command!("lmove", 5, ["write", "denyoom"], (1, 2, 1), "list", "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", lists::lmove),
    command!("rpoplpush", 3, ["write", "denyoom"], (1, 2, 1), "list", "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", lists::rpoplpush),
    command!("lmpop", -4, ["write", "movablekeys"], NOKEYS, "list", "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", lists::lmpop),
    command!("blpop", -3, ["write", "blocking"], (1, -2, 1), "list", "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", lists::blpop),
    command!("brpop", -3, ["write", "blocking"], (1, -2, 1), "list", "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", lists::brpop),
    command!("brpoplpush", 4, ["write", "denyoom", "blocking"], (1, 2, 1), "list", "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", lists::brpoplpush),
    command!("blmove", 6, ["write", "denyoom", "blocking"], (1, 2, 1), "list", "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", lists::blmove),
    command!("blmpop", -5, ["write", "blocking", "movablekeys"], NOKEYS, "list", "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", lists::blmpop),
    // sets
    command!("sadd", -3, ["write", "denyoom", "fast"], KEY1, "set", "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.", sets::sadd),
    command!("srem", -3, ["write", "fast"], KEY1, "set", "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.", sets::srem),
    command!("smembers", 2, ["readonly"], KEY1, "set", "1.0.0", "Returns all members of a set.", sets::smembers),
    command!("sismember", 3, ["readonly", "fast"], KEY1, "set", "1.0.0", "Determines whether a member belongs to a set.", sets::sismember),
    command!("smismember", -3, ["readonly", "fast"], KEY1, "set", "6.2.0", "Determines whether multiple members belong to a set.", sets::smismember),
    command!("scard", 2, ["readonly", "fast"], KEY1, "set", "1.0.0", "Returns the number of members in a set.", sets::scard),
    command!("spop", -2, ["write", "fast"], KEY1, "set", "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", sets::spop),
    command!("srandmember", -2, ["readonly"], KEY1, "set", "1.0.0", "Get one or multiple random members from a set", sets::srandmember),
    command!("smove", 4, ["write", "fast"], (1, 2, 1), "set", "1.0.0", "Moves a member from one set to another.", sets::smove),
    command!("sinter", -2, ["readonly"], ALLKEYS, "set", "1.0.0", "Returns the intersect of multiple sets.", sets::sinter),
    command!("sunion", -2, ["readonly"], ALLKEYS, "set", "1.0.0", "Returns the union of multiple sets.", sets::sunion),
    command!("sdiff", -2, ["readonly"], ALLKEYS, "set", "1.0.0", "Returns the difference of multiple sets.", sets::sdiff),
    command!("sinterstore", -3, ["write", "denyoom"], ALLKEYS, "set", "1.0.0", "Stores the intersect of multiple sets in a key.", sets::sinterstore),
    command!("sunionstore", -3, ["write", "denyoom"], ALLKEYS, "set", "1.0.0", "Stores the union of multiple sets in a key.", sets::sunionstore),
    command!("sdiffstore", -3, ["write", "denyoom"], ALLKEYS, "set", "1.0.0", "Stores the difference of multiple sets in a key.", sets::sdiffstore),
    command!("sintercard", -3, ["readonly", "movablekeys"], NOKEYS, "set", "7.0.0", "Returns the number of members of the intersect of multiple sets.", sets::sintercard),
    command!("sscan", -3, ["readonly"], KEY1, "set", "2.0.0", "Iterates over members of a set.", sets::sscan),
    // sorted sets
    command!("zadd", -4, ["write", "denyoom", "fast"], KEY1, "sorted-set", "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", zsets::zadd),
    command!("zincrby", 4, ["write", "denyoom", "fast"], KEY1, "sorted-set", "1.2.0", "Increments the score of a member in a sorted set.", zsets::zincrby),
    command!("zrem", -3, ["write", "fast"], KEY1, "sorted-set", "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", zsets::zrem),
    command!("zscore", 3, ["readonly", "fast"], KEY1, "sorted-set", "1.2.0", "Returns the score of a member in a sorted set.", zsets::zscore),
    command!("zmscore", -3, ["readonly", "fast"], KEY1, "sorted-set", "6.2.0", "Returns the score of one or more members in a sorted set.", zsets::zmscore),
    command!("zcard", 2, ["readonly", "fast"], KEY1, "sorted-set", "1.2.0", "Returns the number of members in a sorted set.", zsets::zcard),
    command!("zcount", 4, ["readonly", "fast"], KEY1, "sorted-set", "2.0.0", "Returns the count of members in a sorted set that have scores within a range.", zranges::zcount),
    command!("zlexcount", 4, ["readonly", "fast"], KEY1, "sorted-set", "2.8.9", "Returns the number of members in a sorted set within a lexicographical range.", zranges::zlexcount),
    command!("zrange", -4, ["readonly"], KEY1, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes.", zranges::zrange),
    command!("zrangestore", -5, ["write", "denyoom"], (1, 2, 1), "sorted-set", "6.2.0", "Stores a range of members from sorted set in a key.", zranges::zrangestore),
    command!("zrevrange", -4, ["readonly"], KEY1, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order.", zranges::zrevrange),
    command!("zrangebyscore", -4, ["readonly"], KEY1, "sorted-set", "1.0.5", "Returns members in a sorted set within a range of scores.", zranges::zrangebyscore),
    command!("zrevrangebyscore", -4, ["readonly"], KEY1, "sorted-set", "2.2.0", "Returns members in a sorted set within a range of scores in reverse order.", zranges::zrevrangebyscore),
    command!("zrangebylex", -4, ["readonly"], KEY1, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range.", zranges::zrangebylex),
    command!("zrevrangebylex", -4, ["readonly"], KEY1, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order.", zranges::zrevrangebylex),
    command!("zrank", -3, ["readonly", "fast"], KEY1, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.", zsets::zrank),
    command!("zrevrank", -3, ["readonly", "fast"], KEY1, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores.", zsets::zrevrank),
    command!("zremrangebyrank", 4, ["write"], KEY1, "sorted-set", "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", zranges::zremrangebyrank),
    command!("zremrangebyscore", 4, ["write"], KEY1, "sorted-set", "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", zranges::zremrangebyscore),
    command!("zremrangebylex", 4, ["write"], KEY1, "sorted-set", "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", zranges::zremrangebylex),
    command!("zpopmin", -2, ["write", "fast"], KEY1, "sorted-set", "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", zsets::zpopmin),
    command!("zpopmax", -2, ["write", "fast"], KEY1, "sorted-set", "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", zsets::zpopmax),
    command!("zmpop", -4, ["write", "movablekeys"], NOKEYS, "sorted-set", "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", zsets::zmpop),
    command!("bzmpop", -5, ["write", "blocking", "movablekeys"], NOKEYS, "sorted-set", "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", zsets::bzmpop),
    command!("bzpopmin", -3, ["write", "blocking", "fast"], (1, -2, 1), "sorted-set", "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", zsets::bzpopmin),
    command!("bzpopmax", -3, ["write", "blocking", "fast"], (1, -2, 1), "sorted-set", "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise. Deletes the sorted set if the last element was popped.", zsets::bzpopmax),
    command!("zunionstore", -4, ["write", "denyoom", "movablekeys"], KEY1, "sorted-set", "2.0.0", "Stores the union of multiple sorted sets in a key.", zsets::zunionstore),
    command!("zinterstore", -4, ["write", "denyoom", "movablekeys"], KEY1, "sorted-set", "2.0.0", "Stores the intersect of multiple sorted sets in a key.", zsets::zinterstore),
    command!("zdiffstore", -4, ["write", "denyoom", "movablekeys"], KEY1, "sorted-set", "6.2.0", "Stores the difference of multiple sorted sets in a key.", zsets::zdiffstore),
    command!("zunion", -3, ["readonly", "movablekeys"], NOKEYS, "sorted-set", "6.2.0", "Returns the union of multiple sorted sets.", zsets::zunion),
    command!("zinter", -3, ["readonly", "movablekeys"], NOKEYS, "sorted-set", "6.2.0", "Returns the intersect of multiple sorted sets.", zsets::zinter),
    command!("zdiff", -3, ["readonly", "movablekeys"], NOKEYS, "sorted-set", "6.2.0", "Returns the difference between multiple sorted sets.", zsets::zdiff),
    command!("zintercard", -3, ["readonly", "movablekeys"], NOKEYS, "sorted-set", "7.0.0", "Returns the number of members of the intersect of multiple sorted sets.", zsets::zintercard),
    command!("zrandmember", -2, ["readonly"], KEY1, "sorted-set", "6.2.0", "Returns one or more random members from a sorted set.", zsets::zrandmember),
    command!("zscan", -3, ["readonly"], KEY1, "sorted-set", "2.8.0", "Iterates over members and scores of a sorted set.", zsets::zscan),
    command!("geoadd", -5, ["write", "denyoom"], KEY1, "geo", "3.2.0", "Adds one or more members to a geospatial index.", geo::geoadd),
    command!("geodist", -4, ["readonly"], KEY1, "geo", "3.2.0", "Returns the distance between two members of a geospatial index.", geo::geodist),
    command!("geohash", -2, ["readonly"], KEY1, "geo", "3.2.0", "Returns members from a geospatial index as geohash strings.", geo::geohash),
    command!("geopos", -2, ["readonly"], KEY1, "geo", "3.2.0", "Returns the longitude and latitude of members from a geospatial index.", geo::geopos),
    command!("georadius", -6, ["write", "denyoom", "movablekeys"], KEY1, "geo", "3.2.0", "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.", geo::georadius),
    command!("georadius_ro", -6, ["readonly"], KEY1, "geo", "3.2.10", "Returns members from a geospatial index that are within a distance from a coordinate.", geo::georadius_ro),
    command!("georadiusbymember", -5, ["write", "denyoom", "movablekeys"], KEY1, "geo", "3.2.0", "Queries a geospatial index for members within a distance from a member, optionally stores the result.", geo::georadiusbymember),
    command!("georadiusbymember_ro", -5, ["readonly"], KEY1, "geo", "3.2.10", "Returns members from a geospatial index that are within a distance from a member.", geo::georadiusbymember_ro),
    command!("geosearch", -7, ["readonly"], KEY1, "geo", "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle.", geo::geosearch),
    command!("geosearchstore", -8, ["write", "denyoom"], (1, 2, 1), "geo", "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.", geo::geosearchstore),
    // keys and expiry
    command!("del", -2, ["write"], ALLKEYS, "generic", "1.0.0", "Deletes one or more keys.", keys::del),
    command!("unlink", -2, ["write", "fast"], ALLKEYS, "generic", "4.0.0", "Asynchronously deletes one or more keys.", keys::del),
    command!("exists", -2, ["readonly", "fast"], ALLKEYS, "generic", "1.0.0", "Determines whether one or more keys exist.", keys::exists),
    command!("touch", -2, ["readonly", "fast"], ALLKEYS, "generic", "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", keys::exists),
    command!("type", 2, ["readonly", "fast"], KEY1, "generic", "1.0.0", "Determines the type of value stored at a key.", keys::type_),
    command!("rename", 3, ["write"], (1, 2, 1), "generic", "1.0.0", "Renames a key and overwrites the destination.", keys::rename),
    command!("renamenx", 3, ["write", "fast"], (1, 2, 1), "generic", "1.0.0", "Renames a key only when the target key name doesn't exist.", keys::renamenx),
    command!("copy", -3, ["write", "denyoom"], (1, 2, 1), "generic", "6.2.0", "Copies the value of a key to a new key.", keys::copy),
    command!("move", 3, ["write", "fast"], KEY1, "generic", "1.0.0", "Moves a key to another database.", keys::move_),
    command!("keys", 2, ["readonly"], NOKEYS, "generic", "1.0.0", "Returns all key names that match a pattern.", keys::keys),
    command!("scan", -2, ["readonly"], NOKEYS, "generic", "2.8.0", "Iterates over the key names in the database.", keys::scan),
    command!("randomkey", 1, ["readonly"], NOKEYS, "generic", "1.0.0", "Returns a random key name from the database.", keys::randomkey),
    command!("dbsize", 1, ["readonly", "fast"], NOKEYS, "server", "1.0.0", "Returns the number of keys in the database.", keys::dbsize),
    command!("flushdb", -1, ["write"], NOKEYS, "server", "1.0.0", "Remove all keys from the current database.", keys::flushdb),
    command!("flushall", -1, ["write"], NOKEYS, "server", "1.0.0", "Removes all keys from all databases.", keys::flushall),
    command!("select", 2, ["loading", "stale", "fast"], NOKEYS, "connection", "1.0.0", "Changes the selected database.", keys::select),
    command!("swapdb", 3, ["write", "fast"], NOKEYS, "server", "4.0.0", "Swaps two Redis databases.", keys::swapdb),
    command!("expire", -3, ["write", "fast"], KEY1, "generic", "1.0.0", "Sets the expiration time of a key in seconds.", keys::expire),
    command!("pexpire", -3, ["write", "fast"], KEY1, "generic", "2.6.0", "Sets the expiration time of a key in milliseconds.", keys::pexpire),
    command!("expireat", -3, ["write", "fast"], KEY1, "generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", keys::expireat),
    command!("pexpireat", -3, ["write", "fast"], KEY1, "generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", keys::pexpireat),
    command!("ttl", 2, ["readonly", "fast"], KEY1, "generic", "1.0.0", "Returns the expiration time in seconds of a key.", keys::ttl),
    command!("pttl", 2, ["readonly", "fast"], KEY1, "generic", "2.6.0", "Returns the expiration time in milliseconds of a key.", keys::pttl),
    command!("expiretime", 2, ["readonly", "fast"], KEY1, "generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", keys::expiretime),
    command!("pexpiretime", 2, ["readonly", "fast"], KEY1, "generic", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", keys::pexpiretime),
    command!("persist", 2, ["write", "fast"], KEY1, "generic", "2.2.0", "Removes the expiration time of a key.", keys::persist),
    // connection and server
    // pub/sub
    command!("subscribe", -2, ["pubsub", "noscript", "loading", "stale"], NOKEYS, "pubsub", "2.0.0", "Listens for messages published to channels.", pubsub::subscribe),
    command!("unsubscribe", -1, ["pubsub", "noscript", "loading", "stale"], NOKEYS, "pubsub", "2.0.0", "Stops listening to messages posted to channels.", pubsub::unsubscribe),
    command!("psubscribe", -2, ["pubsub", "noscript", "loading", "stale"], NOKEYS, "pubsub", "2.0.0", "Listens for messages published to channels that match one or more patterns.", pubsub::psubscribe),
    command!("punsubscribe", -1, ["pubsub", "noscript", "loading", "stale"], NOKEYS, "pubsub", "2.0.0", "Stops listening to messages published to channels that match one or more patterns.", pubsub::punsubscribe),
    command!("ssubscribe", -2, ["pubsub", "noscript", "loading", "stale"], ALLKEYS, "pubsub", "7.0.0", "Listens for messages published to shard channels.", pubsub::ssubscribe),
    command!("sunsubscribe", -1, ["pubsub", "noscript", "loading", "stale"], ALLKEYS, "pubsub", "7.0.0", "Stops listening to messages posted to shard channels.", pubsub::sunsubscribe),
    command!("publish", 3, ["pubsub", "loading", "stale", "fast", "may-replicate"], NOKEYS, "pubsub", "2.0.0", "Posts a message to a channel.", pubsub::publish),
    command!("spublish", 3, ["pubsub", "loading", "stale", "fast", "may-replicate"], KEY1, "pubsub", "7.0.0", "Post a message to a shard channel", pubsub::spublish),
    command!("pubsub", -2, [], NOKEYS, "pubsub", "2.8.0", "A container for Pub/Sub commands.", pubsub::pubsub),
    command!("monitor", 1, ["admin", "noscript", "loading", "stale"], NOKEYS, "server", "1.0.0", "Listens for all requests received by the server in real-time.", pubsub::monitor),
    command!("ping", -1, ["fast"], NOKEYS, "connection", "1.0.0", "Returns the server's liveliness response.", connection::ping),
    command!("echo", 2, ["fast"], NOKEYS, "connection", "1.0.0", "Returns the given string.", connection::echo),
    command!("quit", -1, ["no-auth", "fast"], NOKEYS, "connection", "1.0.0", "Closes the connection.", connection::quit),
    command!("reset", 1, ["no-auth", "fast"], NOKEYS, "connection", "6.2.0", "Resets the connection.", connection::reset),
    command!("hello", -1, ["no-auth", "fast"], NOKEYS, "connection", "6.0.0", "Handshakes with the Redis server.", connection::hello),
    command!("auth", -2, ["no-auth", "fast"], NOKEYS, "connection", "1.0.0", "Authenticates the connection.", connection::auth),
    command!("client", -2, [], NOKEYS, "connection", "2.4.0", "A container for client connection commands.", client::client),
    command!("command", -1, ["loading", "stale"], NOKEYS, "server", "2.8.13", "Returns detailed information about all commands.", introspection::command),
    command!("info", -1, ["loading", "stale"], NOKEYS, "server", "1.0.0", "Returns information and statistics about the server.", info::info),
    command!("config", -2, [], NOKEYS, "server", "2.0.0", "A container for server configuration commands.", config_cmd::config),
    command!("latency", -2, [], NOKEYS, "server", "2.8.13", "A container for latency diagnostics commands.", latency::latency),
    command!("acl", -2, [], NOKEYS, "server", "6.0.0", "A container for Access List Control commands.", acl::acl),
    command!("debug", -2, ["admin", "noscript", "loading", "stale"], NOKEYS, "server", "1.0.0", "A container for debugging commands.", debug::debug),
    // Redis's CLUSTER RESET is `noscript`; the container carries the flag for all of them,
    // which without cluster support all answer the same error anyway.
    command!("cluster", -2, ["noscript"], NOKEYS, "cluster", "3.0.0", "A container for Redis Cluster commands.", introspection::cluster),
    command!("sort", -2, ["write", "denyoom", "movablekeys"], KEY1, "generic", "1.0.0", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", sort::sort),
    command!("sort_ro", -2, ["readonly", "movablekeys"], KEY1, "generic", "7.0.0", "Returns the sorted elements of a list, a set, or a sorted set.", sort::sort_ro),
    command!("dump", 2, ["readonly"], KEY1, "generic", "2.6.0", "Returns a serialized representation of the value stored at a key.", dump::dump),
    command!("restore", -4, ["write", "denyoom"], KEY1, "generic", "2.6.0", "Creates a key from the serialized representation of a value.", dump::restore),
    command!("migrate", -6, ["write", "movablekeys"], (3, 3, 1), "generic", "2.6.0", "Atomically transfers a key from one Redis instance to another.", migrate::migrate),
    command!("time", 1, ["loading", "stale", "fast"], NOKEYS, "server", "2.6.0", "Returns the server time.", introspection::time),
    command!("slowlog", -2, [], NOKEYS, "server", "2.2.12", "A container for slow log commands.", introspection::slowlog),
    command!("object", -2, [], NOKEYS, "generic", "2.2.3", "A container for object introspection commands.", introspection::object),
    command!("memory", -2, [], NOKEYS, "server", "4.0.0", "A container for memory diagnostics commands.", introspection::memory),
    command!("lastsave", 1, ["loading", "stale", "fast"], NOKEYS, "server", "1.0.0", "Returns the Unix timestamp of the last successful save to disk.", persistence::lastsave),
    command!("save", 1, ["admin", "noscript"], NOKEYS, "server", "1.0.0", "Synchronously saves the database(s) to disk.", persistence::save),
    command!("bgsave", -1, ["admin", "noscript"], NOKEYS, "server", "1.0.0", "Asynchronously saves the database(s) to disk.", persistence::bgsave),
    command!("shutdown", -1, ["admin", "noscript", "loading", "stale"], NOKEYS, "server", "1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.", persistence::shutdown),
];

/// The command named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    static INDEX: OnceLock<HashMap<&'static [u8], &'static Command>> = OnceLock::new();
    let index = INDEX.get_or_init(|| COMMANDS.iter().map(|c| (c.name.as_bytes(), c)).collect());
    if !name.iter().any(u8::is_ascii_uppercase) {
        return index.get(name).copied();
    }
    // Clients send names in capitals (`SET`): lowercase on the stack, no allocation.
    let mut lower = [0u8; 32];
    let lower = lower.get_mut(..name.len())?;
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    index.get(&*lower).copied()
}

/// Commands that can run long (they walk a whole database or flush memtables): the
/// connection hands them to a blocking thread instead of running them on its I/O task.
const LONG_RUNNING: &[&str] = &[
    "keys", "scan", "flushdb", "flushall", "save", "bgsave", "sort", "sort_ro", "migrate", "debug",
];

/// Whether `cmd` may block its thread for long now: a long-running command, a script that
/// ran long last time, a transaction holding one of those, or a write while the engine
/// stalls writes (until compaction catches up). The connection then hands its thread's other
/// connections to another thread first (`block_in_place`), a hand-off that would cost a
/// short script more than running it.
fn may_block(server: &Server, session: &Session, cmd: &Command, args: &[Vec<u8>]) -> bool {
    if cmd.flags.contains(&"write") && server.store.engine().is_write_stalled() {
        return true;
    }
    let slow = |name: &str, args: &[Vec<u8>]| match name {
        "eval" | "eval_ro" => args
            .first()
            .is_none_or(|body| server.scripting.ran_long(&crate::script::sha1_hex(body))),
        "evalsha" | "evalsha_ro" => args.first().is_none_or(|sha| {
            server
                .scripting
                .ran_long(&String::from_utf8_lossy(sha).to_ascii_lowercase())
        }),
        "fcall" | "fcall_ro" => args
            .first()
            .is_none_or(|f| server.scripting.function_ran_long(f)),
        name => LONG_RUNNING.contains(&name),
    };
    if cmd.name == "exec" {
        return session.multi.as_ref().is_some_and(|m| {
            m.queued.iter().any(|q| {
                let name = q.first().and_then(|n| lookup(n)).map_or("", |c| c.name);
                slow(name, &q[1..])
            })
        });
    }
    slow(cmd.name, args)
}

/// Whether running `argv` now would wait in the engine: a write while the engine stalls
/// writes. The connection first waits for the stall to clear without holding a thread (see
/// `connection.rs`).
pub fn waits_for_write_stall(server: &Server, argv: &[Vec<u8>]) -> bool {
    // The stall flag first: one atomic load per command, and the command table is looked up
    // only while writes are stalled.
    server.store.engine().is_write_stalled()
        && argv
            .first()
            .and_then(|name| lookup(name))
            .is_some_and(|cmd| cmd.flags.contains(&"write"))
}

/// Whether `argv` must wait for a `CLIENT PAUSE` to end before it runs: every command under
/// a pause of all, the ones that may write (or propagate: PUBLISH, PFCOUNT, scripts not
/// declared `no-writes`) under a pause of writes. A command that would fail its arity check
/// answers at once, and one queued in MULTI is only queued (its EXEC waits instead).
pub fn pause_applies(server: &Server, session: &Session, argv: &[Vec<u8>]) -> bool {
    let Some((_, all)) = server.pause() else {
        return false;
    };
    let Some(cmd) = argv.first().and_then(|n| lookup(n)) else {
        return false;
    };
    if !arity_ok(cmd.arity, argv.len()) {
        return false;
    }
    if session.multi.is_some() && !multi::RUN_IN_MULTI.contains(&cmd.name) {
        return false;
    }
    if all {
        return true;
    }
    if cmd.name == "exec" {
        return session
            .multi
            .as_ref()
            .is_some_and(|m| m.queued.iter().any(|q| may_replicate(server, q)));
    }
    may_replicate(server, argv)
}

/// Whether a command may write or propagate (Redis's `may-replicate`).
fn may_replicate(server: &Server, argv: &[Vec<u8>]) -> bool {
    let Some(cmd) = argv.first().and_then(|n| lookup(n)) else {
        return false;
    };
    let read_only = |f: Option<crate::script::ScriptFlags>| f.is_some_and(|f| f.read_only);
    match cmd.name {
        "eval" => !argv
            .get(1)
            .is_some_and(|b| crate::script::Scripting::body_flags(b).read_only),
        "evalsha" => !read_only(argv.get(1).and_then(|sha| {
            server
                .scripting
                .script_flags(&String::from_utf8_lossy(sha).to_ascii_lowercase())
        })),
        "fcall" => !read_only(argv.get(1).and_then(|f| server.scripting.function_flags(f))),
        "eval_ro" | "evalsha_ro" | "fcall_ro" => false,
        _ => cmd.flags.contains(&"write") || cmd.flags.contains(&"may-replicate"),
    }
}

/// Adds an ACL denial to ACL LOG (`reason`: command, key, channel or auth).
pub(crate) fn log_acl_denial(
    server: &Server,
    session: &Session,
    reason: &'static str,
    object: String,
    username: &str,
) {
    let context = if session.in_script {
        "lua"
    } else if session.multi.is_some() {
        "multi"
    } else {
        "toplevel"
    };
    let max = server.config.get_i64("acllog-max-len").max(0) as usize;
    server.acl.log_denial(
        crate::acl::LogEntry {
            reason,
            context,
            object,
            username: username.to_string(),
            client_info: session.client.info_line(),
            count: 0,
            id: 0,
            created: 0,
            updated: 0,
        },
        max,
    );
}

/// Why the session's ACL user may not run `cmd` with `args`: the denied command, key or
/// channel (`Err(None)` when its user was deleted: the connection closes, as in Redis).
pub(crate) enum AclDenied {
    /// The command (its full name).
    Command(String),
    /// A key.
    Key(Vec<u8>),
    /// A channel (or pattern).
    Channel(Vec<u8>),
    /// The user no longer exists.
    Gone,
}

/// Checks the session's ACL user against `cmd` (and its keys and channels), reloading the
/// user first if the ACL changed.
pub(crate) fn acl_check(
    server: &Server,
    session: &mut Session,
    cmd: &Command,
    args: &[Vec<u8>],
) -> Result<(), AclDenied> {
    let version = server.acl.version();
    if session.acl_version != version {
        let Some(user) = server.acl.user(&session.user_name) else {
            return Err(AclDenied::Gone);
        };
        session.unrestricted = user.unrestricted();
        session.user = Some(user);
        session.acl_version = version;
    }
    if session.unrestricted {
        return Ok(());
    }
    let Some(user) = &session.user else {
        return Err(AclDenied::Gone);
    };
    let sub = args.first().filter(|_| CONTAINERS.contains(&cmd.name));
    if !user.may_run(cmd, sub.map(Vec::as_slice)) {
        return Err(AclDenied::Command(full_name(cmd, args)));
    }
    let access = if cmd.flags.contains(&"write") { 2 } else { 1 };
    for k in command_keys(cmd, args) {
        if !user.may_access_key(k, access) {
            return Err(AclDenied::Key(k.clone()));
        }
    }
    let channels: &[Vec<u8>] = match cmd.name {
        "publish" | "spublish" => &args[..1.min(args.len())],
        "subscribe" | "ssubscribe" | "psubscribe" => args,
        _ => &[],
    };
    for c in channels {
        if !user.may_use_channel(c, cmd.name == "psubscribe") {
            return Err(AclDenied::Channel(c.clone()));
        }
    }
    Ok(())
}

/// Commands whose keys follow a `numkeys` argument (Redis's movable keys): the argument's
/// place (0: the first after the name) and how many keys come before it (a destination).
fn numkeys_spec(name: &str) -> Option<(usize, usize)> {
    Some(match name {
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => (1, 0),
        "blmpop" | "bzmpop" => (1, 0),
        "lmpop" | "sintercard" | "zmpop" | "zunion" | "zinter" | "zdiff" | "zintercard" => (0, 0),
        "zunionstore" | "zinterstore" | "zdiffstore" => (1, 1),
        _ => return None,
    })
}

/// The key arguments of `cmd`: by its `numkeys` argument for the commands that have one,
/// else by its key spec (first, last, step; positions count the name). A bad `numkeys`
/// gives no keys.
pub(super) fn command_keys<'a>(cmd: &Command, args: &'a [Vec<u8>]) -> Vec<&'a Vec<u8>> {
    if cmd.name == "sort" {
        return args
            .first()
            .into_iter()
            .chain(sort::store_target(args))
            .collect();
    }
    // Containers whose subcommands take a key: `MEMORY USAGE key`, `OBJECT ENCODING key`.
    if matches!(cmd.name, "memory" | "object") {
        let sub = args.first().map(|s| s.to_ascii_lowercase());
        let keyed = matches!(
            sub.as_deref(),
            Some(b"usage" | b"encoding" | b"refcount" | b"idletime" | b"freq")
        );
        return if keyed {
            args.get(1).into_iter().collect()
        } else {
            Vec::new()
        };
    }
    if cmd.name == "migrate" {
        // `MIGRATE host port key ...`, or an empty key and `KEYS key ...` at the end.
        return match args.get(2) {
            Some(k) if !k.is_empty() => vec![k],
            _ => args
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"keys"))
                .map(|i| args[i + 1..].iter().collect())
                .unwrap_or_default(),
        };
    }
    if let Some((at, before)) = numkeys_spec(cmd.name) {
        let n = args
            .get(at)
            .and_then(|n| number::parse_i64(n))
            .and_then(|n| usize::try_from(n).ok());
        return match n {
            Some(n) if at + 1 + n <= args.len() => args[..before.min(at)]
                .iter()
                .chain(&args[at + 1..at + 1 + n])
                .collect(),
            _ => Vec::new(),
        };
    }
    let argc = args.len() as i32 + 1;
    let last = if cmd.last_key < 0 {
        argc + cmd.last_key
    } else {
        cmd.last_key.min(argc - 1)
    };
    let (first, step) = (cmd.first_key, cmd.step.max(1));
    if first <= 0 {
        return Vec::new();
    }
    (first..=last)
        .step_by(step as usize)
        .filter_map(|i| args.get((i - 1) as usize))
        .collect()
}

/// Arity as Redis declares it.
fn arity_ok(arity: i32, argc: usize) -> bool {
    if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= arity.unsigned_abs() as usize
    }
}

fn unknown(name: &[u8], args: &[Vec<u8>]) -> Reply {
    let mut msg = format!(
        "ERR unknown command '{}', with args beginning with: ",
        String::from_utf8_lossy(name)
    );
    for a in args.iter().take(16) {
        msg.push_str(&format!("'{}' ", String::from_utf8_lossy(a)));
    }
    Reply::error(msg)
}

/// Where `cmd` (an entry of [`COMMANDS`], as [`lookup`] returns them) sits in the table.
pub(crate) fn command_index(cmd: &'static Command) -> usize {
    let offset = (cmd as *const Command as usize).wrapping_sub(COMMANDS.as_ptr() as usize);
    offset / std::mem::size_of::<Command>().max(1)
}

/// `cmd`'s name with its subcommand for containers (`client|list`), as Redis 7 names it.
fn full_name(cmd: &Command, args: &[Vec<u8>]) -> String {
    match args.first().filter(|_| CONTAINERS.contains(&cmd.name)) {
        Some(sub) => format!(
            "{}|{}",
            cmd.name,
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        ),
        None => cmd.name.to_string(),
    }
}

/// Whether MONITOR shows `cmd`: not EXEC (shown after its commands), nor the administrative
/// commands Redis keeps from monitors.
fn shown_to_monitors(cmd: &Command, args: &[Vec<u8>]) -> bool {
    let admin = match cmd.name {
        "exec" | "monitor" | "config" | "debug" | "shutdown" | "save" | "bgsave"
        | "bgrewriteaof" | "slowlog" | "latency" | "replicaof" | "slaveof" | "cluster" | "acl"
        | "module" | "failover" | "sync" | "psync" | "replconf" => true,
        "client" => args.first().is_some_and(|sub| {
            let sub = sub.to_ascii_lowercase();
            matches!(
                sub.as_slice(),
                b"kill" | b"list" | b"pause" | b"unpause" | b"no-evict"
            )
        }),
        _ => false,
    };
    !admin
}

/// The reply of `cmd`'s handler, an error reply or not.
fn run(cmd: &Command, server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> Reply {
    (cmd.handler)(server, session, args).unwrap_or_else(|error| error)
}

/// Runs one command (`argv[0]` is its name) on this thread and returns its reply.
///
/// A blocking command (BLPOP, ...) that finds no data returns [`Reply::NoReply`] and leaves
/// a [`Blocked`](crate::blocking::Blocked) in `session.blocked`: the caller waits for it (the
/// connection does, see `connection.rs`) or drops it to give up.
pub fn dispatch(server: &Server, session: &mut Session, argv: &mut [Vec<u8>]) -> Reply {
    dispatch_in(server, session, argv, |run| run())
}

/// Runs one command and returns its reply, passing a command that may block for long (see
/// [`LONG_RUNNING`]; writes during a write stall) to `blocking`, which runs it where blocking
/// is harmless (the server uses `tokio::task::block_in_place`). Everything else runs inline:
/// an engine read or write takes microseconds, less than handing the thread over would.
pub fn dispatch_in<B>(
    server: &Server,
    session: &mut Session,
    argv: &mut [Vec<u8>],
    blocking: B,
) -> Reply
where
    B: FnOnce(&mut dyn FnMut() -> Reply) -> Reply,
{
    // EXEC reaches monitors after the commands it ran, as in Redis (and an aborted one too).
    let exec_shown = server.pubsub.monitoring()
        && session.multi.is_some()
        && argv
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case(b"exec"));
    if server.tracking.active() {
        server.tracking.enforce_limit(server);
    }
    let reply = dispatch_uncounted(server, session, argv, blocking);
    // Keys the command found expired and removed: their `expired` events (no lock held now).
    if server.store.expired_pending() {
        server.store.report_expired();
    }
    if server.tracking.active() {
        server.tracking.flush_bcast(server);
    }
    // CLIENT CACHING yes|no holds for the one command after it (a whole transaction).
    if session.tracking
        && session.multi.is_none()
        && !argv
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case(b"client"))
    {
        if let Ok(mut mode) = session.client.tracking.mode.lock() {
            mode.caching = false;
        }
    }
    if exec_shown {
        server
            .pubsub
            .feed_monitors(session.db, Some(session.client.addr), argv);
    }
    // Every error reply counts once: a script's error raised from a command it called was
    // counted when that command failed.
    if let Reply::Error(e) = &reply {
        if !std::mem::take(&mut session.error_counted) {
            server.count_error(e);
        }
    }
    reply
}

fn dispatch_uncounted<B>(
    server: &Server,
    session: &mut Session,
    argv: &mut [Vec<u8>],
    blocking: B,
) -> Reply
where
    B: FnOnce(&mut dyn FnMut() -> Reply) -> Reply,
{
    let Some(name) = argv.first() else {
        return Reply::error("ERR empty command");
    };
    // A command refused while a transaction is queued makes its EXEC abort; EXEC itself
    // refused ends the transaction, saying why (Redis's `execCommandAbort`).
    let refuse = |session: &mut Session, reply: Reply| {
        if let Some(m) = session.multi.as_mut() {
            m.failed = true;
            if argv[0].eq_ignore_ascii_case(b"exec") {
                session.multi = None;
                session.watch = None;
                if let Reply::Error(e) = &reply {
                    return Reply::error(format!(
                        "EXECABORT Transaction discarded because of: {e}"
                    ));
                }
            }
        }
        reply
    };
    let Some(cmd) = lookup(name) else {
        let reply = unknown(name, &argv[1..]);
        return refuse(session, reply);
    };
    let stats = server.command_stats.get(command_index(cmd));
    let rejected = || {
        if let Some(s) = stats {
            s.rejected.fetch_add(1, Ordering::Relaxed);
        }
    };
    if !arity_ok(cmd.arity, argv.len()) {
        rejected();
        return refuse(session, wrong_arity(cmd.name));
    }
    if !session.authenticated && !cmd.flags.contains(&"no-auth") {
        rejected();
        return refuse(session, Reply::error("NOAUTH Authentication required."));
    }
    if let Err(denied) = acl_check(server, session, cmd, &argv[1..]) {
        rejected();
        let user = session.user_name.clone();
        let reply = match denied {
            AclDenied::Gone => {
                // Its user was deleted: the connection closes, as in Redis.
                session.client.kill();
                return Reply::NoReply;
            }
            AclDenied::Command(name) => {
                log_acl_denial(server, session, "command", name.clone(), &user);
                Reply::error(format!(
                    "NOPERM this user has no permissions to run the '{name}' command"
                ))
            }
            AclDenied::Key(k) => {
                log_acl_denial(
                    server,
                    session,
                    "key",
                    String::from_utf8_lossy(&k).into(),
                    &user,
                );
                Reply::error(
                    "NOPERM this user has no permissions to access one of the keys used as arguments",
                )
            }
            AclDenied::Channel(c) => {
                log_acl_denial(
                    server,
                    session,
                    "channel",
                    String::from_utf8_lossy(&c).into(),
                    &user,
                );
                Reply::error(
                    "NOPERM this user has no permissions to access one of the channels used as arguments",
                )
            }
        };
        return refuse(session, reply);
    }
    // RESP2's subscribed mode allows only these (RESP3 carries messages as pushes).
    if session.pushes
        && session.protocol == crate::resp::Protocol::Resp2
        && session.client.outbox.subscribed()
        && !matches!(
            cmd.name,
            "ping"
                | "subscribe"
                | "ssubscribe"
                | "unsubscribe"
                | "sunsubscribe"
                | "psubscribe"
                | "punsubscribe"
                | "quit"
                | "reset"
        )
    {
        rejected();
        let reply = Reply::error(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            full_name(cmd, &argv[1..])
        ));
        return refuse(session, reply);
    }
    if let Ok(mut last) = session.client.last_cmd.lock() {
        // A container's subcommand is named with it, as Redis 7 does (`client|list`).
        if CONTAINERS.contains(&cmd.name) && argv.len() > 1 {
            *last = full_name(cmd, &argv[1..]);
        } else if *last != cmd.name {
            cmd.name.clone_into(&mut last);
        }
    }

    if cmd.flags.contains(&"write") {
        // A poisoned engine refuses writes; say so as Redis does when it cannot persist
        // (MISCONF), and keep serving reads.
        if let Some(reply) = server.write_refusal() {
            rejected();
            return refuse(session, reply);
        }
    }
    // A script past busy-reply-threshold holds the execution lock: answer BUSY rather than
    // wait, except to what may stop it or does not wait for it.
    let kill_or_stats = matches!(cmd.name, "script" | "function")
        && argv
            .get(1)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"kill") || s.eq_ignore_ascii_case(b"stats"));
    if server.scripting.busy()
        && !cmd.flags.contains(&"allow-busy")
        && !kill_or_stats
        && cmd.name != "shutdown"
    {
        rejected();
        return refuse(session, busy_reply());
    }
    if let Some(m) = session.multi.as_mut() {
        if multi::NOT_IN_MULTI.contains(&cmd.name) {
            rejected();
            let reply = Reply::error("ERR Command not allowed inside a transaction");
            return refuse(session, reply);
        }
        if !multi::RUN_IN_MULTI.contains(&cmd.name) {
            m.queued.push(argv.to_vec());
            return Reply::Simple("QUEUED".into());
        }
    }
    if cmd.flags.contains(&"write") {
        session.wrote = true;
    }
    if server.pubsub.monitoring() && shown_to_monitors(cmd, &argv[1..]) {
        server
            .pubsub
            .feed_monitors(session.db, Some(session.client.addr), argv);
    }
    let threshold = server.slowlog_threshold();
    // A command may take a large argument (SET its value, to store it without holding a
    // copy): what the slow log shows of it is taken first.
    let slow_args = (threshold >= 0 && argv.iter().any(|a| a.len() >= TAKEN_ARG))
        .then(|| SlowLog::summarize(argv));
    let before = keys_before(server, session, cmd, &argv[1..]);
    let start = Instant::now();
    let args = &mut argv[1..];
    let reply = {
        // EXEC and scripts take the execution lock exclusively themselves; every other
        // command shares it, and answers BUSY if a script keeps it past the threshold.
        // Commands Redis serves while a script is busy (MULTI, WATCH, ...) touch no key a
        // script could be changing, and SCRIPT/FUNCTION KILL must get through.
        let _shared =
            if runs_atomically(cmd, args) || kill_or_stats || cmd.flags.contains(&"allow-busy") {
                None
            } else {
                match shared_unless_busy(server) {
                    Some(g) => Some(g),
                    None => return busy_reply(),
                }
            };
        if may_block(server, session, cmd, args) {
            blocking(&mut || run(cmd, server, session, args))
        } else if runs_atomically(cmd, args) {
            // A quick script or transaction runs here; if it turns out long, it hands this
            // thread's other connections over then (`script::leave_worker`).
            crate::script::set_on_worker(true);
            let reply = run(cmd, server, session, args);
            crate::script::set_on_worker(false);
            reply
        } else {
            run(cmd, server, session, args)
        }
    };
    let elapsed = start.elapsed();
    let micros = elapsed.as_micros() as u64;
    after_run(server, session, cmd, args, &reply, elapsed);
    publish_events(server, session, cmd, args, &reply, before);
    if threshold >= 0 && micros >= threshold as u64 && cmd.name != "exec" {
        let args = slow_args.unwrap_or_else(|| SlowLog::summarize(argv));
        if let Ok(mut log) = server.slowlog.lock() {
            log.record(args, micros, &session.client, server.slowlog_max_len());
        }
    }
    let client = &session.client;
    client.last_active_ms.store(
        client.created.elapsed().as_millis() as u64,
        Ordering::Relaxed,
    );
    reply
}

/// Redis's answer while a script runs past `busy-reply-threshold`.
fn busy_reply() -> Reply {
    Reply::error(
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
    )
}

/// Takes the execution lock shared, waiting while a transaction or script holds it, but
/// `None` once a script has held it past `busy-reply-threshold` (BUSY, as in Redis, where the
/// command would be served between the script's slices).
fn shared_unless_busy(server: &Server) -> Option<std::sync::RwLockReadGuard<'_, ()>> {
    let mut spins = 0u32;
    loop {
        if let Some(g) = server.store.try_shared() {
            return Some(g);
        }
        if server.scripting.busy() {
            return None;
        }
        spins += 1;
        if spins < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
}

/// What a write may change: its keys (SORT only its STORE destination, PFMERGE and
/// GEOSEARCHSTORE their destination, BITOP its destination).
fn written_keys<'a>(cmd: &Command, args: &'a [Vec<u8>]) -> Vec<&'a Vec<u8>> {
    match cmd.name {
        "sort" => sort::store_target(args).into_iter().collect(),
        "pfmerge" | "geosearchstore" => args.first().into_iter().collect(),
        "bitop" => args.get(1).into_iter().collect(),
        "georadius" | "georadiusbymember" => geo::radius_store_target(args).into_iter().collect(),
        _ => command_keys(cmd, args),
    }
}

/// With keyspace notifications on: which keys a write may change exist before it runs (for
/// its `new` and `del` events), or `None` when those events are off or it is no write.
fn keys_before(
    server: &Server,
    session: &Session,
    cmd: &Command,
    args: &[Vec<u8>],
) -> Option<Vec<bool>> {
    let n = &server.notifications;
    if !(n.on() && n.wants_existence() && cmd.flags.contains(&"write")) {
        return None;
    }
    Some(
        written_keys(cmd, args)
            .iter()
            .map(|k| server.store.exists(session.db, &[k]).is_ok_and(|n| n > 0))
            .collect(),
    )
}

/// Publishes the keyspace events of a write that ran (see `crate::notify`).
fn publish_events(
    server: &Server,
    session: &Session,
    cmd: &'static Command,
    args: &[Vec<u8>],
    reply: &Reply,
    before: Option<Vec<bool>>,
) {
    if server.notifications.wants_keymiss()
        && cmd.flags.contains(&"readonly")
        && !crate::notify::quiet_reads(cmd.name)
        && !matches!(reply, Reply::Error(_))
    {
        for k in command_keys(cmd, args) {
            if server.store.exists(session.db, &[k]).is_ok_and(|n| n == 0) {
                server.notify(crate::config::events::KEY_MISS, "keymiss", k, session.db);
            }
        }
    }
    if !server.notifications.on()
        || !cmd.flags.contains(&"write")
        || matches!(reply, Reply::Error(_) | Reply::NoReply)
    {
        return;
    }
    let db = session.db;
    let keys = written_keys(cmd, args);
    let changes: Vec<(&[u8], bool, bool)> = match &before {
        Some(before) => keys
            .iter()
            .zip(before)
            .map(|(k, &was)| {
                let is = server.store.exists(db, &[k]).is_ok_and(|n| n > 0);
                (k.as_slice(), was, is)
            })
            .collect(),
        None => Vec::new(),
    };
    let gone = |k: &[u8]| changes.iter().any(|&(c, was, is)| c == k && was && !is);
    let mut seen: Vec<&[u8]> = Vec::new();
    for &(k, was, is) in &changes {
        if !was && is && !seen.contains(&k) {
            seen.push(k);
            server.notify(crate::config::events::NEW, "new", k, db);
        }
    }
    for e in crate::notify::command_events(cmd.name, args, reply, &gone) {
        server.notify(e.class, e.name, e.key, e.db.unwrap_or(db));
    }
    if !crate::notify::moves_keys(cmd.name) {
        seen.clear();
        for &(k, was, is) in &changes {
            if was && !is && !seen.contains(&k) {
                seen.push(k);
                server.notify(crate::config::events::GENERIC, "del", k, db);
            }
        }
    }
}

/// Client tracking: the keys a read command of a tracking client fetched are remembered
/// for it. A script's reads mark its caller, and the script's declared keys are remembered
/// when it ends (Redis tracks scripts only when they read).
fn remember_read_keys(server: &Server, session: &Session, cmd: &Command, args: &[Vec<u8>]) {
    let client = &session.client;
    let script = matches!(
        cmd.name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    );
    if script {
        if client.tracking.script_read.swap(false, Ordering::Relaxed) && session.tracking {
            server.tracking.remember(client, &command_keys(cmd, args));
        }
    } else if cmd.flags.contains(&"readonly") {
        if session.in_script {
            client.tracking.script_read.store(true, Ordering::Relaxed);
        } else if session.tracking {
            server.tracking.remember(client, &command_keys(cmd, args));
        }
    }
}

/// What follows every command that ran: a successful write wakes clients blocked on its keys
/// and touches them for WATCH; the counters and `INFO commandstats` count it.
fn after_run(
    server: &Server,
    session: &Session,
    cmd: &'static Command,
    args: &[Vec<u8>],
    reply: &Reply,
    elapsed: std::time::Duration,
) {
    let micros = elapsed.as_micros() as u64;
    let failed = matches!(reply, Reply::Error(_));
    if cmd.flags.contains(&"write") {
        let written = || written_keys(cmd, args);
        if server.blocking.blocked_clients() > 0 {
            for k in written() {
                server.blocking.signal(session.db, k);
            }
        }
        if !failed && server.watches.any() {
            for k in written() {
                server.watches.touch(session.db, k);
            }
        }
        if !failed && server.tracking.active() {
            for k in written() {
                server.tracking.invalidate(server, k, session.client.id);
            }
        }
        // A flush empties the tracking table even with nobody tracking now (keys read by
        // clients that turned tracking off stay in it until they change, as in Redis).
        if !failed && matches!(cmd.name, "flushdb" | "flushall") {
            server.tracking.flush_all(server);
        }
    }
    if server.tracking.active() {
        remember_read_keys(server, session, cmd, args);
    }
    server
        .counters
        .commands_processed
        .fetch_add(1, Ordering::Relaxed);
    let threshold_ms = server.latency_monitor_threshold();
    if threshold_ms > 0 && micros / 1000 >= threshold_ms {
        let event = if cmd.flags.contains(&"fast") {
            "fast-command"
        } else {
            "command"
        };
        server
            .latency_monitor
            .add(event, crate::server::unix_secs(), micros / 1000);
    }
    if let Some(s) = server.command_stats.get(command_index(cmd)) {
        s.calls.fetch_add(1, Ordering::Relaxed);
        s.usec.fetch_add(micros, Ordering::Relaxed);
        if server.latency_tracking() {
            s.latency.record(elapsed.as_nanos() as u64);
        }
        if failed {
            s.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Runs one queued command of an EXEC (the caller holds the execution lock exclusively): a
/// blocking command answers as its timeout would.
pub(super) fn run_in_exec(server: &Server, session: &mut Session, argv: &mut [Vec<u8>]) -> Reply {
    let Some(cmd) = argv.first().and_then(|n| lookup(n)) else {
        return Reply::error("ERR unknown command");
    };
    if cmd.flags.contains(&"write") {
        session.wrote = true;
    }
    if LONG_RUNNING.contains(&cmd.name) {
        crate::script::leave_worker();
    }
    if server.pubsub.monitoring() && shown_to_monitors(cmd, &argv[1..]) {
        let from = (!session.in_script).then_some(session.client.addr);
        server.pubsub.feed_monitors(session.db, from, argv);
    }
    let before = keys_before(server, session, cmd, &argv[1..]);
    let start = Instant::now();
    let args = &mut argv[1..];
    let mut reply = run(cmd, server, session, args);
    if let Some(blocked) = session.blocked.take() {
        reply = blocked.timeout_reply;
    }
    after_run(server, session, cmd, args, &reply, start.elapsed());
    publish_events(server, session, cmd, args, &reply, before);
    if let Reply::Error(e) = &reply {
        server.count_error(e);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a command is listed twice");
        for c in COMMANDS {
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            assert!(c.arity != 0, "{}", c.name);
            assert!(lookup(c.name.to_ascii_uppercase().as_bytes()).is_some());
        }
        assert!(lookup(b"nope").is_none());
        assert!(lookup(b"GeT").is_some_and(|c| c.name == "get"));
        assert!(lookup(&[b'A'; 40]).is_none(), "a long name is no command");
        for name in LONG_RUNNING {
            assert!(lookup(name.as_bytes()).is_some(), "{name}");
        }
    }
}
