//! `strata-bench`: db_bench's workloads on Strata, with throughput, latency percentiles, write
//! and space amplification and peak anonymous memory. See `docs/benchmarks.md` for runs.
//!
//! ```sh
//! strata-bench --workloads fillrandom,overwrite,readrandom,readmissing,seekrandom,readseq \
//!     --num 2000000
//! strata-bench --workloads fillsync,fillsync:8 --num 2000000
//! ```
//!
//! `name:T` runs a workload on T threads, `name:T:N` does N operations (reads, seeks or
//! synced writes) instead of the default count. fillseq, fillrandom and fillsync start from an empty
//! database; the others use what the previous workloads left.
//!
//! Larger than memory (Strata only): `--memory-budget-mb 256` replaces the memtable and cache
//! sizes with one budget; each line then also shows the peak anonymous RSS during the workload
//! and the data block cache hit ratio, and `dropcaches` drops the OS page cache (as root):
//!
//! ```sh
//! strata-bench --memory-budget-mb 256 --num 32000000 --reads 2000000 \
//!     --workloads fillrandom,readrandom:2,readzipfian:2,mixzipfian:2,dropcaches,readrandom:2
//! ```

mod engine;
#[cfg(feature = "peers")]
mod peers;
mod plot;
mod sys;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use engine::{Engine, Settings, Strata};
use workload::{Counts, Kind, Outcome, Shape};

#[derive(Parser, Debug)]
#[command(
    name = "strata-bench",
    version,
    about = "db_bench-style workloads on Strata"
)]
struct Args {
    /// The engine to run: strata, or with `--features peers` rocksdb or fjall.
    #[arg(long, default_value = "strata")]
    engine: String,
    /// Comma-separated workloads, each `name[:threads[:operations]]`: fillseq, fillrandom,
    /// overwrite, readrandom, readmissing, seekrandom, readseq, fillsync, readwhilewriting,
    /// readzipfian, mixrandom, mixzipfian (90% reads, 10% writes), dropcaches.
    #[arg(
        long,
        default_value = "fillrandom,overwrite,readrandom,readmissing,seekrandom,readseq"
    )]
    workloads: String,
    /// Keys in the key space (and writes per fill).
    #[arg(long, default_value_t = 1_000_000)]
    num: u64,
    /// Reads (operations) per read or mixed workload [default: --num].
    #[arg(long)]
    reads: Option<u64>,
    /// Seeks in seekrandom [default: --num / 10].
    #[arg(long)]
    seeks: Option<u64>,
    /// Fsynced writes in fillsync [default: --num / 100].
    #[arg(long)]
    sync_writes: Option<u64>,
    /// Bytes per key (at least 16).
    #[arg(long, default_value_t = 16)]
    key_size: usize,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 301)]
    seed: u64,
    /// Run in this directory (its database is replaced) [default: a temporary one].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Leave the database in --dir afterwards (for `strata stats`).
    #[arg(long)]
    keep: bool,
    /// Memtable size in MiB.
    #[arg(long, default_value_t = 64)]
    memtable_mb: usize,
    /// Block cache size in MiB.
    #[arg(long, default_value_t = 64)]
    cache_mb: u64,
    /// Bloom filter bits per key.
    #[arg(long, default_value_t = 10)]
    bloom_bits: u32,
    /// Data block size in bytes.
    #[arg(long, default_value_t = 4096)]
    block_size: usize,
    /// Compress tables below L1 with zstd.
    #[arg(long)]
    compression: bool,
    /// Background threads (flush + compaction).
    #[arg(long, default_value_t = 2)]
    background_jobs: usize,
    /// Memtables held at once, the active one included (RocksDB's max_write_buffer_number;
    /// at least 2).
    #[arg(long, default_value_t = 2)]
    write_buffers: usize,
    /// One memory budget in MiB for memtables, block cache, index blocks and filters
    /// (Strata's `Options::memory_budget`); replaces --memtable-mb and --cache-mb.
    #[arg(long)]
    memory_budget_mb: Option<u64>,
    /// Values of at least this many bytes go to blob files (Strata only; default 64 KiB;
    /// a huge number keeps every value a table can hold in the tables).
    #[arg(long)]
    min_blob_size: Option<usize>,
    /// Write each workload's throughput and latency per second to PREFIX-WORKLOAD.csv and
    /// a chart of them to PREFIX-WORKLOAD.svg.
    #[arg(long, value_name = "PREFIX")]
    timeline: Option<PathBuf>,
    /// Print the engine's own statistics (levels, flushes, compactions) after the run.
    #[arg(long)]
    stats: bool,
}

