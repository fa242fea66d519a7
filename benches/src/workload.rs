//! db_bench's workloads over an [`Engine`]: keys, values, timing and latency histograms.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

use crate::engine::{Engine, Result};

/// A workload name as db_bench spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Keys 0..n in order into a fresh database.
    FillSeq,
    /// n random keys into a fresh database.
    FillRandom,
    /// n random keys over what is there.
    Overwrite,
    /// Random keys that exist (after a fill).
    ReadRandom,
    /// Random keys that do not exist.
    ReadMissing,
    /// Seek to a random key, then 10 nexts.
    SeekRandom,
    /// Every entry in order.
    ReadSeq,
    /// Random keys, each write fsynced, into a fresh database.
    FillSync,
    /// Random reads while one thread overwrites random keys.
    ReadWhileWriting,
}

impl Kind {
    /// Parses a name.
    pub fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "fillseq" => Kind::FillSeq,
            "fillrandom" => Kind::FillRandom,
            "overwrite" => Kind::Overwrite,
            "readrandom" => Kind::ReadRandom,
            "readmissing" => Kind::ReadMissing,
            "seekrandom" => Kind::SeekRandom,
            "readseq" => Kind::ReadSeq,
            "fillsync" => Kind::FillSync,
            "readwhilewriting" => Kind::ReadWhileWriting,
            _ => return None,
        })
    }

    /// Whether it starts from an empty database.
    pub fn fresh(self) -> bool {
        matches!(self, Kind::FillSeq | Kind::FillRandom | Kind::FillSync)
    }

    /// Whether it writes (its bytes count as user data for write amplification).
    pub fn writes(self) -> bool {
        matches!(
            self,
            Kind::FillSeq | Kind::FillRandom | Kind::Overwrite | Kind::FillSync
        )
    }
}

/// Key and value shapes and the seed.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Keys in the key space (`--num`).
    pub num: u64,
    /// Bytes per key (at least 16).
    pub key_size: usize,
    /// Bytes per value.
    pub value_size: usize,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Shape {
    /// Key `i`: its decimal digits, zero-padded to the key size (db_bench's form).
    pub fn key(&self, i: u64, out: &mut Vec<u8>) {
        out.clear();
        let digits = format!("{i:0width$}", width = self.key_size);
        out.extend_from_slice(digits.as_bytes());
    }

    /// A key next to key `i` that no fill writes (a `.` where the last digit would be).
    pub fn missing_key(&self, i: u64, out: &mut Vec<u8>) {
        self.key(i, out);
        if let Some(last) = out.last_mut() {
            *last = b'.';
        }
    }
}

/// Random value bytes, handed out as slices of one buffer.
pub struct Values {
    buf: Vec<u8>,
    at: usize,
    size: usize,
}

impl Values {
    /// Values of `size` bytes from a buffer filled from `seed`.
    pub fn new(size: usize, seed: u64) -> Values {
        let mut buf = vec![0u8; (1 << 20).max(size * 2)];
        SmallRng::seed_from_u64(seed).fill_bytes(&mut buf);
        Values { buf, at: 0, size }
    }

    /// The next value.
    pub fn next(&mut self) -> &[u8] {
        if self.at + self.size > self.buf.len() {
            self.at = 0;
        }
        let v = &self.buf[self.at..self.at + self.size];
        self.at += 1 + self.size % 7;
        v
    }
}

/// What one workload did.
#[derive(Debug)]
pub struct Outcome {
    /// Operations (entries for readseq).
    pub ops: u64,
    /// Bytes of keys and values moved.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Per-operation latency in nanoseconds.
    pub latency: Histogram<u64>,
    /// Reads that found their key (for reads).
    pub found: u64,
}

/// A latency histogram: 1 ns to 100 s, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("constant, valid bounds")
}

