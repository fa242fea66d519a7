//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, as Redis answers them; EXEC runs
//! without another client's command in between and reads its own writes; acknowledged EXECs
//! survive kill -9, and one in flight is kept whole or not at all.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{conn, err, q, start};
use redis::Value;

fn raw(c: &mut redis::Connection, args: &[&str]) -> Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap()
}

#[test]
fn queued_commands_run_at_exec_and_errors_abort_or_stay_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;

    let _: () = q(c, &["RPUSH", "l", "a", "b"]);
    assert_eq!(raw(c, &["MULTI"]), Value::Okay);
    assert_eq!(
        raw(c, &["LRANGE", "l", "0", "-1"]),
        Value::SimpleString("QUEUED".into())
    );
    assert_eq!(
        raw(c, &["SET", "l2", "x"]),
        Value::SimpleString("QUEUED".into())
    );
    // A runtime error is the command's reply; the rest runs.
    assert_eq!(
        raw(c, &["INCR", "l2"]),
        Value::SimpleString("QUEUED".into())
    );
    assert_eq!(raw(c, &["PING"]), Value::SimpleString("QUEUED".into()));
    // Read raw: the client library would turn the error inside the array into an Err.
    c.send_packed_command(&redis::cmd("EXEC").get_packed_command())
        .unwrap();
    let Value::Array(replies) = c.recv_response().unwrap() else {
        panic!("EXEC answers an array")
    };
    assert_eq!(replies.len(), 4);
    assert_eq!(replies[1], Value::Okay);
    assert!(
        matches!(&replies[2], Value::ServerError(e) if e.details().unwrap_or("").contains("not an integer")),
        "{:?}",
        replies[2]
    );
    assert_eq!(replies[3], Value::SimpleString("PONG".into()));
    let got: String = q(c, &["GET", "l2"]);
    assert_eq!(got, "x");

    // Errors while queueing abort the whole transaction.
    assert_eq!(raw(c, &["MULTI"]), Value::Okay);
    assert_eq!(
        raw(c, &["SET", "a", "1"]),
        Value::SimpleString("QUEUED".into())
    );
    assert!(err(c, &["NOSUCHCOMMAND"]).starts_with("ERR unknown command"));
    assert!(err(c, &["GET"]).starts_with("ERR wrong number of arguments"));
    assert!(err(c, &["SAVE"]).contains("not allowed inside a transaction"));
    assert!(err(c, &["MULTI"]).contains("MULTI calls can not be nested"));
    assert!(err(c, &["WATCH", "a"]).contains("WATCH inside MULTI is not allowed"));
    assert!(err(c, &["EXEC"]).starts_with("EXECABORT"));
    let exists: i64 = q(c, &["EXISTS", "a"]);
    assert_eq!(exists, 0);

    assert!(err(c, &["EXEC"]).contains("EXEC without MULTI"));
    assert!(err(c, &["DISCARD"]).contains("DISCARD without MULTI"));
    assert_eq!(raw(c, &["MULTI"]), Value::Okay);
    assert_eq!(raw(c, &["DEL", "l"]), Value::SimpleString("QUEUED".into()));
    assert_eq!(raw(c, &["DISCARD"]), Value::Okay);
    let len: i64 = q(c, &["LLEN", "l"]);
    assert_eq!(len, 2);

    // A blocking command inside a transaction answers as its timeout would.
    assert_eq!(raw(c, &["MULTI"]), Value::Okay);
    assert_eq!(
        raw(c, &["BLPOP", "empty", "0"]),
        Value::SimpleString("QUEUED".into())
    );
    assert_eq!(
        raw(c, &["BZPOPMIN", "emptyz", "0"]),
        Value::SimpleString("QUEUED".into())
    );
    assert_eq!(
        raw(c, &["EXEC"]),
        Value::Array(vec![Value::Nil, Value::Nil])
    );
}

