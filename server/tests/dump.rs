//! DUMP and RESTORE: every type round-trips, payloads Redis 7.0 wrote (listpack, intset and
//! quicklist encodings) restore here, RESTORE's options and errors are Redis's, and a
//! restored key survives a kill -9.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{conn, err, q, start};

/// `DUMP` payloads taken from redis-server 7.0.15 (`RPUSH l a b 1 -5 300 70000 -9000000000
/// <100 x>`, `SADD si 1 2 -3 100000`, `HSET h f1 v1 f2 2`, `ZADD z 1.5 a -2 b 3e10 c inf d`).
const FROM_REDIS: [(&str, &str); 4] = [
    (
        "l",
        "120102c32e408b1f8b00000008008161028162020101dffb02c12c02f270110104f400e68ee7fdff05ffff\
         09e06478e05a000166ff0a00ebb4a96273a6cd84",
    ),
    (
        "si",
        "0b180400000004000000fdffffff0100000002000000a08601000a00e56f68d5ee10feb5",
    ),
    (
        "h",
        "10151500000004008266310382763103826632030201ff0a005c5ea813feec1ff5",
    ),
    (
        "z",
        "112a2a0000000800816202dffe0281610283312e3504816302f400ac23fc060000000981640283696e66\
         04ff0a002d72d6bd27cfd0b5",
    ),
];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn restore(
    c: &mut redis::Connection,
    key: &str,
    ttl: &str,
    payload: &[u8],
    opts: &[&str],
) -> redis::RedisResult<()> {
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg(key).arg(ttl).arg(payload);
    for o in opts {
        cmd.arg(*o);
    }
    cmd.query(c)
}

#[test]
fn dump_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = start(dir.path());
        let mut c = conn(&server.url());
        let c = &mut c;
        for (key, hex) in FROM_REDIS {
            restore(c, key, "0", &unhex(hex), &[]).unwrap();
        }
        let l: Vec<String> = q(c, &["LRANGE", "l", "0", "-1"]);
        assert_eq!(l[..7], ["a", "b", "1", "-5", "300", "70000", "-9000000000"]);
        assert_eq!(l[7], "x".repeat(100));
        let mut si: Vec<i64> = q(c, &["SMEMBERS", "si"]);
        si.sort_unstable();
        assert_eq!(si, [-3, 1, 2, 100_000]);
        let h: Vec<String> = q(c, &["HGETALL", "h"]);
        assert_eq!(h, ["f1", "v1", "f2", "2"]);
        let z: Vec<String> = q(c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]);
        assert_eq!(z, ["b", "-2", "a", "1.5", "c", "30000000000", "d", "inf"]);

        // Every type round-trips through our own payloads.
        let _: () = q(c, &["SET", "s", "value"]);
        for key in ["s", "l", "si", "h", "z"] {
            let payload: Vec<u8> = q(c, &["DUMP", key]);
            restore(c, &format!("{key}2"), "0", &payload, &[]).unwrap();
            let again: Vec<u8> = q(c, &["DUMP", &format!("{key}2")]);
            assert_eq!(again, payload, "{key}");
        }
        let none: Option<Vec<u8>> = q(c, &["DUMP", "missing"]);
        assert!(none.is_none());

        // Options and errors.
        let payload: Vec<u8> = q(c, &["DUMP", "s"]);
        let e = restore(c, "s", "0", &payload, &[]).unwrap_err();
        assert_eq!(e.code(), Some("BUSYKEY"));
        restore(c, "s", "100000", &payload, &["REPLACE"]).unwrap();
        let ttl: i64 = q(c, &["PTTL", "s"]);
        assert!(ttl > 90_000 && ttl <= 100_000, "{ttl}");
        restore(c, "s", "1", &payload, &["REPLACE", "ABSTTL"]).unwrap();
        let exists: i64 = q(c, &["EXISTS", "s"]);
        assert_eq!(exists, 0, "an absolute TTL in the past leaves no key");
        let e = restore(c, "t", "-1", &payload, &[]).unwrap_err();
        assert!(e.to_string().contains("Invalid TTL value"), "{e}");
        let e = restore(c, "t", "0", &payload, &["BOGUS"]).unwrap_err();
        assert!(e.to_string().contains("syntax error"), "{e}");
        let e = restore(c, "t", "0", &payload, &["FREQ", "300"]).unwrap_err();
        assert!(e.to_string().contains("Invalid FREQ value"), "{e}");
        let mut bad = payload.clone();
        bad[1] ^= 1;
        let e = restore(c, "t", "0", &bad, &[]).unwrap_err();
        assert!(e.to_string().contains("checksum are wrong"), "{e}");
        // A checksummed payload whose value is nonsense (a list claiming a billion
        // elements in a few bytes) is refused without allocating them.
        let lie = strata_redis::rdb::seal(vec![1, 0x80, 0x3b, 0x9a, 0xca, 0x00, 0x01, b'a']);
        let e = restore(c, "t", "0", &lie, &[]).unwrap_err();
        assert!(e.to_string().contains("Bad data format"), "{e}");
        assert!(err(c, &["RESTORE", "t", "x", "y"]).contains("not an integer"));
        restore(c, "ttl", "60000", &payload, &[]).unwrap();
    }
    // Restored keys after a kill -9, their TTL with them.
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let h: Vec<String> = q(&mut c, &["HGETALL", "h2"]);
    assert_eq!(h, ["f1", "v1", "f2", "2"]);
    let ttl: i64 = q(&mut c, &["PTTL", "ttl"]);
    assert!(ttl > 0, "{ttl}");
}
