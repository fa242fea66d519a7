//! What a careless operator or a damaged disk does to the server: it must refuse to start over
//! a directory it cannot read, never erase it, and report damage instead of hiding it.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::{conn, err, q, start};

/// Every file in `dir` (but LOCK) with its contents.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "LOCK")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_missing_current_stops_the_server_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = start(dir.path());
        let mut c = conn(&server.url());
        for i in 0..100 {
            let _: () = q(&mut c, &["SET", &format!("k{i}"), "v"]);
        }
        let _: () = q(&mut c, &["SAVE"]);
        let _: () = q(&mut c, &["SET", "after-save", "in the WAL"]);
    } // killed with SIGKILL
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    let before = files(dir.path());

    let out = Command::new(env!("CARGO_BIN_EXE_strata-server"))
        .args(["--port", &common::free_port().to_string()])
        .args(["--dir", dir.path().to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the server must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CURRENT is missing"), "{stderr}");
    assert_eq!(
        files(dir.path()),
        before,
        "every file is still there, unchanged"
    );
}

#[test]
fn mget_reports_a_damaged_table_like_get() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<String> = (0..300).map(|i| format!("key:{i}")).collect();
    {
        let server = start(dir.path());
        let mut c = conn(&server.url());
        for k in &keys {
            let _: () = q(&mut c, &["SET", k, &"x".repeat(100)]);
        }
        let _: () = q(&mut c, &["SAVE"]);
    }
    // Flip a byte in the first data block of the largest table: the metadata keyspace's,
    // which holds the strings (the small state table is read at start).
    let largest = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&largest).unwrap();
    bytes[50] ^= 0xff;
    std::fs::write(&largest, bytes).unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let damaged = keys
        .iter()
        .find(|k| {
            redis::cmd("GET")
                .arg(k.as_str())
                .query::<Option<String>>(&mut c)
                .is_err()
        })
        .expect("some key lies in a damaged block");
    let healthy = keys
        .iter()
        .find(|k| {
            redis::cmd("GET")
                .arg(k.as_str())
                .query::<Option<String>>(&mut c)
                .is_ok()
        })
        .expect("some key lies in an intact block");

    let e = err(&mut c, &["MGET", healthy, damaged]);
    assert!(e.starts_with("ERR ") && e.contains("corruption"), "{e}");
    // A key of another type still answers nil, as in Redis.
    let _: () = q(&mut c, &["HSET", "h", "f", "v"]);
    let got: Vec<Option<String>> = q(&mut c, &["MGET", healthy, "h", "missing"]);
    assert_eq!(got, vec![Some("x".repeat(100)), None, None]);
}

/// A value longer than a table entry holds (128 MiB) is stored (in a blob file), flushed and
/// read back after a restart; so is a string APPEND grows past it.
#[test]
fn a_value_no_table_can_hold_is_stored_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![b'v'; 128 << 20];
    {
        let server = start(dir.path());
        let mut c = conn(&server.url());
        let _: () = redis::cmd("SET")
            .arg("big")
            .arg(&big)
            .query(&mut c)
            .unwrap();
        let _: () = q(&mut c, &["SET", "grow", "x"]);
        let len: i64 = redis::cmd("APPEND")
            .arg("grow")
            .arg(&big)
            .query(&mut c)
            .unwrap();
        assert_eq!(len, (128 << 20) + 1);
        let _: () = q(&mut c, &["SET", "small", "kept"]);
        let _: () = q(&mut c, &["SAVE"]);
        let _: () = q(&mut c, &["SET", "after", "kept too"]);
    }
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let got: Vec<Option<String>> = q(&mut c, &["MGET", "small", "after"]);
    assert_eq!(got, vec![Some("kept".into()), Some("kept too".into())]);
    let back: Vec<u8> = redis::cmd("GET").arg("big").query(&mut c).unwrap();
    assert!(back == big, "GET big returned {} bytes", back.len());
    let len: i64 = q(&mut c, &["STRLEN", "grow"]);
    assert_eq!(len, (128 << 20) + 1);
    let tail: String = q(&mut c, &["GETRANGE", "grow", "0", "3"]);
    assert_eq!(tail, "xvvv");
}

