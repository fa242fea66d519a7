//! Lua scripts and functions: EVAL/EVALSHA/SCRIPT and FUNCTION/FCALL answer as Redis does,
//! a script's writes are one batch (whole or absent after kill -9), function libraries
//! survive a restart.

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{conn, err, q, start};

#[test]
fn eval_converts_both_ways_and_keeps_redis_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    let v: String = q(c, &["EVAL", "return 'hello'", "0"]);
    assert_eq!(v, "hello");
    let n: i64 = q(c, &["EVAL", "return 100.5", "0"]);
    assert_eq!(n, 100);
    let t: Vec<String> = q(
        c,
        &[
            "EVAL",
            "return {KEYS[1],KEYS[2],ARGV[1]}",
            "2",
            "a",
            "b",
            "c",
        ],
    );
    assert_eq!(t, vec!["a", "b", "c"]);
    let _: () = q(c, &["SET", "k", "v"]);
    let got: String = q(c, &["EVAL", "return redis.call('get', KEYS[1])", "1", "k"]);
    assert_eq!(got, "v");
    let typed: Vec<String> = q(
        c,
        &[
            "EVAL",
            "local r = redis.pcall('incr', KEYS[1]); return {type(r), r['err']}",
            "1",
            "k",
        ],
    );
    assert_eq!(
        typed,
        vec!["table", "ERR value is not an integer or out of range"]
    );
    assert!(
        err(c, &["EVAL", "return redis.call('incr', KEYS[1])", "1", "k"])
            .contains("not an integer")
    );
    assert!(err(c, &["EVAL", "x = 1", "0"]).contains("Attempt to modify a readonly table"));
    assert!(err(c, &["EVAL", "return y", "0"]).contains("nonexistent global variable 'y'"));
    assert!(
        err(c, &["EVAL", "return redis.call('multi')", "0"]).contains("not allowed from script")
    );
    assert!(
        err(c, &["EVAL_RO", "return redis.call('set', 'a', 'b')", "0"])
            .contains("Write commands are not allowed from read-only scripts")
    );
    assert!(err(c, &["EVAL", "return 1", "2", "only-one"]).contains("greater than"));
    assert!(err(c, &["EVAL", "return (", "0"]).contains("Error compiling script"));

    // EVALSHA and the script cache.
    let sha: String = q(c, &["SCRIPT", "LOAD", "return ARGV[1]"]);
    let echoed: String = q(c, &["EVALSHA", &sha.to_uppercase(), "0", "hi"]);
    assert_eq!(echoed, "hi");
    let exists: Vec<i64> = q(c, &["SCRIPT", "EXISTS", &sha, "abc"]);
    assert_eq!(exists, vec![1, 0]);
    let info: String = q(c, &["INFO", "memory"]);
    assert!(!info.contains("number_of_cached_scripts:0\r\n"), "{info}");
    assert!(info.contains("used_memory_lua:"), "{info}");
    let _: () = q(c, &["SCRIPT", "FLUSH"]);
    let info: String = q(c, &["INFO", "memory"]);
    assert!(info.contains("number_of_cached_scripts:0\r\n"), "{info}");
    assert!(err(c, &["EVALSHA", &sha, "0"]).starts_with("NOSCRIPT"));

    // A SELECT inside a script does not move the caller.
    let _: () = q(
        c,
        &[
            "EVAL",
            "redis.call('select', '3'); redis.call('set', 'in3', 'x')",
            "0",
        ],
    );
    let here: Option<String> = q(c, &["GET", "in3"]);
    assert_eq!(here, None);
    let _: () = q(c, &["SELECT", "3"]);
    let there: String = q(c, &["GET", "in3"]);
    assert_eq!(there, "x");
}

