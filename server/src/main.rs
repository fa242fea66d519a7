//! `strata-server`: a Redis-protocol server over an embedded Strata database.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser as _;
use strata::{Options, SyncMode, SystemClock};
use strata_redis::Store;
use strata_server::config::Config;
use strata_server::log;
use strata_server::server::Server;

#[derive(clap::Parser, Debug)]
#[command(
    name = "strata-server",
    version,
    about = "Redis-protocol server over Strata",
    after_help = "Parameters come from their defaults, then the --config file, then these flags."
)]
struct Args {
    /// A Redis-style config file: one `name value` per line (see `CONFIG GET *`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// TCP port [default: 6379].
    #[arg(long)]
    port: Option<u16>,
    /// Addresses to listen on, separated by spaces, as Redis's `bind` (`*` every IPv4 address,
    /// `::*` every IPv6 one, a leading `-` for one that may be unavailable)
    /// [default: "127.0.0.1 -::1"].
    #[arg(long)]
    bind: Option<String>,
    /// Data directory [default: ./strata-data].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// When the WAL is fsynced: always, everysec or no [default: everysec].
    #[arg(long)]
    appendfsync: Option<String>,
    /// Password clients must give with AUTH (or HELLO ... AUTH).
    #[arg(long)]
    requirepass: Option<String>,
    /// Most simultaneous clients [default: 10000].
    #[arg(long)]
    maxclients: Option<u32>,
    /// Number of databases (SELECT 0..n-1) [default: 16].
    #[arg(long)]
    databases: Option<u16>,
    /// Refuse non-loopback clients while no password is set: yes or no [default: yes].
    #[arg(long)]
    protected_mode: Option<String>,
    /// One memory budget for the engine (memtables, block cache, index blocks and filters),
    /// e.g. 256mb; 0 for none [default: 0]. Overrides strata-memtable-size and
    /// strata-block-cache-size.
    #[arg(long)]
    memory_budget: Option<String>,
}

/// Tunes glibc's malloc for a long-running server under a memory budget:
/// - arenas capped at two per core. glibc gives each new thread its own arena (up to eight
///   per core); the runtime's threads come and go (a command that may block moves to a fresh
///   thread), and block-cache blocks read on one thread and evicted on another leave freed
///   memory spread over dozens of arenas: with a 256 MiB budget the server held 360 MiB
///   anonymous before this cap (docs/benchmarks.md).
/// - allocations of 128 KiB and more mapped on their own, always. glibc raises this
///   threshold as such blocks are freed, after which big, short-lived buffers (a table
///   builder's filter hashes, filters and index blocks entering and leaving the cache) come
///   from the arenas, and their freed pages stay there until trimmed: the 128 MiB load run
///   peaked at 155 MiB with the moving threshold and 138 MiB with it fixed.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = i32::try_from(2 * cores).unwrap_or(i32::MAX);
        // SAFETY: `mallopt` only sets an allocator parameter; it runs before any other
        // thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
        }
    }
}

