//! Pub/Sub and MONITOR over the wire: subscriptions, patterns and shard channels, RESP2's
//! subscribed mode and RESP3 pushes between replies, a subscriber that never reads is
//! disconnected at its output limit without growing the server, and MONITOR's lines.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{conn, err, q, start};

/// A raw connection that reads replies as text: arrays as `[a, b]`, nulls as `nil`.
struct Raw {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Raw {
    fn new(port: u16) -> Raw {
        let w = TcpStream::connect(("127.0.0.1", port)).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        Raw { w, r }
    }

    fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.w.write_all(out.as_bytes()).unwrap();
    }

    fn read(&mut self) -> String {
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        let line = line.trim_end().to_string();
        let (tag, rest) = line.split_at(1);
        match tag {
            "*" | ">" | "%" | "~" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return "nil".into();
                }
                let n = if tag == "%" { 2 * n } else { n };
                let items: Vec<String> = (0..n).map(|_| self.read()).collect();
                let open = if tag == ">" { ">[" } else { "[" };
                format!("{open}{}]", items.join(", "))
            }
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return "nil".into();
                }
                let mut b = vec![0; n as usize + 2];
                self.r.read_exact(&mut b).unwrap();
                String::from_utf8_lossy(&b[..n as usize]).into_owned()
            }
            "_" => "nil".into(),
            _ => rest.to_string(),
        }
    }

    fn call(&mut self, args: &[&str]) -> String {
        self.send(args);
        self.read()
    }
}