#[test]
fn functions_load_call_list_delete_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let lib = "#!lua name=mylib\nredis.register_function('setget', function(keys, args)\n  \
               redis.call('set', keys[1], args[1])\n  return redis.call('get', keys[1])\nend)\n\
               redis.register_function{function_name='ro', callback=function(keys, args) \
               return 'read' end, flags={'no-writes'}}";
    {
        let server = start(dir.path());
        let mut c = conn(&server.url());
        let c = &mut c;
        let name: String = q(c, &["FUNCTION", "LOAD", lib]);
        assert_eq!(name, "mylib");
        assert!(err(c, &["FUNCTION", "LOAD", lib]).contains("already exists"));
        let v: String = q(c, &["FCALL", "SETGET", "1", "k", "v1"]);
        assert_eq!(v, "v1");
        let r: String = q(c, &["FCALL_RO", "ro", "0"]);
        assert_eq!(r, "read");
        assert!(err(c, &["FCALL_RO", "setget", "1", "k", "v"]).contains("write flag"));
        assert!(err(c, &["FCALL", "nope", "0"]).contains("Function not found"));
        assert!(err(c, &["FUNCTION", "LOAD", "#!lua\nreturn 1"]).contains("name was not given"));
        assert!(err(c, &["FUNCTION", "LOAD", "#!js name=x\n"]).contains("Engine 'js' not found"));
    }
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    let v: String = q(c, &["FCALL", "setget", "1", "k", "after"]);
    assert_eq!(v, "after");
    let _: () = q(c, &["FUNCTION", "DELETE", "mylib"]);
    assert!(err(c, &["FCALL", "setget", "1", "k", "v"]).contains("Function not found"));
    drop(server);
    let server = start(dir.path());
    let mut c = conn(&server.url());
    assert!(err(&mut c, &["FCALL", "setget", "1", "k", "v"]).contains("Function not found"));
}

/// FUNCTION DUMP and RESTORE with each policy; a bad payload or a collision changes nothing;
/// restored libraries survive a kill -9.
#[test]
fn function_dump_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let lib = |name: &str, f: &str| {
        format!("#!lua name={name}\nredis.register_function('{f}', function() return '{name}' end)")
    };
    let payload: Vec<u8> = {
        let server = start(dir.path());
        let mut c = conn(&server.url());
        let c = &mut c;
        let _: String = q(c, &["FUNCTION", "LOAD", &lib("a", "fa")]);
        let _: String = q(c, &["FUNCTION", "LOAD", &lib("b", "fb")]);
        let payload: Vec<u8> = q(c, &["FUNCTION", "DUMP"]);
        // Any damage is refused, and the libraries loaded stay.
        for i in [0, payload.len() / 2, payload.len() - 1] {
            let mut bad = payload.clone();
            bad[i] ^= 0x20;
            let e = redis::cmd("FUNCTION")
                .arg("RESTORE")
                .arg(bad)
                .arg("FLUSH")
                .query::<()>(c)
                .unwrap_err();
            assert!(e.to_string().contains("checksum are wrong"), "{e}");
        }
        let e = redis::cmd("FUNCTION")
            .arg("RESTORE")
            .arg(&payload)
            .query::<()>(c)
            .unwrap_err();
        assert!(e.to_string().contains("Library a already exists"), "{e}");
        let e = redis::cmd("FUNCTION")
            .arg("RESTORE")
            .arg(&payload)
            .arg("MERGE")
            .query::<()>(c)
            .unwrap_err();
        assert!(e.to_string().contains("Wrong restore policy"), "{e}");
        let fa: String = q(c, &["FCALL", "fa", "0"]);
        assert_eq!(fa, "a");
        // A library whose function another library has: nothing is restored.
        let _: () = q(c, &["FUNCTION", "FLUSH"]);
        let _: String = q(c, &["FUNCTION", "LOAD", &lib("c", "fb")]);
        let e = redis::cmd("FUNCTION")
            .arg("RESTORE")
            .arg(&payload)
            .query::<()>(c)
            .unwrap_err();
        assert!(e.to_string().contains("Function fb already exists"), "{e}");
        assert!(err(c, &["FCALL", "fa", "0"]).contains("Function not found"));
        let _: () = redis::cmd("FUNCTION")
            .arg("RESTORE")
            .arg(&payload)
            .arg("FLUSH")
            .query(c)
            .unwrap();
        payload
    };
    // Restored after a kill -9; REPLACE swaps a library of the same name.
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    let fb: String = q(c, &["FCALL", "fb", "0"]);
    assert_eq!(fb, "b");
    assert!(err(c, &["FCALL", "fc", "0"]).contains("Function not found"));
    let _: String = q(c, &["FUNCTION", "LOAD", "REPLACE", &lib("a", "other")]);
    let _: () = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&payload)
        .arg("REPLACE")
        .query(c)
        .unwrap();
    let fa: String = q(c, &["FCALL", "fa", "0"]);
    assert_eq!(fa, "a");
    assert!(err(c, &["FCALL", "other", "0"]).contains("Function not found"));
}