#[test]
fn watch_fails_exec_on_any_change_to_a_watched_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let mut other = conn(&server.url());
    let (c, other) = (&mut c, &mut other);

    let exec_ping = |c: &mut redis::Connection| -> Value {
        assert_eq!(raw(c, &["MULTI"]), Value::Okay);
        raw(c, &["PING"]);
        raw(c, &["EXEC"])
    };
    let pong = Value::Array(vec![Value::SimpleString("PONG".into())]);

    // Unmodified: runs. Modified by another client: nil, and the watch is gone after.
    let _: () = q(c, &["SET", "x", "1"]);
    let _: () = q(c, &["WATCH", "x", "y"]);
    assert_eq!(exec_ping(c), pong);
    let _: () = q(c, &["WATCH", "x"]);
    let _: () = q(other, &["SET", "x", "2"]);
    assert_eq!(exec_ping(c), Value::Nil);
    let _: () = q(other, &["SET", "x", "3"]);
    assert_eq!(exec_ping(c), pong);

    // UNWATCH and DISCARD forget the watch.
    let _: () = q(c, &["WATCH", "x"]);
    let _: () = q(other, &["SET", "x", "4"]);
    let _: () = q(c, &["UNWATCH"]);
    assert_eq!(exec_ping(c), pong);

    // Writes of every kind touch: DEL, EXPIRE, a collection command, FLUSHDB of an
    // existing key, SWAPDB; a write to the same name in another database does not.
    for (setup, touch) in [
        (vec!["SET", "k", "v"], vec!["DEL", "k"]),
        (vec!["SET", "k", "v"], vec!["EXPIRE", "k", "100"]),
        (vec!["RPUSH", "k", "v"], vec!["LPOP", "k"]),
        (vec!["SET", "k", "v"], vec!["FLUSHDB"]),
        (vec!["SET", "k", "v"], vec!["SWAPDB", "0", "1"]),
    ] {
        let _: () = q(c, &["FLUSHALL"]);
        let _: () = q(c, &setup);
        let _: () = q(c, &["WATCH", "k"]);
        let _: () = q(other, &touch);
        assert_eq!(exec_ping(c), Value::Nil, "{touch:?}");
    }
    let _: () = q(c, &["FLUSHALL"]);
    let _: () = q(c, &["WATCH", "k"]);
    let _: () = q(other, &["FLUSHDB"]);
    assert_eq!(exec_ping(c), pong, "FLUSHDB of a key that did not exist");
    let _: () = q(c, &["WATCH", "k"]);
    let _: () = q(other, &["SELECT", "3"]);
    let _: () = q(other, &["SET", "k", "elsewhere"]);
    assert_eq!(exec_ping(c), pong, "another database's key");

    // A watched key that expires before EXEC fails it.
    let _: () = q(c, &["SET", "t", "v", "PX", "50"]);
    let _: () = q(c, &["WATCH", "t"]);
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(exec_ping(c), Value::Nil);
}

/// Commands inside an EXEC read what the earlier ones wrote: strings, counters, every
/// collection type, key counts, renames.
#[test]
fn commands_in_a_transaction_read_their_own_writes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    let _: () = q(c, &["SET", "old", "1"]);
    type Replies = (
        String,
        i64,
        String,
        i64,
        String,
        Vec<String>,
        Vec<String>,
        Vec<String>,
        String,
        i64,
        i64,
        i64,
    );
    let mut p = redis::pipe();
    p.atomic();
    p.cmd("SET").arg("n").arg("10");
    p.cmd("INCRBY").arg("n").arg("5");
    p.cmd("GET").arg("n");
    p.cmd("RPUSH").arg("l").arg("a").arg("b").arg("c");
    p.cmd("LPOP").arg("l");
    p.cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .arg("g")
        .arg("w")
        .ignore();
    p.cmd("HGETALL").arg("h");
    p.cmd("ZADD")
        .arg("z")
        .arg("2")
        .arg("two")
        .arg("1")
        .arg("one")
        .ignore();
    p.cmd("ZRANGE").arg("z").arg("0").arg("-1");
    p.cmd("SADD").arg("s").arg("x").ignore();
    p.cmd("SMEMBERS").arg("s");
    p.cmd("RENAME").arg("old").arg("new");
    p.cmd("DBSIZE");
    p.cmd("DEL").arg("s");
    p.cmd("EXISTS").arg("s");
    let (set, incr, get, push, pop, hgetall, zrange, smembers, rename, dbsize, del, exists): Replies =
        p.query(c).unwrap();
    assert_eq!((set.as_str(), incr, get.as_str()), ("OK", 15, "15"));
    assert_eq!((push, pop.as_str()), (3, "a"));
    assert_eq!(hgetall.len(), 4);
    assert_eq!(zrange, vec!["one".to_string(), "two".to_string()]);
    assert_eq!(smembers, vec!["x".to_string()]);
    assert_eq!((rename.as_str(), dbsize, del, exists), ("OK", 6, 1, 0));
    let after: Vec<String> = q(c, &["LRANGE", "l", "0", "-1"]);
    assert_eq!(after, vec!["b", "c"]);
    let size: i64 = q(c, &["DBSIZE"]);
    assert_eq!(size, 5);
}

