#!/usr/bin/env python3
"""Lock/unlock cycles per second of redis-py's Lua lock (`redis.lock.Lock`) against a
Redis-protocol server: each process takes and releases locks of its own in a loop, as a
client library does (SET key token NX PX to take it, the library's release script by
EVALSHA to give it back). Run it against strata-server and redis-server in turn:

    pip install redis
    benches/lock-bench.py PORT [PROCESSES=8] [SECONDS=5] [LOCKS=100]

Prints cycles/s and the p50/p99 latency of a cycle in microseconds.
"""

import os
import sys
import time

# Run from the repository root, `import redis` would find the crate directory `redis/`.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.getcwd()]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from clients import run as clients_run  # noqa: E402


def worker(proc, port, seconds, locks, out):
    client = redis.Redis(port=port)
    lat = []
    i = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.monotonic()
        lock = client.lock("lock:%d:%d" % (proc, i % locks), timeout=10)
        if not lock.acquire(blocking=False):
            raise SystemExit("lock held: nobody else takes this process's locks")
        lock.release()
        lat.append(time.monotonic() - start)
        i += 1
    out.put(lat)


def main():
    port = int(sys.argv[1])
    procs = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 5
    locks = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    clients_run(worker, (port, seconds, locks), procs, seconds, "cycles")


if __name__ == "__main__":
    main()