/// With `appendfsync always`, a script's writes are one batch: after a kill -9, every
/// acknowledged script's writes are there, and the one in flight is whole or absent.
#[test]
fn acknowledged_scripts_survive_kill_9_whole() {
    let dir = tempfile::tempdir().unwrap();
    let script = "local n = redis.call('incr', KEYS[1]); redis.call('rpush', KEYS[2], n); \
                  redis.call('hset', KEYS[3], 'f' .. n, n); return n";
    let (acked, server) = common::kill_9_during(dir.path(), 2, move |url, t| {
        let mut c = conn(url);
        let mut acked = 0u64;
        loop {
            let r = redis::cmd("EVAL")
                .arg(script)
                .arg(3)
                .arg(format!("n{t}"))
                .arg(format!("l{t}"))
                .arg(format!("h{t}"))
                .query::<u64>(&mut c);
            match r {
                Ok(n) => {
                    assert_eq!(n, acked + 1);
                    acked += 1;
                }
                Err(_) => return acked,
            }
        }
    });
    let mut c = conn(&server.url());
    let c = &mut c;
    for (t, &n) in acked.iter().enumerate() {
        let s: u64 = q(c, &["GET", &format!("n{t}")]);
        let llen: u64 = q(c, &["LLEN", &format!("l{t}")]);
        let hlen: u64 = q(c, &["HLEN", &format!("h{t}")]);
        assert!(s == n || s == n + 1, "n{t}: {s} vs {n} acknowledged");
        assert_eq!((llen, hlen), (s, s), "l{t} and h{t} against n{t}");
    }
}

