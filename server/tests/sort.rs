//! SORT and SORT_RO answer as Redis's do; SORT ... STORE keeps its list through a kill -9
//! and changes the destination alone for WATCH.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{conn, err, q, start};

#[test]
fn sort_by_get_limit_alpha_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = start(dir.path());
        let mut c = conn(&server.url());
        let c = &mut c;
        let _: i64 = q(c, &["RPUSH", "l", "3", "1", "10", "2"]);
        let v: Vec<String> = q(c, &["SORT", "l"]);
        assert_eq!(v, ["1", "2", "3", "10"]);
        let v: Vec<String> = q(c, &["SORT", "l", "ALPHA", "DESC", "LIMIT", "1", "2"]);
        assert_eq!(v, ["2", "10"]);
        for (id, w) in [("1", "30"), ("2", "10"), ("3", "20"), ("10", "0")] {
            let _: () = q(c, &["SET", &format!("w_{id}"), w]);
            let _: i64 = q(c, &["HSET", &format!("o_{id}"), "name", &format!("n{id}")]);
        }
        let v: Vec<Option<String>> = q(
            c,
            &[
                "SORT",
                "l",
                "BY",
                "w_*",
                "GET",
                "#",
                "GET",
                "o_*->name",
                "GET",
                "nokey_*",
            ],
        );
        let want = ["10", "n10", "2", "n2", "3", "n3", "1", "n1"];
        for (i, w) in want.iter().enumerate() {
            assert_eq!(v[i + i / 2].as_deref(), Some(*w));
        }
        assert!(v.iter().skip(2).step_by(3).all(Option::is_none));
        // BY a constant keeps the list's order.
        let v: Vec<String> = q(c, &["SORT", "l", "BY", "nosort", "DESC"]);
        assert_eq!(v, ["2", "10", "1", "3"]);
        let _: i64 = q(c, &["SADD", "s", "b", "a"]);
        assert!(err(c, &["SORT", "s"]).contains("can't be converted into double"));
        assert!(err(c, &["SORT", "l", "LIMIT", "1"]).starts_with("ERR syntax error"));
        assert!(err(c, &["SORT_RO", "l", "STORE", "x"]).starts_with("ERR syntax error"));
        let _: () = q(c, &["SET", "str", "x"]);
        assert!(err(c, &["SORT", "str"]).starts_with("WRONGTYPE"));
        let n: i64 = q(c, &["SORT", "s", "BY", "nosort", "STORE", "dst"]);
        assert_eq!(n, 2);
        let keys: Vec<String> = q(
            c,
            &[
                "COMMAND", "GETKEYS", "SORT", "l", "STORE", "a", "STORE", "b",
            ],
        );
        assert_eq!(keys, ["l", "b"]);
        // WATCH: a SORT ... STORE changes its destination, not its source.
        let _: () = q(c, &["WATCH", "l"]);
        let _: i64 = q(c, &["SORT", "l", "STORE", "other"]);
        let _: () = q(c, &["MULTI"]);
        let _: String = q(c, &["PING"]);
        let r: Option<Vec<String>> = q(c, &["EXEC"]);
        assert!(r.is_some(), "EXEC ran: the source was only read");
        let _: () = q(c, &["WATCH", "other"]);
        let _: i64 = q(c, &["SORT", "missing", "STORE", "other"]);
        let _: () = q(c, &["MULTI"]);
        let _: String = q(c, &["PING"]);
        let r: Option<Vec<String>> = q(c, &["EXEC"]);
        assert!(r.is_none(), "EXEC failed: the destination was deleted");
        let exists: i64 = q(c, &["EXISTS", "other"]);
        assert_eq!(exists, 0);
    }
    // STORE's list survives a kill -9, sorted by bytes (a set stored without sorting).
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let v: Vec<String> = q(&mut c, &["LRANGE", "dst", "0", "-1"]);
    assert_eq!(v, ["a", "b"]);
}
