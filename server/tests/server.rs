//! The server binary over real TCP: exact reply bytes, pipelining, errors, persistence.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

mod common;

use common::{start, Server};

fn connect(s: &Server) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// Sends raw bytes and reads exactly `expect.len()` bytes of reply.
fn exchange(c: &mut TcpStream, send: &[u8], expect: &[u8]) {
    c.write_all(send).unwrap();
    let mut got = vec![0u8; expect.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expect),
        "after sending {:?}",
        String::from_utf8_lossy(send)
    );
}

#[test]
fn strings_pipelining_errors_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = connect(&server);
    exchange(&mut c, b"PING\r\n", b"+PONG\r\n");
    exchange(&mut c, b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n", b"$2\r\nhi\r\n");
    exchange(
        &mut c,
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
        b"+OK\r\n",
    );
    exchange(&mut c, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"$1\r\nv\r\n");
    exchange(&mut c, b"GET nothing\r\n", b"$-1\r\n");
    // Pipelined: three commands in one write, three replies in order.
    exchange(
        &mut c,
        b"SET a 1 NX\r\nSET a 2 NX\r\nSET a 3 XX GET\r\n",
        b"+OK\r\n$-1\r\n$1\r\n1\r\n",
    );
    exchange(&mut c, b"EXISTS a k a zz\r\n", b":3\r\n");
    exchange(&mut c, b"DEL a zz\r\n", b":1\r\n");
    exchange(&mut c, b"SET k v NX XX\r\n", b"-ERR syntax error\r\n");
    exchange(
        &mut c,
        b"SET k v EX 0\r\n",
        b"-ERR invalid expire time in 'set' command\r\n",
    );
    exchange(
        &mut c,
        b"SET k v EX ten\r\n",
        b"-ERR value is not an integer or out of range\r\n",
    );
    exchange(
        &mut c,
        b"GET\r\n",
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
    exchange(
        &mut c,
        b"FOO bar baz\r\n",
        b"-ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' \r\n",
    );
    exchange(&mut c, b"SET short v PX 100\r\n", b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(150));
    exchange(&mut c, b"GET short\r\n", b"$-1\r\n");
    // A protocol error gets Redis's message and the connection closes.
    exchange(
        &mut c,
        b"*1\r\n$x\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
    let mut rest = Vec::new();
    assert_eq!(c.read_to_end(&mut rest).unwrap(), 0, "connection closed");
    // The server stays up for others, and data survives a restart.
    let mut c2 = connect(&server);
    exchange(&mut c2, b"QUIT\r\n", b"+OK\r\n");
    drop(server);
    let server = start(dir.path());
    let mut c3 = connect(&server);
    exchange(&mut c3, b"GET k\r\n", b"$1\r\nv\r\n");
}

#[test]
fn concurrent_clients_see_atomic_set_nx() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let winners: usize = (0..8)
        .map(|_| {
            let port = server.port;
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
                c.write_all(b"SET lock me NX\r\n").unwrap();
                let mut b = [0u8; 5];
                c.read_exact(&mut b).unwrap();
                usize::from(&b == b"+OK\r\n")
            })
        })
        .map(|t| t.join().unwrap())
        .sum();
    assert_eq!(winners, 1, "exactly one SET NX wins");
}