/// The server's peak resident memory (VmHWM), in bytes.
fn peak_rss(server: &common::Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// One large SET, sent in pieces as a client does, holds at most about two copies of the value
/// at once: it is read into a buffer of its own size (not a doubling query buffer), handed to
/// the command without a copy, and the command lets go of it once it is in the batch.
#[test]
fn a_large_set_peaks_at_about_twice_its_size() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let size: usize = 64 << 20;
    let before = peak_rss(&server);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.write_all(format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${size}\r\n").as_bytes())
        .unwrap();
    let chunk = vec![b'v'; 1 << 20];
    for _ in 0..size >> 20 {
        s.write_all(&chunk).unwrap();
    }
    s.write_all(b"\r\n").unwrap();
    let mut reply = [0u8; 5];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+OK\r\n");
    let grown = peak_rss(&server) - before;
    assert!(
        grown < size as u64 * 23 / 10,
        "peak RSS grew by {} MiB for a {} MiB value",
        grown >> 20,
        size >> 20
    );
    let mut c = conn(&server.url());
    let len: i64 = q(&mut c, &["STRLEN", "big"]);
    assert_eq!(len, size as i64);
}

/// With few descriptors, the server lowers `maxclients` so that clients can never take the
/// ones the engine needs: surplus clients are refused, and flushes keep working.
#[test]
fn running_out_of_descriptors_costs_only_refused_connections() {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let (server, log) = common::spawn(common::limited("ulimit -n 256", dir.path(), port), port);
    assert!(
        log.contains("maxclients lowered from 10000 to 192"),
        "{log}"
    );

    let mut accepted = Vec::new();
    let mut refused = 0;
    for _ in 0..250 {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        c.write_all(b"PING\r\n").unwrap();
        let mut reply = [0u8; 7];
        c.read_exact(&mut reply).unwrap();
        match &reply {
            b"+PONG\r\n" => accepted.push(c),
            b"-ERR ma" => refused += 1,
            other => panic!("{}", String::from_utf8_lossy(other)),
        }
    }
    assert_eq!(accepted.len(), 192);
    assert_eq!(refused, 58);

    let mut c = accepted.pop().unwrap();
    let mut exchange = |send: &[u8], expect: &[u8]| {
        c.write_all(send).unwrap();
        let mut got = vec![0u8; expect.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expect)
        );
    };
    exchange(b"SET k v\r\n", b"+OK\r\n");
    exchange(b"SAVE\r\n", b"+OK\r\n");
    exchange(b"SET k2 v2\r\n", b"+OK\r\n");
    let e = b"-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with 192\r\n";
    exchange(b"CONFIG SET maxclients 1000\r\n", e);
    drop(server);
}

/// A damaged WAL tail that recovery drops is logged and counted in INFO, never silent.
#[test]
fn a_dropped_wal_tail_is_logged_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = start(dir.path());
        let mut c = conn(&server.url());
        for i in 0..50 {
            let _: () = q(&mut c, &["SET", &format!("k{i}"), "v"]);
        }
    } // SIGKILL: the writes are only in the WAL
    let log = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .max()
        .unwrap();
    let mut bytes = std::fs::read(&log).unwrap();
    // The WAL is preallocated: its records end at the last non-zero byte.
    let end = bytes.iter().rposition(|&b| b != 0).unwrap();
    bytes[end - 3] ^= 0xff;
    std::fs::write(&log, bytes).unwrap();

    let port = common::free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata-server"));
    cmd.args(["--port", &port.to_string()])
        .args(["--dir", dir.path().to_str().unwrap()]);
    let (server, lines) = common::spawn(cmd, port);
    let name = log.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        lines.contains("recovery dropped the damaged tail of") && lines.contains(&name),
        "{lines}"
    );
    let mut c = conn(&server.url());
    let info: String = q(&mut c, &["INFO", "strata"]);
    assert!(
        info.contains("strata_recovery_dropped_wal_tails:1"),
        "{info}"
    );
    // Everything before the damaged record is there.
    let first: Option<String> = q(&mut c, &["GET", "k0"]);
    assert_eq!(first.as_deref(), Some("v"));
}