/// No command of another client runs between the commands of an EXEC: a reader never sees
/// the first of two writes without the second.
#[test]
fn exec_is_not_interleaved_with_other_clients() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let url = server.url();
    let reader = std::thread::spawn(move || {
        let mut c = conn(&url);
        let deadline = Instant::now() + Duration::from_millis(1500);
        let mut reads = 0;
        while Instant::now() < deadline {
            let (a, b): (Option<i64>, Option<i64>) = redis::pipe()
                .cmd("GET")
                .arg("a")
                .cmd("GET")
                .arg("b")
                .query(&mut c)
                .unwrap();
            // MGET reads both keys in one command.
            let both: Vec<Option<i64>> =
                redis::cmd("MGET").arg("a").arg("b").query(&mut c).unwrap();
            assert_eq!(both[0], both[1], "a transaction seen half done");
            let _ = (a, b);
            reads += 1;
        }
        reads
    });
    let mut c = conn(&server.url());
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut n = 0;
    while Instant::now() < deadline {
        let _: () = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg("a")
            .ignore()
            .cmd("INCR")
            .arg("b")
            .ignore()
            .query(&mut c)
            .unwrap();
        n += 1;
    }
    assert!(reader.join().unwrap() > 10);
    let got: Vec<i64> = redis::cmd("MGET").arg("a").arg("b").query(&mut c).unwrap();
    assert_eq!(got, vec![n, n]);
}

/// With `appendfsync always`, every EXEC acknowledged before a kill -9 is there after the
/// restart, and the one in flight is there whole or not at all.
#[test]
fn acknowledged_transactions_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (acked, server) = common::kill_9_during(dir.path(), 2, |url, t| {
        let mut c = conn(url);
        let mut acked = 0u64;
        loop {
            let i = acked + 1;
            let r = redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(format!("s{t}"))
                .arg(i)
                .cmd("RPUSH")
                .arg(format!("l{t}"))
                .arg(i)
                .cmd("HSET")
                .arg(format!("h{t}"))
                .arg(format!("f{i}"))
                .arg(i)
                .query::<(String, u64, u64)>(&mut c);
            match r {
                Ok(_) => acked += 1,
                Err(_) => return acked,
            }
        }
    });
    let mut c = conn(&server.url());
    let c = &mut c;
    for (t, &n) in acked.iter().enumerate() {
        let s: u64 = q(c, &["GET", &format!("s{t}")]);
        let llen: u64 = q(c, &["LLEN", &format!("l{t}")]);
        let hlen: u64 = q(c, &["HLEN", &format!("h{t}")]);
        assert!(s == n || s == n + 1, "s{t}: {s} vs {n} acknowledged");
        // One batch: the EXEC in flight at the kill is there whole or not at all.
        assert_eq!((llen, hlen), (s, s), "l{t} and h{t} against s{t}");
    }
}
