#!/usr/bin/env bash
# Larger than memory through the server: strata-server with a memory budget is loaded with
# redis-benchmark (random keys, 100-byte values), then serves random GETs warm and, after the
# OS page cache is dropped (needs root), cold. The server's anonymous RSS is sampled every
# 100 ms throughout; each phase prints its throughput, its peak RSS and the data block cache
# hit ratio from INFO memory.
#
#   cargo build --release -p strata-server
#   benches/server-budget.sh                       # BUDGET=256mb KEYS=30000000 by default
#
# Needs redis-benchmark and redis-cli (Debian: apt-get install redis-tools). MONITOR=CMD runs
# `CMD PORT /tmp/server-mon.txt` beside the phases (e.g. a loop over `INFO memory`).
set -euo pipefail
cd "$(dirname "$0")/.."

BUDGET=${BUDGET:-256mb}
KEYS=${KEYS:-30000000}
READS=${READS:-3000000}
PORT=${PORT:-6390}
DIR=${DIR:-/tmp/strata-server-budget}
SERVER=${SERVER:-target/release/strata-server}

rm -rf "$DIR"
"$SERVER" --port "$PORT" --dir "$DIR" --memory-budget "$BUDGET" --appendfsync no \
    >"$DIR.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.1; done

rss_log=$(mktemp)
[ -n "${MONITOR:-}" ] && { $MONITOR "$PORT" /tmp/server-mon.txt & }
(while kill -0 "$pid" 2>/dev/null; do
    printf '%s %s\n' "$(date +%s.%N)" "$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")"
    sleep 0.1
done) >"$rss_log" 2>/dev/null &

info() { redis-cli -p "$PORT" info memory | tr -d '\r' | awk -F: -v k="$1" '$1 == k {print $2}'; }

# phase NAME redis-benchmark-arguments...
phase() {
    local name=$1 start end hits0 misses0 hits misses peak
    shift
    hits0=$(info strata_cache_data_hits)
    misses0=$(info strata_cache_data_misses)
    start=$(date +%s.%N)
    local result
    result=$(redis-benchmark -p "$PORT" -q "$@" | tr '\r' '\n' | grep -v '^$' | tail -1)
    end=$(date +%s.%N)
    hits=$(($(info strata_cache_data_hits) - hits0))
    misses=$(($(info strata_cache_data_misses) - misses0))
    peak=$(awk -v s="$start" -v e="$end" '$1 >= s && $1 <= e && $2 > m {m = $2} END {print m / 1024}' "$rss_log")
    printf '%-10s %s  peak RssAnon %.1f MiB, cache hit ratio %s\n' "$name" "$result" "$peak" \
        "$(awk -v h="$hits" -v m="$misses" 'BEGIN {if (h + m > 0) printf "%.3f", h / (h + m); else print "-"}')"
}

echo "strata-server --memory-budget $BUDGET, $KEYS random SETs of 100 bytes, $READS GETs per read phase"
phase load -t set -r "$KEYS" -n "$KEYS" -d 100 -P 16 -c 50
redis-cli -p "$PORT" dbsize | sed 's/^/keys: /'
phase warm -t get -r "$KEYS" -n "$READS" -P 16 -c 50
phase warm2 -t get -r "$KEYS" -n "$READS" -P 16 -c 50
if sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
    phase cold -t get -r "$KEYS" -n "$READS" -P 16 -c 50
else
    echo "cold: skipped (dropping the page cache needs root)"
fi
echo "on disk: $(du -sm "$DIR" | cut -f1) MiB; overall peak RssAnon $(awk '$2 > m {m = $2} END {printf "%.1f", m / 1024}' "$rss_log") MiB"
redis-cli -p "$PORT" info memory | tr -d '\r' | grep -E '^(used_memory|strata_)'
rm -f "$rss_log"
