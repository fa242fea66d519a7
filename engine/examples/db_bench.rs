//! A db_bench-style load generator for the engine.
//!
//! ```sh
//! cargo run --release -p strata --example db_bench -- \
//!     --num 1000000 --benchmarks fillrandom,reopen,readrandom [--dir DIR] [--reads N]
//! ```
//!
//! Keys are 16 random bytes, values 100 random (incompressible) bytes, default `Options` (WAL
//! on, `SyncMode::Interval(1s)`), one thread. Benchmarks run in the order given:
//!
//! - `fillrandom`: put keys 0..num (in key-hash order, i.e. random);
//! - `overwrite`: put num random keys drawn from the same key space, with new values;
//! - `readrandom`: get `reads` random keys from the key space, checking each is found;
//! - `settle`: wait until flushes and compactions have nothing left to do;
//! - `flush`: write the memtables to tables;
//! - `reopen`: close and open the database again;
//! - `compact`: `compact_range` over everything, reporting disk bytes before and after (their
//!   ratio is the space amplification at rest);
//! - `stats`: print `Db::stats()`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use strata::{Db, Options};

/// splitmix64: a tiny, well-known generator; enough for benchmark keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn key(i: u64) -> [u8; 16] {
    let mut r = Rng(i);
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&r.next().to_be_bytes());
    k[8..].copy_from_slice(&r.next().to_be_bytes());
    k
}

fn value(seed: u64) -> [u8; 100] {
    let mut v = [0u8; 100];
    let mut r = Rng(seed ^ 0xABCD_EF01);
    for chunk in v.chunks_mut(8) {
        let x = r.next().to_le_bytes();
        chunk.copy_from_slice(&x[..chunk.len()]);
    }
    v
}

fn disk_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "sst"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut num: u64 = 1_000_000;
    let mut reads: Option<u64> = None;
    let mut benchmarks = String::from("fillrandom,reopen,readrandom");
    let mut dir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--num" => num = val()?.parse()?,
            "--reads" => reads = Some(val()?.parse()?),
            "--benchmarks" => benchmarks = val()?,
            "--dir" => dir = Some(PathBuf::from(val()?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let reads = reads.unwrap_or(num);
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("strata-db-bench-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "strata db_bench: num {num}, keys 16 B, values 100 B, dir {}",
        dir.display()
    );

    let mut db = Db::open(&dir, Options::default())?;
    let mut rng = Rng(42);
    let mut written: u64 = 0;
    for bench in benchmarks.split(',') {
        let t = Instant::now();
        match bench {
            "fillrandom" => {
                for i in 0..num {
                    db.put(key(i), value(i))?;
                }
                written += num;
                report(bench, num, t.elapsed(), 116);
            }
            "overwrite" => {
                for j in 0..num {
                    let i = rng.next() % num;
                    db.put(key(i), value(i ^ (j << 20)))?;
                }
                written += num;
                report(bench, num, t.elapsed(), 116);
            }
            "readrandom" => {
                let mut found = 0u64;
                for _ in 0..reads {
                    if db.get(key(rng.next() % num))?.is_some() {
                        found += 1;
                    }
                }
                report(bench, reads, t.elapsed(), 0);
                println!("{:>12}   {found} of {reads} found", "");
                if found != reads {
                    return Err(format!("{} keys missing", reads - found).into());
                }
            }
            "settle" => {
                db.wait_for_background_work()?;
                println!("settle     : {:.2} s", t.elapsed().as_secs_f64());
            }
            "flush" => {
                db.flush()?;
                println!("flush      : {:.2} s", t.elapsed().as_secs_f64());
            }
            "reopen" => {
                db.close()?;
                db = Db::open(&dir, Options::default())?;
                println!("reopen     : {:.2} s", t.elapsed().as_secs_f64());
            }
            "compact" => {
                db.wait_for_background_work()?;
                let before = disk_bytes(&dir);
                db.compact_range(None, None)?;
                let after = disk_bytes(&dir);
                println!(
                    "compact    : {:.2} s; tables {before} bytes at rest, {after} after a full \
                     compaction: space amplification {:.3}",
                    t.elapsed().as_secs_f64(),
                    before as f64 / after.max(1) as f64
                );
            }
            "stats" => {
                println!("user data written: {} bytes", written * 116);
                print!("{}", db.stats());
            }
            other => return Err(format!("unknown benchmark {other}").into()),
        }
    }
    db.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn report(name: &str, ops: u64, took: Duration, bytes_per_op: u64) {
    let secs = took.as_secs_f64();
    let rate = ops as f64 / secs;
    if bytes_per_op > 0 {
        println!(
            "{name:<11}: {rate:>9.0} ops/s, {:>6.1} MB/s, {secs:.2} s",
            rate * bytes_per_op as f64 / 1e6
        );
    } else {
        println!("{name:<11}: {rate:>9.0} ops/s, {secs:.2} s");
    }
}
