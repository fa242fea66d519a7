//! `strata`: the operator tool for Strata databases, like RocksDB's `ldb` and `sst_dump`.
//!
//! Keys and values given on the command line are taken as UTF-8 text; printed keys and values
//! escape non-printable bytes as `\xNN`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use strata::{Db, Keyspace, Options, ReadOptions};
use strata_sstable::{parse_internal_key, InternalIterator, Table};

#[derive(Parser, Debug)]
#[command(
    name = "strata",
    version,
    about = "Operate on a Strata database directory"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the value of KEY; prints nothing and exits 1 if it is absent.
    Get {
        dir: PathBuf,
        key: String,
        #[arg(long, default_value = strata::DEFAULT_KEYSPACE_NAME)]
        keyspace: String,
    },
    /// Set KEY to VALUE (durably: the WAL is fsynced before exit).
    Put {
        dir: PathBuf,
        key: String,
        value: String,
        #[arg(long, default_value = strata::DEFAULT_KEYSPACE_NAME)]
        keyspace: String,
        /// Expire the key after this long: `500ms`, `10s`, `5m`, `2h`, `1d` (a bare number is
        /// seconds).
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<Duration>,
    },
    /// Print the time KEY has left (`12.345s`), `none` if it does not expire; exits 1 if the
    /// key is absent.
    Ttl {
        dir: PathBuf,
        key: String,
        #[arg(long, default_value = strata::DEFAULT_KEYSPACE_NAME)]
        keyspace: String,
    },
    /// Delete KEY.
    Delete {
        dir: PathBuf,
        key: String,
        #[arg(long, default_value = strata::DEFAULT_KEYSPACE_NAME)]
        keyspace: String,
    },
    /// Print key-value pairs in order, one `key => value` per line.
    Scan {
        dir: PathBuf,
        /// First key (inclusive).
        #[arg(long)]
        from: Option<String>,
        /// Last key (exclusive).
        #[arg(long)]
        to: Option<String>,
        /// Only keys starting with this prefix.
        #[arg(long)]
        prefix: Option<String>,
        /// Walk from the last key backwards.
        #[arg(long)]
        reverse: bool,
        /// Stop after this many pairs.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long, default_value = strata::DEFAULT_KEYSPACE_NAME)]
        keyspace: String,
    },
    /// Write every memtable to a table.
    Flush { dir: PathBuf },
    /// Compact a key range (default: everything) down to the bottom level.
    Compact {
        dir: PathBuf,
        /// First key of the range (inclusive).
        #[arg(long)]
        from: Option<String>,
        /// Last key of the range (inclusive).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value = strata::DEFAULT_KEYSPACE_NAME)]
        keyspace: String,
    },
    /// Print levels, files, sizes and the sequence number.
    Stats { dir: PathBuf },
    /// Check every checksum without changing anything; exits 1 on corruption.
    Verify { dir: PathBuf },
    /// Rebuild the MANIFEST of a database that does not open (CURRENT or MANIFEST lost or
    /// damaged) from its tables and WALs; what cannot be placed is moved to DIR/lost/.
    Repair { dir: PathBuf },
    /// Print a table's properties and entries.
    DumpSst {
        file: PathBuf,
        /// Print only the properties.
        #[arg(long)]
        properties_only: bool,
    },
}

/// Parses `500ms`, `10s`, `5m`, `2h`, `1d`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 10s"))?;
    let ms = match unit {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        other => {
            return Err(format!(
                "unknown duration unit {other:?} (use ms, s, m, h, d)"
            ))
        }
    };
    ms.map(Duration::from_millis)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// One item of a scan.
type Pair = strata::Result<(Vec<u8>, Vec<u8>)>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("strata: {e}");
            ExitCode::from(2)
        }
    }
}