/// Runs `per_op` `ops` times on each of `threads` threads (thread `t` gets its own RNG), and
/// merges what they measured.
fn parallel<F>(threads: usize, ops: u64, per_op: F) -> Result<Outcome>
where
    F: Fn(usize, &mut SmallRng, &mut Vec<u8>) -> Result<(u64, bool)> + Sync,
{
    let started = Instant::now();
    let results: Vec<Result<Outcome>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let per_op = &per_op;
                s.spawn(move || {
                    let mut rng = SmallRng::seed_from_u64(0x5EED + t as u64);
                    let mut key = Vec::with_capacity(64);
                    let mut mine = Outcome {
                        ops: 0,
                        bytes: 0,
                        elapsed: Duration::ZERO,
                        latency: histogram(),
                        found: 0,
                    };
                    for _ in 0..ops {
                        let t0 = Instant::now();
                        let (b, hit) = per_op(t, &mut rng, &mut key)?;
                        let _ = mine.latency.record(t0.elapsed().as_nanos() as u64);
                        mine.ops += 1;
                        mine.bytes += b;
                        mine.found += u64::from(hit);
                    }
                    Ok(mine)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("worker panicked".into())))
            .collect()
    });
    let mut out = Outcome {
        ops: 0,
        bytes: 0,
        elapsed: started.elapsed(),
        latency: histogram(),
        found: 0,
    };
    for r in results {
        let r = r?;
        let _ = out.latency.add(&r.latency);
        out.ops += r.ops;
        out.bytes += r.bytes;
        out.found += r.found;
    }
    Ok(out)
}

/// How many operations each workload does.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    /// readrandom, readmissing, readwhilewriting (reads).
    pub reads: u64,
    /// seekrandom.
    pub seeks: u64,
    /// fillsync.
    pub sync_writes: u64,
}