/// A script past `busy-reply-threshold` makes other clients' commands answer BUSY, and
/// SCRIPT KILL stops it (a `pcall` inside cannot keep it alive); the server then serves again.
#[test]
fn a_busy_script_answers_busy_and_script_kill_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let _: () = q(&mut c, &["CONFIG", "SET", "busy-reply-threshold", "10"]);
    let url = server.url();
    let looping = std::thread::spawn(move || {
        let mut s = conn(&url);
        err(
            &mut s,
            &[
                "EVAL",
                "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end",
                "0",
            ],
        )
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match redis::cmd("PING").query::<String>(&mut c) {
            Err(e) if e.code() == Some("BUSY") => break,
            _ if std::time::Instant::now() > deadline => panic!("never BUSY"),
            _ => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    assert!(err(&mut c, &["FUNCTION", "KILL"]).starts_with("BUSY"));
    let _: () = q(&mut c, &["SCRIPT", "KILL"]);
    let killed = looping.join().unwrap();
    assert!(killed.contains("Script killed by user"), "{killed}");
    let pong: String = q(&mut c, &["PING"]);
    assert_eq!(pong, "PONG");
    assert!(err(&mut c, &["SCRIPT", "KILL"]).starts_with("NOTBUSY"));

    // A script quick so far (so run on its connection's thread) that runs long this time
    // still leaves the server answering: BUSY to others, and SCRIPT KILL stops it.
    let body = "local n = tonumber(ARGV[1]) local i = 0 while i < n do i = i + 1 end return i";
    let done: i64 = q(&mut c, &["EVAL", body, "0", "10"]);
    assert_eq!(done, 10);
    let url = server.url();
    let long = std::thread::spawn(move || {
        let mut s = conn(&url);
        err(&mut s, &["EVAL", body, "0", "1e15"])
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut others: Vec<redis::Connection> = (0..8).map(|_| conn(&server.url())).collect();
    'busy: loop {
        for o in &mut others {
            match redis::cmd("PING").query::<String>(o) {
                Err(e) if e.code() == Some("BUSY") => break 'busy,
                _ if std::time::Instant::now() > deadline => panic!("never BUSY"),
                _ => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
    }
    // Every connection is served while the script runs.
    for o in &mut others {
        let e = redis::cmd("GET")
            .arg("x")
            .query::<Option<String>>(o)
            .unwrap_err();
        assert_eq!(e.code(), Some("BUSY"));
    }
    let _: () = q(&mut c, &["SCRIPT", "KILL"]);
    assert!(long.join().unwrap().contains("Script killed by user"));
}

/// The libraries Redis loads (cjson, cmsgpack) answer as Redis's do, and hostile input to
/// them (deep nesting, lies about lengths) is an error, never a crash.
#[test]
fn cjson_and_cmsgpack_as_redis_has_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    let eval = |c: &mut redis::Connection, script: &str| -> String { q(c, &["EVAL", script, "0"]) };
    assert_eq!(
        eval(
            c,
            "return cjson.encode({1, 'a/b', true, cjson.null, {x = 0.5}})"
        ),
        r#"[1,"a\/b",true,null,{"x":0.5}]"#
    );
    assert_eq!(eval(c, "return cjson.encode({})"), "{}");
    assert_eq!(
        eval(
            c,
            r#"return table.concat(cjson.decode("[0.0, -5e3, 0.3e-3, 1023.2]"), " ")"#
        ),
        "0 -5000 0.0003 1023.2"
    );
    assert_eq!(
        eval(
            c,
            r#"local t = cjson.decode([[{"k": "\u00e9\ud83d\ude00", "n": null}]])
                   return t.k .. tostring(t.n == cjson.null)"#
        ),
        "é😀true"
    );
    assert!(err(
        c,
        &["EVAL", "return cjson.encode({[1] = 1, [100] = 2})", "0"]
    )
    .contains("excessively sparse array"));
    assert!(err(c, &["EVAL", "return cjson.decode('[1,')", "0"]).contains("Expected value"));
    // Nesting past the depth limits is an error in both directions, even when a script
    // raises the limits as far as they go.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let e = redis::cmd("EVAL")
        .arg("cjson.decode_max_depth(2147483647) return cjson.decode(ARGV[1])")
        .arg(0)
        .arg(&deep)
        .query::<redis::Value>(c)
        .unwrap_err();
    assert!(e.to_string().contains("too many nested"), "{e}");
    assert!(err(
        c,
        &[
            "EVAL",
            "cjson.encode_max_depth(2147483647) local a = {} a[1] = a return cjson.encode(a)",
            "0"
        ]
    )
    .contains("excessive nesting"));
    let _: () = q(
        c,
        &[
            "EVAL",
            "cjson.encode_max_depth(1000) cjson.decode_max_depth(1000)",
            "0",
        ],
    );

    let hex = "local e = cmsgpack.pack(ARGV[1] + 0) local h = '' \
               for i = 1, #e do h = h .. string.format('%02x', string.byte(e, i)) end return h";
    for (n, want) in [
        ("0.1", "cb3fb999999999999a"),
        ("-1099511627776", "d3ffffff0000000000"),
        ("1", "01"),
        ("-32", "e0"),
        ("200", "ccc8"),
        ("0.5", "ca3f000000"),
    ] {
        let h: String = q(c, &["EVAL", hex, "0", n]);
        assert_eq!(h, want, "{n}");
    }
    let v: Vec<String> = q(
        c,
        &[
            "EVAL",
            "local t = cmsgpack.unpack(cmsgpack.pack({'a', 'b', {x = 'c'}})) \
                   return {t[1], t[2], t[3].x}",
            "0",
        ],
    );
    assert_eq!(v, ["a", "b", "c"]);
    let deep = vec![0x91u8; 100_000];
    let e = redis::cmd("EVAL")
        .arg("return cmsgpack.unpack(ARGV[1])")
        .arg(0)
        .arg(&deep)
        .query::<redis::Value>(c)
        .unwrap_err();
    assert!(e.to_string().contains("stack overflow"), "{e}");
    // An array of four billion elements in five bytes: refused when the bytes run out.
    let e = redis::cmd("EVAL")
        .arg("return cmsgpack.unpack(ARGV[1])")
        .arg(0)
        .arg(&[0xddu8, 0xff, 0xff, 0xff, 0xff][..])
        .query::<redis::Value>(c)
        .unwrap_err();
    assert!(e.to_string().contains("Missing bytes"), "{e}");
    // struct, as lua_struct packs and unpacks.
    let v: Vec<i64> = q(
        c,
        &[
            "EVAL",
            "local s = struct.pack('>i2 <I4 !4 b d', -2, 70000, 1, 1.5) \
                   local a, b, c, d, next = struct.unpack('>i2 <I4 !4 b d', s) \
                   return {#s, a, b, c, d * 2, next, struct.size('!4 b d')}",
            "0",
        ],
    );
    assert_eq!(v, [16, -2, 70000, 1, 3, 17, 12]);
    let e = err(c, &["EVAL", "return struct.pack('i33', 1)", "0"]);
    assert!(
        e.contains("user_script:1: integral size 33 is larger than limit of 32"),
        "{e}"
    );
    let pong: String = q(c, &["PING"]);
    assert_eq!(pong, "PONG");
}

/// A script's error says where it was raised, as Redis 7's do.
#[test]
fn script_errors_name_the_script_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    let e = err(c, &["EVAL", "local x = 1\nerror('boom')", "0"]);
    assert_eq!(
        e,
        "ERR user_script:2: boom script: 714a63a669be258558d12789d99b172938d85961, on @user_script:2."
    );
    let e = err(
        c,
        &["EVAL", "local r = redis.call('nosuch')\nreturn r", "0"],
    );
    assert!(
        e.starts_with("ERR Unknown Redis command called from script script: "),
        "{e}"
    );
    assert!(e.ends_with(", on @user_script:1."), "{e}");
    let _: String = q(
        c,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=l\nredis.register_function('f', function() error({err='MY own'}) end)",
        ],
    );
    assert_eq!(
        err(c, &["FCALL", "f", "0"]),
        "MY own script: f, on @user_function:2."
    );
}

/// What Redis's sandbox refuses stays refused through the side doors: rawset, getfenv,
/// the string metatable, code loaded at run time, binary chunks.
#[test]
fn the_sandbox_has_no_side_doors() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    for script in [
        "rawset(_G, 'x', 1)",
        "getfenv(0).redis = 1",
        "getfenv(1).x = 1",
        "getmetatable('').__index = {}",
        "loadstring('y = 1')()",
        "redis.call = nil",
        "cjson.encode = nil",
    ] {
        let e = err(c, &["EVAL", script, "0"]);
        assert!(
            e.contains("Attempt to modify a readonly table"),
            "{script}: {e}"
        );
    }
    let e = err(
        c,
        &[
            "EVAL",
            "return loadstring(string.dump(function() return 1 end))()",
            "0",
        ],
    );
    assert!(e.contains("attempt to call a nil value"), "{e}");
    let v: i64 = q(c, &["EVAL", "return loadstring('return 1 + 1')()", "0"]);
    assert_eq!(v, 2);
    let s: String = q(c, &["EVAL", "return ('abc'):upper()", "0"]);
    assert_eq!(s, "ABC");
    // Nothing any of them tried is visible to the next script.
    assert!(err(c, &["EVAL", "return x", "0"]).contains("nonexistent global variable 'x'"));
}

/// `redis.setresp(3)` gives a script RESP3 replies, and its RESP3 values reach a RESP2
/// client as Redis sends them; errors are counted once in INFO errorstats; with
/// `min-replicas-to-write` writes are refused (Strata has no replicas).
#[test]
fn resp3_in_scripts_error_stats_and_noreplicas() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut c = conn(&server.url());
    let c = &mut c;
    let _: i64 = q(c, &["HSET", "h", "f", "v"]);
    let kinds: Vec<String> = q(
        c,
        &[
            "EVAL",
            "redis.setresp(3) local m = redis.call('hgetall', 'h') \
                   local n = redis.call('get', 'missing') \
                   return {type(m.map), m.map.f, tostring(n)}",
            "0",
        ],
    );
    assert_eq!(kinds, ["table", "v", "nil"]);
    let flat: Vec<String> = q(
        c,
        &[
            "EVAL",
            "redis.setresp(3) return redis.call('hgetall', 'h')",
            "0",
        ],
    );
    assert_eq!(flat, ["f", "v"]);
    assert!(err(c, &["EVAL", "redis.setresp(4)", "0"]).contains("RESP version must be 2 or 3"));

    let _: () = q(c, &["CONFIG", "RESETSTAT"]);
    assert_eq!(
        err(
            c,
            &["EVAL", "return redis.error_reply('MY_CODE custom')", "0"]
        ),
        "MY_CODE custom"
    );
    assert!(err(c, &["EVAL", "return redis.call('select', 99)", "0"]).contains("out of range"));
    let v: i64 = q(
        c,
        &["EVAL", "local t = redis.pcall('nosuchcmd') return 1", "0"],
    );
    assert_eq!(v, 1);
    let info: String = q(c, &["INFO", "errorstats"]);
    assert!(info.contains("errorstat_MY_CODE:count=1"), "{info}");
    assert!(info.contains("errorstat_ERR:count=2"), "{info}");
    let stats: String = q(c, &["INFO", "stats"]);
    assert!(stats.contains("total_error_replies:3"), "{stats}");

    let _: () = q(c, &["CONFIG", "SET", "min-replicas-to-write", "1"]);
    assert!(err(c, &["SET", "k", "v"]).starts_with("NOREPLICAS"));
    assert!(err(c, &["EVAL", "return redis.call('set', 'k', 'v')", "0"]).starts_with("NOREPLICAS"));
    // A script declaring it may write is refused before it runs; reads still work.
    assert!(err(c, &["EVAL", "#!lua\nreturn 1", "0"]).starts_with("NOREPLICAS"));
    let v: i64 = q(c, &["EVAL", "#!lua flags=no-writes\nreturn 1", "0"]);
    assert_eq!(v, 1);
    let v: String = q(c, &["HGET", "h", "f"]);
    assert_eq!(v, "v");
    let _: () = q(c, &["CONFIG", "SET", "min-replicas-to-write", "0"]);
    let _: () = q(c, &["SET", "k", "v"]);
}
