//! Hashes, sets (and the key commands over them) driven by the `redis` client crate, with
//! Redis's replies and errors.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{conn, err, q, start};
use redis::Value;

/// SMEMBERS sorted (Redis returns members in no particular order).
fn members(c: &mut redis::Connection, key: &str) -> Vec<String> {
    let mut m: Vec<String> = q(c, &["SMEMBERS", key]);
    m.sort();
    m
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn hash_commands() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    assert_eq!(q::<i64>(c, &["HSET", "h", "a", "1", "b", "2"]), 2);
    assert_eq!(q::<i64>(c, &["HSET", "h", "a", "10", "c", "3"]), 1);
    assert_eq!(
        err(c, &["HSET", "h", "a"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        err(c, &["HSET", "h", "a", "1", "b"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(q::<String>(c, &["HMSET", "h", "d", "4"]), "OK");
    assert_eq!(q::<i64>(c, &["HSETNX", "h", "a", "x"]), 0);
    assert_eq!(q::<i64>(c, &["HSETNX", "h", "e", "5"]), 1);
    assert_eq!(q::<String>(c, &["HGET", "h", "a"]), "10");
    assert_eq!(q::<Option<String>>(c, &["HGET", "h", "zz"]), None);
    assert_eq!(q::<Option<String>>(c, &["HGET", "nokey", "a"]), None);
    assert_eq!(
        q::<Vec<Option<String>>>(c, &["HMGET", "h", "a", "zz", "b"]),
        vec![Some("10".into()), None, Some("2".into())]
    );
    assert_eq!(q::<i64>(c, &["HLEN", "h"]), 5);
    assert_eq!(q::<i64>(c, &["HLEN", "nokey"]), 0);
    assert_eq!(q::<i64>(c, &["HSTRLEN", "h", "a"]), 2);
    assert_eq!(q::<i64>(c, &["HSTRLEN", "h", "zz"]), 0);
    assert_eq!(q::<i64>(c, &["HEXISTS", "h", "a"]), 1);
    assert_eq!(q::<i64>(c, &["HEXISTS", "h", "zz"]), 0);
    assert_eq!(
        q::<Vec<String>>(c, &["HKEYS", "h"]),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        q::<Vec<String>>(c, &["HVALS", "h"]),
        ["10", "2", "3", "4", "5"]
    );
    assert_eq!(
        q::<Vec<String>>(c, &["HGETALL", "h"]),
        ["a", "10", "b", "2", "c", "3", "d", "4", "e", "5"]
    );
    assert_eq!(q::<Vec<String>>(c, &["HGETALL", "nokey"]).len(), 0);
    assert_eq!(q::<i64>(c, &["HINCRBY", "h", "a", "5"]), 15);
    assert_eq!(q::<i64>(c, &["HINCRBY", "h", "new", "-3"]), -3);
    assert_eq!(
        err(c, &["HINCRBY", "h", "a", "x"]),
        "ERR value is not an integer or out of range"
    );
    q::<i64>(c, &["HSET", "h", "s", "abc", "big", "9223372036854775807"]);
    assert_eq!(
        err(c, &["HINCRBY", "h", "s", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(
        err(c, &["HINCRBY", "h", "big", "1"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(q::<String>(c, &["HINCRBYFLOAT", "h", "f", "10.5"]), "10.5");
    assert_eq!(q::<String>(c, &["HINCRBYFLOAT", "h", "f", "0.1"]), "10.6");
    assert_eq!(
        err(c, &["HINCRBYFLOAT", "h", "s", "1"]),
        "ERR hash value is not a float"
    );
    assert_eq!(
        err(c, &["HINCRBYFLOAT", "h", "f", "x"]),
        "ERR value is not a valid float"
    );
    assert_eq!(q::<i64>(c, &["HDEL", "h", "a", "a", "zz", "b"]), 2);
    assert_eq!(q::<i64>(c, &["HDEL", "nokey", "a"]), 0);
    // HRANDFIELD: single, distinct positive count, repeating negative count, WITHVALUES.
    q::<i64>(c, &["DEL", "h"]);
    q::<i64>(c, &["HSET", "r", "a", "1", "b", "2", "c", "3"]);
    let one: String = q(c, &["HRANDFIELD", "r"]);
    assert!(["a", "b", "c"].contains(&one.as_str()));
    assert_eq!(q::<Option<String>>(c, &["HRANDFIELD", "nokey"]), None);
    let two: HashSet<String> = q(c, &["HRANDFIELD", "r", "2"]);
    assert_eq!(two.len(), 2);
    assert_eq!(q::<Vec<String>>(c, &["HRANDFIELD", "r", "10"]).len(), 3);
    assert_eq!(q::<Vec<String>>(c, &["HRANDFIELD", "r", "-10"]).len(), 10);
    let with: Vec<String> = q(c, &["HRANDFIELD", "r", "-4", "WITHVALUES"]);
    assert_eq!(with.len(), 8);
    for pair in with.chunks(2) {
        assert_eq!(q::<String>(c, &["HGET", "r", &pair[0]]), pair[1]);
    }
    assert_eq!(q::<Vec<String>>(c, &["HRANDFIELD", "nokey", "3"]).len(), 0);
    assert_eq!(
        err(c, &["HRANDFIELD", "r", "1", "WITHSCORES"]),
        "ERR syntax error"
    );
    // HSCAN walks everything once, with MATCH and NOVALUES.
    for i in 0..100 {
        q::<i64>(c, &["HSET", "big", &format!("f{i}"), &i.to_string()]);
    }
    let (mut cursor, mut fields) = ("0".to_string(), Vec::new());
    loop {
        let (next, items): (String, Vec<String>) = q(c, &["HSCAN", "big", &cursor, "COUNT", "7"]);
        fields.extend(items.chunks(2).map(|p| p[0].clone()));
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(fields.len(), 100);
    assert_eq!(fields.iter().collect::<HashSet<_>>().len(), 100);
    let (_, matched): (String, Vec<String>) =
        q(c, &["HSCAN", "big", "0", "MATCH", "f1*", "COUNT", "1000"]);
    assert_eq!(matched.len(), 22, "f1, f10..f19 with values");
    if std::env::var("STRATA_TEST_REDIS").is_err() {
        // NOVALUES is Redis 7.4's; the reference Redis on the test machines is 7.0.
        let (_, names): (String, Vec<String>) = q(
            c,
            &[
                "HSCAN", "big", "0", "MATCH", "f1*", "COUNT", "1000", "NOVALUES",
            ],
        );
        assert_eq!(names.len(), 11, "names only");
        // A reply built in memory has a bound (Redis would stream it).
        assert_eq!(
            err(c, &["HRANDFIELD", "big", "-100000000"]),
            "ERR value is out of range"
        );
    }
    assert_eq!(err(c, &["HSCAN", "big", "x"]), "ERR invalid cursor");
    assert_eq!(
        err(c, &["HSCAN", "big", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    // WRONGTYPE both ways.
    q::<()>(c, &["SET", "str", "v"]);
    assert_eq!(err(c, &["HSET", "str", "a", "1"]), WRONGTYPE);
    assert_eq!(err(c, &["HGET", "str", "a"]), WRONGTYPE);
    assert_eq!(err(c, &["HLEN", "str"]), WRONGTYPE);
    assert_eq!(err(c, &["GET", "big"]), WRONGTYPE);
    assert_eq!(err(c, &["INCR", "big"]), WRONGTYPE);
    assert_eq!(err(c, &["APPEND", "big", "x"]), WRONGTYPE);
    assert_eq!(q::<String>(c, &["TYPE", "big"]), "hash");
}

#[test]
fn set_commands() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    assert_eq!(q::<i64>(c, &["SADD", "a", "1", "2", "3", "2"]), 3);
    assert_eq!(q::<i64>(c, &["SADD", "b", "2", "3", "4"]), 3);
    assert_eq!(q::<i64>(c, &["SCARD", "a"]), 3);
    assert_eq!(q::<i64>(c, &["SCARD", "nokey"]), 0);
    assert_eq!(sorted(q(c, &["SMEMBERS", "a"])), ["1", "2", "3"]);
    assert_eq!(q::<i64>(c, &["SISMEMBER", "a", "1"]), 1);
    assert_eq!(q::<i64>(c, &["SISMEMBER", "a", "9"]), 0);
    assert_eq!(
        q::<Vec<i64>>(c, &["SMISMEMBER", "a", "1", "9", "3"]),
        [1, 0, 1]
    );
    assert_eq!(sorted(q(c, &["SINTER", "a", "b"])), ["2", "3"]);
    assert_eq!(
        sorted(q(c, &["SUNION", "a", "b", "nokey"])),
        ["1", "2", "3", "4"]
    );
    assert_eq!(sorted(q(c, &["SDIFF", "a", "b"])), ["1"]);
    assert_eq!(q::<Vec<String>>(c, &["SINTER", "a", "nokey"]).len(), 0);
    assert_eq!(q::<i64>(c, &["SINTERSTORE", "i", "a", "b"]), 2);
    assert_eq!(q::<i64>(c, &["SUNIONSTORE", "u", "a", "b"]), 4);
    assert_eq!(q::<i64>(c, &["SDIFFSTORE", "d", "a", "b"]), 1);
    assert_eq!(sorted(q(c, &["SMEMBERS", "i"])), ["2", "3"]);
    assert_eq!(q::<i64>(c, &["SINTERCARD", "2", "a", "b"]), 2);
    assert_eq!(q::<i64>(c, &["SINTERCARD", "2", "a", "b", "LIMIT", "1"]), 1);
    assert_eq!(q::<i64>(c, &["SINTERCARD", "2", "a", "b", "LIMIT", "0"]), 2);
    assert_eq!(
        err(c, &["SINTERCARD", "0", "a"]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        err(c, &["SINTERCARD", "3", "a", "b"]),
        "ERR Number of keys can't be greater than number of args"
    );
    assert_eq!(
        err(c, &["SINTERCARD", "2", "a", "b", "LIMIT", "-1"]),
        "ERR LIMIT can't be negative"
    );
    assert_eq!(
        err(c, &["SINTERCARD", "2", "a", "b", "FOO"]),
        "ERR syntax error"
    );
    assert_eq!(q::<i64>(c, &["SMOVE", "a", "b", "1"]), 1);
    assert_eq!(q::<i64>(c, &["SMOVE", "a", "b", "1"]), 0);
    assert_eq!(
        q::<i64>(c, &["SMOVE", "a", "b", "2"]),
        1,
        "already in b: still moved"
    );
    assert_eq!(sorted(q(c, &["SMEMBERS", "a"])), ["3"]);
    assert_eq!(q::<i64>(c, &["SCARD", "b"]), 4);
    assert_eq!(q::<i64>(c, &["SREM", "b", "1", "9", "1"]), 1);
    // SPOP and SRANDMEMBER.
    let popped: String = q(c, &["SPOP", "a"]);
    assert_eq!(popped, "3");
    assert_eq!(
        q::<i64>(c, &["EXISTS", "a"]),
        0,
        "the last member took the key with it"
    );
    assert_eq!(q::<Option<String>>(c, &["SPOP", "a"]), None);
    assert_eq!(q::<Vec<String>>(c, &["SPOP", "a", "3"]).len(), 0);
    assert_eq!(
        err(c, &["SPOP", "b", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(q::<Vec<String>>(c, &["SPOP", "b", "0"]).len(), 0);
    assert_eq!(q::<Vec<String>>(c, &["SRANDMEMBER", "b", "-5"]).len(), 5);
    assert_eq!(q::<HashSet<String>>(c, &["SRANDMEMBER", "b", "2"]).len(), 2);
    assert_eq!(q::<Vec<String>>(c, &["SRANDMEMBER", "b", "100"]).len(), 3);
    assert_eq!(q::<Option<String>>(c, &["SRANDMEMBER", "nokey"]), None);
    assert_eq!(q::<HashSet<String>>(c, &["SPOP", "b", "2"]).len(), 2);
    assert_eq!(q::<i64>(c, &["SCARD", "b"]), 1);
    // SSCAN.
    for i in 0..50 {
        q::<i64>(c, &["SADD", "big", &format!("m{i}")]);
    }
    let (mut cursor, mut seen) = ("0".to_string(), HashSet::new());
    loop {
        let (next, items): (String, Vec<String>) = q(c, &["SSCAN", "big", &cursor, "COUNT", "3"]);
        seen.extend(items);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 50);
    // WRONGTYPE.
    q::<i64>(c, &["HSET", "h", "f", "v"]);
    assert_eq!(err(c, &["SADD", "h", "x"]), WRONGTYPE);
    assert_eq!(err(c, &["SINTER", "big", "h"]), WRONGTYPE);
    assert_eq!(err(c, &["SUNIONSTORE", "dst", "big", "h"]), WRONGTYPE);
    assert_eq!(err(c, &["HGET", "big", "x"]), WRONGTYPE);
    assert_eq!(q::<String>(c, &["TYPE", "big"]), "set");
    // A STORE overwrites any type.
    assert_eq!(q::<i64>(c, &["SUNIONSTORE", "h", "big"]), 50);
    assert_eq!(q::<String>(c, &["TYPE", "h"]), "set");
}

#[test]
fn key_commands_on_collections() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    q::<i64>(c, &["HSET", "h", "f1", "v1", "f2", "v2"]);
    q::<i64>(c, &["SADD", "s", "m1", "m2"]);
    q::<()>(c, &["SET", "str", "x"]);
    assert_eq!(q::<i64>(c, &["DBSIZE"]), 3);
    // RENAME and COPY carry every element; the source of RENAME is gone.
    assert_eq!(q::<String>(c, &["RENAME", "h", "h2"]), "OK");
    assert_eq!(q::<i64>(c, &["EXISTS", "h"]), 0);
    assert_eq!(
        q::<Vec<String>>(c, &["HGETALL", "h2"]),
        ["f1", "v1", "f2", "v2"]
    );
    assert_eq!(q::<i64>(c, &["COPY", "s", "s2"]), 1);
    q::<i64>(c, &["SREM", "s", "m1"]);
    assert_eq!(members(c, "s2"), ["m1", "m2"]);
    assert_eq!(q::<i64>(c, &["COPY", "s2", "h2"]), 0, "no REPLACE");
    assert_eq!(q::<i64>(c, &["COPY", "s2", "h2", "REPLACE"]), 1);
    assert_eq!(q::<String>(c, &["TYPE", "h2"]), "set");
    assert_eq!(q::<i64>(c, &["COPY", "s2", "s3", "DB", "1"]), 1);
    assert_eq!(q::<i64>(c, &["MOVE", "s2", "2"]), 1);
    assert_eq!(q::<i64>(c, &["DBSIZE"]), 3, "s, h2, str");
    // Overwriting a collection with SET, then a new collection under the name starts empty.
    assert_eq!(q::<String>(c, &["SET", "h2", "plain"]), "OK");
    assert_eq!(q::<i64>(c, &["SADD", "str2", "a"]), 1);
    q::<i64>(c, &["DEL", "h2"]);
    assert_eq!(q::<i64>(c, &["SADD", "h2", "new"]), 1);
    assert_eq!(sorted(q(c, &["SMEMBERS", "h2"])), ["new"]);
    // Expiry of collections: the whole collection goes; the counts follow.
    assert_eq!(q::<i64>(c, &["PEXPIRE", "h2", "50"]), 1);
    assert_eq!(q::<i64>(c, &["EXPIRE", "s", "100"]), 1);
    assert_eq!(q::<i64>(c, &["TTL", "s"]), 100);
    assert_eq!(q::<i64>(c, &["SADD", "s", "more"]), 1);
    assert_eq!(q::<i64>(c, &["TTL", "s"]), 100, "adding keeps the TTL");
    std::thread::sleep(std::time::Duration::from_millis(120));
    assert_eq!(q::<i64>(c, &["SCARD", "h2"]), 0);
    assert_eq!(
        q::<i64>(c, &["SADD", "h2", "x"]),
        1,
        "an expired set is replaced"
    );
    assert_eq!(sorted(q(c, &["SMEMBERS", "h2"])), ["x"]);
    // SCAN TYPE sees collections.
    let (_, sets): (String, Vec<String>) = q(c, &["SCAN", "0", "TYPE", "set", "COUNT", "100"]);
    let mut sets = sets;
    sets.sort();
    assert_eq!(sets, ["h2", "s", "str2"]);
    assert_eq!(
        q::<Value>(c, &["SCAN", "0", "TYPE", "hash"]),
        Value::Array(vec![Value::BulkString(b"0".to_vec()), Value::Array(vec![]),])
    );
}

#[test]
fn list_commands() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    assert_eq!(q::<i64>(c, &["RPUSH", "l", "a", "b", "c"]), 3);
    assert_eq!(q::<i64>(c, &["LPUSH", "l", "z", "y"]), 5);
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "l", "0", "-1"]),
        ["y", "z", "a", "b", "c"]
    );
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "l", "-2", "100"]),
        ["b", "c"]
    );
    assert_eq!(q::<Vec<String>>(c, &["LRANGE", "l", "3", "1"]).len(), 0);
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "nokey", "0", "-1"]).len(),
        0
    );
    assert_eq!(q::<i64>(c, &["LPUSHX", "nokey", "a"]), 0);
    assert_eq!(q::<i64>(c, &["RPUSHX", "l", "d"]), 6);
    assert_eq!(q::<i64>(c, &["LLEN", "l"]), 6);
    assert_eq!(q::<String>(c, &["LINDEX", "l", "0"]), "y");
    assert_eq!(q::<String>(c, &["LINDEX", "l", "-1"]), "d");
    assert_eq!(q::<Option<String>>(c, &["LINDEX", "l", "6"]), None);
    assert_eq!(
        err(c, &["LINDEX", "l", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(q::<String>(c, &["LSET", "l", "1", "Z"]), "OK");
    assert_eq!(err(c, &["LSET", "l", "10", "x"]), "ERR index out of range");
    assert_eq!(err(c, &["LSET", "nokey", "0", "x"]), "ERR no such key");
    assert_eq!(q::<String>(c, &["LPOP", "l"]), "y");
    assert_eq!(q::<String>(c, &["RPOP", "l"]), "d");
    assert_eq!(q::<Vec<String>>(c, &["LPOP", "l", "2"]), ["Z", "a"]);
    assert_eq!(q::<Vec<String>>(c, &["RPOP", "l", "0"]).len(), 0);
    assert_eq!(q::<Value>(c, &["LPOP", "nokey", "2"]), Value::Nil);
    assert_eq!(q::<Option<String>>(c, &["RPOP", "nokey"]), None);
    assert_eq!(
        err(c, &["LPOP", "l", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(q::<Vec<String>>(c, &["RPOP", "l", "10"]), ["c", "b"]);
    assert_eq!(
        q::<i64>(c, &["EXISTS", "l"]),
        0,
        "the last element took the key with it"
    );
    // LINSERT, LREM, LTRIM, LPOS.
    q::<i64>(c, &["RPUSH", "m", "a", "b", "a", "c", "a"]);
    assert_eq!(q::<i64>(c, &["LINSERT", "m", "BEFORE", "b", "x"]), 6);
    assert_eq!(q::<i64>(c, &["LINSERT", "m", "AFTER", "c", "y"]), 7);
    assert_eq!(q::<i64>(c, &["LINSERT", "m", "AFTER", "nope", "y"]), -1);
    assert_eq!(q::<i64>(c, &["LINSERT", "nokey", "AFTER", "a", "y"]), 0);
    assert_eq!(
        err(c, &["LINSERT", "m", "MIDDLE", "a", "b"]),
        "ERR syntax error"
    );
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "m", "0", "-1"]),
        ["a", "x", "b", "a", "c", "y", "a"]
    );
    assert_eq!(q::<i64>(c, &["LPOS", "m", "a"]), 0);
    assert_eq!(q::<i64>(c, &["LPOS", "m", "a", "RANK", "2"]), 3);
    assert_eq!(q::<i64>(c, &["LPOS", "m", "a", "RANK", "-1"]), 6);
    assert_eq!(
        q::<Vec<i64>>(c, &["LPOS", "m", "a", "COUNT", "0"]),
        [0, 3, 6]
    );
    assert_eq!(
        q::<Vec<i64>>(c, &["LPOS", "m", "a", "COUNT", "2", "RANK", "-1"]),
        [6, 3]
    );
    assert_eq!(
        q::<Vec<i64>>(c, &["LPOS", "m", "a", "COUNT", "0", "MAXLEN", "4"]),
        [0, 3]
    );
    assert_eq!(q::<Option<i64>>(c, &["LPOS", "m", "nope"]), None);
    assert_eq!(q::<Option<i64>>(c, &["LPOS", "nokey", "a"]), None);
    assert_eq!(
        q::<Vec<i64>>(c, &["LPOS", "nokey", "a", "COUNT", "0"]).len(),
        0
    );
    assert!(err(c, &["LPOS", "m", "a", "RANK", "0"]).starts_with("ERR RANK can't be zero"));
    assert_eq!(
        err(c, &["LPOS", "m", "a", "COUNT", "-1"]),
        "ERR COUNT can't be negative"
    );
    assert_eq!(
        err(c, &["LPOS", "m", "a", "MAXLEN", "-1"]),
        "ERR MAXLEN can't be negative"
    );
    assert_eq!(q::<i64>(c, &["LREM", "m", "-2", "a"]), 2);
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "m", "0", "-1"]),
        ["a", "x", "b", "c", "y"]
    );
    assert_eq!(q::<i64>(c, &["LREM", "m", "0", "nope"]), 0);
    assert_eq!(q::<String>(c, &["LTRIM", "m", "1", "-2"]), "OK");
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "m", "0", "-1"]),
        ["x", "b", "c"]
    );
    assert_eq!(q::<String>(c, &["LTRIM", "m", "5", "10"]), "OK");
    assert_eq!(
        q::<i64>(c, &["EXISTS", "m"]),
        0,
        "an empty trim deletes the key"
    );
    // LMOVE, RPOPLPUSH (also onto itself), LMPOP.
    q::<i64>(c, &["RPUSH", "src", "1", "2", "3"]);
    assert_eq!(
        q::<String>(c, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]),
        "1"
    );
    assert_eq!(q::<String>(c, &["RPOPLPUSH", "src", "dst"]), "3");
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "dst", "0", "-1"]),
        ["3", "1"]
    );
    assert_eq!(
        q::<String>(c, &["LMOVE", "dst", "dst", "LEFT", "RIGHT"]),
        "3"
    );
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "dst", "0", "-1"]),
        ["1", "3"]
    );
    assert_eq!(
        q::<Option<String>>(c, &["LMOVE", "nokey", "dst", "LEFT", "LEFT"]),
        None
    );
    assert_eq!(
        err(c, &["LMOVE", "src", "dst", "UP", "LEFT"]),
        "ERR syntax error"
    );
    let (key, popped): (String, Vec<String>) = q(
        c,
        &["LMPOP", "3", "nokey", "dst", "src", "RIGHT", "COUNT", "5"],
    );
    assert_eq!(
        (key.as_str(), popped),
        ("dst", vec!["3".to_string(), "1".to_string()])
    );
    assert_eq!(q::<Value>(c, &["LMPOP", "1", "nokey", "LEFT"]), Value::Nil);
    assert_eq!(
        err(c, &["LMPOP", "1", "src", "LEFT", "COUNT", "0"]),
        "ERR count should be greater than 0"
    );
    assert_eq!(
        err(c, &["LMPOP", "0", "src", "LEFT"]),
        "ERR numkeys should be greater than 0"
    );
    // WRONGTYPE.
    q::<()>(c, &["SET", "str", "v"]);
    assert_eq!(err(c, &["LPUSH", "str", "a"]), WRONGTYPE);
    assert_eq!(err(c, &["LRANGE", "str", "0", "-1"]), WRONGTYPE);
    assert_eq!(err(c, &["LMOVE", "src", "str", "LEFT", "LEFT"]), WRONGTYPE);
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "src", "0", "-1"]),
        ["2"],
        "nothing moved"
    );
    assert_eq!(q::<String>(c, &["TYPE", "src"]), "list");
}

