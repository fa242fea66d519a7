//! Listening as Redis does: `bind` takes one or more addresses separated by spaces (`*` for
//! every IPv4 address, `::*` for every IPv6 address; a leading `-` marks an address that may be
//! unavailable, such as `-::1` on a host without IPv6), IPv6 sockets are IPv6-only so that an
//! IPv4 and an IPv6 socket can share the port, and the listen backlog is `tcp-backlog`.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::task::JoinHandle;

use crate::server::Server;

/// The accept loops the server runs, one per listening socket.
#[derive(Debug, Default)]
pub struct Listening {
    loops: Mutex<Vec<JoinHandle<()>>>,
}

impl Listening {
    /// Serves connections on `listeners` (the ones served before must be stopped), returning
    /// their addresses. Must run inside the server's runtime.
    ///
    /// # Errors
    /// A socket cannot be registered with the runtime.
    pub fn start(
        &self,
        listeners: Vec<std::net::TcpListener>,
        server: &Arc<Server>,
    ) -> io::Result<Vec<SocketAddr>> {
        let mut addresses = Vec::new();
        let mut loops = self.loops.lock().unwrap_or_else(|e| e.into_inner());
        for l in listeners {
            let l = tokio::net::TcpListener::from_std(l)?;
            addresses.push(l.local_addr()?);
            loops.push(tokio::spawn(accept_loop(l, Arc::clone(server))));
        }
        Ok(addresses)
    }

    /// Stops every accept loop and waits until their sockets are closed (so their addresses
    /// can be listened on again at once). Connections already accepted go on.
    pub fn stop(&self) {
        let loops = std::mem::take(&mut *self.loops.lock().unwrap_or_else(|e| e.into_inner()));
        if loops.is_empty() {
            return;
        }
        for l in &loops {
            l.abort();
        }
        // A cancelled task drops its listener when the runtime next polls it; wait for that
        // off the async context (CONFIG SET runs on a runtime thread).
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                for l in loops {
                    let _ = l.await;
                }
            });
        });
    }
}

/// How long the accept loop waits after a failed accept, doubling up to the maximum while
/// accepts keep failing.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Accepts connections on `listener` and serves each on its own task, until aborted.
async fn accept_loop(listener: tokio::net::TcpListener, server: Arc<Server>) {
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                backoff = ACCEPT_BACKOFF_MIN;
                let _ = stream.set_nodelay(true);
                tokio::spawn(crate::connection::serve(stream, Arc::clone(&server)));
            }
            Err(e) => {
                // Out of descriptors (or another accept failure): pending connections stay
                // queued; waiting gives closing clients time to free some, instead of
                // retrying in a tight loop.
                crate::log(&format!(
                    "strata-server: accepting a connection failed: {e}"
                ));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

/// Opens a listening socket on `port` for every address of `bind`, in order.
///
/// # Errors
/// The first address that is not optional and cannot be listened on, named in the error; or
/// `bind` yielding no socket at all.
pub fn listen(bind: &str, port: u16, backlog: i32) -> io::Result<Vec<std::net::TcpListener>> {
    let mut listeners = Vec::new();
    for word in bind.split_whitespace() {
        let (optional, host) = match word.strip_prefix('-') {
            Some(h) => (true, h),
            None => (false, word),
        };
        let host = match host {
            "*" => "0.0.0.0",
            "::*" => "::",
            h => h,
        };
        let addrs = match (host, port).to_socket_addrs() {
            Ok(a) => a.collect::<Vec<_>>(),
            Err(_) if optional => continue,
            Err(e) => return Err(named(host, port, e)),
        };
        for addr in addrs {
            match open(addr, backlog) {
                Ok(l) => listeners.push(l),
                Err(_) if optional => {}
                Err(e) => return Err(named(host, port, e)),
            }
        }
    }
    if listeners.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bind '{bind}' gives no address to listen on"),
        ));
    }
    Ok(listeners)
}

fn named(host: &str, port: u16, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot listen on {host}:{port}: {e}"))
}

fn open(addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_addresses_share_a_port_and_optional_ones_may_fail() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // 192.0.2.1 (TEST-NET-1) is on no interface: optional, so skipped.
        let ls = listen("127.0.0.1 -::1 -192.0.2.1", port, 511).unwrap();
        assert!(!ls.is_empty());
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        let e = listen("192.0.2.1", port, 511).unwrap_err();
        assert!(e.to_string().contains("cannot listen on 192.0.2.1"), "{e}");
        assert!(listen("", port, 511).is_err());
    }
}
