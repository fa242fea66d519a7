#!/usr/bin/env bash
# Strata beside RocksDB and fjall in the same run: engines alternate, ROUNDS rounds, then the
# median (min..max) of every figure per engine.
#
#   apt-get install -y libclang-dev                            # RocksDB's bindings need it
#   cargo build --release -p strata-bench --features peers     # ~20 minutes the first time
#   benches/compare.sh                                         # NUM=2000000 ROUNDS=3
#
# Two builds of Strata in the same run (before and after a change), no peers needed:
#
#   BUILDS="before=/tmp/strata-bench-before after=target/release/strata-bench" benches/compare.sh
#
# Raw output goes to $OUT (default /tmp/strata-compare-NUM.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

NUM=${NUM:-2000000}
ROUNDS=${ROUNDS:-3}
ENGINES=${ENGINES:-"strata rocksdb fjall"}
BENCH=${BENCH:-target/release/strata-bench}
OUT=${OUT:-/tmp/strata-compare-$NUM.txt}
DIR=${DIR:-/tmp/strata-compare}

# Each run is an engine of $BENCH, or (BUILDS) label=binary running Strata; labels are lowercase.
RUNS=${BUILDS:-$ENGINES}

: >"$OUT"
for round in $(seq 1 "$ROUNDS"); do
    for run in $RUNS; do
        case $run in
            *=*) label=${run%%=*} bench=${run#*=} engine=strata ;;
            *) label=$run bench=$BENCH engine=$run ;;
        esac
        for workloads in fillrandom,overwrite,readrandom,readmissing,seekrandom,readseq \
            fillsync,fillsync:8; do
            "$bench" --engine "$engine" --num "$NUM" --workloads "$workloads" \
                --dir "$DIR-$label" | sed "s/^/$label $round /" | tee -a "$OUT"
        done
    done
done

# Medians (min..max) per engine: each workload's ops/s, p50 and p99; write and space
# amplification and peak RSS of the first command (the one that loads the data).
awk '
function summary(values, n,    s, i, j, t) {
    for (i = 1; i <= n; i++) s[i] = values[i] + 0
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
        if (s[j] < s[i]) { t = s[i]; s[i] = s[j]; s[j] = t }
    return s[int((n + 1) / 2)] " (" s[1] ".." s[n] ")"
}
function median(values, n,    parts) { split(summary(values, n), parts, " "); return parts[1] }
$5 == "ops/s" {
    key = $1 " " $3
    if (!(key in n)) order[++seen] = key
    n[key]++
    ops[key, n[key]] = $4; p50[key, n[key]] = $9; p99[key, n[key]] = $12
    last[$1] = $3
}
/^[a-z]+ [0-9]+ write amplification/ && last[$1] == "readseq" {
    e = $1; m[e]++
    wa[e, m[e]] = $5
    match($0, /space amplification [0-9.]+/); sa[e, m[e]] = substr($0, RSTART + 20, RLENGTH - 20)
    match($0, /peak anonymous RSS [0-9.]+/); rss[e, m[e]] = substr($0, RSTART + 19, RLENGTH - 19)
}
END {
    printf "%-8s %-12s %-34s %s\n", "engine", "workload", "ops/s: median (min..max)", "p50 / p99 us"
    for (i = 1; i <= seen; i++) {
        key = order[i]
        for (j = 1; j <= n[key]; j++) { a[j] = ops[key, j]; b[j] = p50[key, j]; c[j] = p99[key, j] }
        split(key, k, " ")
        printf "%-8s %-12s %-34s %s / %s\n", k[1], k[2], summary(a, n[key]), median(b, n[key]), median(c, n[key])
    }
    for (e in m) {
        for (j = 1; j <= m[e]; j++) { a[j] = wa[e, j]; b[j] = sa[e, j]; c[j] = rss[e, j] }
        printf "%-8s write amplification %s, space amplification %s, peak RSS %s MiB\n", e, summary(a, m[e]), summary(b, m[e]), summary(c, m[e])
    }
}' "$OUT"
