#!/bin/bash
# SETBIT, GETBIT, PFADD and GEOADD beside Redis: each server in turn, twice, a fresh server
# and directory per run (Redis with appendonly yes, appendfsync everysec), redis-benchmark
# -n 100000 -c 50 -r 1000000.  benches/bitmaps-bench.sh
cd "$(dirname "$0")/.."
for round in 1 2; do
 for who in strata redis; do
  redis-cli -p 7001 shutdown nosave >/dev/null 2>&1; sleep 0.7; d=$(mktemp -d)
  if [ $who = strata ]; then (setsid nohup ./target/release/strata-server --port 7001 --dir $d >/dev/null 2>&1 &)
  else (cd $d && redis-server --port 7001 --appendonly yes --appendfsync everysec --save '' --daemonize yes >/dev/null); fi
  for _ in $(seq 50); do redis-cli -p 7001 ping >/dev/null 2>&1 && break; sleep 0.1; done
  out="$who r$round:"
  for spec in "setbit bits:__rand_int__ 7 1" "getbit bits:__rand_int__ 7" "pfadd hll:__rand_int__ a b c" "pfadd hot ele:__rand_int__" "geoadd geo 13.36 38.11 m:__rand_int__" ; do
    r=$(redis-benchmark -p 7001 -n 100000 -c 50 -r 1000000 -q $spec 2>&1 | tr '\r' '\n' | tail -1 | grep -o '[0-9.]* requests per' | grep -o '^[0-9.]*')
    out="$out | $(echo $spec | cut -d' ' -f1-2)=$r"
  done
  echo "$out"
  redis-cli -p 7001 shutdown nosave >/dev/null 2>&1; sleep 0.3; rm -rf $d
 done
done
