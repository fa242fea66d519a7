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
    /// Reads of existing keys chosen by a scrambled Zipfian distribution (theta 0.99, YCSB's
    /// hot set).
    ReadZipfian,
    /// 90% reads, 10% overwrites, uniform keys.
    MixRandom,
    /// 90% reads, 10% overwrites, Zipfian keys.
    MixZipfian,
    /// Not a workload: closes the engine, writes dirty pages out, drops the OS page cache
    /// (needs root) and reopens the engine, so the next workload starts cold and reads from
    /// the disk.
    DropCaches,
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
            "readzipfian" => Kind::ReadZipfian,
            "mixrandom" => Kind::MixRandom,
            "mixzipfian" => Kind::MixZipfian,
            "dropcaches" => Kind::DropCaches,
            _ => return None,
        })
    }

    /// Whether it starts from an empty database.
    pub fn fresh(self) -> bool {
        matches!(self, Kind::FillSeq | Kind::FillRandom | Kind::FillSync)
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

/// Zipfian skew of `readzipfian` and `mixzipfian` (YCSB's default).
pub const ZIPF_THETA: f64 = 0.99;

/// Picks key indexes in `0..num` by a Zipfian distribution whose ranks are scattered over the
/// key space (YCSB's scrambled Zipfian): the hottest keys are not neighbours, so they do not
/// share a data block.
#[derive(Debug, Clone, Copy)]
pub struct Zipfian {
    zipf: rand_distr::Zipf<f64>,
    num: u64,
}

/// A prime larger than any key count, so `rank * SCATTER mod num` is a permutation.
const SCATTER: u128 = 2_305_843_009_213_693_951; // 2^61 - 1

impl Zipfian {
    /// Over `num` keys (at least 1).
    pub fn new(num: u64) -> Result<Zipfian> {
        let zipf = rand_distr::Zipf::new(num.max(1) as f64, ZIPF_THETA)
            .map_err(|e| format!("zipfian over {num} keys: {e}"))?;
        Ok(Zipfian {
            zipf,
            num: num.max(1),
        })
    }

    /// A key index.
    pub fn pick(&self, rng: &mut SmallRng) -> u64 {
        use rand_distr::Distribution;
        let rank = (self.zipf.sample(rng) as u64).clamp(1, self.num) - 1;
        ((u128::from(rank) * SCATTER) % u128::from(self.num)) as u64
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
    /// Bytes of keys and values written (user data, for write amplification).
    pub written: u64,
    /// Operations and latencies per second since the start (when asked for).
    pub timeline: Vec<Second>,
}

/// One second of a workload.
#[derive(Debug, Clone)]
pub struct Second {
    /// Operations completed in it.
    pub ops: u64,
    /// Their latencies in nanoseconds (2 significant digits: one per second adds up).
    pub latency: Histogram<u64>,
}

impl Second {
    fn new() -> Second {
        Second {
            ops: 0,
            latency: Histogram::new_with_bounds(1, 100_000_000_000, 2)
                .expect("constant, valid bounds"),
        }
    }
}

/// Records one operation of `nanos` that started `since_start` into the workload.
fn record_second(timeline: &mut Vec<Second>, since_start: Duration, nanos: u64) {
    let s = since_start.as_secs() as usize;
    if timeline.len() <= s {
        timeline.resize_with(s + 1, Second::new);
    }
    if let Some(sec) = timeline.get_mut(s) {
        sec.ops += 1;
        let _ = sec.latency.record(nanos);
    }
}

/// Adds `other`'s seconds into `into`.
fn merge_timeline(into: &mut Vec<Second>, other: &[Second]) {
    if into.len() < other.len() {
        into.resize_with(other.len(), Second::new);
    }
    for (a, b) in into.iter_mut().zip(other) {
        a.ops += b.ops;
        let _ = a.latency.add(&b.latency);
    }
}

/// A latency histogram: 1 ns to 100 s, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("constant, valid bounds")
}

/// What one operation did.
#[derive(Debug, Clone, Copy, Default)]
struct Op {
    /// Bytes of keys and values moved.
    bytes: u64,
    /// A read found its key.
    found: bool,
    /// It wrote (its bytes are user data).
    wrote: bool,
}

impl Op {
    fn read(key: &[u8], got: Option<usize>) -> Op {
        Op {
            bytes: got.map_or(0, |n| (n + key.len()) as u64),
            found: got.is_some(),
            wrote: false,
        }
    }

    fn write(bytes: u64) -> Op {
        Op {
            bytes,
            found: false,
            wrote: true,
        }
    }
}

/// Runs `per_op` `ops` times on each of `threads` threads, and merges what they measured.
/// Thread `t` gets its own RNG seeded from `seed` and `t`: give each workload its own seed,
/// or a read workload would replay the keys a fill wrote, in the same order.
fn parallel<F>(threads: usize, ops: u64, seed: u64, timeline: bool, per_op: F) -> Result<Outcome>
where
    F: Fn(usize, &mut SmallRng, &mut Vec<u8>) -> Result<Op> + Sync,
{
    let started = Instant::now();
    let results: Vec<Result<Outcome>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let per_op = &per_op;
                s.spawn(move || {
                    let mut rng = SmallRng::seed_from_u64(
                        seed ^ (t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    );
                    let mut key = Vec::with_capacity(64);
                    let mut mine = Outcome {
                        ops: 0,
                        bytes: 0,
                        elapsed: Duration::ZERO,
                        latency: histogram(),
                        found: 0,
                        written: 0,
                        timeline: Vec::new(),
                    };
                    for _ in 0..ops {
                        let t0 = Instant::now();
                        let op = per_op(t, &mut rng, &mut key)?;
                        let nanos = t0.elapsed().as_nanos() as u64;
                        let _ = mine.latency.record(nanos);
                        if timeline {
                            record_second(&mut mine.timeline, t0 - started, nanos);
                        }
                        mine.ops += 1;
                        mine.bytes += op.bytes;
                        mine.found += u64::from(op.found);
                        if op.wrote {
                            mine.written += op.bytes;
                        }
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
        written: 0,
        timeline: Vec::new(),
    };
    for r in results {
        let r = r?;
        merge_timeline(&mut out.timeline, &r.timeline);
        let _ = out.latency.add(&r.latency);
        out.ops += r.ops;
        out.bytes += r.bytes;
        out.found += r.found;
        out.written += r.written;
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
    /// Record operations and latencies per second.
    pub timeline: bool,
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
    // Each workload its own random sequence (see `parallel`).
    let seed = shape.seed ^ ((kind as u64 + 1) << 40);
    let per_thread = |total: u64| total.div_ceil(threads as u64);
    match kind {
        Kind::FillSeq => {
            let mut values = Values::new(shape.value_size, shape.seed);
            let mut key = Vec::new();
            let started = Instant::now();
            let mut h = histogram();
            let mut timeline = Vec::new();
            for i in 0..shape.num {
                shape.key(i, &mut key);
                let t0 = Instant::now();
                engine.put(&key, values.next(), false)?;
                let nanos = t0.elapsed().as_nanos() as u64;
                let _ = h.record(nanos);
                if counts.timeline {
                    record_second(&mut timeline, t0 - started, nanos);
                }
            }
            Ok(Outcome {
                ops: shape.num,
                bytes: shape.num * kv,
                elapsed: started.elapsed(),
                latency: h,
                found: 0,
                written: shape.num * kv,
                timeline,
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
            parallel(
                threads,
                per_thread(total),
                seed,
                counts.timeline,
                |t, rng, key| {
                    shape.key(rng.random_range(0..shape.num), key);
                    let mut v = values[t].lock().map_err(|_| "poisoned".to_string())?;
                    engine.put(key, v.next(), sync)?;
                    Ok(Op::write(kv))
                },
            )
        }
        Kind::ReadRandom | Kind::ReadMissing => parallel(
            threads,
            per_thread(counts.reads),
            seed,
            counts.timeline,
            |_, rng, key| {
                let i = rng.random_range(0..shape.num);
                if kind == Kind::ReadMissing {
                    shape.missing_key(i, key);
                } else {
                    shape.key(i, key);
                }
                Ok(Op::read(key, engine.get(key)?))
            },
        ),
        Kind::ReadZipfian => {
            let zipf = Zipfian::new(shape.num)?;
            parallel(
                threads,
                per_thread(counts.reads),
                seed,
                counts.timeline,
                |_, rng, key| {
                    shape.key(zipf.pick(rng), key);
                    Ok(Op::read(key, engine.get(key)?))
                },
            )
        }
        Kind::MixRandom | Kind::MixZipfian => {
            let zipf = Zipfian::new(shape.num)?;
            let values: Vec<std::sync::Mutex<Values>> = (0..threads)
                .map(|t| {
                    std::sync::Mutex::new(Values::new(shape.value_size, shape.seed ^ t as u64))
                })
                .collect();
            parallel(
                threads,
                per_thread(counts.reads),
                seed,
                counts.timeline,
                |t, rng, key| {
                    let i = if kind == Kind::MixZipfian {
                        zipf.pick(rng)
                    } else {
                        rng.random_range(0..shape.num)
                    };
                    shape.key(i, key);
                    if rng.random_ratio(1, 10) {
                        let mut v = values[t].lock().map_err(|_| "poisoned".to_string())?;
                        engine.put(key, v.next(), false)?;
                        Ok(Op::write(kv))
                    } else {
                        Ok(Op::read(key, engine.get(key)?))
                    }
                },
            )
        }
        Kind::DropCaches => Err("dropcaches restarts the engine: the driver runs it".into()),
        Kind::SeekRandom => parallel(
            threads,
            per_thread(counts.seeks),
            seed,
            counts.timeline,
            |_, rng, key| {
                shape.key(rng.random_range(0..shape.num), key);
                let n = engine.seek_next(key, 11)?;
                Ok(Op {
                    bytes: n as u64 * kv,
                    found: n > 0,
                    wrote: false,
                })
            },
        ),
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
                written: 0,
                timeline: Vec::new(),
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
                let readers = parallel(
                    threads,
                    per_thread(counts.reads),
                    seed,
                    counts.timeline,
                    |_, rng, key| {
                        shape.key(rng.random_range(0..shape.num), key);
                        Ok(Op::read(key, engine.get(key)?))
                    },
                );
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
            memory_budget: Some(4 << 20),
            min_blob_size: None,
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
            timeline: true,
        };
        let fill = run(&engine, Kind::FillSeq, 1, &shape, &counts).unwrap();
        assert_eq!(fill.ops, 2000);
        assert_eq!(fill.timeline.iter().map(|s| s.ops).sum::<u64>(), 2000);
        let reads = run(&engine, Kind::ReadRandom, 2, &shape, &counts).unwrap();
        assert_eq!((reads.ops, reads.found), (500, 500), "every key is there");
        assert_eq!(reads.timeline.iter().map(|s| s.ops).sum::<u64>(), 500);
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
        let zipf = run(&engine, Kind::ReadZipfian, 2, &shape, &counts).unwrap();
        assert_eq!((zipf.ops, zipf.found), (500, 500));
        for kind in [Kind::MixRandom, Kind::MixZipfian] {
            let mix = run(&engine, kind, 2, &shape, &counts).unwrap();
            let writes = mix.written / (shape.key_size + shape.value_size) as u64;
            assert_eq!(mix.found + writes, 500, "every read finds its key");
            assert!((10..=100).contains(&writes), "about 10% writes: {writes}");
        }
        engine.settle().unwrap();
        assert!(engine.cache_counters().unwrap().hits > 0);
        assert!(engine.memory_report().unwrap().contains("memtables"));
    }

    #[test]
    fn zipfian_is_skewed_and_scattered() {
        let n = 1_000_000;
        let zipf = Zipfian::new(n).unwrap();
        let mut rng = SmallRng::seed_from_u64(9);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..100_000 {
            let i = zipf.pick(&mut rng);
            assert!(i < n);
            *counts.entry(i).or_insert(0u32) += 1;
        }
        let mut by_count: Vec<(u64, u32)> = counts.into_iter().collect();
        by_count.sort_by_key(|&(_, c)| std::cmp::Reverse(c));
        // With theta 0.99 over 1M keys the top key gets about 7% and the top 10 about 20%.
        let top10: u32 = by_count.iter().take(10).map(|&(_, c)| c).sum();
        assert!(
            (12_000..30_000).contains(&top10),
            "top 10 keys drew {top10}"
        );
        let mut hot: Vec<u64> = by_count.iter().take(10).map(|&(i, _)| i).collect();
        hot.sort_unstable();
        assert!(
            hot.windows(2).all(|w| w[1] - w[0] > 1000),
            "hot keys are scattered: {hot:?}"
        );
        assert!(Zipfian::new(1).unwrap().pick(&mut rng) == 0);
    }
}