/// Escapes bytes for printing: printable ASCII as is, the rest as `\xNN`.
fn show(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

fn open(dir: &PathBuf) -> strata::Result<Db> {
    let mut opts = Options::default();
    opts.create_if_missing = false;
    Db::open(dir, opts)
}

fn keyspace(db: &Db, name: &str) -> strata::Result<Keyspace> {
    if name == strata::DEFAULT_KEYSPACE_NAME {
        return Ok(db.default_keyspace().clone());
    }
    if !db.keyspace_names().iter().any(|n| n == name) {
        return Err(strata::Error::NoSuchKeyspace(name.to_string()));
    }
    db.keyspace(name)
}

fn run(command: Command) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match command {
        Command::Get {
            dir,
            key,
            keyspace: ks,
        } => {
            let db = open(&dir)?;
            let value = keyspace(&db, &ks)?.get(key.as_bytes())?;
            db.close()?;
            match value {
                Some(v) => {
                    println!("{}", show(&v));
                    Ok(ExitCode::SUCCESS)
                }
                None => Ok(ExitCode::from(1)),
            }
        }
        Command::Ttl {
            dir,
            key,
            keyspace: ks,
        } => {
            let db = open(&dir)?;
            let ks = keyspace(&db, &ks)?;
            let entry = ks.get_with_expiry(key.as_bytes())?;
            let left = ks.ttl(key.as_bytes())?;
            db.close()?;
            match (entry, left) {
                (None, _) => Ok(ExitCode::from(1)),
                (Some(_), None) => {
                    println!("none");
                    Ok(ExitCode::SUCCESS)
                }
                (Some(_), Some(d)) => {
                    println!("{:.3}s", d.as_secs_f64());
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Command::Put {
            dir,
            key,
            value,
            keyspace: ks,
            ttl,
        } => {
            let mut opts = Options::default();
            opts.sync_mode = strata::SyncMode::Always;
            let db = Db::open(&dir, opts)?;
            let ks = if ks == strata::DEFAULT_KEYSPACE_NAME {
                db.default_keyspace().clone()
            } else {
                db.keyspace(&ks)?
            };
            match ttl {
                Some(ttl) => ks.put_with_ttl(key.as_bytes(), value.as_bytes(), ttl)?,
                None => ks.put(key.as_bytes(), value.as_bytes())?,
            }
            db.close()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Delete {
            dir,
            key,
            keyspace: ks,
        } => {
            let db = open(&dir)?;
            keyspace(&db, &ks)?.delete(key.as_bytes())?;
            db.sync_wal()?;
            db.close()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan {
            dir,
            from,
            to,
            prefix,
            reverse,
            limit,
            keyspace: ks,
        } => {
            let db = open(&dir)?;
            let ks = keyspace(&db, &ks)?;
            let mut opts = match &prefix {
                Some(p) => ReadOptions::default().prefix(p.as_bytes()),
                None => ReadOptions::default(),
            };
            if let Some(f) = from {
                let f = f.into_bytes();
                if opts.lower_bound.as_ref().is_none_or(|l| f > *l) {
                    opts.lower_bound = Some(f);
                }
            }
            if let Some(t) = to {
                let t = t.into_bytes();
                if opts.upper_bound.as_ref().is_none_or(|u| t < *u) {
                    opts.upper_bound = Some(t);
                }
            }
            let scan = ks.scan(&opts)?;
            let limit = limit.unwrap_or(usize::MAX);
            let items: Box<dyn Iterator<Item = Pair>> = if reverse {
                Box::new(scan.rev())
            } else {
                Box::new(scan)
            };
            for item in items.take(limit) {
                let (k, v) = item?;
                println!("{} => {}", show(&k), show(&v));
            }
            db.close()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Flush { dir } => {
            let db = open(&dir)?;
            db.flush()?;
            db.close()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Compact {
            dir,
            from,
            to,
            keyspace: ks,
        } => {
            let db = open(&dir)?;
            keyspace(&db, &ks)?.compact_range(
                from.as_deref().map(str::as_bytes),
                to.as_deref().map(str::as_bytes),
            )?;
            print!("{}", db.stats());
            db.close()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats { dir } => {
            let db = open(&dir)?;
            print!("{}", db.stats());
            db.close()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { dir } => match strata::verify_dir(&dir) {
            Ok(report) => {
                println!(
                    "OK: {} tables ({} bytes), {} blob files ({} bytes), {} WALs, {} manifest edits",
                    report.tables,
                    report.table_bytes,
                    report.blob_files,
                    report.blob_bytes,
                    report.logs,
                    report.manifest_edits
                );
                for t in report.orphan_tables.iter().chain(&report.orphan_blob_files) {
                    println!(
                        "note: orphan file {} (removed at next open if this database made it)",
                        t.display()
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("FAILED: {e}");
                Ok(ExitCode::from(1))
            }
        },
        Command::Repair { dir } => {
            let report = strata::repair(&dir, Options::default())?;
            if let Some(m) = &report.manifest_read {
                println!("read {}", m.display());
            } else {
                println!("no readable manifest: keyspaces and places from the tables");
            }
            for (file, what) in &report.damage {
                println!("damage: {}: {what}", file.display());
            }
            for (file, records) in &report.logs_converted {
                println!("converted {} ({records} records) to tables", file.display());
            }
            for (name, n) in &report.tables {
                println!("keyspace {name}: {n} tables");
            }
            for (file, why) in &report.lost {
                println!("moved to {}: {why}", file.display());
            }
            println!(
                "wrote {}; the database opens",
                report.manifest_written.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::DumpSst {
            file,
            properties_only,
        } => {
            let table = Arc::new(Table::open(&file, None)?);
            let p = table.properties();
            println!("file:             {}", file.display());
            println!("size:             {}", table.file_size());
            println!("format version:   {}", table.format_version());
            println!("entries:          {}", p.num_entries);
            println!("deletions:        {}", p.num_deletions);
            println!("data blocks:      {}", p.num_data_blocks);
            println!("raw key bytes:    {}", p.raw_key_bytes);
            println!("raw value bytes:  {}", p.raw_value_bytes);
            println!("sequence range:   {}..={}", p.smallest_seq, p.largest_seq);
            println!("smallest key:     {}", describe_key(&p.smallest_key));
            println!("largest key:      {}", describe_key(&p.largest_key));
            println!("compression:      {}", p.compression);
            println!("bloom bits/key:   {}", p.bloom_bits_per_key);
            println!("expiring entries: {}", p.num_expiring);
            match p.min_expiry_ms {
                Some(ms) => println!("earliest expiry:  {ms} (unix ms)"),
                None => println!("earliest expiry:  none"),
            }
            println!("created (unix ms): {}", p.created_unix_ms);
            if !properties_only {
                let mut it = table.iter();
                it.seek_to_first();
                while it.valid() {
                    println!("{} => {}", describe_key(it.key()), show(it.value()));
                    it.next();
                }
                it.status()?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn describe_key(ikey: &[u8]) -> String {
    match parse_internal_key(ikey) {
        Some(k) => {
            let kind = match k.kind {
                0 => "del".to_string(),
                1 => "put".to_string(),
                2 => "put-expiring".to_string(),
                other => format!("kind{other}"),
            };
            format!("'{}' @{} {}", show(k.user_key), k.seq, kind)
        }
        None if ikey.is_empty() => "(none)".into(),
        None => format!("(malformed {})", show(ikey)),
    }
}
