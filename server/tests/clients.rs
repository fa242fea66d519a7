//! The server driven by the `redis` client crate: every command family, RESP2 and RESP3,
//! AUTH, expiry in real time with exact counts, SHUTDOWN, restart, and kill -9 with
//! `appendfsync always`.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{conn, err, q, start, start_with};
use redis::Value;

#[test]
fn string_and_key_commands_through_a_client_library() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    assert_eq!(q::<String>(c, &["SET", "s", "10.50"]), "OK");
    assert_eq!(q::<String>(c, &["INCRBYFLOAT", "s", "0.1"]), "10.6");
    assert_eq!(q::<String>(c, &["INCRBYFLOAT", "s", "-5"]), "5.6");
    q::<()>(c, &["SET", "e", "5.0e3"]);
    assert_eq!(q::<String>(c, &["INCRBYFLOAT", "e", "2.0e2"]), "5200");
    assert_eq!(
        err(c, &["INCRBYFLOAT", "e", "abc"]),
        "ERR value is not a valid float"
    );
    // GETEX changes the expiry atomically with the read.
    assert_eq!(q::<String>(c, &["GETEX", "e", "EX", "100"]), "5200");
    assert_eq!(q::<i64>(c, &["TTL", "e"]), 100);
    assert_eq!(q::<String>(c, &["GETEX", "e", "PERSIST"]), "5200");
    assert_eq!(q::<i64>(c, &["TTL", "e"]), -1);
    assert_eq!(q::<Option<String>>(c, &["GETEX", "missing"]), None);
    assert_eq!(err(c, &["GETEX", "e", "EX"]), "ERR syntax error");
    assert_eq!(
        err(c, &["GETEX", "e", "PX", "0"]),
        "ERR invalid expire time in 'getex' command"
    );
    // RENAME keeps the TTL; RENAMENX refuses an existing destination.
    q::<()>(c, &["SET", "a", "1", "EX", "50"]);
    assert_eq!(q::<String>(c, &["RENAME", "a", "b"]), "OK");
    assert_eq!(q::<i64>(c, &["EXISTS", "a", "b"]), 1);
    assert_eq!(q::<i64>(c, &["TTL", "b"]), 50);
    assert_eq!(err(c, &["RENAME", "a", "x"]), "ERR no such key");
    assert_eq!(q::<i64>(c, &["RENAMENX", "b", "s"]), 0);
    assert_eq!(q::<i64>(c, &["RENAMENX", "b", "c"]), 1);
    // COPY and MOVE across databases.
    assert_eq!(q::<i64>(c, &["COPY", "c", "d"]), 1);
    assert_eq!(q::<i64>(c, &["COPY", "c", "d"]), 0);
    assert_eq!(q::<i64>(c, &["COPY", "c", "d", "REPLACE"]), 1);
    assert_eq!(q::<i64>(c, &["COPY", "c", "d", "DB", "3"]), 1);
    assert_eq!(
        err(c, &["COPY", "c", "c"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        err(c, &["COPY", "c", "d", "DB", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(q::<i64>(c, &["MOVE", "d", "3"]), 0, "exists there");
    assert_eq!(q::<i64>(c, &["MOVE", "s", "3"]), 1);
    assert_eq!(q::<i64>(c, &["EXISTS", "s"]), 0);
    assert_eq!(q::<String>(c, &["SELECT", "3"]), "OK");
    let mut keys: Vec<String> = q(c, &["KEYS", "*"]);
    keys.sort();
    assert_eq!(keys, ["d", "s"]);
    assert_eq!(q::<i64>(c, &["DBSIZE"]), 2);
    assert_eq!(q::<String>(c, &["SWAPDB", "0", "3"]), "OK");
    assert_eq!(q::<i64>(c, &["DBSIZE"]), 3, "db 3 now holds the old db 0");
    assert_eq!(q::<String>(c, &["SWAPDB", "3", "0"]), "OK");
    assert_eq!(err(c, &["SWAPDB", "0", "x"]), "ERR invalid second DB index");
    assert_eq!(q::<String>(c, &["FLUSHDB"]), "OK");
    assert_eq!(q::<i64>(c, &["DBSIZE"]), 0);
    assert_eq!(q::<Option<String>>(c, &["RANDOMKEY"]), None);
    assert_eq!(q::<String>(c, &["SELECT", "0"]), "OK");
    assert_eq!(q::<i64>(c, &["TOUCH", "c", "c", "zz"]), 2);
    let r: String = q(c, &["RANDOMKEY"]);
    assert!(["c", "d", "e"].contains(&r.as_str()), "{r}");
    // SCAN visits every key exactly as KEYS lists them.
    for i in 0..300 {
        q::<()>(c, &["SET", &format!("user:{i}"), "v"]);
        q::<()>(c, &["SET", &format!("{{tag}}:{i}"), "v"]);
    }
    let mut seen = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, batch): (String, Vec<String>) =
            q(c, &["SCAN", &cursor, "MATCH", "user:*", "COUNT", "25"]);
        seen.extend(batch);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 300);
    let tagged: Vec<String> = q(c, &["KEYS", "{tag}:1?"]);
    assert_eq!(tagged.len(), 10);
    let (_, none): (String, Vec<String>) = q(c, &["SCAN", "0", "TYPE", "hash"]);
    assert!(none.is_empty());
    assert_eq!(
        err(c, &["SCAN", "0", "TYPE", "nope"]),
        "ERR unknown type name 'nope'"
    );
    assert_eq!(err(c, &["SCAN", "x"]), "ERR invalid cursor");
    assert_eq!(q::<i64>(c, &["DBSIZE"]), 603);
    assert_eq!(q::<i64>(c, &["UNLINK", "c", "d", "nope"]), 2);
    assert_eq!(q::<String>(c, &["FLUSHALL"]), "OK");
    assert_eq!(q::<i64>(c, &["DBSIZE"]), 0);
    assert_eq!(err(c, &["FLUSHALL", "LATER"]), "ERR syntax error");
    assert_eq!(
        err(c, &["NOPE", "a"]),
        "ERR unknown command 'NOPE', with args beginning with: 'a'"
    );
}

#[test]
fn expired_keys_vanish_and_counts_follow_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    for i in 0..200 {
        q::<()>(c, &["SET", &format!("k{i}"), "v", "PX", "300"]);
    }
    q::<()>(c, &["SET", "keep", "v"]);
    assert_eq!(q::<i64>(c, &["DBSIZE"]), 201);
    let info: String = q(c, &["INFO", "keyspace"]);
    assert!(
        info.contains("db0:keys=201,expires=200,avg_ttl=0"),
        "{info}"
    );
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(q::<Option<String>>(c, &["GET", "k0"]), None);
    assert_eq!(q::<i64>(c, &["EXISTS", "k1", "k2"]), 0);
    assert_eq!(q::<i64>(c, &["TTL", "k3"]), -2);
    let deadline = Instant::now() + Duration::from_secs(3);
    while q::<i64>(c, &["DBSIZE"]) != 1 {
        assert!(Instant::now() < deadline, "expire cycle too slow");
        std::thread::sleep(Duration::from_millis(50));
    }
    let info: String = q(c, &["INFO", "keyspace", "stats"]);
    assert!(info.contains("db0:keys=1,expires=0,avg_ttl=0"), "{info}");
    assert!(info.contains("expired_keys:200"), "{info}");
}

#[test]
fn resp3_auth_client_config_and_server_commands() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), &["--requirepass", "s3cret"]);
    let mut anon = conn(&server.url());
    assert_eq!(
        err(&mut anon, &["GET", "k"]),
        "NOAUTH Authentication required."
    );
    assert_eq!(
        err(&mut anon, &["AUTH", "wrong"]),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    assert_eq!(q::<String>(&mut anon, &["AUTH", "default", "s3cret"]), "OK");
    assert_eq!(q::<Option<String>>(&mut anon, &["GET", "k"]), None);

    let url = format!("redis://:s3cret@127.0.0.1:{}/?protocol=resp3", server.port);
    let mut c = conn(&url);
    let c = &mut c;
    let hello: Value = q(c, &["HELLO", "3", "SETNAME", "tester"]);
    let Value::Map(fields) = hello else {
        panic!("HELLO 3 must answer a map: {hello:?}")
    };
    let fields: HashMap<String, Value> = fields
        .into_iter()
        .map(|(k, v)| (redis::from_redis_value(&k).unwrap(), v))
        .collect();
    assert_eq!(fields["proto"], Value::Int(3));
    assert_eq!(fields["mode"], Value::BulkString(b"standalone".to_vec()));
    assert_eq!(q::<String>(c, &["CLIENT", "GETNAME"]), "tester");
    let list: String = q(c, &["CLIENT", "LIST"]);
    assert!(list.contains("name=tester"), "{list}");
    assert!(list.contains("resp=3"), "{list}");
    // RESP3 types: CONFIG GET is a map, a missing key is a null.
    let cfg: Value = q(c, &["CONFIG", "GET", "maxclients"]);
    assert!(matches!(cfg, Value::Map(_)), "{cfg:?}");
    assert_eq!(q::<Value>(c, &["GET", "nothing"]), Value::Nil);
    // CONFIG SET takes effect and is checked like Redis.
    assert_eq!(
        q::<String>(c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        "OK"
    );
    q::<()>(c, &["SET", "slow", "v"]);
    assert!(q::<i64>(c, &["SLOWLOG", "LEN"]) >= 1);
    let entries: Vec<Value> = q(c, &["SLOWLOG", "GET", "1"]);
    assert_eq!(entries.len(), 1);
    assert_eq!(q::<String>(c, &["SLOWLOG", "RESET"]), "OK");
    assert_eq!(
        err(c, &["CONFIG", "SET", "daemonize", "yes"]),
        "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"
    );
    assert_eq!(
        q::<String>(c, &["CONFIG", "SET", "hash-max-listpack-entries", "256"]),
        "OK"
    );
    let all: HashMap<String, String> = q(c, &["CONFIG", "GET", "*"]);
    assert_eq!(all["hash-max-listpack-entries"], "256");
    assert_eq!(all["appendfsync"], "everysec");
    assert_eq!(
        q::<String>(c, &["CONFIG", "SET", "appendfsync", "always"]),
        "OK"
    );
    q::<()>(c, &["SET", "synced", "v"]);
    // Engine knobs change at run time; a combination the engine refuses changes nothing.
    q::<()>(c, &["CONFIG", "SET", "strata-memtable-size", "1mb"]);
    let memtable: HashMap<String, String> = q(c, &["CONFIG", "GET", "strata-memtable-size"]);
    assert_eq!(memtable["strata-memtable-size"], "1048576");
    let e = err(
        c,
        &[
            "CONFIG",
            "SET",
            "strata-disable-auto-compactions",
            "yes",
            "strata-level0-slowdown-writes-trigger",
            "100",
        ],
    );
    assert!(
        e.starts_with("ERR CONFIG SET failed (possibly related to argument 'strata-")
            && e.contains("level0_stop_writes_trigger"),
        "{e}"
    );
    let knobs: HashMap<String, String> = q(c, &["CONFIG", "GET", "strata-*"]);
    assert_eq!(knobs["strata-level0-slowdown-writes-trigger"], "20");
    assert_eq!(knobs["strata-disable-auto-compactions"], "no");
    q::<()>(
        c,
        &[
            "CONFIG",
            "SET",
            "strata-level0-stop-writes-trigger",
            "200",
            "strata-level0-slowdown-writes-trigger",
            "100",
        ],
    );
    // COMMAND, INFO, TIME, LASTSAVE, SAVE, BGSAVE.
    let count: i64 = q(c, &["COMMAND", "COUNT"]);
    assert!(count >= 60, "{count}");
    let keys: Vec<String> = q(c, &["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]);
    assert_eq!(keys, ["a", "b"]);
    let info: Vec<Value> = q(c, &["COMMAND", "INFO", "get", "nope"]);
    assert_eq!(info[1], Value::Nil);
    let info: String = q(c, &["INFO"]);
    for field in [
        "redis_version:",
        "connected_clients:",
        "used_memory:",
        "aof_enabled:1",
        "total_commands_processed:",
        "keyspace_hits:",
        "role:master",
        "db0:keys=2",
        "strata_write_amplification:",
    ] {
        assert!(info.contains(field), "INFO lacks {field}");
    }
    let (secs, _micros): (String, String) = q(c, &["TIME"]);
    assert!(secs.parse::<u64>().unwrap() > 1_700_000_000);
    assert_eq!(q::<String>(c, &["SAVE"]), "OK");
    assert_eq!(q::<String>(c, &["BGSAVE"]), "Background saving started");
    assert!(q::<i64>(c, &["LASTSAVE"]) > 1_700_000_000);
    // CLIENT KILL closes another connection.
    let id: i64 = q(&mut anon, &["CLIENT", "ID"]);
    assert_eq!(q::<i64>(c, &["CLIENT", "KILL", "ID", &id.to_string()]), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis::cmd("PING").query::<String>(&mut anon).is_ok() {
        assert!(Instant::now() < deadline, "killed client still served");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(q::<String>(c, &["RESET"]), "RESET");
    assert_eq!(err(c, &["GET", "k"]), "NOAUTH Authentication required.");
}

#[test]
fn shutdown_config_file_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("strata.conf");
    std::fs::write(&conf, "# test config\ndatabases 4\nmaxclients 3\n").unwrap();
    let data = dir.path().join("data");
    let conf_arg = conf.to_str().unwrap();
    let mut server = start_with(&data, &["--config", conf_arg]);
    {
        let mut c = conn(&server.url());
        assert_eq!(
            err(&mut c, &["SELECT", "4"]),
            "ERR DB index is out of range"
        );
        q::<()>(&mut c, &["SET", "kept", "yes"]);
        q::<()>(&mut c, &["SET", "ttl", "yes", "EX", "1000"]);
        // maxclients 3: the fourth connection is refused.
        let _b = conn(&server.url());
        let _c = conn(&server.url());
        let mut d = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let mut refused = String::new();
        std::io::Read::read_to_string(&mut d, &mut refused).unwrap();
        assert_eq!(refused, "-ERR max number of clients reached\r\n");
        let _ = redis::cmd("SHUTDOWN").query::<Value>(&mut c);
    }
    let status = server.child.wait().unwrap();
    assert!(status.success(), "SHUTDOWN exits cleanly: {status}");
    let server = start_with(&data, &["--config", conf_arg]);
    let mut c = conn(&server.url());
    assert_eq!(q::<String>(&mut c, &["GET", "kept"]), "yes");
    assert!(q::<i64>(&mut c, &["TTL", "ttl"]) > 990);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 2, "counts survive a restart");
}

fn info_field(c: &mut redis::Connection, name: &str) -> u64 {
    let info: String = q(c, &["INFO", "strata", "memory"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in INFO strata memory: {info}"))
}

/// With `appendfsync always`, a reply leaves only once the WAL is fsynced past the write (the
/// engine's durable sequence number has reached the newest write), pipelined or not; with
/// `appendfsync no` the same writes stay unsynced.
#[test]
fn appendfsync_always_replies_only_after_the_wal_is_synced() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), &["--appendfsync", "always"]);
    let mut c = conn(&server.url());
    for i in 0..20 {
        let _: () = q(&mut c, &["SET", &format!("k{i}"), "v"]);
        assert_eq!(
            info_field(&mut c, "strata_synced_sequence"),
            info_field(&mut c, "strata_last_sequence"),
            "SET {i} acknowledged before its fsync"
        );
    }
    let mut pipe = redis::pipe();
    for i in 0..200 {
        pipe.cmd("INCR").arg("n").ignore();
        pipe.cmd("SET").arg(format!("p{i}")).arg(i).ignore();
    }
    let _: () = pipe.query(&mut c).unwrap();
    let last = info_field(&mut c, "strata_last_sequence");
    assert_eq!(info_field(&mut c, "strata_synced_sequence"), last);

    let _: () = q(&mut c, &["CONFIG", "SET", "appendfsync", "no"]);
    let _: () = q(&mut c, &["SET", "unsynced", "v"]);
    assert!(
        info_field(&mut c, "strata_synced_sequence") < info_field(&mut c, "strata_last_sequence"),
        "with appendfsync no the write is not synced"
    );
}

/// With `appendfsync always`, every acknowledged write survives `kill -9` of the server.
#[test]
fn kill_9_loses_no_acknowledged_write_with_appendfsync_always() {
    let dir = tempfile::tempdir().unwrap();
    let (acked, server) = common::kill_9_during(dir.path(), 4, |url, t| {
        let mut c = conn(url);
        let mut acked = 0u64;
        loop {
            let r = redis::cmd("SET")
                .arg(format!("w{t}:{}", acked + 1))
                .arg(acked + 1)
                .query::<String>(&mut c);
            let r2 = r.and_then(|_| {
                redis::cmd("INCR")
                    .arg(format!("count{t}"))
                    .query::<u64>(&mut c)
            });
            match r2 {
                Ok(n) => {
                    assert_eq!(n, acked + 1);
                    acked += 1;
                }
                Err(_) => return acked,
            }
        }
    });
    let mut c = conn(&server.url());
    let mut keys = 0;
    for (t, &n) in acked.iter().enumerate() {
        let count: u64 = q(&mut c, &["GET", &format!("count{t}")]);
        assert!(
            count == n || count == n + 1,
            "count{t}: {count} vs {n} acknowledged"
        );
        for i in 1..=n {
            let v: Option<u64> = q(&mut c, &["GET", &format!("w{t}:{i}")]);
            assert_eq!(v, Some(i), "acknowledged write w{t}:{i} lost");
        }
        keys += 1 + count;
    }
    // The exact count survives the crash too (an unacknowledged SET may have landed).
    let dbsize: u64 = q(&mut c, &["DBSIZE"]);
    assert!(
        (keys..=keys + 4).contains(&dbsize),
        "DBSIZE {dbsize}, at least {keys}"
    );
    let listed: Vec<String> = q(&mut c, &["KEYS", "*"]);
    assert_eq!(
        listed.len() as u64,
        dbsize,
        "DBSIZE matches the keys present"
    );
}

#[test]
fn memory_budget_flag_sizes_the_engine_and_info_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), &["--memory-budget", "64mb"]);
    let c = &mut conn(&server.url());
    for i in 0..2000 {
        let _: () = q(c, &["SET", &format!("k{i}"), "value"]);
    }
    assert_eq!(info_field(c, "strata_memory_budget"), 64 << 20);
    // A quarter for the active memtable and two frozen ones.
    assert_eq!(info_field(c, "strata_memtable_limit"), (16 << 20) / 3 * 3);
    assert_eq!(info_field(c, "strata_block_cache_capacity"), 48 << 20);
    assert!(info_field(c, "strata_memtable_bytes") > 0);
    let memtable: Vec<String> = q(c, &["CONFIG", "GET", "strata-memtable-size"]);
    assert_eq!(memtable[1], ((16u64 << 20) / 3).to_string());
    // Changing another engine parameter keeps the budget's memtable size.
    let _: () = q(
        c,
        &[
            "CONFIG",
            "SET",
            "strata-level0-slowdown-writes-trigger",
            "24",
        ],
    );
    assert_eq!(info_field(c, "strata_memtable_limit"), (16 << 20) / 3 * 3);
    let used = info_field(c, "used_memory");
    assert!(used > 0 && used <= 64 << 20, "{used}");
    // No table is being built once the writes are flushed.
    let _: () = q(c, &["SAVE"]);
    assert_eq!(info_field(c, "strata_table_builder_bytes"), 0);
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        let (allocated, active) = (
            info_field(c, "allocator_allocated"),
            info_field(c, "allocator_active"),
        );
        assert!(allocated > 0 && active >= allocated, "{allocated} {active}");
    }
}