fn blocked_clients(c: &mut redis::Connection) -> u64 {
    let info: String = q(c, &["INFO", "clients"]);
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Waits until `n` clients are blocked.
fn wait_blocked(c: &mut redis::Connection, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while blocked_clients(c) != n {
        assert!(Instant::now() < deadline, "never saw {n} blocked clients");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn blocking_pops_wait_for_pushes_and_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = server.url();
    let mut c = conn(&url);
    let c = &mut c;
    // Data already there: served at once.
    q::<i64>(c, &["RPUSH", "l", "a"]);
    assert_eq!(
        q::<Vec<String>>(c, &["BLPOP", "nokey", "l", "0"]),
        ["l", "a"]
    );
    // Nothing there: the timeout answers nil.
    let started = Instant::now();
    assert_eq!(q::<Value>(c, &["BRPOP", "l", "0.2"]), Value::Nil);
    assert!(started.elapsed() >= Duration::from_millis(190));
    assert_eq!(err(c, &["BLPOP", "l", "-1"]), "ERR timeout is negative");
    assert_eq!(
        err(c, &["BLPOP", "l", "abc"]),
        "ERR timeout is not a float or out of range"
    );
    // A push wakes a client blocked forever.
    let waiter = {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut b = conn(&url);
            q::<Vec<String>>(&mut b, &["BLPOP", "k1", "k2", "0"])
        })
    };
    wait_blocked(c, 1);
    q::<i64>(c, &["RPUSH", "k2", "x", "y"]);
    assert_eq!(waiter.join().unwrap(), ["k2", "x"]);
    assert_eq!(q::<Vec<String>>(c, &["LRANGE", "k2", "0", "-1"]), ["y"]);
    wait_blocked(c, 0);
    // A chain: BLMOVE waits on src; BLPOP waits on dst; one push feeds both.
    let mover = {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut b = conn(&url);
            q::<String>(&mut b, &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "5"])
        })
    };
    let popper = {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut b = conn(&url);
            q::<Vec<String>>(&mut b, &["BLPOP", "dst", "5"])
        })
    };
    wait_blocked(c, 2);
    q::<i64>(c, &["LPUSH", "src", "item"]);
    assert_eq!(mover.join().unwrap(), "item");
    assert_eq!(popper.join().unwrap(), ["dst", "item"]);
    // BLMPOP and BRPOPLPUSH.
    let mpop = {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut b = conn(&url);
            q::<(String, Vec<String>)>(
                &mut b,
                &["BLMPOP", "5", "2", "e1", "e2", "LEFT", "COUNT", "2"],
            )
        })
    };
    wait_blocked(c, 1);
    q::<i64>(c, &["RPUSH", "e2", "p", "q", "r"]);
    assert_eq!(
        mpop.join().unwrap(),
        ("e2".to_string(), vec!["p".to_string(), "q".to_string()])
    );
    assert_eq!(q::<String>(c, &["BRPOPLPUSH", "e2", "e3", "1"]), "r");
    // A client that disconnects while blocked stops being counted.
    {
        use std::io::Write;
        let mut raw = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        raw.write_all(b"*3\r\n$5\r\nBLPOP\r\n$4\r\ngone\r\n$1\r\n0\r\n")
            .unwrap();
        wait_blocked(c, 1);
    }
    wait_blocked(c, 0);
}

