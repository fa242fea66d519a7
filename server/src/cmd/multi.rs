//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! While a client is in MULTI, `dispatch` queues its commands (after the checks that make
//! EXEC abort: unknown command, arity, authentication, a refused write) and answers
//! `+QUEUED`. EXEC runs the queue alone (the store's execution lock held exclusively, so no
//! other client's command runs in between) and as one engine batch (`Store::atomically`: the
//! commands read their own writes, and after a crash all of them exist or none), and answers
//! the replies in an array; a command's runtime error is its reply and the rest run, as in
//! Redis. A blocking command in a transaction
//! does not block: it answers as its timeout would.

use super::reply::{syntax_error, CmdResult};
use super::{run_in_exec, Session};
use crate::resp::Reply;
use crate::server::Server;
use crate::watch::Watch;

/// A transaction being queued.
#[derive(Debug, Default)]
pub struct Multi {
    /// The queued commands, names included.
    pub queued: Vec<Vec<Vec<u8>>>,
    /// A command was refused while queueing: EXEC aborts.
    pub failed: bool,
}

/// Commands refused inside MULTI (Redis's `no-multi` flag): the transaction aborts.
pub(super) const NOT_IN_MULTI: &[&str] = &["save", "shutdown", "wait", "monitor", "sync", "psync"];

/// Commands that run at once inside MULTI rather than being queued.
pub(super) const RUN_IN_MULTI: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

pub(super) fn multi(_server: &Server, session: &mut Session, _args: &mut [Vec<u8>]) -> CmdResult {
    if session.multi.is_some() {
        return Err(Reply::error("ERR MULTI calls can not be nested"));
    }
    session.multi = Some(Multi::default());
    Ok(Reply::ok())
}

pub(super) fn discard(_server: &Server, session: &mut Session, _args: &mut [Vec<u8>]) -> CmdResult {
    if session.multi.take().is_none() {
        return Err(Reply::error("ERR DISCARD without MULTI"));
    }
    session.watch = None;
    Ok(Reply::ok())
}

pub(super) fn exec(server: &Server, session: &mut Session, _args: &mut [Vec<u8>]) -> CmdResult {
    let Some(multi) = session.multi.take() else {
        return Err(Reply::error("ERR EXEC without MULTI"));
    };
    // Watched keys are forgotten whatever happens.
    let watch = session.watch.take();
    if multi.failed {
        return Err(Reply::error(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    // Alone, and as one engine batch: no other client's command runs in between, and after
    // a crash all of the transaction's writes exist or none.
    let ran = server.store.atomically(|| {
        if watch.is_some_and(|w| w.failed(server.store.now_ms())) {
            return Reply::NullArray;
        }
        let mut replies = Vec::with_capacity(multi.queued.len());
        for mut argv in multi.queued {
            replies.push(run_in_exec(server, session, &mut argv));
        }
        Reply::Array(replies)
    });
    ran.map_err(|e| Reply::error(format!("ERR {e}")))
}

pub(super) fn watch(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    if session.multi.is_some() {
        return Err(Reply::error("ERR WATCH inside MULTI is not allowed"));
    }
    if args.is_empty() {
        return Err(syntax_error());
    }
    let watch = session
        .watch
        .get_or_insert_with(|| Watch::new(std::sync::Arc::clone(&server.watches)));
    for key in args.iter() {
        // A key that expires later fails the EXEC once it has; one already expired (or
        // absent, or persistent) does not.
        let expiry = server
            .store
            .expiry(session.db, key)
            .ok()
            .flatten()
            .flatten();
        watch.add(session.db, key, expiry);
    }
    Ok(Reply::ok())
}

pub(super) fn unwatch(_server: &Server, session: &mut Session, _args: &mut [Vec<u8>]) -> CmdResult {
    session.watch = None;
    Ok(Reply::ok())
}