fn main() -> std::process::ExitCode {
    tune_malloc();
    let args = Args::parse();
    let config = match load_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strata-server: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("strata-server: cannot start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(run(config, args.config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata-server: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

/// Defaults, then the config file, then command-line flags.
fn load_config(args: &Args) -> Result<Config, strata_server::config::ConfigError> {
    let config = Config::default();
    if let Some(path) = &args.config {
        config.load_file(path)?;
    }
    let flags = [
        ("port", args.port.map(|p| p.to_string())),
        ("bind", args.bind.clone()),
        ("dir", args.dir.as_ref().map(|d| d.display().to_string())),
        ("appendfsync", args.appendfsync.clone()),
        ("requirepass", args.requirepass.clone()),
        ("maxclients", args.maxclients.map(|n| n.to_string())),
        ("databases", args.databases.map(|n| n.to_string())),
        ("protected-mode", args.protected_mode.clone()),
        ("strata-memory-budget", args.memory_budget.clone()),
    ];
    for (name, value) in flags {
        if let Some(v) = value {
            config.set_initial(name, &v)?;
        }
    }
    Ok(config)
}

async fn run(
    config: Config,
    config_file: Option<PathBuf>,
) -> Result<(), Box<dyn std::error::Error>> {
    if config.get_i64("port") == 0 {
        return Err("Configured to not listen anywhere (port 0), exiting.".into());
    }
    let dir = PathBuf::from(config.get("dir"));
    let mut options = Options::default();
    // The server fsyncs itself (before replies for `always`, once a second for `everysec`), so
    // `appendfsync` can change at run time.
    options.sync_mode = SyncMode::Never;
    // Connections hand the WAL to the OS once per batch of replies (see `connection.rs`).
    options.manual_wal_flush = true;
    options.block_cache_bytes = config.get_i64("strata-block-cache-size") as u64;
    options.max_background_jobs = config.get_i64("strata-max-background-jobs") as usize;
    let budget = config.get_i64("strata-memory-budget");
    let options = Server::engine_options(&config).applied_to(&options);
    let mut options = options;
    options.memory_budget = (budget > 0).then_some(budget as u64);
    let store = Arc::new(Store::open(&dir, options, Arc::new(SystemClock))?);
    for t in store.engine().recovery_dropped() {
        log(&format!(
            "strata-server: recovery dropped the damaged tail of {} from offset {} ({}; up to \
             {} bytes): writes there had not been fsynced, and are lost",
            t.file.display(),
            t.offset,
            t.reason,
            t.bytes
        ));
    }
    for path in store.engine().recovery_kept() {
        log(&format!(
            "strata-server: {} is named like a database file but this database did not make it; left in place (move it out of the directory if it is not needed)",
            path.display()
        ));
    }
    // Under a budget the engine chose the memtable and cache sizes: show those, and keep a
    // later CONFIG SET of another strata-* parameter from putting the old memtable size back.
    let chosen = store.engine().options();
    config.set_initial("strata-memtable-size", &chosen.memtable_size.to_string())?;
    config.set_initial(
        "strata-block-cache-size",
        &chosen.block_cache_bytes.to_string(),
    )?;
    // Clients must not take the descriptors the engine needs (Redis's adjustOpenFilesLimit).
    let wanted = config.get_i64("maxclients").max(1) as u64;
    let fit = strata_server::fd_limit::fit(wanted);
    if fit.maxclients < wanted {
        log(&format!(
            "strata-server: maxclients lowered from {wanted} to {}: the open-files limit is {} \
             and {} descriptors stay reserved for the engine (raise it with ulimit -n)",
            fit.maxclients,
            fit.limit,
            strata_server::fd_limit::RESERVED_FDS
        ));
        config.set_initial("maxclients", &fit.maxclients.to_string())?;
    }
    let server = Server::new(store, config, config_file)?;
    // Function libraries live in the engine: load them back.
    for (name, code) in server.store.function_libraries()? {
        if let Err(e) = server.scripting.load_library(&code, true) {
            eprintln!(
                "strata-server: function library {} does not load: {e}",
                String::from_utf8_lossy(&name)
            );
        }
    }
    let _housekeeping = server.spawn_housekeeping()?;
    let addresses: Vec<String> = server.listen()?.iter().map(ToString::to_string).collect();
    log(&format!(
        "strata-server {} listening on {}, dir {}, appendfsync {}",
        env!("CARGO_PKG_VERSION"),
        addresses.join(" "),
        dir.display(),
        server.config.get("appendfsync")
    ));
    tokio::select! {
        _ = shutdown_signal() => {}
        _ = server.shutdown.notified() => {}
    }
    server.listening.stop();
    log("strata-server: shutting down");
    server
        .shutting_down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    // Connections may still hold the store; syncing the WAL makes every acknowledged write
    // durable whatever the sync mode.
    server.store.engine().sync_wal()?;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