#[test]
fn sorted_set_commands() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    assert_eq!(q::<i64>(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]), 3);
    assert_eq!(q::<i64>(c, &["ZADD", "z", "2.5", "a", "4", "d"]), 1);
    assert_eq!(
        q::<i64>(c, &["ZADD", "z", "CH", "5", "a", "4", "d", "-inf", "m"]),
        2
    );
    assert_eq!(q::<i64>(c, &["ZADD", "z", "NX", "100", "a", "6", "e"]), 1);
    assert_eq!(
        q::<i64>(c, &["ZADD", "z", "XX", "CH", "100", "zz", "7", "e"]),
        1
    );
    assert_eq!(
        q::<i64>(c, &["ZADD", "z", "GT", "CH", "1", "a", "9", "d"]),
        1
    );
    assert_eq!(
        q::<i64>(c, &["ZADD", "z", "LT", "CH", "1", "a", "1", "d"]),
        2
    );
    assert_eq!(q::<String>(c, &["ZADD", "z", "INCR", "2", "a"]), "3");
    assert_eq!(
        q::<Option<String>>(c, &["ZADD", "z", "NX", "INCR", "2", "a"]),
        None
    );
    assert_eq!(
        q::<Option<String>>(c, &["ZADD", "nokey", "XX", "INCR", "2", "a"]),
        None
    );
    assert_eq!(q::<i64>(c, &["EXISTS", "nokey"]), 0);
    assert_eq!(
        err(c, &["ZADD", "z", "NX", "XX", "1", "a"]),
        "ERR XX and NX options at the same time are not compatible"
    );
    assert_eq!(
        err(c, &["ZADD", "z", "GT", "LT", "1", "a"]),
        "ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        err(c, &["ZADD", "z", "INCR", "1", "a", "2", "b"]),
        "ERR INCR option supports a single increment-element pair"
    );
    assert_eq!(
        err(c, &["ZADD", "z", "nan", "a"]),
        "ERR value is not a valid float"
    );
    assert_eq!(err(c, &["ZADD", "z", "1", "a", "2"]), "ERR syntax error");
    // a=3 b=2 c=3 d=1 e=7 m=-inf
    assert_eq!(q::<String>(c, &["ZINCRBY", "z", "1.5", "b"]), "3.5");
    assert_eq!(q::<String>(c, &["ZSCORE", "z", "m"]), "-inf");
    assert_eq!(q::<Option<String>>(c, &["ZSCORE", "z", "nope"]), None);
    assert_eq!(
        q::<Vec<Option<String>>>(c, &["ZMSCORE", "z", "a", "nope", "d"]),
        vec![Some("3".into()), None, Some("1".into())]
    );
    assert_eq!(
        err(c, &["ZINCRBY", "z", "inf", "m"]),
        "ERR resulting score is not a number (NaN)"
    );
    assert_eq!(q::<i64>(c, &["ZCARD", "z"]), 6);
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "z", "0", "-1"]),
        ["m", "d", "a", "c", "b", "e"]
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "z", "0", "1", "REV", "WITHSCORES"]),
        ["e", "7", "b", "3.5"]
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZREVRANGE", "z", "-2", "-1"]),
        ["d", "m"]
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "z", "(1", "3", "BYSCORE"]),
        ["a", "c"]
    );
    assert_eq!(
        q::<Vec<String>>(
            c,
            &["ZRANGE", "z", "+inf", "3", "BYSCORE", "REV", "LIMIT", "1", "2"]
        ),
        ["b", "c"]
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGEBYSCORE", "z", "-inf", "1", "WITHSCORES"]),
        ["m", "-inf", "d", "1"]
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZREVRANGEBYSCORE", "z", "7", "(3", "LIMIT", "0", "-1"]),
        ["e", "b"]
    );
    assert_eq!(
        q::<Vec<String>>(
            c,
            &["ZRANGE", "z", "(1", "3", "BYSCORE", "LIMIT", "-1", "2"]
        )
        .len(),
        0
    );
    assert_eq!(q::<i64>(c, &["ZCOUNT", "z", "(1", "+inf"]), 4);
    assert_eq!(q::<i64>(c, &["ZCOUNT", "z", "-inf", "-inf"]), 1);
    assert_eq!(
        err(c, &["ZCOUNT", "z", "x", "1"]),
        "ERR min or max is not a float"
    );
    assert_eq!(q::<i64>(c, &["ZRANK", "z", "a"]), 2);
    assert_eq!(q::<i64>(c, &["ZREVRANK", "z", "a"]), 3);
    assert_eq!(q::<Option<i64>>(c, &["ZRANK", "z", "nope"]), None);
    assert_eq!(
        err(c, &["ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"]),
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    );
    assert_eq!(
        err(c, &["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"]),
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
    assert_eq!(
        err(c, &["ZRANGEBYLEX", "z", "a", "b"]),
        "ERR min or max not valid string range item"
    );
    // Lex ranges over members of equal score.
    q::<i64>(
        c,
        &[
            "ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e",
        ],
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGEBYLEX", "lex", "[b", "(d"]),
        ["b", "c"]
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZREVRANGEBYLEX", "lex", "+", "(c", "LIMIT", "1", "5"]),
        ["d"]
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "lex", "-", "[a", "BYLEX"]),
        ["a"]
    );
    assert_eq!(q::<i64>(c, &["ZLEXCOUNT", "lex", "-", "+"]), 5);
    assert_eq!(q::<i64>(c, &["ZLEXCOUNT", "lex", "(a", "[c"]), 2);
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYLEX", "lex", "[b", "[c"]), 2);
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "lex", "0", "-1"]),
        ["a", "d", "e"]
    );
    // Removal by range and pops; the last member takes the key with it.
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYRANK", "lex", "0", "1"]), 2);
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYSCORE", "lex", "-inf", "+inf"]), 1);
    assert_eq!(q::<i64>(c, &["EXISTS", "lex"]), 0);
    assert_eq!(q::<Vec<String>>(c, &["ZPOPMIN", "z"]), ["m", "-inf"]);
    assert_eq!(
        q::<Vec<String>>(c, &["ZPOPMAX", "z", "2"]),
        ["e", "7", "b", "3.5"]
    );
    assert_eq!(q::<Vec<String>>(c, &["ZPOPMIN", "nokey"]).len(), 0);
    assert_eq!(
        err(c, &["ZPOPMIN", "z", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(q::<i64>(c, &["ZREM", "z", "a", "nope"]), 1);
    // d=1 c=3
    // Combinations, with sets as inputs (score 1).
    q::<i64>(c, &["ZADD", "y", "10", "c", "20", "x"]);
    q::<i64>(c, &["SADD", "s", "c", "d", "w"]);
    assert_eq!(
        q::<Vec<String>>(c, &["ZUNION", "2", "z", "y", "WITHSCORES"]),
        ["d", "1", "c", "13", "x", "20"]
    );
    assert_eq!(
        q::<Vec<String>>(
            c,
            &["ZINTER", "2", "z", "y", "WEIGHTS", "2", "1", "WITHSCORES"]
        ),
        ["c", "16"]
    );
    assert_eq!(
        q::<Vec<String>>(
            c,
            &["ZINTER", "2", "z", "y", "AGGREGATE", "MIN", "WITHSCORES"]
        ),
        ["c", "3"]
    );
    assert_eq!(q::<Vec<String>>(c, &["ZDIFF", "2", "z", "y"]), ["d"]);
    assert_eq!(
        q::<Vec<String>>(
            c,
            &["ZUNION", "2", "z", "s", "AGGREGATE", "MAX", "WITHSCORES"]
        ),
        ["d", "1", "w", "1", "c", "3"]
    );
    assert_eq!(q::<i64>(c, &["ZUNIONSTORE", "u", "3", "z", "y", "s"]), 4);
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "u", "0", "-1", "WITHSCORES"]),
        ["w", "1", "d", "2", "c", "14", "x", "20"]
    );
    assert_eq!(q::<i64>(c, &["ZINTERSTORE", "i", "2", "z", "y"]), 1);
    assert_eq!(q::<i64>(c, &["ZDIFFSTORE", "df", "2", "y", "z"]), 1);
    assert_eq!(q::<Vec<String>>(c, &["ZRANGE", "df", "0", "-1"]), ["x"]);
    assert_eq!(q::<i64>(c, &["ZINTERSTORE", "i", "2", "z", "nokey"]), 0);
    assert_eq!(
        q::<i64>(c, &["EXISTS", "i"]),
        0,
        "an empty result deletes the destination"
    );
    assert_eq!(q::<i64>(c, &["ZINTERCARD", "2", "u", "y"]), 2);
    assert_eq!(q::<i64>(c, &["ZINTERCARD", "2", "u", "y", "LIMIT", "1"]), 1);
    assert_eq!(q::<i64>(c, &["ZRANGESTORE", "rs", "u", "1", "2"]), 2);
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "rs", "0", "-1"]),
        ["d", "c"]
    );
    assert_eq!(
        err(c, &["ZUNIONSTORE", "d", "0", "z"]),
        "ERR at least 1 input key is needed for 'zunionstore' command"
    );
    assert_eq!(err(c, &["ZUNION", "2", "z"]), "ERR syntax error");
    assert_eq!(
        err(c, &["ZUNIONSTORE", "d", "1", "z", "WEIGHTS", "x"]),
        "ERR weight value is not a float"
    );
    assert_eq!(
        err(c, &["ZUNIONSTORE", "d", "1", "z", "AGGREGATE", "avg"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["ZDIFFSTORE", "d", "1", "z", "WEIGHTS", "1"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["ZRANGESTORE", "d", "z", "0", "-1", "WITHSCORES"]),
        "ERR syntax error"
    );
    // Random members and ZSCAN.
    assert_eq!(q::<Vec<String>>(c, &["ZRANDMEMBER", "u", "-6"]).len(), 6);
    assert_eq!(q::<HashSet<String>>(c, &["ZRANDMEMBER", "u", "3"]).len(), 3);
    let with: Vec<String> = q(c, &["ZRANDMEMBER", "u", "2", "WITHSCORES"]);
    assert_eq!(with.len(), 4);
    assert_eq!(q::<String>(c, &["ZSCORE", "u", &with[0]]), with[1]);
    assert_eq!(q::<Option<String>>(c, &["ZRANDMEMBER", "nokey"]), None);
    let (cursor, items): (String, Vec<String>) = q(c, &["ZSCAN", "u", "0", "COUNT", "100"]);
    assert_eq!(cursor, "0");
    let mut pairs: Vec<(String, String)> = items
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("c".into(), "14".into()),
            ("d".into(), "2".into()),
            ("w".into(), "1".into()),
            ("x".into(), "20".into())
        ]
    );
    // WRONGTYPE.
    assert_eq!(err(c, &["ZADD", "s", "1", "a"]), WRONGTYPE);
    assert_eq!(err(c, &["ZRANGE", "s", "0", "-1"]), WRONGTYPE);
    q::<()>(c, &["SET", "str", "v"]);
    assert_eq!(err(c, &["ZUNION", "2", "u", "str"]), WRONGTYPE);
    assert_eq!(q::<String>(c, &["TYPE", "u"]), "zset");
}

