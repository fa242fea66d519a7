#!/usr/bin/env python3
"""Transactions per second against a Redis-protocol server: each client sends MULTI, ten
INCRs of random keys and EXEC in one write and waits for the replies (redis-benchmark has no
MULTI/EXEC workload). Run it against strata-server and redis-server in turn:

    benches/txn-bench.py PORT [CLIENTS=8] [SECONDS=10] [KEYS=100000]

Prints transactions/s and the p50/p99 latency of a transaction in microseconds.
"""

import random
import socket
import sys
import time

from clients import run as clients_run


def client(_, port, seconds, keys, out):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rng = random.Random()
    lat = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        parts = [b"*1\r\n$5\r\nMULTI\r\n"]
        for _ in range(10):
            k = b"k%d" % rng.randrange(keys)
            parts.append(b"*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n" % (len(k), k))
        parts.append(b"*1\r\n$4\r\nEXEC\r\n")
        start = time.monotonic()
        s.sendall(b"".join(parts))
        # +OK, ten +QUEUED, then *10 and ten integers: 22 lines.
        buf = b""
        while buf.count(b"\r\n") < 22:
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit("connection closed")
            buf += chunk
        if b"-" in buf[:1] or b"\r\n-" in buf:
            raise SystemExit("error reply: %r" % buf[:200])
        lat.append(time.monotonic() - start)
    out.put(lat)


def main():
    port = int(sys.argv[1])
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10
    keys = int(sys.argv[4]) if len(sys.argv) > 4 else 100000
    clients_run(client, (port, seconds, keys), clients, seconds, "tx")


if __name__ == "__main__":
    main()