/// Runs `kind` with `threads` threads.
///
/// # Errors
/// The first engine error.
pub fn run(
    engine: &dyn Engine,
    kind: Kind,
    threads: usize,
    shape: &Shape,
    counts: &Counts,
) -> Result<Outcome> {
    let kv = (shape.key_size + shape.value_size) as u64;
    let threads = threads.max(1);
    let per_thread = |total: u64| total.div_ceil(threads as u64);
    match kind {
        Kind::FillSeq => {
            let mut values = Values::new(shape.value_size, shape.seed);
            let mut key = Vec::new();
            let started = Instant::now();
            let mut h = histogram();
            for i in 0..shape.num {
                shape.key(i, &mut key);
                let t0 = Instant::now();
                engine.put(&key, values.next(), false)?;
                let _ = h.record(t0.elapsed().as_nanos() as u64);
            }
            Ok(Outcome {
                ops: shape.num,
                bytes: shape.num * kv,
                elapsed: started.elapsed(),
                latency: h,
                found: 0,
            })
        }
        Kind::FillRandom | Kind::Overwrite | Kind::FillSync => {
            let sync = kind == Kind::FillSync;
            let total = if sync { counts.sync_writes } else { shape.num };
            let values: Vec<std::sync::Mutex<Values>> = (0..threads)
                .map(|t| {
                    std::sync::Mutex::new(Values::new(shape.value_size, shape.seed + t as u64))
                })
                .collect();
            parallel(threads, per_thread(total), |t, rng, key| {
                shape.key(rng.random_range(0..shape.num), key);
                let mut v = values[t].lock().map_err(|_| "poisoned".to_string())?;
                engine.put(key, v.next(), sync)?;
                Ok((kv, false))
            })
        }
        Kind::ReadRandom | Kind::ReadMissing => {
            parallel(threads, per_thread(counts.reads), |_, rng, key| {
                let i = rng.random_range(0..shape.num);
                if kind == Kind::ReadMissing {
                    shape.missing_key(i, key);
                } else {
                    shape.key(i, key);
                }
                let got = engine.get(key)?;
                Ok((
                    got.map_or(0, |n| n as u64 + key.len() as u64),
                    got.is_some(),
                ))
            })
        }
        Kind::SeekRandom => parallel(threads, per_thread(counts.seeks), |_, rng, key| {
            shape.key(rng.random_range(0..shape.num), key);
            let n = engine.seek_next(key, 11)?;
            Ok((n as u64 * kv, n > 0))
        }),
        Kind::ReadSeq => {
            let started = Instant::now();
            let (n, bytes) = engine.scan_all()?;
            let elapsed = started.elapsed();
            let mut h = histogram();
            let _ = h.record((elapsed.as_nanos() / u128::from(n.max(1))) as u64);
            Ok(Outcome {
                ops: n,
                bytes,
                elapsed,
                latency: h,
                found: n,
            })
        }
        Kind::ReadWhileWriting => {
            let stop = AtomicBool::new(false);
            std::thread::scope(|s| {
                let writer = s.spawn(|| -> Result<()> {
                    let mut rng = SmallRng::seed_from_u64(shape.seed ^ 0xFEED);
                    let mut values = Values::new(shape.value_size, shape.seed ^ 0xFEED);
                    let mut key = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        shape.key(rng.random_range(0..shape.num), &mut key);
                        engine.put(&key, values.next(), false)?;
                    }
                    Ok(())
                });
                let readers = parallel(threads, per_thread(counts.reads), |_, rng, key| {
                    shape.key(rng.random_range(0..shape.num), key);
                    let got = engine.get(key)?;
                    Ok((
                        got.map_or(0, |n| n as u64 + key.len() as u64),
                        got.is_some(),
                    ))
                });
                stop.store(true, Ordering::Relaxed);
                writer
                    .join()
                    .unwrap_or_else(|_| Err("writer panicked".into()))?;
                readers
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::engine::{Settings, Strata};

    #[test]
    fn keys_have_the_asked_size_and_missing_keys_are_missing() {
        let shape = Shape {
            num: 1000,
            key_size: 16,
            value_size: 100,
            seed: 1,
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        shape.key(42, &mut a);
        assert_eq!(a, b"0000000000000042");
        shape.missing_key(42, &mut b);
        assert_eq!(b, b"000000000000004.");
        let mut v = Values::new(100, 1);
        assert_eq!(v.next().len(), 100);
    }

    #[test]
    fn every_workload_runs_on_strata() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            memtable_bytes: 1 << 20,
            cache_bytes: 1 << 20,
            bloom_bits_per_key: 10,
            block_size: 4096,
            compression: false,
            background_jobs: 2,
            write_buffers: 2,
        };
        let engine = Strata::open(dir.path(), &settings).unwrap();
        let shape = Shape {
            num: 2000,
            key_size: 16,
            value_size: 100,
            seed: 7,
        };
        let counts = Counts {
            reads: 500,
            seeks: 100,
            sync_writes: 20,
        };
        let fill = run(&engine, Kind::FillSeq, 1, &shape, &counts).unwrap();
        assert_eq!(fill.ops, 2000);
        let reads = run(&engine, Kind::ReadRandom, 2, &shape, &counts).unwrap();
        assert_eq!((reads.ops, reads.found), (500, 500), "every key is there");
        let missing = run(&engine, Kind::ReadMissing, 1, &shape, &counts).unwrap();
        assert_eq!(missing.found, 0);
        let seeks = run(&engine, Kind::SeekRandom, 1, &shape, &counts).unwrap();
        assert_eq!(seeks.ops, 100);
        let scan = run(&engine, Kind::ReadSeq, 1, &shape, &counts).unwrap();
        assert_eq!(scan.ops, 2000);
        run(&engine, Kind::Overwrite, 2, &shape, &counts).unwrap();
        let sync = run(&engine, Kind::FillSync, 2, &shape, &counts).unwrap();
        assert_eq!(sync.ops, 20);
        let rww = run(&engine, Kind::ReadWhileWriting, 1, &shape, &counts).unwrap();
        assert_eq!(rww.found, 500);
        engine.settle().unwrap();
    }
}