#[test]
fn counters_strings_multi_key_and_expiry_commands() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = connect(&server);
    exchange(
        &mut c,
        b"INCR n\r\nINCRBY n 41\r\nDECR n\r\nDECRBY n -2\r\n",
        b":1\r\n:42\r\n:41\r\n:43\r\n",
    );
    exchange(
        &mut c,
        b"SET s abc\r\nINCR s\r\n",
        b"+OK\r\n-ERR value is not an integer or out of range\r\n",
    );
    exchange(
        &mut c,
        b"SET big 9223372036854775807\r\nINCR big\r\n",
        b"+OK\r\n-ERR increment or decrement would overflow\r\n",
    );
    exchange(
        &mut c,
        b"DECRBY n -9223372036854775808\r\n",
        b"-ERR decrement would overflow\r\n",
    );
    exchange(
        &mut c,
        b"APPEND s def\r\nSTRLEN s\r\nSTRLEN none\r\n",
        b":6\r\n:6\r\n:0\r\n",
    );
    exchange(
        &mut c,
        b"MSET a 1 b 2\r\nMGET a b zz s\r\n",
        b"+OK\r\n*4\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n$6\r\nabcdef\r\n",
    );
    exchange(
        &mut c,
        b"MSET a\r\n",
        b"-ERR wrong number of arguments for 'mset' command\r\n",
    );
    exchange(
        &mut c,
        b"MSETNX a 9 c 3\r\nMSETNX c 3 d 4\r\nGET a\r\n",
        b":0\r\n:1\r\n$1\r\n1\r\n",
    );
    exchange(
        &mut c,
        b"SETNX a x\r\nSETNX e x\r\nGETSET e y\r\nGETDEL e\r\nGETDEL e\r\n",
        b":0\r\n:1\r\n$1\r\nx\r\n$1\r\ny\r\n$-1\r\n",
    );
    exchange(
        &mut c,
        b"TTL a\r\nTTL missing\r\nEXPIRE a 100\r\nTTL a\r\n",
        b":-1\r\n:-2\r\n:1\r\n:100\r\n",
    );
    exchange(
        &mut c,
        b"EXPIRE a 50 GT\r\nEXPIRE a 50 LT\r\nEXPIRE a 10 NX\r\nEXPIRE b 10 XX\r\n",
        b":0\r\n:1\r\n:0\r\n:0\r\n",
    );
    exchange(
        &mut c,
        b"EXPIRE a 10 NX XX\r\n",
        b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
    );
    exchange(
        &mut c,
        b"PERSIST a\r\nPERSIST a\r\nTTL a\r\n",
        b":1\r\n:0\r\n:-1\r\n",
    );
    // INCR and APPEND keep a key's TTL, SET clears it.
    exchange(
        &mut c,
        b"EXPIRE n 100\r\nINCR n\r\nTTL n\r\nSET n 1\r\nTTL n\r\n",
        b":1\r\n:44\r\n:100\r\n+OK\r\n:-1\r\n",
    );
    exchange(&mut c, b"PEXPIRE b 100\r\n", b":1\r\n");
    std::thread::sleep(Duration::from_millis(150));
    exchange(
        &mut c,
        b"EXISTS b\r\nEXPIRE c -1\r\nEXISTS c\r\n",
        b":0\r\n:1\r\n:0\r\n",
    );
    exchange(
        &mut c,
        b"TYPE a\r\nTYPE nothing\r\n",
        b"+string\r\n+none\r\n",
    );
    exchange(
        &mut c,
        b"SELECT 1\r\nGET a\r\nSELECT 0\r\nGET a\r\n",
        b"+OK\r\n$-1\r\n+OK\r\n$1\r\n1\r\n",
    );
    exchange(
        &mut c,
        b"SELECT 16\r\n",
        b"-ERR DB index is out of range\r\n",
    );
    // Ranges.
    exchange(&mut c, b"SET r \"This is a string\"\r\n", b"+OK\r\n");
    exchange(
        &mut c,
        b"GETRANGE r 0 3\r\nGETRANGE r -3 -1\r\nGETRANGE r 0 -1\r\nGETRANGE r 10 100\r\n",
        b"$4\r\nThis\r\n$3\r\ning\r\n$16\r\nThis is a string\r\n$6\r\nstring\r\n",
    );
    exchange(
        &mut c,
        b"GETRANGE r 5 2\r\nSUBSTR nothing 0 1\r\n",
        b"$0\r\n\r\n$0\r\n\r\n",
    );
    exchange(
        &mut c,
        b"SETRANGE r 5 WAS\r\nGET r\r\n",
        b":16\r\n$16\r\nThis WASa string\r\n",
    );
    exchange(
        &mut c,
        b"SETRANGE pad 3 x\r\nGET pad\r\n",
        b":4\r\n$4\r\n\x00\x00\x00x\r\n",
    );
    exchange(
        &mut c,
        b"SETRANGE empty 5 \"\"\r\nEXISTS empty\r\n",
        b":0\r\n:0\r\n",
    );
    exchange(
        &mut c,
        b"SETRANGE r -1 x\r\n",
        b"-ERR offset is out of range\r\n",
    );
    exchange(
        &mut c,
        b"SETEX t 100 v\r\nTTL t\r\nPSETEX t 0 v\r\n",
        b"+OK\r\n:100\r\n-ERR invalid expire time in 'psetex' command\r\n",
    );
}

#[test]
fn fifty_clients_incrementing_one_key_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let per_client = 10_000;
    let batch = 100;
    let clients: Vec<_> = (0..50)
        .map(|_| {
            let port = server.port;
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                let request = b"INCR counter\r\n".repeat(batch);
                let mut reader = BufReader::new(c.try_clone().unwrap());
                let mut line = String::new();
                for _ in 0..per_client / batch {
                    c.write_all(&request).unwrap();
                    for _ in 0..batch {
                        line.clear();
                        reader.read_line(&mut line).unwrap();
                        assert!(line.starts_with(':'), "{line}");
                    }
                }
            })
        })
        .collect();
    for t in clients {
        t.join().unwrap();
    }
    let mut c = connect(&server);
    exchange(&mut c, b"GET counter\r\n", b"$6\r\n500000\r\n");
}

/// Protocol limits: a bulk over `proto-max-bulk-len` and a query buffer over
/// `client-query-buffer-limit` end the connection (the first with Redis's error, the second
/// silently, as Redis does); other clients and the data are untouched.
#[test]
fn protocol_limits_close_only_the_offending_connection() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("strata.conf");
    std::fs::write(
        &conf,
        "proto-max-bulk-len 1mb\nclient-query-buffer-limit 1mb\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let server = common::start_with(&data, &["--config", conf.to_str().unwrap()]);
    let mut keeper = connect(&server);
    exchange(&mut keeper, b"SET k v\r\n", b"+OK\r\n");

    let mut c = connect(&server);
    exchange(
        &mut c,
        b"*2\r\n$3\r\nGET\r\n$2000000\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
    let mut rest = Vec::new();
    assert_eq!(c.read_to_end(&mut rest).unwrap(), 0, "connection closed");

    // Many arguments under the bulk limit, together over the query buffer limit.
    let mut c = connect(&server);
    let mut header = b"*4\r\n$3\r\nSET\r\n$1\r\nx\r\n$600000\r\n".to_vec();
    header.extend(std::iter::repeat_n(b'a', 600_000));
    header.extend_from_slice(b"\r\n$600000\r\n");
    c.write_all(&header).unwrap();
    let chunk = vec![b'a'; 100_000];
    let mut closed = false;
    for _ in 0..20 {
        if c.write_all(&chunk).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !closed {
        let mut rest = Vec::new();
        // Closed without a reply (a reset is as good as an orderly close here).
        let n = c.read_to_end(&mut rest).unwrap_or(0);
        assert_eq!(n, 0, "no reply: {:?}", String::from_utf8_lossy(&rest));
    }
    exchange(&mut keeper, b"GET x\r\nGET k\r\n", b"$-1\r\n$1\r\nv\r\n");
}