#[test]
fn blocking_zset_pops() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = server.url();
    let mut c = conn(&url);
    let c = &mut c;
    assert_eq!(q::<Value>(c, &["BZPOPMIN", "z", "0.1"]), Value::Nil);
    let waiter = {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut b = conn(&url);
            q::<Vec<String>>(&mut b, &["BZPOPMAX", "z1", "z2", "0"])
        })
    };
    wait_blocked(c, 1);
    q::<i64>(c, &["ZADD", "z2", "1", "a", "2", "b"]);
    assert_eq!(waiter.join().unwrap(), ["z2", "b", "2"]);
    assert_eq!(
        q::<Vec<String>>(c, &["BZPOPMIN", "z2", "0"]),
        ["z2", "a", "1"]
    );
    assert_eq!(q::<i64>(c, &["EXISTS", "z2"]), 0);
}

#[test]
fn collection_counts_and_elements_agree_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (acked, server) = common::kill_9_during(dir.path(), 3, |url, t| {
        let mut c = conn(url);
        let mut acked = 0u64;
        loop {
            let i = (acked + 1).to_string();
            let r = redis::pipe()
                .cmd("RPUSH")
                .arg(format!("l{t}"))
                .arg(&i)
                .cmd("HSET")
                .arg(format!("h{t}"))
                .arg(format!("f{i}"))
                .arg(&i)
                .cmd("ZADD")
                .arg(format!("z{t}"))
                .arg(&i)
                .arg(format!("m{i}"))
                .query::<(u64, u64, u64)>(&mut c);
            match r {
                Ok((n, _, _)) => {
                    assert_eq!(n, acked + 1);
                    acked += 1;
                }
                Err(_) => return acked,
            }
        }
    });
    let mut c = conn(&server.url());
    let c = &mut c;
    for (t, &n) in acked.iter().enumerate() {
        let llen: u64 = q(c, &["LLEN", &format!("l{t}")]);
        assert!(
            llen == n || llen == n + 1,
            "l{t}: {llen} vs {n} acknowledged"
        );
        let list: Vec<u64> = q(c, &["LRANGE", &format!("l{t}"), "0", "-1"]);
        assert_eq!(list, (1..=llen).collect::<Vec<_>>());
        let hlen: u64 = q(c, &["HLEN", &format!("h{t}")]);
        let fields: Vec<String> = q(c, &["HKEYS", &format!("h{t}")]);
        assert_eq!(fields.len() as u64, hlen, "h{t}: count and fields agree");
        assert!(hlen >= n && hlen <= llen.max(n) + 1);
        let zcard: u64 = q(c, &["ZCARD", &format!("z{t}")]);
        let members: Vec<String> = q(c, &["ZRANGE", &format!("z{t}"), "0", "-1"]);
        assert_eq!(
            members.len() as u64,
            zcard,
            "z{t}: count and score index agree"
        );
        assert!(zcard >= n && zcard <= n + 1);
    }
}

