#!/bin/bash
# Scripts and transactions beside each other: EVALSHA of a rate limiter (redis-benchmark,
# -P 1 and -P 16), MULTI + 10 INCR + EXEC (benches/txn-bench.py) and redis-py's Lua lock
# (benches/lock-bench.py), for each server in turn, ROUNDS times, alternating. A server is a
# strata-server binary, or `redis` for redis-server (appendonly yes, appendfsync everysec).
# Each run gets a fresh server and directory on port 7001.
#
#   benches/scripts-bench.sh ROUNDS target/release/strata-server redis
#   benches/scripts-bench.sh 3 /tmp/strata-before /tmp/strata-after
set -u
cd "$(dirname "$0")/.."
rounds=$1
shift
port=7001
script='local c = redis.call("incr", KEYS[1]) if c == 1 then redis.call("expire", KEYS[1], 60) end return c'
rate() { tr '\r' '\n' | tail -1 | grep -o '[0-9.]* requests per' | grep -o '^[0-9.]*'; }
for round in $(seq 1 "$rounds"); do
  for server in "$@"; do
    redis-cli -p $port shutdown nosave >/dev/null 2>&1
    sleep 0.7
    dir=$(mktemp -d)
    if [ "$server" = redis ]; then
      (cd "$dir" && redis-server --port $port --appendonly yes --appendfsync everysec \
        --save '' --daemonize yes >/dev/null)
    else
      (setsid nohup "$server" --port $port --dir "$dir" >/dev/null 2>&1 &)
    fi
    for _ in $(seq 50); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
    sha=$(redis-cli -p $port script load "$script")
    p1=$(redis-benchmark -p $port -n 200000 -c 50 -r 100000 -P 1 -q evalsha "$sha" 1 rl:__rand_int__ 2>&1 | rate)
    p16=$(redis-benchmark -p $port -n 400000 -c 50 -r 100000 -P 16 -q evalsha "$sha" 1 rl:__rand_int__ 2>&1 | rate)
    tx=$(python3 benches/txn-bench.py $port 8 4 | grep -o '[0-9]* tx/s')
    lock=$(python3 benches/lock-bench.py $port 8 4 | grep -o '[0-9]* cycles/s')
    echo "$(basename "$server") round $round: EVALSHA -P1 $p1/s, -P16 $p16/s; MULTI $tx; lock $lock"
    redis-cli -p $port shutdown nosave >/dev/null 2>&1
    sleep 0.3
    rm -rf "$dir"
  done
done