/// Writes `outcome`'s per-second figures as CSV and SVG next to `prefix`.
fn write_timeline(
    prefix: &std::path::Path,
    name: &str,
    title: &str,
    outcome: &Outcome,
) -> Result<(), String> {
    let points: Vec<plot::Point> = outcome
        .timeline
        .iter()
        .enumerate()
        .map(|(second, s)| {
            let us = |q: f64| s.latency.value_at_quantile(q) as f64 / 1000.0;
            plot::Point {
                second,
                ops: s.ops,
                p50_us: us(0.5),
                p99_us: us(0.99),
                max_us: s.latency.max() as f64 / 1000.0,
            }
        })
        .collect();
    let file = name.replace(':', "_");
    let base = prefix.display();
    for (ext, body) in [
        ("csv", plot::csv(&points)),
        ("svg", plot::svg(title, &points)),
    ] {
        let path = format!("{base}-{file}.{ext}");
        std::fs::write(&path, body).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

fn open(
    args: &Args,
    dir: &std::path::Path,
    settings: &Settings,
) -> Result<Box<dyn Engine>, String> {
    if settings.memory_budget.is_some() && args.engine != "strata" {
        return Err("--memory-budget-mb is a Strata option".into());
    }
    match args.engine.as_str() {
        "strata" => Ok(Box::new(Strata::open(dir, settings)?)),
        #[cfg(feature = "peers")]
        "rocksdb" => Ok(Box::new(peers::RocksDb::open(dir, settings)?)),
        #[cfg(feature = "peers")]
        "fjall" => Ok(Box::new(peers::Fjall::open(dir, settings)?)),
        other if cfg!(feature = "peers") => Err(format!(
            "unknown engine {other:?} (strata, rocksdb, fjall)"
        )),
        other => Err(format!(
            "unknown engine {other:?} (this build has strata; rocksdb and fjall need --features peers)"
        )),
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// What a workload cost beyond its own figures: memory and block cache lookups.
struct Costs {
    /// Peak anonymous RSS during the workload.
    rss: u64,
    /// The memory budget, if any.
    budget: Option<u64>,
    /// Data block cache (hits, misses) during the workload.
    cache: Option<(u64, u64)>,
}

fn report(name: &str, o: &Outcome, costs: &Costs) {
    let secs = o.elapsed.as_secs_f64().max(1e-9);
    let us = |q: f64| o.latency.value_at_quantile(q) as f64 / 1000.0;
    let found = if o.found > 0 && o.found != o.ops {
        format!(", {} found", o.found)
    } else {
        String::new()
    };
    let mut extra = format!("  rss {:.1} MiB", mib(costs.rss));
    if let Some(budget) = costs.budget {
        extra += &format!(
            " ({:.0}% of budget)",
            100.0 * costs.rss as f64 / budget.max(1) as f64
        );
        if let Some((hits, misses)) = costs.cache.filter(|(h, m)| h + m > 0) {
            extra += &format!(
                ", cache hit ratio {:.3}",
                hits as f64 / (hits + misses) as f64
            );
        }
    }
    println!(
        "{name:<20} {:>12.0} ops/s {:>8.1} MB/s  p50 {:>8.2} us  p99 {:>9.2} us  ({} ops in {:.2} s{found}){extra}",
        o.ops as f64 / secs,
        o.bytes as f64 / 1e6 / secs,
        us(0.5),
        us(0.99),
        o.ops,
        secs,
    );
}

fn run(args: &Args) -> Result<(), String> {
    if args.key_size < 16 {
        return Err("--key-size must be at least 16".into());
    }
    if args.value_size > 64 << 20 || args.key_size > 1 << 16 {
        return Err("--value-size is at most 64 MiB and --key-size at most 64 KiB".into());
    }
    if args.num == 0 {
        return Err("--num must be at least 1".into());
    }
    let plan: Vec<(String, Kind, usize, Option<u64>)> = args
        .workloads
        .split(',')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut parts = w.split(':');
            let name = parts.next().unwrap_or_default();
            let threads = match parts.next() {
                Some(t) => t
                    .parse()
                    .map_err(|_| format!("bad thread count in {w:?}"))?,
                None => 1usize,
            };
            let ops = match parts.next() {
                Some(n) => Some(
                    n.parse()
                        .map_err(|_| format!("bad operation count in {w:?}"))?,
                ),
                None => None,
            };
            if parts.next().is_some() {
                return Err(format!("{w:?}: expected name[:threads[:operations]]"));
            }
            let kind = Kind::parse(name).ok_or_else(|| format!("unknown workload {name:?}"))?;
            Ok((w.to_string(), kind, threads, ops))
        })
        .collect::<Result<_, String>>()?;
    let temp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            temp = std::env::temp_dir().join(format!("strata-bench-{}", std::process::id()));
            temp
        }
    };
    let settings = Settings {
        memtable_bytes: args.memtable_mb << 20,
        cache_bytes: args.cache_mb << 20,
        bloom_bits_per_key: args.bloom_bits,
        block_size: args.block_size,
        compression: args.compression,
        background_jobs: args.background_jobs,
        write_buffers: args.write_buffers,
        memory_budget: args.memory_budget_mb.map(|m| m << 20),
        min_blob_size: args.min_blob_size,
    };
    let shape = Shape {
        num: args.num,
        key_size: args.key_size,
        value_size: args.value_size,
        seed: args.seed,
    };
    let counts = Counts {
        reads: args.reads.unwrap_or(args.num),
        seeks: args.seeks.unwrap_or(args.num / 10).max(1),
        sync_writes: args.sync_writes.unwrap_or(args.num / 100).max(1),
        timeline: args.timeline.is_some(),
    };
    let memory = match args.memory_budget_mb {
        Some(b) => format!("memory budget {b} MiB, memtables x {}", args.write_buffers),
        None => format!(
            "memtable {} MiB x {}, cache {} MiB",
            args.memtable_mb, args.write_buffers, args.cache_mb
        ),
    };
    println!(
        "engine {}, {} keys of {} bytes, values of {} bytes, {memory}, bloom {} bits/key, blocks {} B, compression {}, {} background jobs, dir {}",
        args.engine,
        args.num,
        args.key_size,
        args.value_size,
        args.bloom_bits,
        args.block_size,
        if args.compression { "zstd below L1" } else { "none" },
        args.background_jobs,
        dir.display()
    );
    let rss = sys::PeakRss::start();
    let written_before = sys::write_bytes().unwrap_or(0);
    let mut user_bytes = 0u64;
    let mut engine: Option<Box<dyn Engine>> = None;
    for (name, kind, threads, ops) in &plan {
        if *kind == Kind::DropCaches {
            // A cold start: close the engine (pages a process has mapped survive
            // `drop_caches`), drop the page cache, open again with an empty block cache.
            drop(engine.take());
            let started = std::time::Instant::now();
            sys::drop_page_cache()?;
            engine = Some(open(args, &dir, &settings)?);
            println!(
                "{name:<20} engine closed, page cache dropped, engine reopened in {:.2} s",
                started.elapsed().as_secs_f64()
            );
            continue;
        }
        if kind.fresh() || engine.is_none() {
            drop(engine.take());
            if kind.fresh() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            engine = Some(open(args, &dir, &settings)?);
        }
        let Some(e) = engine.as_deref() else {
            return Err("no engine".into());
        };
        let before = e.cache_counters();
        let phase_rss = sys::PeakRss::start();
        let counts = match *ops {
            Some(n) => Counts {
                reads: n,
                seeks: n,
                sync_writes: n,
                timeline: counts.timeline,
            },
            None => counts,
        };
        let outcome = workload::run(e, *kind, *threads, &shape, &counts)?;
        user_bytes += outcome.written;
        let cache = before.zip(e.cache_counters()).map(|(b, a)| {
            (
                a.hits.saturating_sub(b.hits),
                a.misses.saturating_sub(b.misses),
            )
        });
        let costs = Costs {
            rss: phase_rss.peak(),
            budget: settings.memory_budget,
            cache,
        };
        report(name, &outcome, &costs);
        if let (Some(prefix), false) = (&args.timeline, outcome.timeline.is_empty()) {
            let title = format!(
                "{} {name}, {} keys: ops/s and p99 latency per second",
                args.engine, args.num
            );
            write_timeline(prefix, name, &title, &outcome)?;
        }
        if settings.memory_budget.is_some() || args.stats {
            if let Some(line) = e.memory_report() {
                println!("{:<20} {line}", "");
            }
        }
    }
    if let Some(e) = engine.as_deref() {
        e.settle()?;
        let written = sys::write_bytes()
            .unwrap_or(0)
            .saturating_sub(written_before);
        let (entries, live) = e.scan_all()?;
        let on_disk = sys::dir_size(&dir);
        println!(
            "write amplification {:.2} ({:.1} MiB written / {:.1} MiB of user writes); space amplification {:.2} ({:.1} MiB on disk / {:.1} MiB live in {} entries); peak anonymous RSS {:.1} MiB",
            written as f64 / user_bytes.max(1) as f64,
            mib(written),
            mib(user_bytes),
            on_disk as f64 / live.max(1) as f64,
            mib(on_disk),
            mib(live),
            entries,
            mib(rss.peak()),
        );
        if args.stats {
            if let Some(report) = e.stats_report() {
                println!("{report}");
            }
        }
    }
    drop(engine);
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