/// `bind` takes several addresses as Redis's does: every IPv4 address and, where the host has
/// IPv6, every IPv6 address, on one port.
#[test]
fn bind_listens_on_ipv4_and_ipv6_together() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with(dir.path(), &["--bind", "* -::*"]);
    let mut c = conn(&format!("redis://127.0.0.1:{}/", server.port));
    let _: () = q(&mut c, &["SET", "k", "v"]);
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let mut c6 = conn(&format!("redis://[::1]:{}/", server.port));
        let got: Option<String> = q(&mut c6, &["GET", "k"]);
        assert_eq!(got.as_deref(), Some("v"));
    }
    let backlog: Vec<String> = q(&mut c, &["CONFIG", "GET", "tcp-backlog"]);
    assert_eq!(backlog, ["tcp-backlog", "511"]);
}

/// A full disk (here: the file-size limit, which fails writes past 2 MiB with EFBIG) stops
/// writes with MISCONF, not the server: reads and PING keep working on new connections, a
/// refused write does not close the connection, and after a restart with room every
/// acknowledged write is there.
#[test]
fn a_full_disk_refuses_writes_and_keeps_serving_reads() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    // `ulimit -f` counts 512-byte blocks in sh; SIGXFSZ is ignored so writes fail instead.
    let limits = "trap '' XFSZ; ulimit -f 4096";
    let (server, _) = common::spawn(common::limited(limits, dir.path(), port), port);

    let value = "x".repeat(10_000);
    let mut acknowledged = Vec::new();
    let mut c = conn(&server.url());
    let refusal = (0..1000)
        .find_map(|i| {
            let key = format!("k{i}");
            match redis::cmd("SET").arg(&key).arg(&value).query::<()>(&mut c) {
                Ok(()) => {
                    acknowledged.push(key);
                    None
                }
                Err(e) => Some(e),
            }
        })
        .expect("the disk filled up");
    assert_eq!(refusal.code(), Some("MISCONF"), "{refusal}");
    assert!(!acknowledged.is_empty());

    let mut c = conn(&server.url());
    let pong: String = q(&mut c, &["PING"]);
    assert_eq!(pong, "PONG");
    let got: Option<String> = q(&mut c, &["GET", &acknowledged[0]]);
    assert_eq!(got.as_deref(), Some(value.as_str()));
    let e = err(&mut c, &["SET", "more", "v"]);
    assert!(e.starts_with("MISCONF "), "{e}");
    let pong: String = q(&mut c, &["PING"]);
    assert_eq!(pong, "PONG", "the refused write left the connection open");
    drop(server);

    // With room again (no limit), everything acknowledged is there.
    let server = start(dir.path());
    let mut c = conn(&server.url());
    for key in &acknowledged {
        let got: Option<String> = q(&mut c, &["GET", key]);
        assert_eq!(got.as_deref(), Some(value.as_str()), "{key}");
    }
}

/// A directory that cannot be created is named in the error the server stops with.
#[test]
fn a_startup_io_error_names_the_path() {
    let missing_parent = "/proc/no-such-dir/strata";
    let out = Command::new(env!("CARGO_BIN_EXE_strata-server"))
        .args(["--port", &common::free_port().to_string()])
        .args(["--dir", missing_parent])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(missing_parent), "{stderr}");
}

