//! One client connection: read, parse every complete command (pipelining), reply in order.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::blocking::Blocked;
use crate::cmd::{dispatch_in, waits_for_write_stall};
use crate::resp::{Limits, Parser, Protocol, Reply};
use crate::server::{Client, Fsync, Server};
use crate::session::Session;

/// The reply to a non-loopback client while protected mode is on and no password is set.
pub const PROTECTED_MODE_ERROR: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Strata you may: 1) set a password with CONFIG SET requirepass <password> (or --requirepass), 2) disable protected mode with CONFIG SET protected-mode no from the loopback interface, after making sure the server is not reachable from the internet.\r\n";

/// How often a write waiting for the engine's write stall to clear looks again, and how long
/// it waits without a thread at most (in `STALL_POLL` steps).
const STALL_POLL: std::time::Duration = std::time::Duration::from_millis(1);
const STALL_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Removes the client from the registry however the connection ends.
struct Registered<'a> {
    server: &'a Server,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.server.unregister(self.id);
    }
}

/// Why a connection may not be served, as the line to send before closing.
pub fn refusal(server: &Server, peer: &SocketAddr) -> Option<&'static str> {
    if server.connected() >= server.config.get_i64("maxclients").max(0) as usize {
        return Some("-ERR max number of clients reached\r\n");
    }
    // Redis's rule: protected mode refuses remote clients while the default user needs no
    // password (requirepass unset, or ACL SETUSER default nopass).
    let no_password = server.acl.user("default").is_some_and(|d| d.nopass);
    if no_password && server.config.get("protected-mode") == "yes" && !peer.ip().is_loopback() {
        return Some(PROTECTED_MODE_ERROR);
    }
    None
}

/// What must happen before replies leave: everything they acknowledge, or returned from
/// another client's write, must be in the WAL in the OS (every mode: survives `kill -9`), and
/// with `appendfsync always` on disk. The engine buffers WAL records (`manual_wal_flush`), so
/// one `write(2)` here covers every command of the read; with `always` every connection with
/// replies ready shares the next fsync (group commit). No lock is held meanwhile.
async fn persist_before_reply(server: &Server) -> Result<(), String> {
    let seq = server.group_sync.latest();
    if server.fsync() == Fsync::Always {
        server.group_sync.wait_durable(seq).await
    } else {
        server
            .store
            .engine()
            .flush_wal_to(seq)
            .map_err(|e| e.to_string())
    }
}

/// Sends the replies in `out` once what they acknowledge is persisted (see
/// [`persist_before_reply`]); false if the connection must close (a WAL failure, answered
/// with `MISCONF`, or a broken socket).
///
/// Once the engine is poisoned nothing more can be persisted: replies of a batch that ran no
/// write then go out as they are (reads keep working, as Redis serves reads while it cannot
/// persist; what they show may include writes that were never acknowledged), while a batch
/// that wrote still gets `MISCONF` and the connection closes.
async fn flush(
    server: &Server,
    session: &mut Session,
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
) -> bool {
    if out.is_empty() {
        return true;
    }
    let mut ok = true;
    let wrote = std::mem::take(&mut session.wrote);
    let must_persist = wrote || server.store.engine().background_error().is_none();
    if must_persist {
        if let Err(e) = persist_before_reply(server).await {
            out.clear();
            Reply::error(format!("MISCONF Errors writing to the WAL: {e}"))
                .write(session.protocol, out);
            ok = false;
        }
    }
    server
        .counters
        .net_output_bytes
        .fetch_add(out.len() as u64, Ordering::Relaxed);
    // A client closed meanwhile (CLIENT KILL, or a subscriber past its output limit that
    // does not read) stops the write.
    let written = tokio::select! {
        written = stream.write_all(out) => written.is_ok(),
        _ = session.client.kill.notified() => false,
    };
    out.clear();
    ok && written
}

/// Waits for a blocked command (see [`crate::blocking`]) to be served or time out, and
/// returns its reply; `None` if the client disconnected or was killed meanwhile. Input that
/// arrives meanwhile is kept in `buf` for after the reply (pipelined commands wait their turn,
/// as in Redis).
async fn wait(
    server: &Server,
    session: &mut Session,
    blocked: Blocked,
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    limit: usize,
) -> Option<Reply> {
    let waiter = server.blocking.register(session.db, &blocked.keys);
    let client = Arc::clone(&session.client);
    client.unblock.store(0, Ordering::SeqCst);
    client.blocked.store(true, Ordering::SeqCst);
    let reply = wait_served(
        server, session, &blocked, &waiter, &client, stream, buf, limit,
    )
    .await;
    client.blocked.store(false, Ordering::SeqCst);
    reply
}