/// `qbuf` + `qbuf-free` of the client named `name` in CLIENT LIST.
fn query_buffer(c: &mut redis::Connection, name: &str) -> u64 {
    let list: String = q(c, &["CLIENT", "LIST"]);
    let line = list
        .lines()
        .find(|l| l.contains(&format!(" name={name} ")))
        .unwrap();
    let field = |f: &str| -> u64 {
        let at = line.find(&format!(" {f}=")).unwrap() + f.len() + 2;
        line[at..].split(' ').next().unwrap().parse().unwrap()
    };
    field("qbuf") + field("qbuf-free")
}

#[test]
fn idle_clients_give_their_buffers_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut admin = conn(&server.url());
    let mut idle = conn(&server.url());
    let _: () = q(&mut idle, &["CLIENT", "SETNAME", "idler"]);
    assert_eq!(query_buffer(&mut admin, "idler"), 16 * 1024);
    let deadline = Instant::now() + Duration::from_secs(10);
    while query_buffer(&mut admin, "idler") != 0 {
        assert!(Instant::now() < deadline, "the buffer was never given back");
        std::thread::sleep(Duration::from_millis(200));
    }
    // It is taken again for the next command, which works as before.
    assert_eq!(q::<String>(&mut idle, &["ECHO", "back"]), "back");
    assert_eq!(query_buffer(&mut admin, "idler"), 16 * 1024);
}

