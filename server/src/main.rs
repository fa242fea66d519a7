//! `strata-server`: a Redis-protocol server over an embedded Strata database.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use strata::{Db, Options, SyncMode, SystemClock};
use strata_redis::Store;
use tokio::net::TcpListener;

#[derive(clap::Parser, Debug)]
#[command(
    name = "strata-server",
    version,
    about = "Redis-protocol server over Strata"
)]
struct Args {
    /// TCP port.
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Data directory.
    #[arg(long, default_value = "./strata-data")]
    dir: PathBuf,
    /// When the WAL is fsynced: always, everysec or no.
    #[arg(long, default_value = "everysec")]
    appendfsync: String,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let sync_mode = match args.appendfsync.as_str() {
        "always" => SyncMode::Always,
        "everysec" => SyncMode::Interval(Duration::from_secs(1)),
        "no" => SyncMode::Never,
        other => {
            eprintln!("strata-server: --appendfsync must be always, everysec or no, not {other:?}");
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
    match runtime.block_on(run(args, sync_mode)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata-server: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(args: Args, sync_mode: SyncMode) -> Result<(), Box<dyn std::error::Error>> {
    let mut options = Options::default();
    options.sync_mode = sync_mode;
    let db = Db::open(&args.dir, options)?;
    let store = Arc::new(Store::new(db, Arc::new(SystemClock))?);
    let listener = TcpListener::bind((args.bind.as_str(), args.port)).await?;
    let local = listener.local_addr()?;
    println!(
        "strata-server {} listening on {local}, dir {}, appendfsync {}",
        env!("CARGO_PKG_VERSION"),
        args.dir.display(),
        args.appendfsync
    );
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let _ = stream.set_nodelay(true);
                tokio::spawn(strata_server::connection::serve(stream, Arc::clone(&store)));
            }
            _ = shutdown_signal() => break,
        }
    }
    println!("strata-server: shutting down");
    drop(listener);
    // Connections still hold the store; syncing the WAL makes every acknowledged write
    // durable whatever the sync mode.
    store.engine().sync_wal()?;
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
