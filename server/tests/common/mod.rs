//! Starting the `strata-server` binary on an ephemeral port for integration tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running server; killed (SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// A `redis` crate client URL for this server.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Starts the server with data in `dir` and `extra` flags, and waits for its start line.
///
/// With `STRATA_TEST_REDIS=/path/to/redis-server` in the environment, [`start`] runs that
/// Redis instead, so a compatibility test can be checked against the real thing
/// (`STRATA_TEST_REDIS=$(which redis-server) cargo test -p strata-server --test collections`).
pub fn start_with(dir: &std::path::Path, extra: &[&str]) -> Server {
    let port = free_port();
    if let (Ok(redis), true) = (std::env::var("STRATA_TEST_REDIS"), extra.is_empty()) {
        return start_redis(&redis, dir, port);
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata-server"));
    cmd.args(["--port", &port.to_string(), "--dir", dir.to_str().unwrap()])
        .args(extra);
    spawn(cmd, port).0
}

/// Starts `cmd`, a server command line listening on `port` (run through a shell to set
/// limits, say), and waits for its start line; returns it with what it printed up to and
/// including that line (what recovery dropped, a lowered maxclients).
pub fn spawn(mut cmd: Command, port: u16) -> (Server, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = String::new();
    while !lines.contains("listening on") {
        assert!(
            out.read_line(&mut lines).unwrap() > 0,
            "the server exited before starting: {lines}"
        );
    }
    (Server { child, port }, lines)
}

/// A shell command line that sets `limits` (e.g. `ulimit -n 256`) and then runs the server
/// on `port` with data in `dir`.
pub fn limited(limits: &str, dir: &std::path::Path, port: u16) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "{limits} && exec {} --port {port} --dir {}",
        env!("CARGO_BIN_EXE_strata-server"),
        dir.display()
    ));
    cmd
}

/// Starts the server with default flags.
pub fn start(dir: &std::path::Path) -> Server {
    start_with(dir, &[])
}

/// A `redis` crate connection to `url`.
pub fn conn(url: &str) -> redis::Connection {
    let c = redis::Client::open(url).unwrap();
    c.get_connection_with_timeout(Duration::from_secs(10))
        .unwrap()
}

/// Runs a command that must fail and returns the error as Redis sent it (`CODE detail`).
pub fn err(con: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let e = cmd.query::<redis::Value>(con).unwrap_err();
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
        .trim_end()
        .to_string()
}

/// Runs a command that must succeed and converts its reply.
pub fn q<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn start_redis(binary: &str, dir: &std::path::Path, port: u16) -> Server {
    let child = Command::new(binary)
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--dir", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Server { child, port }
}

/// Runs `writers` threads of `work(url, thread)` against a server started with `appendfsync
/// always`, SIGKILLs it after 1.5 s, and returns how many writes each thread had acknowledged
/// (what `work` returns once its connection breaks) and the server restarted on the same
/// directory.
pub fn kill_9_during<F>(dir: &std::path::Path, writers: usize, work: F) -> (Vec<u64>, Server)
where
    F: Fn(&str, usize) -> u64 + Send + Sync + 'static,
{
    let mut server = start_with(dir, &["--appendfsync", "always"]);
    let url = server.url();
    let work = std::sync::Arc::new(work);
    let threads: Vec<_> = (0..writers)
        .map(|t| {
            let (url, work) = (url.clone(), std::sync::Arc::clone(&work));
            std::thread::spawn(move || work(&url, t))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let acked: Vec<u64> = threads.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(
        acked.iter().all(|&n| n > 10),
        "writers made progress: {acked:?}"
    );
    drop(server);
    (acked, start(dir))
}
