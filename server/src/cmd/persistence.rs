//! Saving and stopping: `LASTSAVE`, `SAVE`, `BGSAVE` (both flush the memtables; every write
//! is in the WAL already) and `SHUTDOWN` (syncs the WAL, then stops the server).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::args::Args;
use super::reply::{store_error, syntax_error, CmdResult};
use crate::resp::Reply;
use crate::server::{unix_secs, Server};
use crate::session::Session;

pub(super) fn lastsave(
    server: &Server,
    _session: &mut Session,
    _args: &mut [Vec<u8>],
) -> CmdResult {
    Ok(Reply::Integer(
        server.last_save.load(Ordering::Relaxed) as i64
    ))
}

/// `SAVE`: flushes every memtable to tables (the WAL already holds every write; this makes
/// the tables self-sufficient and lets the WAL be retired).
pub(super) fn save(server: &Server, _session: &mut Session, _args: &mut [Vec<u8>]) -> CmdResult {
    server
        .store
        .engine()
        .flush()
        .map_err(|e| store_error(e.into()))?;
    server.last_save.store(unix_secs(), Ordering::Relaxed);
    server
        .changes_at_save
        .store(server.store.changes(), Ordering::Relaxed);
    Ok(Reply::ok())
}

/// `BGSAVE [SCHEDULE]`: the same flush, in the background.
pub(super) fn bgsave(server: &Server, _session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let mut a = Args::new(args);
    a.eat("SCHEDULE");
    a.finish()?;
    let store = Arc::clone(&server.store);
    let started = std::thread::Builder::new()
        .name("strata-bgsave".into())
        .spawn(move || {
            if let Err(e) = store.engine().flush() {
                eprintln!("strata-server: BGSAVE flush failed: {e}");
            }
        });
    match started {
        Ok(_) => {
            server.last_save.store(unix_secs(), Ordering::Relaxed);
            server
                .changes_at_save
                .store(server.store.changes(), Ordering::Relaxed);
            Ok(Reply::Simple("Background saving started".into()))
        }
        Err(e) => Err(Reply::error(format!("ERR cannot start BGSAVE: {e}"))),
    }
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: syncs the WAL and stops the server. Every
/// write is in the WAL, so SAVE and NOSAVE both keep all data.
pub(super) fn shutdown(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let mut a = Args::new(args);
    while !a.is_empty() {
        match a.next_keyword(&["NOSAVE", "SAVE", "NOW", "FORCE", "ABORT"])? {
            Some("ABORT") if args.len() == 1 => {
                return Err(Reply::error("ERR No shutdown in progress."));
            }
            Some("NOSAVE" | "SAVE" | "NOW" | "FORCE") => {}
            _ => return Err(syntax_error()),
        }
    }
    if let Err(e) = server.store.engine().sync_wal() {
        return Err(Reply::error(format!(
            "ERR Errors trying to SHUTDOWN. Check logs. ({e})"
        )));
    }
    server.shutting_down.store(true, Ordering::SeqCst);
    server.shutdown.notify_one();
    session.quit = true;
    // Redis closes the connection without replying.
    Ok(Reply::NoReply)
}
