//! `pubsub-bench`: PUBLISH throughput as subscribers see it. Opens `--subscribers`
//! connections subscribed to one channel, publishes `--messages` messages of `--size` bytes
//! from one connection (`--pipeline` at a time), and reports messages delivered per second
//! (messages x subscribers / the time until the last subscriber has them all). Runs against
//! any server speaking RESP, so Strata and Redis are measured the same way.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "pubsub-bench",
    about = "PUBLISH throughput as subscribers see it"
)]
struct Args {
    /// Server port on 127.0.0.1.
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Subscribers of the channel.
    #[arg(long, default_value_t = 1)]
    subscribers: usize,
    /// Messages published.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Message size in bytes.
    #[arg(long, default_value_t = 16)]
    size: usize,
    /// PUBLISH commands in flight.
    #[arg(long, default_value_t = 16)]
    pipeline: usize,
}

const CHANNEL: &str = "bench";

fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads exactly `n` bytes (discarding them).
fn drain(s: &mut TcpStream, mut n: usize, buf: &mut [u8]) -> std::io::Result<()> {
    while n > 0 {
        let want = n.min(buf.len());
        let got = s.read(&mut buf[..want])?;
        if got == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        n -= got;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let payload = vec![b'x'; args.size];
    // `*3 $7 message $5 bench $n payload`, as both servers write it in RESP2.
    let frame_len = command(&[b"message", CHANNEL.as_bytes(), &payload]).len();
    let start_line = Arc::new(Barrier::new(args.subscribers + 1));
    let mut readers = Vec::new();
    for i in 0..args.subscribers {
        let mut s = TcpStream::connect(("127.0.0.1", args.port))?;
        s.set_nodelay(true)?;
        s.write_all(&command(&[b"SUBSCRIBE", CHANNEL.as_bytes()]))?;
        let confirm = format!("*3\r\n$9\r\nsubscribe\r\n$5\r\n{CHANNEL}\r\n:1\r\n").len();
        let mut buf = vec![0u8; 64 * 1024];
        drain(&mut s, confirm, &mut buf)?;
        let total = frame_len * args.messages;
        let gate = Arc::clone(&start_line);
        readers.push(
            std::thread::Builder::new()
                .name(format!("sub-{i}"))
                .stack_size(128 * 1024)
                .spawn(move || -> std::io::Result<Instant> {
                    gate.wait();
                    drain(&mut s, total, &mut buf)?;
                    Ok(Instant::now())
                })?,
        );
    }
    let mut publisher = TcpStream::connect(("127.0.0.1", args.port))?;
    publisher.set_nodelay(true)?;
    publisher.set_read_timeout(Some(Duration::from_secs(60)))?;
    let one = command(&[b"PUBLISH", CHANNEL.as_bytes(), &payload]);
    start_line.wait();
    let started = Instant::now();
    let mut sent = 0;
    let mut reply = vec![0u8; 64 * 1024];
    while sent < args.messages {
        let n = args.pipeline.min(args.messages - sent);
        let batch: Vec<u8> = one.repeat(n);
        publisher.write_all(&batch)?;
        // Each reply is `:<subscribers>\r\n`.
        let reply_len = format!(":{}\r\n", args.subscribers).len() * n;
        drain(&mut publisher, reply_len, &mut reply)?;
        sent += n;
    }
    let published = started.elapsed();
    let mut last = started;
    for r in readers {
        let done = r.join().map_err(|_| "a subscriber thread panicked")??;
        last = last.max(done);
    }
    let delivered = last.duration_since(started);
    let total = (args.messages * args.subscribers) as f64;
    println!(
        "subscribers={} messages={} size={} pipeline={}: published in {:.3}s ({:.0} PUBLISH/s), \
         delivered in {:.3}s: {:.0} messages/s delivered",
        args.subscribers,
        args.messages,
        args.size,
        args.pipeline,
        published.as_secs_f64(),
        args.messages as f64 / published.as_secs_f64(),
        delivered.as_secs_f64(),
        total / delivered.as_secs_f64(),
    );
    Ok(())
}
