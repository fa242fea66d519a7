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

#[test]
fn a_value_no_table_can_hold_is_refused_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = start(dir.path());
        let mut c = conn(&server.url());
        let big = vec![b'v'; 128 << 20];
        let e = redis::cmd("SET")
            .arg("big")
            .arg(&big)
            .query::<()>(&mut c)
            .unwrap_err();
        assert!(
            e.detail().unwrap_or("").contains("a table entry holds"),
            "{e}"
        );
        // APPEND that would grow a string past the limit is refused the same way.
        let _: () = q(&mut c, &["SET", "grow", "x"]);
        let e = redis::cmd("APPEND")
            .arg("grow")
            .arg(&big)
            .query::<i64>(&mut c)
            .unwrap_err();
        assert!(e.detail().unwrap_or("").contains("table entry"), "{e}");
        let _: () = q(&mut c, &["SET", "small", "kept"]);
        let _: () = q(&mut c, &["SAVE"]);
        let _: () = q(&mut c, &["SET", "after", "kept too"]);
    }
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let got: Vec<Option<String>> = q(&mut c, &["MGET", "small", "after", "big", "grow"]);
    assert_eq!(
        got,
        vec![
            Some("kept".into()),
            Some("kept too".into()),
            None,
            Some("x".into())
        ]
    );
}
