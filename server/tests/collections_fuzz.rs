//! Random collection commands with hostile arguments (extreme integers, odd floats, range
//! syntax, wrong types) straight through the dispatcher: nothing panics, and afterwards every
//! collection's count agrees with its elements (and a sorted set's score index with its
//! members).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use proptest::prelude::*;
use strata::{Options, SyncMode, SystemClock};
use strata_redis::Store;
use strata_server::cmd::{dispatch, Session};
use strata_server::config::Config;
use strata_server::resp::Reply;
use strata_server::server::Server;

const COMMANDS: &[&str] = &[
    "HSET",
    "HSETNX",
    "HGET",
    "HMGET",
    "HDEL",
    "HLEN",
    "HSTRLEN",
    "HINCRBY",
    "HINCRBYFLOAT",
    "HGETALL",
    "HRANDFIELD",
    "HSCAN",
    "LPUSH",
    "RPUSH",
    "LPUSHX",
    "LPOP",
    "RPOP",
    "LINDEX",
    "LRANGE",
    "LSET",
    "LTRIM",
    "LREM",
    "LINSERT",
    "LPOS",
    "LMOVE",
    "RPOPLPUSH",
    "LMPOP",
    "BLPOP",
    "BLMOVE",
    "SADD",
    "SREM",
    "SPOP",
    "SRANDMEMBER",
    "SMOVE",
    "SINTERSTORE",
    "SUNIONSTORE",
    "SDIFFSTORE",
    "SINTERCARD",
    "SSCAN",
    "ZADD",
    "ZINCRBY",
    "ZREM",
    "ZRANGE",
    "ZRANGEBYSCORE",
    "ZREVRANGEBYLEX",
    "ZRANGESTORE",
    "ZRANK",
    "ZREMRANGEBYSCORE",
    "ZREMRANGEBYRANK",
    "ZREMRANGEBYLEX",
    "ZPOPMIN",
    "ZPOPMAX",
    "BZPOPMIN",
    "ZUNIONSTORE",
    "ZINTERSTORE",
    "ZDIFFSTORE",
    "ZRANDMEMBER",
    "ZSCAN",
    "ZCOUNT",
    "ZLEXCOUNT",
    "DEL",
    "RENAME",
    "COPY",
    "EXPIRE",
    "SET",
    "TYPE",
];

const KEYS: &[&str] = &["a", "b", "{a}c"];

const WORDS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "-2",
    "3",
    "100",
    "-100",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1.5",
    "-0",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "1e308",
    "(1",
    "(-inf",
    "[x",
    "(x",
    "-",
    "+",
    "x",
    "y",
    "z",
    "",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "REV",
    "BYSCORE",
    "BYLEX",
    "LIMIT",
    "WITHSCORES",
    "WITHVALUES",
    "COUNT",
    "RANK",
    "MAXLEN",
    "MATCH",
    "*",
    "WEIGHTS",
    "AGGREGATE",
    "MIN",
    "MAX",
    "SUM",
    "0.01",
];

fn arg() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_string),
        5 => prop::sample::select(WORDS).prop_map(str::to_string),
    ]
}

fn command() -> impl Strategy<Value = Vec<String>> {
    (
        prop::sample::select(COMMANDS),
        prop::sample::select(KEYS),
        prop::collection::vec(arg(), 0..7),
    )
        .prop_map(|(name, key, rest)| {
            let mut v = vec![name.to_string(), key.to_string()];
            v.extend(rest);
            v
        })
}

fn run(server: &Server, session: &mut Session, args: &[&str]) -> Reply {
    let mut argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let reply = dispatch(server, session, &mut argv);
    // A blocking command that found nothing gives up here.
    session.blocked = None;
    reply
}

fn len(r: Reply) -> usize {
    match r {
        Reply::Array(v) | Reply::Set(v) => v.len(),
        Reply::Map(v) => v.len(),
        other => panic!("not a collection reply: {other:?}"),
    }
}

fn int(r: Reply) -> usize {
    match r {
        Reply::Integer(n) => n as usize,
        other => panic!("not an integer: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn hostile_commands_never_break_collections(cmds in prop::collection::vec(command(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut options = Options::default();
        options.sync_mode = SyncMode::Never;
        let store = Arc::new(Store::open(dir.path(), options, Arc::new(SystemClock)).unwrap());
        let server = Server::new(store, Config::default(), None).unwrap();
        let client = server.register("127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap());
        let mut s = Session::new(client, true);
        for c in &cmds {
            let args: Vec<&str> = c.iter().map(String::as_str).collect();
            run(&server, &mut s, &args);
        }
        // Commands may create keys outside KEYS (RENAME b 0): check every key there is.
        let Reply::Array(all) = run(&server, &mut s, &["KEYS", "*"]) else { panic!() };
        let names: Vec<String> = all
            .into_iter()
            .map(|r| match r {
                Reply::Bulk(b) => String::from_utf8(b).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        for k in &names {
            let k = k.as_str();
            let Reply::Simple(ty) = run(&server, &mut s, &["TYPE", k]) else { panic!() };
            match ty.as_str() {
                "hash" => prop_assert_eq!(
                    int(run(&server, &mut s, &["HLEN", k])),
                    len(run(&server, &mut s, &["HGETALL", k]))
                ),
                "list" => prop_assert_eq!(
                    int(run(&server, &mut s, &["LLEN", k])),
                    len(run(&server, &mut s, &["LRANGE", k, "0", "-1"]))
                ),
                "set" => prop_assert_eq!(
                    int(run(&server, &mut s, &["SCARD", k])),
                    len(run(&server, &mut s, &["SMEMBERS", k]))
                ),
                "zset" => {
                    let n = int(run(&server, &mut s, &["ZCARD", k]));
                    prop_assert_eq!(n, len(run(&server, &mut s, &["ZRANGE", k, "0", "-1"])));
                    prop_assert_eq!(n, len(run(&server, &mut s, &["ZRANGE", k, "-", "+", "BYLEX"])));
                    prop_assert!(n > 0);
                }
                _ => {}
            }
        }
        prop_assert_eq!(int(run(&server, &mut s, &["DBSIZE"])), names.len());
    }
}