/// A compaction that runs out of room (here: tables past a 2 MiB file-size limit) stops
/// writes with MISCONF; once room is back (the limit lifted on the running process) the
/// engine retries by itself and writes resume, without a restart and without losing anything
/// acknowledged.
/// Lifts the file-size limit of the running server (`prlimit`, no restart) and waits until
/// a write (`SET after room`) is accepted again, 10 s at most.
fn lift_file_size_limit_and_resume(server: &common::Server, c: &mut redis::Connection) {
    let lifted = Command::new("prlimit")
        .args([
            "--pid",
            &server.child.id().to_string(),
            "--fsize=unlimited:",
        ])
        .status()
        .unwrap();
    assert!(lifted.success());
    let resumed = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        redis::cmd("SET")
            .arg("after")
            .arg("room")
            .query::<()>(c)
            .is_ok()
    });
    assert!(resumed, "writes did not resume");
}

#[test]
fn writes_resume_by_themselves_once_room_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    // Only the soft limit, so that it can be lifted later without privileges.
    let limits = "trap '' XFSZ; ulimit -S -f 4096";
    let (server, _) = common::spawn(common::limited(limits, dir.path(), port), port);
    let mut c = conn(&server.url());
    // Small memtables: WALs and L0 tables stay under the limit, compaction outputs do not.
    let _: () = q(
        &mut c,
        &["CONFIG", "SET", "strata-memtable-size", "1048576"],
    );
    // Values that do not compress, so compaction outputs grow past the limit.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut value = |n: usize| -> String {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'!' + (state % 90) as u8)
            })
            .collect()
    };
    let mut acknowledged = Vec::new();
    let refusal = (0..5000)
        .find_map(|i| {
            let (key, v) = (format!("k{i}"), value(10_000));
            match redis::cmd("SET").arg(&key).arg(&v).query::<()>(&mut c) {
                Ok(()) => {
                    acknowledged.push((key, v));
                    None
                }
                Err(e) => Some(e),
            }
        })
        .expect("a compaction ran out of room");
    assert_eq!(refusal.code(), Some("MISCONF"), "{refusal}");
    let info: String = q(&mut c, &["INFO", "strata"]);
    assert!(info.contains("strata_compactions"), "{info}");

    lift_file_size_limit_and_resume(&server, &mut c);
    for (key, v) in &acknowledged {
        let got: Option<String> = q(&mut c, &["GET", key]);
        assert_eq!(got.as_ref(), Some(v), "{key}");
    }
    drop(server);
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let got: Option<String> = q(&mut c, &["GET", "after"]);
    assert_eq!(got.as_deref(), Some("room"));
    let n: i64 = q(&mut c, &["DBSIZE"]);
    assert!(
        n as usize > acknowledged.len(),
        "the acknowledged keys and \"after\""
    );
}