/// The waiting loop of [`wait`].
#[allow(clippy::too_many_arguments)]
async fn wait_served(
    server: &Server,
    session: &mut Session,
    blocked: &Blocked,
    waiter: &crate::blocking::Waiter<'_>,
    client: &Arc<crate::server::Client>,
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    limit: usize,
) -> Option<Reply> {
    loop {
        let started = std::time::Instant::now();
        let retried = {
            // A retry is a command: never inside another client's EXEC.
            let _shared = server.store.shared();
            (blocked.retry)(server, session, &blocked.args)
        };
        let micros = started.elapsed().as_micros() as u64;
        match retried {
            // A key that became another type while the client waited does not serve it
            // (Redis serves a blocked client only from a key of its type): it waits on,
            // unless a key of its type is there (BLMOVE's destination is the wrong one).
            Some(Reply::Error(e))
                if e.starts_with("WRONGTYPE")
                    && !holds_a_collection(server, session.db, &blocked.keys) => {}
            Some(reply) => {
                if !matches!(reply, Reply::Error(_)) {
                    for k in &blocked.written {
                        server.watches.touch(session.db, k);
                        server.blocking.signal(session.db, k);
                        if server.tracking.active() {
                            server.tracking.invalidate(server, k, client.id);
                        }
                    }
                    server.tracking.flush_bcast(server);
                }
                // The slow log has the command as the client sent it, served now.
                let threshold = server.slowlog_threshold();
                if threshold >= 0 && micros >= threshold as u64 {
                    let name = client
                        .last_cmd
                        .lock()
                        .map(|n| n.clone())
                        .unwrap_or_default();
                    let argv: Vec<Vec<u8>> = std::iter::once(name.into_bytes())
                        .chain(blocked.args.iter().cloned())
                        .collect();
                    if let Ok(mut log) = server.slowlog.lock() {
                        log.record(
                            crate::server::SlowLog::summarize(&argv),
                            micros,
                            client,
                            server.slowlog_max_len(),
                        );
                    }
                }
                return Some(reply);
            }
            None => {}
        }
        let timeout = async {
            match blocked.deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = waiter.notify.notified() => {}
            _ = timeout => return Some(blocked.timeout_reply.clone()),
            _ = client.kill.notified() => return None,
            _ = client.unblocked.notified() => match client.unblock.swap(0, Ordering::SeqCst) {
                1 => return Some(blocked.timeout_reply.clone()),
                2 => return Some(Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")),
                _ => {}
            },
            read = stream.read_buf(buf) => match read {
                Ok(0) | Err(_) => return None,
                Ok(_) if buf.len() > limit => return None,
                Ok(_) => {}
            },
        }
        if client.killed.load(Ordering::Relaxed) {
            return None;
        }
    }
}

/// Waits while `CLIENT PAUSE` holds `argv`; false if the client was killed meanwhile.
async fn wait_pause(server: &Server, session: &Session, argv: &[Vec<u8>]) -> bool {
    server.paused_clients.fetch_add(1, Ordering::Relaxed);
    let client = &session.client;
    let alive = loop {
        // Registered before the state is read, so an UNPAUSE in between is not missed.
        let unpaused = server.unpaused.notified();
        tokio::pin!(unpaused);
        unpaused.as_mut().enable();
        let Some((until, _)) = server.pause() else {
            break true;
        };
        if !crate::cmd::pause_applies(server, session, argv) {
            break true;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => {}
            _ = &mut unpaused => {}
            _ = client.kill.notified() => {}
        }
        if client.killed.load(Ordering::Relaxed) {
            break false;
        }
    };
    server.paused_clients.fetch_sub(1, Ordering::Relaxed);
    alive
}

/// Whether one of `keys` holds a list or a sorted set (what a blocked client pops).
fn holds_a_collection(server: &Server, db: u8, keys: &[Vec<u8>]) -> bool {
    keys.iter().any(|k| {
        matches!(
            server.store.key_type(db, k),
            Ok(Some(
                strata_redis::RedisType::List | strata_redis::RedisType::ZSet
            ))
        )
    })
}

/// Replies a client that was never authenticated may have waiting before it is closed:
/// Redis's 16 KiB reply buffer plus its `REPLY_BUFFER_SIZE_UNAUTHENTICATED_CLIENT` (1 KiB,
/// CVE-2025-21605), so a pipeline of password guesses (or of commands refused with NOAUTH)
/// ends after a few hundred instead of running at a million a second.
const UNAUTHENTICATED_REPLY_LIMIT: usize = 16 * 1024 + 1024;

/// The query buffer a client that was never authenticated may fill (Redis 7.4's 1 MiB).
const UNAUTHENTICATED_QUERY_LIMIT: usize = 1024 * 1024;

/// What woke an idle connection.
enum Event {
    /// Input (or its end, or an error).
    Read(std::io::Result<usize>),
    /// Input waits, for a connection that gave its buffer back.
    Readable,
    /// `CLIENT KILL`, or past its output limit.
    Killed,
    /// Pub/Sub messages or MONITOR lines to send.
    Pushes,
}

/// A connection's read and reply buffers start at Redis's `PROTO_IOBUF_LEN`.
const IO_BUF: usize = 16 * 1024;

/// How much of its outbox a subscriber is sent at a time.
const PUSH_SLICE: usize = 256 * 1024;

/// Sends messages (nothing to persist first: they acknowledge no write); a client closed
/// meanwhile (past its output limit while it does not read) stops the write.
async fn write_pushes(
    server: &Server,
    client: &Client,
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
) -> bool {
    server
        .counters
        .net_output_bytes
        .fetch_add(out.len() as u64, Ordering::Relaxed);
    let ok = tokio::select! {
        written = stream.write_all(out) => written.is_ok(),
        _ = client.kill.notified() => false,
    };
    out.clear();
    ok
}

/// Serves a client until it closes, sends `QUIT`, is killed, or breaks the protocol.
pub async fn serve(mut stream: TcpStream, server: Arc<Server>) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    server
        .counters
        .connections_received
        .fetch_add(1, Ordering::Relaxed);
    if let Some(msg) = refusal(&server, &peer) {
        server
            .counters
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream.write_all(msg.as_bytes()).await;
        let _ = stream.shutdown().await;
        return;
    }
    let client = server.register(peer, local);
    let _registered = Registered {
        server: &server,
        id: client.id,
    };
    let needs_auth = server.acl.default_requires_auth();
    let mut session = Session::new(Arc::clone(&client), !needs_auth);
    let mut parser = Parser::new(Limits {
        unauthenticated: needs_auth,
        ..server.limits()
    });
    parser.big_args = true;
    let mut buf: Vec<u8> = Vec::with_capacity(IO_BUF);
    let mut out: Vec<u8> = Vec::with_capacity(IO_BUF);
    client
        .qbuf_cap
        .store(buf.capacity() as u64, Ordering::Relaxed);
    // Whether the client ever authenticated (RESET makes it unauthenticated again, but
    // only a client that never was gets the tight limits, as in Redis).
    let mut ever_authenticated = !needs_auth;
    loop {
        // CONFIG SET changes the limits for every client at once, as in Redis.
        let limits = server.limits();
        parser.limits.max_bulk_len = limits.max_bulk_len;
        parser.limits.query_buffer_limit = limits.query_buffer_limit;
        let mut consumed = 0;
        let mut close = false;
        while !client.killed.load(Ordering::Relaxed) {
            match parser.parse(&buf[consumed..]) {
                Ok(Some((mut argv, used))) => {
                    // CLIENT LIST's `qbuf`: the query buffer with this command still in it.
                    client
                        .qbuf
                        .store((buf.len() - consumed) as u64, Ordering::Relaxed);
                    consumed += used;
                    if argv.is_empty() {
                        continue;
                    }
                    if server.shutting_down.load(Ordering::Relaxed) {
                        close = true;
                        break;
                    }
                    // A write during a write stall waits for it to clear here, holding no
                    // thread: with block_in_place each stalled connection would take a
                    // worker thread (and its allocator arena and zstd context) for the
                    // stall. Past STALL_WAIT it goes on and blocks like a long command.
                    let mut polls = 0;
                    while polls < STALL_WAIT.as_millis() && waits_for_write_stall(&server, &argv) {
                        tokio::time::sleep(STALL_POLL).await;
                        polls += 1;
                    }
                    // CLIENT PAUSE: the command waits (holding no thread) until the pause
                    // ends, counted as a blocked client.
                    if crate::cmd::pause_applies(&server, &session, &argv)
                        && !wait_pause(&server, &session, &argv).await
                    {
                        let _ = stream.shutdown().await;
                        return;
                    }
                    // Messages that came before this command go out before its reply.
                    if session.pushes || client.outbox.pending() {
                        client
                            .outbox
                            .drain_into(session.protocol, &mut out, usize::MAX);
                    }
                    // CLIENT REPLY SKIP silences the reply of the command after it.
                    session.reply_skip = std::mem::take(&mut session.reply_skip_next);
                    // Most commands take microseconds and run on this task; one that may
                    // block for long lets the runtime move other connections off this thread.
                    let mut reply = dispatch_in(&server, &mut session, &mut argv, |run| {
                        tokio::task::block_in_place(run)
                    });
                    if let Some(blocked) = session.blocked.take() {
                        // Replies before the blocked command go out first, as in Redis.
                        if !flush(&server, &mut session, &mut stream, &mut out).await {
                            return;
                        }
                        let limit = parser.limits.query_buffer_limit;
                        let waited =
                            wait(&server, &mut session, blocked, &mut stream, &mut buf, limit)
                                .await;
                        match waited {
                            Some(r) => {
                                // A blocked command served on retry wrote (it popped).
                                session.wrote = true;
                                reply = r;
                            }
                            None => {
                                let _ = stream.shutdown().await;
                                return;
                            }
                        }
                    }
                    // Pub/Sub confirmations are sent even with replies off, as in Redis.
                    let push = reply.is_push();
                    if !(session.reply_off || session.reply_skip) || push {
                        reply.write(session.protocol, &mut out);
                    }
                    parser.limits.unauthenticated = !session.authenticated;
                    ever_authenticated |= session.authenticated;
                    if !ever_authenticated && out.len() > UNAUTHENTICATED_REPLY_LIMIT {
                        // Like Redis: closed at once, its replies dropped, and the log says why.
                        eprintln!(
                            "strata-server: closing client {peer}: never authenticated and over \
                             its {UNAUTHENTICATED_REPLY_LIMIT}-byte output limit"
                        );
                        let _ = stream.shutdown().await;
                        return;
                    }
                    if session.quit {
                        close = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    Reply::error(e.message()).write(Protocol::Resp2, &mut out);
                    close = true;
                    break;
                }
            }
        }
        buf.drain(..consumed);
        if session.pushes || client.outbox.pending() {
            client
                .outbox
                .drain_into(session.protocol, &mut out, usize::MAX);
        }
        if !flush(&server, &mut session, &mut stream, &mut out).await {
            let _ = stream.shutdown().await;
            return;
        }
        if close || client.killed.load(Ordering::Relaxed) {
            let _ = stream.shutdown().await;
            return;
        }
        let limit = if ever_authenticated {
            parser.limits.query_buffer_limit
        } else {
            parser
                .limits
                .query_buffer_limit
                .min(UNAUTHENTICATED_QUERY_LIMIT)
        };
        // A client whose buffers went back while it idled waits for input without one.
        let released = buf.capacity() == 0 && parser.big_arg().is_none();
        let event = if released {
            tokio::select! {
                ready = stream.readable() => match ready {
                    Ok(()) => Event::Readable,
                    Err(e) => Event::Read(Err(e)),
                },
                _ = client.kill.notified() => Event::Killed,
                _ = client.outbox.ready.notified() => Event::Pushes,
            }
        } else {
            // A large argument still arriving is read into its own exact-size buffer (no
            // growth by doubling, no copy out of the query buffer), everything else into
            // `buf`.
            let target = match parser.big_arg() {
                Some((cut, big)) => {
                    buf.truncate(cut);
                    big
                }
                None => &mut buf,
            };
            tokio::select! {
                read = stream.read_buf(target) => Event::Read(read),
                _ = client.kill.notified() => Event::Killed,
                // Any client may be sent messages: a subscriber, a monitor, a tracking
                // client, or the redirect target of another's tracking.
                _ = client.outbox.ready.notified() => Event::Pushes,
            }
        };
        let read = match event {
            Event::Killed => {
                let _ = stream.shutdown().await;
                return;
            }
            Event::Pushes => {
                // Idle for 2 seconds: the buffers go back to the allocator (an idle client
                // holds nothing; 10,000 of them would otherwise keep 320 MiB).
                if client.release_buffers.swap(false, Ordering::Relaxed)
                    && buf.is_empty()
                    && parser.pending_bytes() == 0
                    && out.is_empty()
                {
                    buf = Vec::new();
                    out = Vec::new();
                    client.qbuf.store(0, Ordering::Relaxed);
                    client.qbuf_cap.store(0, Ordering::Relaxed);
                }
                // Written in slices, so a subscriber that reads slowly holds at most one
                // slice here; the rest waits in its outbox, under the output limit.
                loop {
                    let more = client
                        .outbox
                        .drain_into(session.protocol, &mut out, PUSH_SLICE);
                    if !write_pushes(&server, &client, &mut stream, &mut out).await {
                        return;
                    }
                    if !more || client.killed.load(Ordering::Relaxed) {
                        break;
                    }
                }
                continue;
            }
            Event::Readable => {
                buf.reserve(IO_BUF);
                client
                    .qbuf_cap
                    .store(buf.capacity() as u64, Ordering::Relaxed);
                continue;
            }
            Event::Read(read) => read,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                server
                    .counters
                    .net_input_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
                client
                    .qbuf_cap
                    .store(buf.capacity() as u64, Ordering::Relaxed);
                if buf.len() + parser.pending_bytes() > limit {
                    // Like Redis: close without a reply, and say why in the log.
                    eprintln!(
                        "strata-server: closing client {peer}: query buffer over its limit \
                         ({limit} bytes)"
                    );
                    let _ = stream.shutdown().await;
                    return;
                }
            }
        }
    }
}
