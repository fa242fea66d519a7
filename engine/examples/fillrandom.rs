//! db_bench-style load: `fillrandom` then `readrandom` after a reopen.
//!
//! ```sh
//! cargo run --release -p strata --example fillrandom -- [NUM] [DIR]
//! ```
//!
//! Writes NUM (default 1,000,000) random 16-byte keys with 100-byte values using the default
//! options (WAL on, `SyncMode::Interval(1s)`), closes, reopens, and reads every key back in a
//! different random order, checking each value. Prints the rates and the final stats.

use std::time::Instant;

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

fn value(i: u64) -> [u8; 100] {
    let mut v = [0u8; 100];
    let mut r = Rng(i ^ 0xABCD);
    for chunk in v.chunks_mut(8) {
        let x = r.next().to_le_bytes();
        chunk.copy_from_slice(&x[..chunk.len()]);
    }
    v
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let num: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("strata-fillrandom-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&dir);

    let t = Instant::now();
    let db = Db::open(&dir, Options::default())?;
    for i in 0..num {
        db.put(key(i), value(i))?;
    }
    let put_secs = t.elapsed().as_secs_f64();
    db.close()?;
    let fill_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let db = Db::open(&dir, Options::default())?;
    let reopen_secs = t.elapsed().as_secs_f64();

    // Read in a different order: a multiplicative permutation of 0..num.
    let step = (0..)
        .map(|k| 1_000_003 + 2 * k)
        .find(|s| gcd(*s, num) == 1)
        .unwrap_or(1);
    let t = Instant::now();
    let mut missing = 0u64;
    for j in 0..num {
        let i = (j * step) % num;
        match db.get(key(i))? {
            Some(v) if v == value(i) => {}
            _ => missing += 1,
        }
    }
    let get_secs = t.elapsed().as_secs_f64();

    let mb = (num * 116) as f64 / 1e6;
    println!(
        "keys: {num} x (16 + 100) bytes = {mb:.1} MB of user data, dir {}",
        dir.display()
    );
    println!(
        "fillrandom: {:.0} puts/s ({:.1} MB/s), {put_secs:.2} s; with close {fill_secs:.2} s",
        num as f64 / put_secs,
        mb / put_secs
    );
    println!("reopen:     {reopen_secs:.2} s (replays and flushes the WAL)");
    println!(
        "readrandom: {:.0} gets/s, {get_secs:.2} s, {missing} missing or wrong",
        num as f64 / get_secs
    );
    print!("{}", db.stats());
    db.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    if missing > 0 {
        return Err(format!("{missing} keys did not read back").into());
    }
    Ok(())
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
