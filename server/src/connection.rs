//! One client connection: read, parse every complete command (pipelining), reply in order.

use std::sync::Arc;

use strata_redis::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cmd::{dispatch, Session};
use crate::resp::{Parser, Protocol, Reply};

/// Serves a client until it closes, sends `QUIT`, or breaks the protocol.
pub async fn serve(mut stream: TcpStream, store: Arc<Store>) {
    let parser = Parser::default();
    let mut session = Session::default();
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let mut consumed = 0;
        let mut close = false;
        loop {
            match parser.parse(&buf[consumed..]) {
                Ok(Some((argv, used))) => {
                    consumed += used;
                    if argv.is_empty() {
                        continue;
                    }
                    // Engine calls block briefly (a WAL append, an fsync in `always` mode):
                    // let the runtime move other connections off this thread meanwhile.
                    let reply =
                        tokio::task::block_in_place(|| dispatch(&store, &mut session, &argv));
                    reply.write(Protocol::Resp2, &mut out);
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
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if close {
            let _ = stream.shutdown().await;
            return;
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