#[test]
fn latency_histograms_and_the_latency_monitor() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    for i in 0..100 {
        let _: () = q(c, &["SET", &format!("k{i}"), "v"]);
    }
    let hist: Value = q(c, &["LATENCY", "HISTOGRAM", "set", "nosuchcommand"]);
    let Value::Array(items) = hist else {
        panic!("{hist:?}")
    };
    assert_eq!(items[0], Value::BulkString(b"set".to_vec()));
    let Value::Array(fields) = &items[1] else {
        panic!("{items:?}")
    };
    assert_eq!(fields[1], Value::Int(100));
    let Value::Array(cdf) = &fields[3] else {
        panic!("{fields:?}")
    };
    // Cumulative counts at growing bounds, ending at every call.
    assert_eq!(cdf.last(), Some(&Value::Int(100)), "{cdf:?}");
    let info: String = q(c, &["INFO", "latencystats"]);
    let line = info
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_set:"))
        .unwrap_or_else(|| panic!("{info}"));
    assert!(
        line.contains("p50=") && line.contains(",p99=") && line.contains(",p99.9="),
        "{line}"
    );
    let _: () = q(c, &["CONFIG", "RESETSTAT"]);
    let hist: Value = q(c, &["LATENCY", "HISTOGRAM", "set"]);
    assert_eq!(hist, Value::Array(vec![]));

    // The monitor: a command past the threshold is an event.
    let _: () = q(c, &["CONFIG", "SET", "latency-monitor-threshold", "1"]);
    let _: Value = q(
        c,
        &[
            "EVAL",
            "local n = 0 for i = 1, 3000000 do n = n + i end return 1",
            "0",
        ],
    );
    let latest: Vec<Value> = q(c, &["LATENCY", "LATEST"]);
    assert_eq!(latest.len(), 1, "{latest:?}");
    let Value::Array(event) = &latest[0] else {
        panic!("{latest:?}")
    };
    assert_eq!(event[0], Value::BulkString(b"command".to_vec()));
    let history: Vec<Vec<i64>> = q(c, &["LATENCY", "HISTORY", "command"]);
    assert_eq!(history.len(), 1);
    assert!(history[0][1] >= 1, "{history:?}");
    assert_eq!(q::<i64>(c, &["LATENCY", "RESET"]), 1);
    assert_eq!(q::<Vec<Value>>(c, &["LATENCY", "LATEST"]), vec![]);
}

