//! `MIGRATE`: moves (or copies) keys to another Redis-protocol server as DUMP payloads
//! RESTOREd there, the way Redis does: one connection per target kept for 10 seconds of
//! disuse, AUTH/AUTH2 and SELECT sent ahead, every RESTORE pipelined, and each key deleted
//! here once the target acknowledged it (unless COPY).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::dump::payload;
use super::number::integer_arg;
use super::reply::{store_error, syntax_error, CmdResult};
use super::Session;
use crate::resp::Reply;
use crate::server::Server;

/// How long an unused connection to a target is kept (Redis's `MIGRATE_SOCKET_CACHE_TTL`).
const SOCKET_TTL: Duration = Duration::from_secs(10);
/// Most targets with a kept connection (Redis's `MIGRATE_SOCKET_CACHE_ITEMS`).
const SOCKET_CACHE_ITEMS: usize = 64;

#[derive(Debug)]
struct Cached {
    stream: TcpStream,
    /// The database last SELECTed on it (-1: none yet).
    db: i64,
    used: Instant,
}

/// The kept connections, by `host:port`.
#[derive(Debug, Default)]
pub struct MigrateSockets {
    sockets: Mutex<HashMap<String, Cached>>,
}

impl MigrateSockets {
    /// Connections kept (`migrate_cached_sockets` in INFO).
    pub fn len(&self) -> usize {
        self.sockets.lock().map_or(0, |s| s.len())
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes the connections unused for 10 seconds (the housekeeping thread calls it).
    pub fn close_idle(&self) {
        if let Ok(mut s) = self.sockets.lock() {
            s.retain(|_, c| c.used.elapsed() < SOCKET_TTL);
        }
    }

    fn take(&self, target: &str) -> Option<Cached> {
        self.sockets.lock().ok()?.remove(target)
    }

    fn put(&self, target: String, mut c: Cached) {
        c.used = Instant::now();
        if let Ok(mut s) = self.sockets.lock() {
            if s.len() >= SOCKET_CACHE_ITEMS && !s.contains_key(&target) {
                if let Some(k) = s.keys().next().cloned() {
                    s.remove(&k);
                }
            }
            s.insert(target, c);
        }
    }
}

/// `MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password |
/// AUTH2 username password] [KEYS key ...]`.
pub(super) fn migrate(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let host = String::from_utf8_lossy(&args[0]).into_owned();
    let port = integer_arg(&args[1])?;
    let db = integer_arg(&args[3])?;
    let timeout = integer_arg(&args[4])?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    let (mut copy, mut replace) = (false, false);
    let mut auth: Vec<Vec<u8>> = Vec::new();
    let mut keys: Vec<Vec<u8>> = vec![args[2].clone()];
    let mut i = 5;
    while i < args.len() {
        let more = args.len() - i - 1;
        match args[i].to_ascii_lowercase().as_slice() {
            b"copy" => copy = true,
            b"replace" => replace = true,
            b"auth" if more >= 1 => {
                auth = vec![args[i + 1].clone()];
                i += 1;
            }
            b"auth2" if more >= 2 => {
                auth = vec![args[i + 1].clone(), args[i + 2].clone()];
                i += 2;
            }
            b"keys" => {
                if !args[2].is_empty() {
                    return Err(Reply::error(
                        "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                    ));
                }
                keys = args[i + 1..].to_vec();
                break;
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    // The keys that exist, with their payloads and remaining TTLs (already expired: left out).
    let now = server.store.now_ms();
    let mut found: Vec<(Vec<u8>, u64, Vec<u8>)> = Vec::new();
    for k in &keys {
        let ttl = match server.store.expiry(session.db, k).map_err(store_error)? {
            None => continue,
            Some(None) => 0,
            Some(Some(at)) if at <= now => continue,
            Some(Some(at)) => (at - now).max(1),
        };
        if let Some(p) = payload(server, session.db, k).map_err(store_error)? {
            found.push((k.clone(), ttl, p));
        }
    }
    if found.is_empty() {
        return Ok(Reply::Simple("NOKEY".into()));
    }
    let target = format!("{host}:{port}");
    // A kept connection may have been closed by the target: retried once on a new one.
    for attempt in 0..2 {
        let cached = server.migrate_sockets.take(&target);
        let was_cached = cached.is_some();
        let mut conn = match cached {
            Some(c) => c,
            None => match connect(&host, port, timeout) {
                Ok(stream) => Cached {
                    stream,
                    db: -1,
                    used: Instant::now(),
                },
                Err(_) => {
                    return Err(Reply::error(
                        "IOERR error or timeout connecting to the client",
                    ))
                }
            },
        };
        match exchange(&mut conn, &auth, db, &found, replace, timeout) {
            Ok(replies) => {
                let mut first_error = None;
                let mut moved = Vec::new();
                for ((k, _, _), r) in found.iter().zip(&replies.restores) {
                    match r {
                        Err(e) => {
                            first_error.get_or_insert_with(|| e.clone());
                        }
                        Ok(()) => moved.push(k.as_slice()),
                    }
                }
                if replies.selected && replies.refused.is_none() {
                    conn.db = db;
                }
                server.migrate_sockets.put(target, conn);
                // AUTH or SELECT refused: the RESTOREs went nowhere they should, nothing moved.
                if replies.refused.is_some() {
                    moved.clear();
                }
                if !copy && !moved.is_empty() {
                    server.store.del(session.db, &moved).map_err(store_error)?;
                }
                if let Some(e) = replies.refused.or(first_error) {
                    return Err(Reply::error(format!(
                        "ERR Target instance replied with error: {e}"
                    )));
                }
                return Ok(Reply::ok());
            }
            // The socket is dropped: a cached one is tried again once, fresh.
            Err(_) if was_cached && attempt == 0 => continue,
            Err(_) => {
                return Err(Reply::error(
                    "IOERR error or timeout reading to target instance",
                ))
            }
        }
    }
    Err(Reply::error(
        "IOERR error or timeout reading to target instance",
    ))
}

fn connect(host: &str, port: i64, timeout: Duration) -> std::io::Result<TcpStream> {
    let port = u16::try_from(port).map_err(|_| std::io::Error::other("bad port"))?;
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// What the target answered.
struct Replies {
    /// AUTH or SELECT refused: the error.
    refused: Option<String>,
    selected: bool,
    /// Each RESTORE: acknowledged, or the target's error.
    restores: Vec<Result<(), String>>,
}

fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Sends AUTH, SELECT and the RESTOREs in one write and reads their replies (each a status
/// or an error line).
fn exchange(
    conn: &mut Cached,
    auth: &[Vec<u8>],
    db: i64,
    found: &[(Vec<u8>, u64, Vec<u8>)],
    replace: bool,
    timeout: Duration,
) -> std::io::Result<Replies> {
    conn.stream.set_read_timeout(Some(timeout))?;
    conn.stream.set_write_timeout(Some(timeout))?;
    let mut out = Vec::new();
    if !auth.is_empty() {
        let mut a: Vec<&[u8]> = vec![b"AUTH"];
        a.extend(auth.iter().map(Vec::as_slice));
        command(&mut out, &a);
    }
    let select = conn.db != db;
    let db_arg = db.to_string();
    if select {
        command(&mut out, &[b"SELECT", db_arg.as_bytes()]);
    }
    for (k, ttl, payload) in found {
        let ttl = ttl.to_string();
        let mut a: Vec<&[u8]> = vec![b"RESTORE", k, ttl.as_bytes(), payload];
        if replace {
            a.push(b"REPLACE");
        }
        command(&mut out, &a);
    }
    conn.stream.write_all(&out)?;
    let mut reader = BufReader::new(&conn.stream);
    let mut line = String::new();
    let mut next = || -> std::io::Result<Result<(), String>> {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        let l = line.trim_end();
        Ok(match l.strip_prefix('-') {
            Some(e) => Err(e.to_string()),
            None => Ok(()),
        })
    };
    let mut refused = None;
    if !auth.is_empty() {
        if let Err(e) = next()? {
            refused = Some(e);
        }
    }
    if select {
        if let Err(e) = next()? {
            refused.get_or_insert(e);
        }
    }
    let mut restores = Vec::with_capacity(found.len());
    for _ in found {
        restores.push(next()?);
    }
    Ok(Replies {
        refused,
        selected: select,
        restores,
    })
}
