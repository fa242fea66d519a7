//! ACL users: AUTH as a user, its command, key and channel permissions with Redis's NOPERM
//! errors, ACL LOG, GETUSER/LIST/DELUSER, requirepass as the default user's password, and
//! users written to the config file by CONFIG REWRITE surviving a kill -9.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::{conn, err, q, start, start_with};
use redis::Value;

#[test]
fn users_and_their_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut admin = conn(&server.url());
    let _: () = q(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "app",
            "on",
            ">s3cret",
            "~app:*",
            "%R~shared:*",
            "&news",
            "+@read",
            "+@write",
            "+publish",
            "+subscribe",
            "-flushall",
            "+acl|whoami",
            "+eval",
            "+@transaction",
        ],
    );
    assert_eq!(
        err(&mut admin, &["ACL", "SETUSER", "app", "+nosuch"]),
        "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
    );
    let mut app = conn(&server.url());
    assert_eq!(
        err(&mut app, &["AUTH", "app", "wrong"]),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    assert_eq!(q::<String>(&mut app, &["AUTH", "app", "s3cret"]), "OK");
    assert_eq!(q::<String>(&mut app, &["ACL", "WHOAMI"]), "app");
    let _: () = q(&mut app, &["SET", "app:1", "v"]);
    assert_eq!(q::<Option<String>>(&mut app, &["GET", "shared:x"]), None);
    assert_eq!(
        err(&mut app, &["SET", "shared:x", "v"]),
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    );
    assert_eq!(
        err(&mut app, &["GET", "other"]),
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    );
    assert_eq!(
        err(&mut app, &["FLUSHALL"]),
        "NOPERM this user has no permissions to run the 'flushall' command"
    );
    assert_eq!(
        err(&mut app, &["CLIENT", "KILL", "ID", "1"]),
        "NOPERM this user has no permissions to run the 'client|kill' command"
    );
    assert_eq!(q::<i64>(&mut app, &["PUBLISH", "news", "x"]), 0);
    assert_eq!(
        err(&mut app, &["PUBLISH", "secret", "x"]),
        "NOPERM this user has no permissions to access one of the channels used as arguments"
    );
    // A refusal inside MULTI aborts the transaction.
    let e = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("app:2")
        .arg("v")
        .cmd("FLUSHALL")
        .query::<Value>(&mut app)
        .unwrap_err();
    // The queued command is refused (the client library reports that first) and EXEC
    // aborts: nothing was written.
    assert_eq!(e.code(), Some("NOPERM"), "{e}");
    assert_eq!(q::<i64>(&mut app, &["EXISTS", "app:2"]), 0);
    // Scripts are checked command by command.
    let e = err(
        &mut app,
        &["EVAL", "return redis.call('get', 'other')", "0"],
    );
    assert!(
        e.starts_with("ERR The user executing the script can't access at least one of the keys"),
        "{e}"
    );
    // The log, newest first.
    let log: Vec<HashMap<String, Value>> = q(&mut admin, &["ACL", "LOG", "2"]);
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["reason"], Value::BulkString(b"key".to_vec()));
    assert_eq!(log[0]["context"], Value::BulkString(b"lua".to_vec()));
    assert_eq!(log[1]["reason"], Value::BulkString(b"command".to_vec()));
    let user: HashMap<String, Value> = q(&mut admin, &["ACL", "GETUSER", "app"]);
    assert_eq!(
        user["keys"],
        Value::BulkString(b"~app:* %R~shared:*".to_vec())
    );
    let dry: String = q(&mut admin, &["ACL", "DRYRUN", "app", "flushall"]);
    assert_eq!(
        dry,
        "This user has no permissions to run the 'flushall' command"
    );
    let users: Vec<String> = q(&mut admin, &["ACL", "USERS"]);
    assert_eq!(users, ["app", "default"]);
    // Deleting the user closes its connections.
    assert_eq!(q::<i64>(&mut admin, &["ACL", "DELUSER", "app"]), 1);
    assert!(redis::cmd("PING").query::<String>(&mut app).is_err());
    assert_eq!(
        err(&mut admin, &["ACL", "DELUSER", "default"]),
        "ERR The 'default' user cannot be removed"
    );
    // requirepass is the default user's password.
    let _: () = q(&mut admin, &["CONFIG", "SET", "requirepass", "pw"]);
    let mut fresh = conn(&server.url());
    assert!(err(&mut fresh, &["GET", "x"]).starts_with("NOAUTH"));
    assert_eq!(q::<String>(&mut fresh, &["AUTH", "pw"]), "OK");
    assert_eq!(q::<String>(&mut fresh, &["ACL", "WHOAMI"]), "default");
}

#[test]
fn users_survive_rewrite_and_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("strata.conf");
    std::fs::write(&conf, "user ops on >opspw ~* &* +@all -@dangerous\n").unwrap();
    let conf_arg = conf.to_str().unwrap().to_string();
    let data = dir.path().join("data");
    let server = start_with(&data, &["--config", &conf_arg]);
    let mut c = conn(&server.url());
    assert_eq!(q::<String>(&mut c, &["AUTH", "ops", "opspw"]), "OK");
    assert!(err(&mut c, &["KEYS", "*"]).starts_with("NOPERM"));
    assert_eq!(q::<String>(&mut c, &["AUTH", "default", "x"]), "OK");
    let _: () = q(
        &mut c,
        &["ACL", "SETUSER", "reader", "on", ">rpw", "~*", "+@read"],
    );
    assert_eq!(q::<String>(&mut c, &["CONFIG", "REWRITE"]), "OK");
    drop(server); // SIGKILL
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("user reader on #"), "{text}");
    let server = start_with(&data, &["--config", &conf_arg]);
    let mut c = conn(&server.url());
    assert_eq!(q::<String>(&mut c, &["AUTH", "reader", "rpw"]), "OK");
    assert!(err(&mut c, &["SET", "k", "v"]).starts_with("NOPERM"));
    let mut c = conn(&server.url());
    assert_eq!(q::<String>(&mut c, &["AUTH", "ops", "opspw"]), "OK");
}