#[test]
fn client_pause_holds_writes_until_unpause() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut admin = conn(&server.url());
    let _: () = q(&mut admin, &["SET", "k", "before"]);
    assert_eq!(
        q::<String>(&mut admin, &["CLIENT", "PAUSE", "60000", "WRITE"]),
        "OK"
    );
    // Reads go on; a write waits, counted as blocked.
    let mut reader = conn(&server.url());
    assert_eq!(q::<String>(&mut reader, &["GET", "k"]), "before");
    let url = server.url();
    let writer = std::thread::spawn(move || {
        let mut w = conn(&url);
        let started = Instant::now();
        let _: () = q(&mut w, &["SET", "k", "after"]);
        started.elapsed()
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = q(&mut admin, &["INFO", "clients"]);
        if info.contains("blocked_clients:1\r") {
            break;
        }
        assert!(Instant::now() < deadline, "{info}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(q::<String>(&mut reader, &["GET", "k"]), "before");
    // A wrong arity answers at once.
    assert_eq!(
        err(&mut reader, &["SET", "k"]),
        "ERR wrong number of arguments for 'set' command"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(q::<String>(&mut admin, &["CLIENT", "UNPAUSE"]), "OK");
    let waited = writer.join().unwrap();
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert_eq!(q::<String>(&mut reader, &["GET", "k"]), "after");
    // ALL holds every command, until its timeout.
    let _: () = q(&mut admin, &["CLIENT", "PAUSE", "300", "ALL"]);
    let started = Instant::now();
    assert_eq!(q::<String>(&mut reader, &["PING"]), "PONG");
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(
        err(&mut admin, &["CLIENT", "PAUSE", "x"]),
        "ERR timeout is not an integer or out of range"
    );
}

#[test]
fn debug_is_refused_unless_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    assert!(err(&mut c, &["DEBUG", "SLEEP", "0"]).starts_with("ERR DEBUG command not allowed."));
    drop(server);

    let conf = dir.path().join("debug.conf");
    std::fs::write(&conf, "enable-debug-command local\n").unwrap();
    let data = dir.path().join("data");
    let server = start_with(&data, &["--config", conf.to_str().unwrap()]);
    let mut c = conn(&server.url());
    let mut other = conn(&server.url());
    // DEBUG SLEEP holds the whole server, as Redis's does.
    let url = server.url();
    let sleeper = std::thread::spawn(move || {
        let mut s = conn(&url);
        let _: () = q(&mut s, &["DEBUG", "SLEEP", "0.4"]);
    });
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let _: String = q(&mut other, &["PING"]);
    let _: () = q(&mut other, &["SET", "k", "v"]);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    sleeper.join().unwrap();
    // Without the active expire cycle nothing is deleted in the background.
    let _: () = q(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let _: () = q(&mut c, &["SET", "soon", "x", "PX", "20"]);
    std::thread::sleep(Duration::from_millis(400));
    let info: String = q(&mut c, &["INFO", "stats"]);
    assert!(info.contains("expired_keys:0\r"), "{info}");
    let _: () = q(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info: String = q(&mut c, &["INFO", "stats"]);
        if info.contains("expired_keys:1\r") {
            break;
        }
        assert!(Instant::now() < deadline, "{info}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn memory_stats_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    for i in 0..50 {
        let _: () = q(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    let _: () = q(&mut c, &["SELECT", "2"]);
    let _: () = q(&mut c, &["SET", "other", "v"]);
    let stats: HashMap<String, Value> = q(&mut c, &["MEMORY", "STATS"]);
    let int = |name: &str| match &stats[name] {
        Value::Int(n) => *n,
        v => panic!("{name}: {v:?}"),
    };
    assert_eq!(int("keys.count"), 51);
    let total = int("total.allocated");
    assert!(total > 0);
    assert!(int("peak.allocated") >= total);
    assert!(int("overhead.total") >= int("startup.allocated"));
    assert_eq!(
        int("dataset.bytes"),
        total - int("overhead.total").min(total)
    );
    let info: String = q(&mut c, &["INFO", "memory"]);
    assert!(info.contains("used_memory_peak:"), "{info}");
}