/// MEMORY USAGE, CONFIG SET save, and the arity and NaN errors Redis's suite checks.
#[test]
fn memory_usage_save_and_error_details() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let _: () = q(&mut c, &["SET", "s", "hello"]);
    let string: i64 = q(&mut c, &["MEMORY", "USAGE", "s"]);
    assert!(string >= 5, "{string}");
    let fields: Vec<String> = (0..100)
        .flat_map(|i| [format!("f{i}"), "v".repeat(100)])
        .collect();
    let mut hset = vec!["HSET", "h"];
    hset.extend(fields.iter().map(String::as_str));
    let _: i64 = q(&mut c, &hset);
    let sampled: i64 = q(&mut c, &["MEMORY", "USAGE", "h"]);
    let all: i64 = q(&mut c, &["MEMORY", "USAGE", "h", "SAMPLES", "0"]);
    assert!(all > 100 * 100, "{all}");
    assert!(sampled > 100 * 100, "{sampled}");
    let missing: Option<i64> = q(&mut c, &["MEMORY", "USAGE", "nokey"]);
    assert_eq!(missing, None);
    assert_eq!(
        err(&mut c, &["MEMORY", "USAGE", "h", "SAMPLES", "-1"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["MEMORY", "USAGE", "h", "FOO"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["MEMORY", "NOPE"]),
        "ERR unknown subcommand 'NOPE'. Try MEMORY HELP."
    );

    let _: () = q(&mut c, &["CONFIG", "SET", "save", ""]);
    let _: () = q(&mut c, &["CONFIG", "SET", "save", "3600 1 300 100"]);
    let save: Vec<String> = q(&mut c, &["CONFIG", "GET", "save"]);
    assert_eq!(save, ["save", "3600 1 300 100"]);
    assert!(err(&mut c, &["CONFIG", "SET", "save", "3600"]).ends_with("Invalid save parameters"));

    assert_eq!(
        err(&mut c, &["LPOP", "l", "1", "1"]),
        "ERR wrong number of arguments for 'lpop' command"
    );
    assert_eq!(
        err(&mut c, &["HINCRBYFLOAT", "hf", "f", "+inf"]),
        "ERR value is NaN or Infinity"
    );
    let exists: i64 = q(&mut c, &["EXISTS", "hf"]);
    assert_eq!(exists, 0);
}

/// Clients blocked on a key are served in the order they blocked: the first BRPOPLPUSH, whose
/// destination holds a string, gets WRONGTYPE; the second gets the element.
#[test]
fn blocked_clients_are_served_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let _: () = q(&mut c, &["SET", "target1", "nolist"]);
    let blocked = |target: &'static str| {
        let url = server.url();
        std::thread::spawn(move || {
            let mut c = conn(&url);
            redis::cmd("BRPOPLPUSH")
                .arg("src")
                .arg(target)
                .arg(0)
                .query::<Option<String>>(&mut c)
        })
    };
    let wait_blocked = |c: &mut redis::Connection, n: usize| {
        let start = Instant::now();
        loop {
            let info: String = q(c, &["INFO", "clients"]);
            if info.contains(&format!("blocked_clients:{n}\r\n")) {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "{info}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let first = blocked("target1");
    wait_blocked(&mut c, 1);
    let second = blocked("target2");
    wait_blocked(&mut c, 2);
    let _: i64 = q(&mut c, &["LPUSH", "src", "foo"]);
    let first = first.join().unwrap();
    assert!(
        first.as_ref().is_err_and(|e| e.code() == Some("WRONGTYPE")),
        "{first:?}"
    );
    assert_eq!(second.join().unwrap().unwrap().as_deref(), Some("foo"));
    let moved: Vec<String> = q(&mut c, &["LRANGE", "target2", "0", "-1"]);
    assert_eq!(moved, ["foo"]);
}

/// ZMPOP and BZMPOP, and the LIMIT and numkeys errors as Redis words them.
#[test]
fn zmpop_bzmpop_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let _: i64 = q(&mut c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    let popped: (String, Vec<(String, f64)>) =
        q(&mut c, &["ZMPOP", "2", "none", "z", "MIN", "COUNT", "2"]);
    assert_eq!(popped.0, "z");
    assert_eq!(popped.1, [("a".into(), 1.0), ("b".into(), 2.0)]);
    let max: (String, Vec<(String, f64)>) = q(&mut c, &["ZMPOP", "1", "z", "MAX"]);
    assert_eq!(max.1, [("c".into(), 3.0)]);
    let empty: Option<Vec<String>> = q(&mut c, &["ZMPOP", "1", "z", "MIN"]);
    assert_eq!(empty, None);
    for bad in ["0", "a", "-1"] {
        assert_eq!(
            err(&mut c, &["ZMPOP", bad, "z", "MIN"]),
            "ERR numkeys should be greater than 0"
        );
        assert_eq!(
            err(&mut c, &["LMPOP", bad, "l", "LEFT"]),
            "ERR numkeys should be greater than 0"
        );
    }
    assert_eq!(err(&mut c, &["ZMPOP", "1", "z", "BAD"]), "ERR syntax error");
    assert_eq!(
        err(&mut c, &["ZMPOP", "1", "z", "MIN", "COUNT", "0"]),
        "ERR count should be greater than 0"
    );
    let timed_out: Option<Vec<String>> = q(&mut c, &["BZMPOP", "0.05", "1", "z", "MIN"]);
    assert_eq!(timed_out, None);
    let _: i64 = q(&mut c, &["ZADD", "z", "5", "e"]);
    let served: (String, Vec<(String, f64)>) = q(&mut c, &["BZMPOP", "1", "1", "z", "MAX"]);
    assert_eq!(served.1, [("e".into(), 5.0)]);

    let _: i64 = q(&mut c, &["ZADD", "lex", "0", "a", "0", "b", "0", "c"]);
    let none: Vec<String> = q(&mut c, &["ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "0", "0"]);
    assert!(none.is_empty());
    let one: Vec<String> = q(&mut c, &["ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "1", "1"]);
    assert_eq!(one, ["b"]);
    assert_eq!(
        err(&mut c, &["ZINTERCARD", "1", "lex", "LIMIT", "a"]),
        "ERR LIMIT can't be negative"
    );
}

/// ZMPOP's pops survive kill -9 like its adds: every acknowledged round (ZADD of a{i} with the
/// lowest score and b{i}, then ZMPOP MIN, which takes a{i}) is there after the restart.
#[test]
fn zmpop_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (acked, server) = common::kill_9_during(dir.path(), 2, |url, t| {
        let mut c = conn(url);
        let mut acked = 0u64;
        loop {
            let i = acked + 1;
            let r = redis::pipe()
                .cmd("ZADD")
                .arg(format!("zp{t}"))
                .arg(-(i as i64))
                .arg(format!("a{i}"))
                .arg(i)
                .arg(format!("b{i}"))
                .cmd("ZMPOP")
                .arg(1)
                .arg(format!("zp{t}"))
                .arg("MIN")
                .query::<(u64, (String, Vec<(String, f64)>))>(&mut c);
            match r {
                Ok((_, (_, popped))) => {
                    assert_eq!(popped, [(format!("a{i}"), -(i as f64))]);
                    acked += 1;
                }
                Err(_) => return acked,
            }
        }
    });
    let mut c = conn(&server.url());
    for (t, &n) in acked.iter().enumerate() {
        let members: Vec<String> = q(&mut c, &["ZRANGE", &format!("zp{t}"), "0", "-1"]);
        for i in 1..=n {
            assert!(members.contains(&format!("b{i}")), "zp{t}: b{i} lost");
            assert!(!members.contains(&format!("a{i}")), "zp{t}: a{i} came back");
        }
        assert!(members.len() as u64 <= n + 2, "zp{t}: {members:?}");
    }
}

/// OBJECT ENCODING answers what Redis would for the same contents and `*-max-*` settings;
/// REFCOUNT, IDLETIME and FREQ as Redis with `noeviction`.
#[test]
fn object_encoding_and_refcount() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let _: () = q(&mut c, &["SET", "int", "123"]);
    let _: () = q(&mut c, &["SET", "short", "hello"]);
    let _: () = q(&mut c, &["SET", "long", &"x".repeat(45)]);
    let _: i64 = q(&mut c, &["SADD", "ints", "1", "2", "3"]);
    let _: i64 = q(&mut c, &["SADD", "words", "a", "b"]);
    let _: i64 = q(&mut c, &["HSET", "h", "f", "v"]);
    let _: i64 = q(&mut c, &["ZADD", "z", "1", "a"]);
    let _: i64 = q(&mut c, &["RPUSH", "l", "a", "b"]);
    let encoding =
        |c: &mut redis::Connection, k: &str| -> Option<String> { q(c, &["OBJECT", "ENCODING", k]) };
    for (k, want) in [
        ("int", "int"),
        ("short", "embstr"),
        ("long", "raw"),
        ("ints", "intset"),
        ("words", "listpack"),
        ("h", "listpack"),
        ("z", "listpack"),
        ("l", "listpack"),
    ] {
        assert_eq!(encoding(&mut c, k).as_deref(), Some(want), "{k}");
    }
    assert_eq!(encoding(&mut c, "nokey"), None);
    // Past the settings, the big encodings.
    let _: () = q(&mut c, &["CONFIG", "SET", "hash-max-listpack-entries", "0"]);
    let _: () = q(&mut c, &["CONFIG", "SET", "zset-max-listpack-value", "0"]);
    let _: () = q(&mut c, &["CONFIG", "SET", "set-max-intset-entries", "0"]);
    let _: () = q(&mut c, &["CONFIG", "SET", "set-max-listpack-entries", "0"]);
    let _: () = q(&mut c, &["CONFIG", "SET", "list-max-listpack-size", "1"]);
    for (k, want) in [
        ("h", "hashtable"),
        ("z", "skiplist"),
        ("ints", "hashtable"),
        ("l", "quicklist"),
    ] {
        assert_eq!(encoding(&mut c, k).as_deref(), Some(want), "{k}");
    }
    let shared: i64 = q(&mut c, &["OBJECT", "REFCOUNT", "int"]);
    assert_eq!(shared, 2_147_483_647);
    let one: i64 = q(&mut c, &["OBJECT", "REFCOUNT", "l"]);
    assert_eq!(one, 1);
    let idle: i64 = q(&mut c, &["OBJECT", "IDLETIME", "l"]);
    assert_eq!(idle, 0);
    assert!(err(&mut c, &["OBJECT", "FREQ", "l"]).starts_with("ERR An LFU maxmemory policy"));
    assert_eq!(
        err(&mut c, &["OBJECT", "NOPE", "l"]),
        "ERR unknown subcommand 'NOPE'. Try OBJECT HELP."
    );
}

/// SETBIT and GETBIT as Redis: bit 0 is the top bit of the first byte, the string grows with
/// zero bytes, a TTL is kept; and every acknowledged SETBIT survives kill -9.
#[test]
fn setbit_getbit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let old: i64 = q(&mut c, &["SETBIT", "b", "1", "1"]);
    assert_eq!(old, 0);
    let v: Vec<u8> = q(&mut c, &["GET", "b"]);
    assert_eq!(v, [0b0100_0000]);
    let old: i64 = q(&mut c, &["SETBIT", "b", "1", "0"]);
    assert_eq!(old, 1);
    let _: i64 = q(&mut c, &["SETBIT", "b", "17", "1"]);
    let v: Vec<u8> = q(&mut c, &["GET", "b"]);
    assert_eq!(v, [0, 0, 0b0100_0000]);
    let bits: Vec<i64> = (16..19)
        .map(|i| q(&mut c, &["GETBIT", "b", &i.to_string()]))
        .collect();
    assert_eq!(bits, [0, 1, 0]);
    let past: i64 = q(&mut c, &["GETBIT", "b", "1000"]);
    assert_eq!(past, 0);
    let missing: i64 = q(&mut c, &["GETBIT", "nokey", "0"]);
    assert_eq!(missing, 0);
    let _: () = q(&mut c, &["SET", "s", "`"]);
    let _: i64 = q(&mut c, &["SETBIT", "s", "6", "1"]);
    let s: String = q(&mut c, &["GET", "s"]);
    assert_eq!(s, "b");
    let _: bool = q(&mut c, &["EXPIRE", "s", "100"]);
    let _: i64 = q(&mut c, &["SETBIT", "s", "7", "1"]);
    let ttl: i64 = q(&mut c, &["TTL", "s"]);
    assert!(ttl > 0, "SETBIT keeps the TTL");
    assert_eq!(
        err(&mut c, &["SETBIT", "b", "4294967296", "1"]),
        "ERR bit offset is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["SETBIT", "b", "-1", "1"]),
        "ERR bit offset is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["SETBIT", "b", "0", "2"]),
        "ERR bit is not an integer or out of range"
    );
    let _: i64 = q(&mut c, &["LPUSH", "l", "x"]);
    assert!(err(&mut c, &["SETBIT", "l", "0", "1"]).starts_with("WRONGTYPE"));
    assert!(err(&mut c, &["GETBIT", "l", "0"]).starts_with("WRONGTYPE"));
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let (acked, server) = common::kill_9_during(dir.path(), 2, |url, t| {
        let mut c = conn(url);
        let mut acked = 0u64;
        loop {
            match redis::cmd("SETBIT")
                .arg(format!("bits{t}"))
                .arg(acked * 3)
                .arg(1)
                .query::<i64>(&mut c)
            {
                Ok(_) => acked += 1,
                Err(_) => return acked,
            }
        }
    });
    let mut c = conn(&server.url());
    for (t, &n) in acked.iter().enumerate() {
        for i in 0..n {
            let bit: i64 = q(
                &mut c,
                &["GETBIT", &format!("bits{t}"), &(i * 3).to_string()],
            );
            assert_eq!(bit, 1, "bits{t}: bit {} lost", i * 3);
        }
    }
}

/// LCS as redis.io shows it, and its errors.
#[test]
fn lcs() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let _: () = q(&mut c, &["MSET", "key1", "ohmytext", "key2", "mynewtext"]);
    let s: String = q(&mut c, &["LCS", "key1", "key2"]);
    assert_eq!(s, "mytext");
    let n: i64 = q(&mut c, &["LCS", "key1", "key2", "LEN"]);
    assert_eq!(n, 6);
    let idx: redis::Value = q(
        &mut c,
        &[
            "LCS",
            "key1",
            "key2",
            "IDX",
            "MINMATCHLEN",
            "4",
            "WITHMATCHLEN",
        ],
    );
    let int = |n| Value::Int(n);
    let pair = |a, b| Value::Array(vec![int(a), int(b)]);
    assert_eq!(
        idx,
        Value::Array(vec![
            Value::BulkString(b"matches".to_vec()),
            Value::Array(vec![Value::Array(vec![pair(4, 7), pair(5, 8), int(4)])]),
            Value::BulkString(b"len".to_vec()),
            int(6),
        ])
    );
    let all: redis::Value = q(&mut c, &["LCS", "key1", "key2", "IDX"]);
    let Value::Array(parts) = all else {
        panic!("{all:?}")
    };
    assert_eq!(
        parts[1],
        Value::Array(vec![
            Value::Array(vec![pair(4, 7), pair(5, 8)]),
            Value::Array(vec![pair(2, 3), pair(0, 1)]),
        ])
    );
    let empty: String = q(&mut c, &["LCS", "key1", "nokey"]);
    assert_eq!(empty, "");
    assert_eq!(
        err(&mut c, &["LCS", "key1", "key2", "LEN", "IDX"]),
        "ERR If you want both the length and indexes, please just use IDX."
    );
    let _: i64 = q(&mut c, &["LPUSH", "l", "x"]);
    assert_eq!(
        err(&mut c, &["LCS", "key1", "l"]),
        "ERR The specified keys must contain string values"
    );
    assert_eq!(
        err(&mut c, &["LCS", "key1", "key2", "FOO"]),
        "ERR syntax error"
    );
}

/// INFO's `cpu` section is in the default set; `commandstats` only in `all`, `everything` or
/// by name, with Redis's fields, and CONFIG RESETSTAT clears it.
#[test]
fn info_cpu_and_commandstats() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let _: () = q(&mut c, &["SET", "a", "1"]);
    let _ = err(&mut c, &["GET"]);
    let _: i64 = q(&mut c, &["LPUSH", "l", "x"]);
    let _ = err(&mut c, &["INCR", "l"]);
    let _ = err(&mut c, &["INCR", "l"]);
    let default: String = q(&mut c, &["INFO"]);
    assert!(default.contains("used_cpu_user:"), "{default}");
    assert!(!default.contains("rejected_calls"), "{default}");
    for all in ["all", "everything"] {
        let info: String = q(&mut c, &["INFO", all]);
        assert!(info.contains("used_cpu_user:") && info.contains("rejected_calls"));
    }
    let stats: String = q(&mut c, &["INFO", "commandSTATS"]);
    assert!(!stats.contains("used_memory"), "{stats}");
    assert!(stats.contains("cmdstat_set:calls=1,"), "{stats}");
    assert!(
        stats.contains(
            "cmdstat_get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0"
        ),
        "{stats}"
    );
    assert!(stats.contains("cmdstat_incr:calls=2,"), "{stats}");
    assert!(stats.contains("rejected_calls=0,failed_calls=2"), "{stats}");
    let _: () = q(&mut c, &["CONFIG", "RESETSTAT"]);
    let stats: String = q(&mut c, &["INFO", "commandstats"]);
    assert!(!stats.contains("cmdstat_set"), "{stats}");
}
