//! HyperLogLog: PFADD, PFCOUNT and PFMERGE count as Redis does, read HLLs Redis wrote (its
//! exact string format), refuse damaged ones, and keep what they write through a kill -9.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{conn, err, q, start};

/// `PFADD hv alpha beta gamma delta` then `PFCOUNT hv` in redis-server 7.0.15, then `GET hv`:
/// a sparse HLL with its cardinality (4) cached.
const FROM_REDIS: &str = "48594c4c010000000400000000000000556e8c41db8450938c54c6804355";

#[test]
fn hyperloglogs_count_merge_and_survive() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = start(dir.path());
        let mut c = conn(&server.url());
        let c = &mut c;
        let bytes: Vec<u8> = (0..FROM_REDIS.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&FROM_REDIS[i..i + 2], 16).unwrap())
            .collect();
        let _: () = redis::cmd("SET").arg("hv").arg(&bytes).query(c).unwrap();
        let n: i64 = q(c, &["PFCOUNT", "hv"]);
        assert_eq!(n, 4);
        // The same elements change no register of Redis's HLL.
        let changed: i64 = q(c, &["PFADD", "hv", "alpha", "beta", "gamma", "delta"]);
        assert_eq!(changed, 0);
        let created: i64 = q(c, &["PFADD", "empty"]);
        assert_eq!(created, 1);
        let n: i64 = q(c, &["PFCOUNT", "empty"]);
        assert_eq!(n, 0);
        for chunk in 0..20 {
            let mut cmd = redis::cmd("PFADD");
            cmd.arg("big");
            for i in 0..500 {
                cmd.arg(format!("e{}", chunk * 500 + i));
            }
            let _: i64 = cmd.query(c).unwrap();
        }
        let n: i64 = q(c, &["PFCOUNT", "big"]);
        assert!((9_800..10_200).contains(&n), "{n}");
        let len: i64 = q(c, &["STRLEN", "big"]);
        assert_eq!(len, 12_304, "10,000 elements make a dense HLL");
        let _: () = q(c, &["PFMERGE", "all", "hv", "big"]);
        let union: i64 = q(c, &["PFCOUNT", "all"]);
        let both: i64 = q(c, &["PFCOUNT", "hv", "big"]);
        assert_eq!(union, both);
        // A stale cache is recomputed and kept (Redis keeps it in the value too).
        let flag: Vec<u8> = q(c, &["GETRANGE", "all", "15", "15"]);
        assert_eq!(flag, [0]);
        let _: () = q(c, &["SET", "plain", "bar"]);
        assert!(err(c, &["PFADD", "plain", "x"]).starts_with("WRONGTYPE"));
        let _: i64 = q(c, &["APPEND", "hv", "hello"]);
    }
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    assert!(err(c, &["PFCOUNT", "hv"]).starts_with("INVALIDOBJ"));
    let n: i64 = q(c, &["PFCOUNT", "big"]);
    assert!((9_800..10_200).contains(&n), "{n}");
    let n: i64 = q(c, &["PFCOUNT", "all"]);
    assert!(n > 9_800, "{n}");
}
