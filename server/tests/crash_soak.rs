//! Crash soak: many `kill -9` cycles under mixed load with `appendfsync always`, every
//! acknowledged write checked after each restart. Not run by CI (`--ignored`):
//!
//! ```sh
//! STRATA_SOAK_CYCLES=1000 cargo test --release -p strata-server --test crash_soak -- --ignored --nocapture
//! ```

// Test helpers outside `#[test]` functions unwrap too; clippy's test exemption misses them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

mod common;

use common::{conn, q, start_with};

const WRITERS: usize = 4;
const KINDS: u64 = 6;

/// Runs op `i` of writer `t` in cycle `cycle`; `Err` once the server is gone.
fn op(c: &mut redis::Connection, cycle: u64, t: usize, i: u64) -> redis::RedisResult<()> {
    let p = format!("{cycle}:{t}");
    match i % KINDS {
        0 => redis::cmd("SET").arg(format!("s{p}:{i}")).arg(i).query(c),
        1 => redis::cmd("INCR")
            .arg(format!("c{p}"))
            .query::<u64>(c)
            .map(drop),
        2 => redis::cmd("HSET")
            .arg(format!("h{p}"))
            .arg(format!("f{i}"))
            .arg(i)
            .query::<u64>(c)
            .map(drop),
        3 => redis::cmd("RPUSH")
            .arg(format!("l{p}"))
            .arg(i)
            .query::<u64>(c)
            .map(drop),
        4 => redis::cmd("ZADD")
            .arg(format!("z{p}"))
            .arg(i)
            .arg(format!("m{i}"))
            .query::<u64>(c)
            .map(drop),
        _ => redis::cmd("SADD")
            .arg(format!("t{p}"))
            .arg(format!("m{i}"))
            .query::<u64>(c)
            .map(drop),
    }
}

/// Checks that every op of writer `t` below `acked` left its effect (the one in flight at
/// the kill may have landed too).
fn check(c: &mut redis::Connection, cycle: u64, t: usize, acked: u64) {
    let p = format!("{cycle}:{t}");
    let of_kind = |k: u64| (0..acked).filter(|i| i % KINDS == k).count() as u64;
    for i in 0..acked {
        let present = match i % KINDS {
            0 => q::<Option<u64>>(c, &["GET", &format!("s{p}:{i}")]) == Some(i),
            2 => q::<Option<u64>>(c, &["HGET", &format!("h{p}"), &format!("f{i}")]) == Some(i),
            4 => {
                q::<Option<f64>>(c, &["ZSCORE", &format!("z{p}"), &format!("m{i}")])
                    == Some(i as f64)
            }
            5 => q::<bool>(c, &["SISMEMBER", &format!("t{p}"), &format!("m{i}")]),
            _ => true,
        };
        assert!(
            present,
            "cycle {cycle}: writer {t}'s acknowledged op {i} lost"
        );
    }
    let incrs: u64 = q::<Option<u64>>(c, &["GET", &format!("c{p}")]).unwrap_or(0);
    assert!(
        incrs == of_kind(1) || incrs == of_kind(1) + 1,
        "cycle {cycle}: counter {incrs}, {} acknowledged",
        of_kind(1)
    );
    let pushed: Vec<u64> = q(c, &["LRANGE", &format!("l{p}"), "0", "-1"]);
    let want: Vec<u64> = (0..acked).filter(|i| i % KINDS == 3).collect();
    assert!(
        pushed.starts_with(&want) && pushed.len() <= want.len() + 1,
        "cycle {cycle}: list {pushed:?}, acknowledged {want:?}"
    );
}

#[test]
#[ignore = "a soak: minutes; run with --ignored"]
fn kill_9_cycles_lose_no_acknowledged_write() {
    let cycles: u64 = std::env::var("STRATA_SOAK_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let mut total = 0u64;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for cycle in 0..cycles {
        let mut server = start_with(dir.path(), &["--appendfsync", "always"]);
        let url = server.url();
        let writers: Vec<_> = (0..WRITERS)
            .map(|t| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let mut c = conn(&url);
                    let mut acked = 0;
                    while op(&mut c, cycle, t, acked).is_ok() {
                        acked += 1;
                    }
                    acked
                })
            })
            .collect();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(50 + rng % 350));
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        let acked: Vec<u64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        drop(server);
        let server = start_with(dir.path(), &["--appendfsync", "always"]);
        let mut c = conn(&server.url());
        for (t, &n) in acked.iter().enumerate() {
            check(&mut c, cycle, t, n);
        }
        total += acked.iter().sum::<u64>();
        if cycle % 100 == 99 {
            println!("{} cycles, {total} acknowledged writes checked", cycle + 1);
        }
    }
    println!("{cycles} cycles, {total} acknowledged writes, none lost");
}
