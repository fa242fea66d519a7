//! The `strata` binary as an operator runs it.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn dir_arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn put_get_delete_scan_flush_stats_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let d = dir_arg(&db);
    for (k, v) in [
        ("apple", "red"),
        ("banana", "yellow"),
        ("cherry", "dark red"),
    ] {
        assert!(strata(&["put", d, k, v]).status.success());
    }
    let got = strata(&["get", d, "banana"]);
    assert!(got.status.success());
    assert_eq!(stdout(&got), "yellow\n");

    let missing = strata(&["get", d, "durian"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(stdout(&missing), "");

    assert!(strata(&["delete", d, "apple"]).status.success());
    assert_eq!(strata(&["get", d, "apple"]).status.code(), Some(1));

    let scan = strata(&["scan", d]);
    assert_eq!(stdout(&scan), "banana => yellow\ncherry => dark red\n");
    let rev = strata(&["scan", d, "--reverse", "--limit", "1"]);
    assert_eq!(stdout(&rev), "cherry => dark red\n");
    let pre = strata(&["scan", d, "--prefix", "ban"]);
    assert_eq!(stdout(&pre), "banana => yellow\n");

    assert!(strata(&["flush", d]).status.success());
    let compact = strata(&["compact", d, "--from", "a", "--to", "z"]);
    assert!(
        compact.status.success(),
        "{}",
        String::from_utf8_lossy(&compact.stderr)
    );
    assert_eq!(
        stdout(&strata(&["scan", d])),
        "banana => yellow\ncherry => dark red\n"
    );
    let stats = strata(&["stats", d]);
    assert!(stats.status.success());
    let text = stdout(&stats);
    assert!(text.contains("last sequence:"), "{text}");
    assert!(text.contains("keyspace \"default\""), "{text}");

    let verify = strata(&["verify", d]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));

    let tables: Vec<_> = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect();
    let dumps: String = tables
        .iter()
        .map(|t| {
            let dump = strata(&["dump-sst", t.to_str().unwrap()]);
            assert!(dump.status.success());
            stdout(&dump)
        })
        .collect();
    assert!(dumps.contains("'banana' @"), "{dumps}");
    assert!(dumps.contains("format version:   3"), "{dumps}");
    // `compact` pushed everything to the bottom level, where apple's tombstone (and the value
    // under it) was dropped.
    assert!(!dumps.contains("'apple'"), "{dumps}");
    let sst = &tables[0];

    // A flipped byte in any table makes verify fail with exit code 1.
    let mut bytes = std::fs::read(sst).unwrap();
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x01;
    std::fs::write(sst, bytes).unwrap();
    let verify = strata(&["verify", d]);
    assert_eq!(verify.status.code(), Some(1), "{}", stdout(&verify));
    assert!(stdout(&verify).contains(".sst"), "{}", stdout(&verify));
}

#[test]
fn keyspaces_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let d = dir_arg(&db);
    assert!(strata(&["put", d, "k", "v", "--keyspace", "users"])
        .status
        .success());
    assert_eq!(strata(&["get", d, "k"]).status.code(), Some(1));
    assert_eq!(
        stdout(&strata(&["get", d, "k", "--keyspace", "users"])),
        "v\n"
    );
    let unknown = strata(&["get", d, "k", "--keyspace", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn opening_a_missing_database_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("absent");
    let out = strata(&["get", dir_arg(&d), "k"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("create_if_missing"));
}

#[test]
fn ttl_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let d = dir_arg(&db);
    assert!(strata(&["put", d, "session", "abc", "--ttl", "1h"])
        .status
        .success());
    assert!(strata(&["put", d, "forever", "x"]).status.success());
    assert!(strata(&["put", d, "brief", "y", "--ttl", "300ms"])
        .status
        .success());
    let ttl = stdout(&strata(&["ttl", d, "session"]));
    let secs: f64 = ttl.trim().trim_end_matches('s').parse().unwrap();
    assert!(secs > 3500.0 && secs <= 3600.0, "{ttl}");
    assert_eq!(stdout(&strata(&["ttl", d, "forever"])), "none\n");
    assert_eq!(strata(&["ttl", d, "missing"]).status.code(), Some(1));
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(strata(&["get", d, "brief"]).status.code(), Some(1));
    assert_eq!(strata(&["ttl", d, "brief"]).status.code(), Some(1));
    let bad = strata(&["put", d, "k", "v", "--ttl", "10 parsecs"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn repair_rebuilds_a_database_without_current() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert!(strata(&["put", d, "kept", "value"]).status.success());
    assert!(strata(&["flush", d]).status.success());
    assert!(strata(&["put", d, "in-wal", "too"]).status.success());
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    assert!(!strata(&["get", d, "kept"]).status.success());
    let out = strata(&["repair", d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(text.contains("keyspace default"), "{text}");
    assert!(text.contains("moved to"), "{text}");
    assert_eq!(stdout(&strata(&["get", d, "kept"])), "value\n");
    assert_eq!(stdout(&strata(&["get", d, "in-wal"])), "too\n");
}
