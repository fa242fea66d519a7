//! One client connection: read, parse every complete command (pipelining), reply in order.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cmd::{dispatch_in, Session};
use crate::resp::{Limits, Parser, Protocol, Reply};
use crate::server::{Fsync, Server};

/// The reply to a non-loopback client while protected mode is on and no password is set.
pub const PROTECTED_MODE_ERROR: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Strata you may: 1) set a password with CONFIG SET requirepass <password> (or --requirepass), 2) disable protected mode with CONFIG SET protected-mode no from the loopback interface, after making sure the server is not reachable from the internet.\r\n";

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
    let no_password = server.config.get("requirepass").is_empty();
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

/// Serves a client until it closes, sends `QUIT`, is killed, or breaks the protocol.
pub async fn serve(mut stream: TcpStream, server: Arc<Server>, limits: Limits) {
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
    let needs_auth = !server.config.get("requirepass").is_empty();
    let mut session = Session::new(Arc::clone(&client), !needs_auth);
    let mut parser = Parser::new(Limits {
        unauthenticated: needs_auth,
        ..limits
    });
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let mut consumed = 0;
        let mut close = false;
        while !client.killed.load(Ordering::Relaxed) {
            match parser.parse(&buf[consumed..]) {
                Ok(Some((argv, used))) => {
                    consumed += used;
                    if argv.is_empty() {
                        continue;
                    }
                    if server.shutting_down.load(Ordering::Relaxed) {
                        close = true;
                        break;
                    }
                    // Most commands take microseconds and run on this task; one that may
                    // block for long lets the runtime move other connections off this thread.
                    let reply = dispatch_in(&server, &mut session, &argv, |run| {
                        tokio::task::block_in_place(run)
                    });
                    reply.write(session.protocol, &mut out);
                    parser.limits.unauthenticated = !session.authenticated;
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
        if !out.is_empty() {
            if let Err(e) = persist_before_reply(&server).await {
                out.clear();
                Reply::error(format!("MISCONF Errors writing to the WAL: {e}"))
                    .write(session.protocol, &mut out);
                close = true;
            }
        }
        if !out.is_empty() {
            server
                .counters
                .net_output_bytes
                .fetch_add(out.len() as u64, Ordering::Relaxed);
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if close || client.killed.load(Ordering::Relaxed) {
            let _ = stream.shutdown().await;
            return;
        }
        tokio::select! {
            read = stream.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    server
                        .counters
                        .net_input_bytes
                        .fetch_add(n as u64, Ordering::Relaxed);
                    if buf.len() > parser.limits.query_buffer_limit {
                        // Like Redis: close without a reply, and say why in the log.
                        eprintln!(
                            "strata-server: closing client {peer}: query buffer over client-query-buffer-limit ({} bytes)",
                            parser.limits.query_buffer_limit
                        );
                        let _ = stream.shutdown().await;
                        return;
                    }
                }
            },
            _ = client.kill.notified() => {
                let _ = stream.shutdown().await;
                return;
            }
        }
    }
}