#[test]
fn channels_patterns_and_subscribed_mode() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let mut sub = Raw::new(server.port);
    sub.send(&["SUBSCRIBE", "news", "sport"]);
    assert_eq!(sub.read(), "[subscribe, news, 1]");
    assert_eq!(sub.read(), "[subscribe, sport, 2]");
    assert_eq!(sub.call(&["PSUBSCRIBE", "n*"]), "[psubscribe, n*, 3]");
    // RESP2's subscribed mode: other commands are refused, PING answers an array.
    assert_eq!(
        sub.call(&["GET", "k"]),
        "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    );
    assert_eq!(sub.call(&["PING"]), "[pong, ]");
    assert_eq!(q::<i64>(&mut c, &["PUBLISH", "news", "hello"]), 2);
    assert_eq!(sub.read(), "[message, news, hello]");
    assert_eq!(sub.read(), "[pmessage, n*, news, hello]");
    assert_eq!(q::<i64>(&mut c, &["PUBLISH", "weather", "x"]), 0);
    let channels: Vec<String> = q(&mut c, &["PUBSUB", "CHANNELS"]);
    assert_eq!(channels.len(), 2);
    let numsub: Vec<redis::Value> = q(&mut c, &["PUBSUB", "NUMSUB", "news", "none"]);
    assert_eq!(numsub[1], redis::Value::Int(1));
    assert_eq!(numsub[3], redis::Value::Int(0));
    assert_eq!(q::<i64>(&mut c, &["PUBSUB", "NUMPAT"]), 1);
    let list: String = q(&mut c, &["CLIENT", "LIST"]);
    assert!(list.contains("flags=P db=0 sub=2 psub=1 ssub=0"), "{list}");
    // Unsubscribing from everything leaves subscribed mode.
    sub.send(&["UNSUBSCRIBE"]);
    assert_eq!(sub.read(), "[unsubscribe, news, 2]");
    assert_eq!(sub.read(), "[unsubscribe, sport, 1]");
    assert_eq!(sub.call(&["PUNSUBSCRIBE"]), "[punsubscribe, n*, 0]");
    assert_eq!(sub.call(&["UNSUBSCRIBE"]), "[unsubscribe, nil, 0]");
    assert_eq!(sub.call(&["PING"]), "PONG");
    // Shard channels are their own namespace.
    assert_eq!(sub.call(&["SSUBSCRIBE", "s1"]), "[ssubscribe, s1, 1]");
    assert_eq!(q::<i64>(&mut c, &["PUBLISH", "s1", "x"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SPUBLISH", "s1", "y"]), 1);
    assert_eq!(sub.read(), "[smessage, s1, y]");
    // RESET leaves every subscription.
    assert_eq!(sub.call(&["RESET"]), "RESET");
    assert_eq!(q::<i64>(&mut c, &["SPUBLISH", "s1", "z"]), 0);
    let info: String = q(&mut c, &["INFO", "stats"]);
    assert!(info.contains("pubsub_channels:0\r\n"), "{info}");
}

#[test]
fn resp3_pushes_come_between_replies_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let mut sub = Raw::new(server.port);
    sub.call(&["HELLO", "3"]);
    assert_eq!(sub.call(&["SUBSCRIBE", "ch"]), ">[subscribe, ch, 1]");
    for i in 0..100 {
        let _: i64 = q(&mut c, &["PUBLISH", "ch", &i.to_string()]);
    }
    // Normal commands work while subscribed, and the messages published before come first.
    sub.send(&["SET", "k", "v"]);
    for i in 0..100 {
        assert_eq!(sub.read(), format!(">[message, ch, {i}]"));
    }
    assert_eq!(sub.read(), "OK");
    assert_eq!(sub.call(&["GET", "k"]), "v");
}

/// The server's peak resident memory, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_subscriber_that_never_reads_is_dropped_at_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let mut sub = Raw::new(server.port);
    assert_eq!(
        sub.call(&["SUBSCRIBE", "firehose"]),
        "[subscribe, firehose, 1]"
    );
    let before = peak_rss_kib(server.child.id());
    // 10,000 messages of 8 KiB: 80 MiB, against the default 32 MiB hard limit. The
    // subscriber reads none of it.
    let payload = "x".repeat(8192);
    let mut received = Vec::new();
    for _ in 0..10_000 {
        received.push(q::<i64>(&mut c, &["PUBLISH", "firehose", &payload]));
    }
    assert_eq!(received[0], 1);
    assert_eq!(
        *received.last().unwrap(),
        0,
        "the subscriber was never dropped"
    );
    let info: String = q(&mut c, &["INFO", "stats"]);
    assert!(
        info.contains("client_output_buffer_limit_disconnections:1\r\n"),
        "{info}"
    );
    let grew_mib = peak_rss_kib(server.child.id()).saturating_sub(before) / 1024;
    assert!(grew_mib < 32 + 16, "the server grew by {grew_mib} MiB");
    // Its connection is closed: reading ends (after what the socket buffers held).
    let mut rest = Vec::new();
    let _ = sub.r.read_to_end(&mut rest);
    assert!(rest.len() < 32 << 20, "{} bytes", rest.len());
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
}

#[test]
fn monitor_shows_commands_scripts_and_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let mut mon = Raw::new(server.port);
    assert_eq!(mon.call(&["MONITOR"]), "OK");
    let _: () = q(&mut c, &["SET", "k", "a\"b"]);
    let _: () = q(&mut c, &["EVAL", "redis.call('get', KEYS[1])", "1", "k"]);
    redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("n")
        .query::<()>(&mut c)
        .unwrap();
    let _ = err(&mut c, &["AUTH", "secret"]);
    let _: () = q(&mut c, &["CONFIG", "SET", "hz", "10"]);
    let _: String = q(&mut c, &["PING"]);
    let lines: Vec<String> = (0..7).map(|_| mon.read()).collect();
    let tail = |l: &String| l.split_once("] ").map(|(_, t)| t.to_string()).unwrap();
    assert_eq!(tail(&lines[0]), r#""SET" "k" "a\"b""#);
    assert!(lines[0].contains(" [0 127.0.0.1:"), "{}", lines[0]);
    assert_eq!(
        tail(&lines[1]),
        r#""EVAL" "redis.call('get', KEYS[1])" "1" "k""#
    );
    assert!(lines[2].contains(" [0 lua] \"get\" \"k\""), "{}", lines[2]);
    assert_eq!(tail(&lines[3]), r#""MULTI""#);
    assert_eq!(tail(&lines[4]), r#""INCR" "n""#);
    assert_eq!(tail(&lines[5]), r#""EXEC""#);
    // The password is hidden; CONFIG is not shown at all.
    assert_eq!(tail(&lines[6]), r#""AUTH" "(redacted)""#);
    assert_eq!(tail(&mon.read()), r#""PING""#);
    let list: String = q(&mut c, &["CLIENT", "LIST"]);
    assert!(list.contains("flags=O "), "{list}");
    assert_eq!(mon.call(&["RESET"]), "RESET");
    let list: String = q(&mut c, &["CLIENT", "LIST"]);
    assert!(!list.contains("flags=O "), "{list}");
}

#[test]
fn keyspace_notifications_follow_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let _: () = q(&mut c, &["SELECT", "3"]);
    let _: () = q(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut sub = Raw::new(server.port);
    assert_eq!(
        sub.call(&["PSUBSCRIBE", "__key*"]),
        "[psubscribe, __key*, 1]"
    );
    let mut expect = |events: &[(&str, &str)]| {
        for (event, key) in events {
            assert_eq!(
                sub.read(),
                format!("[pmessage, __key*, __keyspace@3__:{key}, {event}]")
            );
            assert_eq!(
                sub.read(),
                format!("[pmessage, __key*, __keyevent@3__:{event}, {key}]")
            );
        }
    };
    let _: () = q(&mut c, &["SET", "s", "1", "EX", "100"]);
    expect(&[("set", "s"), ("expire", "s")]);
    let _: i64 = q(&mut c, &["INCR", "s"]);
    expect(&[("incrby", "s")]);
    let _: i64 = q(&mut c, &["RPUSH", "l", "a"]);
    let _: String = q(&mut c, &["LPOP", "l"]);
    // The last element gone: the list is deleted.
    expect(&[("rpush", "l"), ("lpop", "l"), ("del", "l")]);
    let _: i64 = q(&mut c, &["SADD", "set", "a"]);
    let _: i64 = q(&mut c, &["SADD", "set", "a"]); // nothing added: no event
    let _: i64 = q(&mut c, &["HSET", "h", "f", "v"]);
    expect(&[("sadd", "set"), ("hset", "h")]);
    let _: () = q(&mut c, &["RENAME", "h", "h2"]);
    expect(&[("rename_from", "h"), ("rename_to", "h2")]);
    let _: i64 = q(&mut c, &["DEL", "set", "h2", "nothing"]);
    expect(&[("del", "set"), ("del", "h2")]);
    // A key expiring while nobody reads it: the expire cycle reports it.
    let _: () = q(&mut c, &["SET", "soon", "x", "PX", "50"]);
    expect(&[("set", "soon"), ("expire", "soon"), ("expired", "soon")]);
    // `n`: only keys that did not exist.
    let _: () = q(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "En"]);
    let _: () = q(&mut c, &["SET", "fresh", "1"]);
    let _: () = q(&mut c, &["SET", "fresh", "2"]);
    let _: () = q(&mut c, &["SET", "other", "1"]);
    assert_eq!(sub.read(), "[pmessage, __key*, __keyevent@3__:new, fresh]");
    assert_eq!(sub.read(), "[pmessage, __key*, __keyevent@3__:new, other]");
    // `m`: reads of missing keys (EXISTS asks, it does not miss).
    let _: () = q(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Em"]);
    let _: i64 = q(&mut c, &["EXISTS", "ghost"]);
    let _: Vec<Option<String>> = q(&mut c, &["MGET", "fresh", "ghost"]);
    assert_eq!(
        sub.read(),
        "[pmessage, __key*, __keyevent@3__:keymiss, ghost]"
    );
}

#[test]
fn client_tracking_invalidates_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut w = conn(&server.url());
    // RESP3: invalidations come as pushes on the same connection.
    let mut t = Raw::new(server.port);
    t.call(&["HELLO", "3"]);
    assert_eq!(t.call(&["CLIENT", "TRACKING", "ON"]), "OK");
    let _: () = q(&mut w, &["SET", "k", "1"]);
    assert_eq!(t.call(&["GET", "k"]), "1");
    let _: () = q(&mut w, &["SET", "other", "1"]); // not read: no message
    let _: () = q(&mut w, &["SET", "k", "2"]);
    assert_eq!(t.read(), ">[invalidate, [k]]");
    // Told once: the key is forgotten until it is read again.
    let _: () = q(&mut w, &["SET", "k", "3"]);
    assert_eq!(t.call(&["PING"]), "PONG");
    // A flush invalidates everything (a null key list).
    assert_eq!(t.call(&["GET", "k"]), "3");
    let _: () = q(&mut w, &["FLUSHALL"]);
    assert_eq!(t.read(), ">[invalidate, nil]");
    assert_eq!(t.call(&["CLIENT", "TRACKING", "OFF"]), "OK");

    // RESP2 with a redirect to a client subscribed to __redis__:invalidate.
    let mut redir = Raw::new(server.port);
    let redir_id = redir.call(&["CLIENT", "ID"]);
    assert_eq!(
        redir.call(&["SUBSCRIBE", "__redis__:invalidate"]),
        "[subscribe, __redis__:invalidate, 1]"
    );
    let mut r2 = Raw::new(server.port);
    assert_eq!(
        r2.call(&["CLIENT", "TRACKING", "ON", "REDIRECT", &redir_id, "NOLOOP"]),
        "OK"
    );
    assert_eq!(r2.call(&["MGET", "a", "b"]), "[nil, nil]");
    assert_eq!(r2.call(&["SET", "a", "mine"]), "OK"); // NOLOOP: its own write is not told
    let _: () = q(&mut w, &["SET", "b", "theirs"]);
    assert_eq!(redir.read(), "[message, __redis__:invalidate, [b]]");
    assert_eq!(r2.call(&["CLIENT", "GETREDIR"]), redir_id);
    // The redirect client gone: a RESP3 tracker is told the redirect is broken.
    assert_eq!(r2.call(&["CLIENT", "TRACKING", "OFF"]), "OK");
    let mut r3 = Raw::new(server.port);
    r3.call(&["HELLO", "3"]);
    assert_eq!(
        r3.call(&["CLIENT", "TRACKING", "ON", "REDIRECT", &redir_id]),
        "OK"
    );
    assert_eq!(r3.call(&["GET", "c"]), "nil");
    drop(redir);
    std::thread::sleep(Duration::from_millis(100));
    let _: () = q(&mut w, &["SET", "c", "1"]);
    assert_eq!(r3.read(), format!(">[tracking-redir-broken, {redir_id}]"));
    let info = r3.call(&["CLIENT", "TRACKINGINFO"]);
    assert!(info.contains("broken_redirect"), "{info}");
}

#[test]
fn bcast_optin_and_the_table_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut w = conn(&server.url());
    let mut b = Raw::new(server.port);
    b.call(&["HELLO", "3"]);
    assert_eq!(
        b.call(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "cart:"]),
        "OK"
    );
    assert!(b
        .call(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "use"])
        .starts_with("ERR Prefix 'use' overlaps with an existing prefix 'user:'"));
    // One message per prefix for the keys one command changed; nothing was read first.
    let _: () = q(
        &mut w,
        &[
            "MSET", "user:1", "a", "user:2", "b", "cart:1", "c", "x", "d",
        ],
    );
    let mut got = vec![b.read(), b.read()];
    got.sort();
    assert_eq!(
        got,
        [">[invalidate, [cart:1]]", ">[invalidate, [user:1, user:2]]"]
    );

    // More prefixes than the key has bytes: found by the key's own prefixes.
    let mut many = Raw::new(server.port);
    many.call(&["HELLO", "3"]);
    let mut args = vec!["CLIENT", "TRACKING", "ON", "BCAST"];
    let prefixes: Vec<String> = (0..10).map(|i| format!("q{i}")).collect();
    for p in &prefixes {
        args.push("PREFIX");
        args.push(p);
    }
    assert_eq!(many.call(&args), "OK");
    let _: () = q(&mut w, &["SET", "q3", "1"]);
    assert_eq!(many.read(), ">[invalidate, [q3]]");

    // OPTIN: only what is read right after CLIENT CACHING yes.
    let mut o = Raw::new(server.port);
    o.call(&["HELLO", "3"]);
    assert_eq!(o.call(&["CLIENT", "TRACKING", "ON", "OPTIN"]), "OK");
    assert_eq!(o.call(&["GET", "x"]), "d");
    assert_eq!(o.call(&["CLIENT", "CACHING", "YES"]), "OK");
    assert_eq!(o.call(&["GET", "user:1"]), "a");
    let _: () = q(&mut w, &["SET", "x", "1"]);
    let _: () = q(&mut w, &["SET", "user:1", "1"]);
    assert_eq!(o.read(), ">[invalidate, [user:1]]");

    // The table holds at most tracking-table-max-keys keys; the rest are invalidated.
    let mut t = Raw::new(server.port);
    t.call(&["HELLO", "3"]);
    assert_eq!(t.call(&["CLIENT", "TRACKING", "ON"]), "OK");
    for i in 0..10 {
        t.call(&["GET", &format!("k{i}")]);
    }
    let _: () = q(&mut w, &["CONFIG", "SET", "tracking-table-max-keys", "4"]);
    for _ in 0..6 {
        assert!(t.read().starts_with(">[invalidate, [k"));
    }
    let info: String = q(&mut w, &["INFO"]);
    assert!(info.contains("tracking_total_keys:4\r\n"), "{info}");
    assert!(info.contains("tracking_clients:4\r\n"), "{info}");
}
