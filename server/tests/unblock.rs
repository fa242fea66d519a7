//! CLIENT UNBLOCK ends a blocking command as its timeout would or with Redis's error; a
//! blocked BLMOVE that is served touches its destination for WATCH; a key that becomes another
//! type does not serve a blocked client.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{conn, q, start};

/// Waits until `n` clients are blocked.
fn blocked(c: &mut redis::Connection, n: u64) {
    for _ in 0..500 {
        let info: String = q(c, &["INFO", "clients"]);
        if info.contains(&format!("blocked_clients:{n}\r")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never {n} blocked clients");
}

#[test]
fn unblock_watch_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;

    for (mode, want) in [("TIMEOUT", None), ("ERROR", Some("UNBLOCKED"))] {
        let url = server.url();
        let waiter = std::thread::spawn(move || {
            let mut b = conn(&url);
            let id: i64 = q(&mut b, &["CLIENT", "ID"]);
            let r = redis::cmd("BLPOP")
                .arg("nothing")
                .arg(0)
                .query::<Option<(String, String)>>(&mut b);
            (id, r)
        });
        blocked(c, 1);
        let ids: String = q(c, &["CLIENT", "LIST"]);
        let id = ids
            .lines()
            .filter(|l| l.contains("cmd=blpop"))
            .find_map(|l| {
                l.strip_prefix("id=")?
                    .split(' ')
                    .next()?
                    .parse::<i64>()
                    .ok()
            })
            .unwrap();
        let n: i64 = q(c, &["CLIENT", "UNBLOCK", &id.to_string(), mode]);
        assert_eq!(n, 1);
        let (_, r) = waiter.join().unwrap();
        match want {
            None => assert_eq!(r.unwrap(), None),
            Some(code) => assert_eq!(r.unwrap_err().code(), Some(code)),
        }
    }
    let n: i64 = q(c, &["CLIENT", "UNBLOCK", "999999"]);
    assert_eq!(n, 0);

    // A served BLMOVE wrote its destination: a WATCH on it fails the EXEC.
    let url = server.url();
    let mover = std::thread::spawn(move || {
        let mut b = conn(&url);
        redis::cmd("BLMOVE")
            .arg("src")
            .arg("dst")
            .arg("LEFT")
            .arg("RIGHT")
            .arg(0)
            .query::<String>(&mut b)
            .unwrap()
    });
    blocked(c, 1);
    let mut w = conn(&server.url());
    let _: () = q(&mut w, &["WATCH", "dst"]);
    let _: i64 = q(c, &["LPUSH", "src", "v"]);
    assert_eq!(mover.join().unwrap(), "v");
    let _: () = q(&mut w, &["MULTI"]);
    let _: String = q(&mut w, &["PING"]);
    let r: Option<Vec<String>> = q(&mut w, &["EXEC"]);
    assert!(r.is_none());

    // A key that turns into a string does not serve a client blocked on a sorted set.
    let url = server.url();
    let popper = std::thread::spawn(move || {
        let mut b = conn(&url);
        redis::cmd("BZPOPMIN")
            .arg("z")
            .arg(0)
            .query::<(String, String, String)>(&mut b)
            .unwrap()
    });
    blocked(c, 1);
    let _: () = q(c, &["MULTI"]);
    for cmd in [
        &["ZADD", "z", "0", "foo"][..],
        &["DEL", "z"],
        &["SET", "z", "foo"],
    ] {
        let queued: String = q(c, cmd);
        assert_eq!(queued, "QUEUED");
    }
    let _: Vec<redis::Value> = q(c, &["EXEC"]);
    std::thread::sleep(Duration::from_millis(50));
    let _: i64 = q(c, &["DEL", "z"]);
    let _: i64 = q(c, &["ZADD", "z", "1", "bar"]);
    assert_eq!(
        popper.join().unwrap(),
        ("z".into(), "bar".into(), "1".into())
    );
}

/// CLIENT REPLY OFF, ON and SKIP silence replies as Redis does; CLIENT LIST names a
/// container's subcommand (`cmd=client|list`) and shows the query buffer.
#[test]
fn client_reply_and_list() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.write_all(
        b"CLIENT REPLY OFF\r\nPING a\r\nCLIENT REPLY ON\r\nPING b\r\nCLIENT REPLY SKIP\r\nPING c\r\nPING d\r\n",
    )
    .unwrap();
    let want = b"+OK\r\n$1\r\nb\r\n$1\r\nd\r\n";
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, want);
    let mut c = conn(&server.url());
    let list: String = q(&mut c, &["CLIENT", "INFO"]);
    assert!(list.contains(" cmd=client|info "), "{list}");
    assert!(list.contains(" qbuf=26 "), "{list}");
}

/// COMMAND LIST lists commands and subcommands, filtered by pattern or ACL category.
#[test]
fn command_list_filters() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    let all: Vec<String> = q(c, &["COMMAND", "LIST"]);
    assert!(all.iter().any(|n| n == "set") && all.iter().any(|n| n == "client|list"));
    let set: Vec<String> = q(c, &["COMMAND", "LIST", "FILTERBY", "PATTERN", "set"]);
    assert_eq!(set, ["set"]);
    let scripting: Vec<String> = q(c, &["COMMAND", "LIST", "FILTERBY", "ACLCAT", "scripting"]);
    assert!(scripting.iter().any(|n| n == "script|kill"));
    assert!(!scripting.iter().any(|n| n == "set"));
    let none: Vec<String> = q(c, &["COMMAND", "LIST", "FILTERBY", "MODULE", "x"]);
    assert!(none.is_empty());
    assert!(common::err(c, &["COMMAND", "LIST", "bad"]).starts_with("ERR syntax error"));
}