/// A WAL that cannot grow (a file-size limit here, a full disk alike): the write that hit it
/// is refused with MISCONF and reads go on; once the limit is lifted the engine cuts the
/// failed write off the log and writes resume by themselves, under `appendfsync always`,
/// with every acknowledged write kept, also across a restart.
#[test]
fn a_wal_that_cannot_grow_resumes_once_room_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    // 2 MiB: the WAL reaches it long before the memtable fills.
    let limits = "trap '' XFSZ; ulimit -S -f 2048";
    let (server, _) = common::spawn(common::limited(limits, dir.path(), port), port);
    let mut c = conn(&server.url());
    let _: () = q(&mut c, &["CONFIG", "SET", "appendfsync", "always"]);
    let value = |i: usize| format!("{i:06}").repeat(1500);
    let mut acknowledged = Vec::new();
    let refusal = (0..1000)
        .find_map(|i| {
            let key = format!("k{i}");
            match redis::cmd("SET")
                .arg(&key)
                .arg(value(i))
                .query::<()>(&mut c)
            {
                Ok(()) => {
                    acknowledged.push(key);
                    None
                }
                Err(e) => Some(e),
            }
        })
        .expect("the WAL ran out of room");
    assert_eq!(refusal.code(), Some("MISCONF"), "{refusal}");
    // Reads go on, on this connection or a new one.
    let mut c = conn(&server.url());
    let got: Option<String> = q(&mut c, &["GET", "k0"]);
    assert_eq!(got, Some(value(0)));
    let refused = err(&mut c, &["SET", "while", "full"]);
    assert!(refused.starts_with("MISCONF"), "{refused}");
    // INFO says so, with the cause.
    let info: String = q(&mut c, &["INFO", "persistence"]);
    assert!(info.contains("aof_last_write_status:err"), "{info}");
    let cause = info
        .lines()
        .find_map(|l| l.strip_prefix("strata_background_error:"))
        .unwrap_or_default();
    assert!(cause.contains("too large"), "{info}");

    lift_file_size_limit_and_resume(&server, &mut c);
    let info: String = q(&mut c, &["INFO", "persistence"]);
    assert!(info.contains("aof_last_write_status:ok"), "{info}");
    assert!(info.contains("strata_background_error:\r\n"), "{info}");
    for _ in 0..200 {
        let _: () = q(&mut c, &["INCR", "counter"]);
    }
    drop(server);
    let server = start(dir.path());
    let mut c = conn(&server.url());
    for (i, key) in acknowledged.iter().enumerate() {
        let got: Option<String> = q(&mut c, &["GET", key]);
        assert_eq!(got, Some(value(i)), "{key}");
    }
    let got: Option<String> = q(&mut c, &["GET", "after"]);
    assert_eq!(got.as_deref(), Some("room"));
    let counter: i64 = q(&mut c, &["GET", "counter"]);
    assert_eq!(counter, 200);
}

/// Reads from `stream` until the server closes it (or 10 s pass); returns what was read and
/// whether it closed.
fn read_to_close(stream: &mut std::net::TcpStream) -> (Vec<u8>, bool) {
    use std::io::Read;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (got, true),
            Err(_) => return (got, false),
        }
    }
}

/// A client that never authenticated gets Redis's small output limit: a pipeline of 20,000
/// password guesses is cut off after a few hundred (Redis 7's CVE-2025-21605 limit), while a
/// client that authenticated may pipeline as much as it likes, and the server goes on.
#[test]
fn a_pipeline_of_password_guesses_is_cut_off() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let server = common::start_with(dir.path(), &["--requirepass", "s3cret"]);
    let addr = format!("127.0.0.1:{}", server.port);

    let mut guesser = std::net::TcpStream::connect(&addr).unwrap();
    let guess = "*2\r\n$4\r\nAUTH\r\n$5\r\nwrong\r\n".repeat(20_000);
    // The server may close while this is still being sent.
    let _ = guesser.write_all(guess.as_bytes());
    let (replies, closed) = read_to_close(&mut guesser);
    assert!(closed, "the guessing connection was not closed");
    let answered = String::from_utf8_lossy(&replies)
        .matches("WRONGPASS")
        .count();
    assert!(answered < 1000, "{answered} guesses answered");

    let mut honest = std::net::TcpStream::connect(&addr).unwrap();
    let mut pipeline = String::from("*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n");
    pipeline.push_str(&"*1\r\n$4\r\nPING\r\n".repeat(20_000));
    pipeline.push_str("*1\r\n$4\r\nQUIT\r\n");
    honest.write_all(pipeline.as_bytes()).unwrap();
    let (replies, closed) = read_to_close(&mut honest);
    assert!(closed, "QUIT closes");
    let text = String::from_utf8_lossy(&replies);
    assert_eq!(text.matches("+PONG\r\n").count(), 20_000);

    let mut c = conn(&format!("redis://:s3cret@127.0.0.1:{}/", server.port));
    let pong: String = q(&mut c, &["PING"]);
    assert_eq!(pong, "PONG");
}
