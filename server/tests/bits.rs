//! BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO answer as Redis's do (the cases here
//! were checked beside redis-server 7.0.15), and what BITOP and BITFIELD write survives a
//! kill -9.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{conn, err, q, start};

#[test]
fn bitmaps_count_find_combine_and_pack_fields() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = start(dir.path());
        let mut c = conn(&server.url());
        let c = &mut c;
        let _: () = q(c, &["SET", "s", "foobar"]);
        for (args, want) in [
            (&["BITCOUNT", "s"][..], 26),
            (&["BITCOUNT", "s", "1", "-2"], 18),
            (&["BITCOUNT", "s", "5", "30", "BIT"], 17),
            (&["BITCOUNT", "s", "-3", "-1", "BIT"], 1),
            (&["BITCOUNT", "nokey"], 0),
            (&["BITPOS", "s", "1"], 1),
            (&["BITPOS", "s", "0", "2", "-1"], 16),
            (&["BITPOS", "s", "1", "7", "15", "BIT"], 9),
            (&["BITPOS", "nokey", "0"], 0),
            (&["BITPOS", "nokey", "1"], -1),
        ] {
            let n: i64 = q(c, args);
            assert_eq!(n, want, "{args:?}");
        }
        let _: () = q(c, &["SET", "ff", "\u{7f}"]);
        // Past the end without an explicit end, a string goes on with zeros.
        let n: i64 = q(c, &["BITPOS", "ff", "1"]);
        assert_eq!(n, 1);
        let _: () = redis::cmd("SET")
            .arg("ones")
            .arg(&[0xffu8, 0xff][..])
            .query(c)
            .unwrap();
        let n: i64 = q(c, &["BITPOS", "ones", "0"]);
        assert_eq!(n, 16);
        let n: i64 = q(c, &["BITPOS", "ones", "0", "0", "-1"]);
        assert_eq!(n, -1);
        assert!(err(c, &["BITCOUNT", "s", "0"]).starts_with("ERR syntax error"));
        assert!(err(c, &["BITPOS", "s", "2"]).contains("must be 1 or 0"));

        let _: () = q(c, &["SET", "a", "abcd"]);
        let _: () = q(c, &["SET", "b", "xyz"]);
        let n: i64 = q(c, &["BITOP", "XOR", "x", "a", "b"]);
        assert_eq!(n, 4);
        let x: Vec<u8> = q(c, &["GET", "x"]);
        assert_eq!(x, [b'a' ^ b'x', b'b' ^ b'y', b'c' ^ b'z', b'd']);
        let n: i64 = q(c, &["BITOP", "NOT", "n", "a"]);
        assert_eq!(n, 4);
        assert!(err(c, &["BITOP", "NOT", "n", "a", "b"]).contains("single source key"));
        let _: i64 = q(c, &["LPUSH", "list", "v"]);
        assert!(err(c, &["BITOP", "AND", "n", "a", "list"]).starts_with("WRONGTYPE"));
        let n: i64 = q(c, &["BITOP", "AND", "gone", "nokey1", "nokey2"]);
        assert_eq!(n, 0);

        let r: Vec<Option<i64>> = q(
            c,
            &[
                "BITFIELD", "bf", "SET", "i8", "0", "100", "INCRBY", "i8", "0", "100", "GET", "u4",
                "0",
            ],
        );
        assert_eq!(r, [Some(0), Some(-56), Some(12)]);
        let r: Vec<Option<i64>> = q(
            c,
            &[
                "BITFIELD", "bf", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "-200", "OVERFLOW",
                "FAIL", "INCRBY", "i8", "0", "-1", "SET", "u8", "#1", "-1", "GET", "u8", "#1",
            ],
        );
        // FAIL stays in force: SET u8 -1 overflows too.
        assert_eq!(r, [Some(-128), None, None, Some(0)]);
        let r: Vec<i64> = q(c, &["BITFIELD", "bf", "SET", "u8", "#1", "255"]);
        assert_eq!(r, [0]);
        let r: Vec<i64> = q(c, &["BITFIELD_RO", "bf", "GET", "i8", "0"]);
        assert_eq!(r, [-128]);
        assert!(
            err(c, &["BITFIELD_RO", "bf", "SET", "i8", "0", "1"]).contains("only supports the GET")
        );
        assert!(err(c, &["BITFIELD", "bf", "GET", "u64", "0"]).contains("Invalid bitfield type"));
        assert!(err(c, &["BITFIELD", "bf", "GET", "i8", "-1"]).contains("bit offset"));
        // rdb_changes_since_last_save counts a write that changed something, only.
        let changes = |c: &mut redis::Connection| -> u64 {
            let info: String = q(c, &["INFO", "persistence"]);
            info.lines()
                .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let before = changes(c);
        let _: i64 = q(c, &["SETBIT", "dirty", "0", "0"]);
        let _: i64 = q(c, &["SETBIT", "dirty", "0", "0"]);
        let _: Vec<i64> = q(c, &["BITFIELD", "dirty", "SET", "i5", "0", "0"]);
        assert_eq!(changes(c), before + 1);
        let _: i64 = q(c, &["SETBIT", "dirty", "0", "1"]);
        assert_eq!(changes(c), before + 2);
        let _: () = q(c, &["SAVE"]);
        assert_eq!(changes(c), 0);
        // Reads alone create nothing.
        let _: Vec<i64> = q(c, &["BITFIELD", "nk", "GET", "i8", "0"]);
        let exists: i64 = q(c, &["EXISTS", "nk"]);
        assert_eq!(exists, 0);
    }
    // BITOP's and BITFIELD's writes after a kill -9.
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    let x: Vec<u8> = q(c, &["GET", "x"]);
    assert_eq!(x.len(), 4);
    let exists: i64 = q(c, &["EXISTS", "gone"]);
    assert_eq!(exists, 0);
    let r: Vec<i64> = q(c, &["BITFIELD", "bf", "GET", "i8", "0", "GET", "u8", "8"]);
    assert_eq!(r, [-128, 255]);
}
