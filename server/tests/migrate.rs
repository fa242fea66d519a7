//! MIGRATE between two servers: keys move with their TTL (or are copied), REPLACE and
//! BUSYKEY, several keys at once, AUTH, the kept connection, and a key acknowledged by a
//! target that fsyncs every write survives that target's kill -9.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::{conn, err, q, start, start_with};

#[test]
fn keys_move_to_another_server() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a = start(a_dir.path());
    let b = start_with(b_dir.path(), &["--appendfsync", "always"]);
    let mut ca = conn(&a.url());
    let mut cb = conn(&b.url());
    let port = b.port.to_string();
    let _: () = q(&mut ca, &["SET", "s", "v", "EX", "100"]);
    let _: i64 = q(&mut ca, &["RPUSH", "l", "x", "y"]);
    let _: i64 = q(&mut ca, &["HSET", "h", "f", "1"]);
    assert_eq!(
        q::<String>(&mut ca, &["MIGRATE", "127.0.0.1", &port, "s", "0", "5000"]),
        "OK"
    );
    assert_eq!(q::<i64>(&mut ca, &["EXISTS", "s"]), 0);
    assert_eq!(q::<String>(&mut cb, &["GET", "s"]), "v");
    let ttl: i64 = q(&mut cb, &["TTL", "s"]);
    assert!((90..=100).contains(&ttl), "{ttl}");
    // COPY keeps the source; without REPLACE an existing target key is refused.
    assert_eq!(
        q::<String>(
            &mut ca,
            &["MIGRATE", "127.0.0.1", &port, "l", "0", "5000", "COPY"]
        ),
        "OK"
    );
    assert_eq!(q::<i64>(&mut ca, &["LLEN", "l"]), 2);
    assert_eq!(
        err(&mut ca, &["MIGRATE", "127.0.0.1", &port, "l", "0", "5000"]),
        "ERR Target instance replied with error: BUSYKEY Target key name already exists."
    );
    assert_eq!(q::<i64>(&mut ca, &["LLEN", "l"]), 2, "a refused key stays");
    // Several keys into database 3, replacing.
    assert_eq!(
        q::<String>(
            &mut ca,
            &[
                "MIGRATE",
                "127.0.0.1",
                &port,
                "",
                "3",
                "5000",
                "REPLACE",
                "KEYS",
                "l",
                "h",
                "nope"
            ]
        ),
        "OK"
    );
    assert_eq!(q::<i64>(&mut ca, &["EXISTS", "l", "h"]), 0);
    let _: () = q(&mut cb, &["SELECT", "3"]);
    assert_eq!(
        q::<Vec<String>>(&mut cb, &["LRANGE", "l", "0", "-1"]),
        ["x", "y"]
    );
    assert_eq!(q::<String>(&mut cb, &["HGET", "h", "f"]), "1");
    // Nothing to move; bad arguments.
    assert_eq!(
        q::<String>(
            &mut ca,
            &["MIGRATE", "127.0.0.1", &port, "gone", "0", "5000"]
        ),
        "NOKEY"
    );
    assert_eq!(
        err(
            &mut ca,
            &["MIGRATE", "127.0.0.1", &port, "x", "0", "5000", "KEYS", "a"]
        ),
        "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
    );
    let keys: Vec<String> = q(
        &mut ca,
        &[
            "COMMAND", "GETKEYS", "MIGRATE", "h", "1", "", "0", "5", "KEYS", "k1", "k2",
        ],
    );
    assert_eq!(keys, ["k1", "k2"]);
    let info: String = q(&mut ca, &["INFO", "stats"]);
    assert!(info.contains("migrate_cached_sockets:1\r\n"), "{info}");
    // Nobody listening there.
    let closed = common::free_port().to_string();
    let _: () = q(&mut ca, &["SET", "t", "1"]);
    assert_eq!(
        err(&mut ca, &["MIGRATE", "127.0.0.1", &closed, "t", "0", "500"]),
        "IOERR error or timeout connecting to the client"
    );

    // The target fsyncs before it acknowledges: the key survives its kill -9.
    drop(cb);
    drop(b);
    let b = start(b_dir.path());
    let mut cb = conn(&b.url());
    assert_eq!(q::<String>(&mut cb, &["GET", "s"]), "v");
    let _: () = q(&mut cb, &["SELECT", "3"]);
    assert_eq!(q::<String>(&mut cb, &["HGET", "h", "f"]), "1");
}

#[test]
fn migrate_authenticates() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a = start(a_dir.path());
    let b = start_with(b_dir.path(), &["--requirepass", "pw"]);
    let mut ca = conn(&a.url());
    let port = b.port.to_string();
    let _: () = q(&mut ca, &["SET", "k", "v"]);
    let e = err(&mut ca, &["MIGRATE", "127.0.0.1", &port, "k", "0", "5000"]);
    assert!(
        e.starts_with("ERR Target instance replied with error: NOAUTH"),
        "{e}"
    );
    let e = err(
        &mut ca,
        &[
            "MIGRATE",
            "127.0.0.1",
            &port,
            "k",
            "0",
            "5000",
            "AUTH",
            "bad",
        ],
    );
    assert!(
        e.starts_with("ERR Target instance replied with error: WRONGPASS"),
        "{e}"
    );
    assert_eq!(q::<i64>(&mut ca, &["EXISTS", "k"]), 1, "nothing moved");
    assert_eq!(
        q::<String>(
            &mut ca,
            &[
                "MIGRATE",
                "127.0.0.1",
                &port,
                "k",
                "0",
                "5000",
                "AUTH2",
                "default",
                "pw"
            ]
        ),
        "OK"
    );
    let mut cb = conn(&format!("redis://:pw@127.0.0.1:{port}/"));
    let got: HashMap<String, String> = q(&mut cb, &["CONFIG", "GET", "requirepass"]);
    assert_eq!(got["requirepass"], "pw");
    assert_eq!(q::<String>(&mut cb, &["GET", "k"]), "v");
}
