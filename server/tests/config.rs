//! CONFIG SET moves the listening port (and puts it back when the new one is taken), changes
//! protocol limits for connected clients, and CONFIG REWRITE writes a config file that
//! survives kill -9 and is read back at the next start.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};

use common::{conn, err, free_port, q, start, start_with};

#[test]
fn port_moves_and_a_taken_port_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    let new_port = free_port();
    assert_eq!(
        q::<String>(c, &["CONFIG", "SET", "port", &new_port.to_string()]),
        "OK"
    );
    // The connection that moved it goes on; new ones go to the new port only.
    assert_eq!(q::<String>(c, &["PING"]), "PONG");
    let moved = format!("redis://127.0.0.1:{new_port}/");
    assert_eq!(q::<String>(&mut conn(&moved), &["PING"]), "PONG");
    assert!(std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err());

    // A port someone else holds: Redis's error, and every value put back.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let e = err(
        c,
        &[
            "CONFIG",
            "SET",
            "maxmemory",
            "10000001",
            "port",
            &taken_port,
            "client-query-buffer-limit",
            "10mb",
        ],
    );
    assert!(
        e.starts_with(
            "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port"
        ),
        "{e}"
    );
    let got: HashMap<String, String> = q(
        c,
        &[
            "CONFIG",
            "GET",
            "port",
            "maxmemory",
            "client-query-buffer-limit",
        ],
    );
    assert_eq!(got["port"], new_port.to_string());
    assert_eq!(got["maxmemory"], "0");
    assert_eq!(got["client-query-buffer-limit"], "1073741824");
    assert_eq!(q::<String>(&mut conn(&moved), &["PING"]), "PONG");
}

#[test]
fn limits_change_for_connected_clients() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut admin = conn(&server.url());
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let mut reader = BufReader::new(raw.try_clone().unwrap());
    let mut reply = String::new();
    raw.write_all(b"PING\r\n").unwrap();
    reader.read_line(&mut reply).unwrap();
    assert_eq!(reply, "+PONG\r\n");
    let _: () = q(&mut admin, &["CONFIG", "SET", "proto-max-bulk-len", "1mb"]);
    // The connected client's next big argument is refused (Redis answers and closes).
    raw.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2097152\r\n")
        .unwrap();
    reply.clear();
    reader.read_line(&mut reply).unwrap();
    assert_eq!(reply, "-ERR Protocol error: invalid bulk length\r\n");
    assert_eq!(q::<String>(&mut admin, &["PING"]), "PONG");
}

#[test]
fn rewrite_survives_kill_9_and_is_read_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("strata.conf");
    let data = dir.path().join("data");
    std::fs::write(&conf, "# kept\nhz 20\nsave 900 1\n").unwrap();
    let conf_arg = conf.to_str().unwrap().to_string();
    let server = start_with(&data, &["--config", &conf_arg]);
    let mut c = conn(&server.url());
    let _: () = q(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "hz",
            "50",
            "slowlog-max-len",
            "7",
            "notify-keyspace-events",
            "Kx",
            "save",
            "",
        ],
    );
    assert_eq!(q::<String>(&mut c, &["CONFIG", "REWRITE"]), "OK");
    drop(server); // SIGKILL
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.starts_with("# kept\nhz 50\nsave \"\"\n"), "{text}");
    let server = start_with(&data, &["--config", &conf_arg]);
    let mut c = conn(&server.url());
    let got: HashMap<String, String> = q(
        &mut c,
        &[
            "CONFIG",
            "GET",
            "hz",
            "slowlog-max-len",
            "notify-keyspace-events",
            "save",
        ],
    );
    assert_eq!(got["hz"], "50");
    assert_eq!(got["slowlog-max-len"], "7");
    assert_eq!(got["notify-keyspace-events"], "xK");
    assert_eq!(got["save"], "");

    // Without a config file there is nothing to rewrite.
    let bare = tempfile::tempdir().unwrap();
    let server = start(bare.path());
    assert_eq!(
        err(&mut conn(&server.url()), &["CONFIG", "REWRITE"]),
        "ERR The server is running without a config file"
    );
}
