//! Saving and stopping: `LASTSAVE`, `SAVE`, `BGSAVE` (both flush the memtables; every write
//! is in the WAL already) and `SHUTDOWN` (syncs the WAL, then stops the server).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::reply::{store_error, syntax_error};
use crate::resp::Reply;
use crate::server::{unix_secs, Server};
use crate::session::Session;

pub(super) fn lastsave(server: &Server, _session: &mut Session, _args: &[Vec<u8>]) -> Reply {
    Reply::Integer(server.last_save.load(Ordering::Relaxed) as i64)
}

/// `SAVE`: flushes every memtable to tables (the WAL already holds every write; this makes
/// the tables self-sufficient and lets the WAL be retired).
pub(super) fn save(server: &Server, _session: &mut Session, _args: &[Vec<u8>]) -> Reply {
    match server.store.engine().flush() {
        Ok(()) => {
            server.last_save.store(unix_secs(), Ordering::Relaxed);
            Reply::ok()
        }
        Err(e) => store_error(e.into()),
    }
}

/// `BGSAVE [SCHEDULE]`: the same flush, in the background.
pub(super) fn bgsave(server: &Server, _session: &mut Session, args: &[Vec<u8>]) -> Reply {
    match args {
        [] => {}
        [s] if s.eq_ignore_ascii_case(b"SCHEDULE") => {}
        _ => return syntax_error(),
    }
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
            Reply::Simple("Background saving started".into())
        }
        Err(e) => Reply::error(format!("ERR cannot start BGSAVE: {e}")),
    }
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: syncs the WAL and stops the server. Every
/// write is in the WAL, so SAVE and NOSAVE both keep all data.
pub(super) fn shutdown(server: &Server, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    for a in args {
        match a.to_ascii_uppercase().as_slice() {
            b"NOSAVE" | b"SAVE" | b"NOW" | b"FORCE" => {}
            b"ABORT" if args.len() == 1 => {
                return Reply::error("ERR No shutdown in progress.");
            }
            _ => return syntax_error(),
        }
    }
    if let Err(e) = server.store.engine().sync_wal() {
        return Reply::error(format!("ERR Errors trying to SHUTDOWN. Check logs. ({e})"));
    }
    server.shutting_down.store(true, Ordering::SeqCst);
    server.shutdown.notify_one();
    session.quit = true;
    // Redis closes the connection without replying.
    Reply::NoReply
}
