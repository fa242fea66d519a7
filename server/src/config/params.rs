//! Every parameter Redis 7.0 has (names, aliases, defaults, bounds and error texts as its
//! `config.c`), and Strata's own `strata-*` engine parameters, with what each does here.

use super::parse_memory;

/// How a parameter's value is checked and written.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    /// An integer in `[min, max]`.
    Int(i64, i64),
    /// `hz`: an integer, then clamped to 1..=500 as Redis clamps it.
    Hz,
    /// A size in bytes (`kb`, `mb`, `gb` suffixes) in `[min, max]`.
    Memory(i64, i64),
    /// A size in bytes, or a percentage of `maxmemory` written `N%` (`maxmemory-clients`).
    MemoryOrPercent,
    /// An octal integer up to the bound (`unixsocketperm`).
    Octal(i64),
    /// `yes` or `no`.
    Bool,
    /// One of these words.
    Enum(&'static [&'static str]),
    /// Any of these words, space-separated (`shutdown-on-sigint`).
    Flags(&'static [&'static str]),
    /// Any string.
    Text,
    /// Redis's `save`: empty, or pairs of `seconds changes`.
    SavePoints,
    /// `bind`: up to 16 addresses.
    Bind,
    /// `client-output-buffer-limit`: `<class> <hard> <soft> <seconds>` groups.
    OutputLimits,
    /// `oom-score-adj-values`: three integers in -2000..=2000.
    OomValues,
    /// `notify-keyspace-events`: event class characters.
    Events,
    /// `latency-tracking-info-percentiles`: numbers in 0..=100.
    Percentiles,
}

/// What `CONFIG SET` may do with a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Changed at run time, with effect.
    Applied,
    /// Set at start only (Redis's immutable parameters): `CONFIG SET` refuses it.
    Fixed,
    /// Strata's engine sizes, set at start only: `CONFIG SET` accepts the value it has (so
    /// tools that replay `CONFIG GET *` work) and refuses any other as immutable.
    StartOnly,
    /// Redis's protected parameters (`dir`, `dbfilename`): refused by `CONFIG SET`, as Redis
    /// refuses them while `enable-protected-configs` is `no` (its default and ours).
    Protected,
    /// Accepted and reported; no effect here (replication, AOF, TLS, cluster, defrag
    /// knobs), or not yet (see docs/redis-compatibility.md).
    Recorded,
    /// Only its default is accepted: Strata cannot work otherwise (the reason says why).
    Pinned(&'static str),
}

/// Where a parameter's default comes from.
#[derive(Clone, Copy)]
pub(super) enum Default {
    /// Redis's default (or the server's own).
    Text(&'static str),
    /// The engine's: read off `strata::Options::default()`, so it is written once.
    Engine(fn(&strata::Options) -> u64),
}

pub(super) struct Param {
    pub name: &'static str,
    /// Redis's older name (`slaveof` for `replicaof`): a second entry for the same value.
    pub alias: Option<&'static str>,
    pub default: Default,
    pub kind: Kind,
    pub mode: Mode,
    /// Left out of `CONFIG GET` patterns; only its exact name finds it (Redis's debugging
    /// parameters).
    pub hidden: bool,
}

impl Param {
    const fn alias(mut self, alias: &'static str) -> Self {
        self.alias = Some(alias);
        self
    }

    const fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }
}

const fn p(name: &'static str, default: &'static str, kind: Kind, mode: Mode) -> Param {
    Param {
        name,
        alias: None,
        default: Default::Text(default),
        kind,
        mode,
        hidden: false,
    }
}

/// A parameter whose default is the engine's.
const fn engine(
    name: &'static str,
    default: fn(&strata::Options) -> u64,
    kind: Kind,
    mode: Mode,
) -> Param {
    Param {
        name,
        alias: None,
        default: Default::Engine(default),
        kind,
        mode,
        hidden: false,
    }
}

use Kind::{
    Bind, Bool, Enum, Events, Flags, Hz, Int, Memory, MemoryOrPercent, Octal, OomValues,
    OutputLimits, Percentiles, SavePoints, Text,
};
use Mode::{Applied, Fixed, Pinned, Protected, Recorded, StartOnly};

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const UINT_MAX: i64 = u32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;
const PORT: Kind = Int(0, 65535);
const MEMORY: Kind = Memory(0, LONG_MAX);
const COUNT: Kind = Int(0, INT_MAX);

const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const YES_NO_LOCAL: &[&str] = &["no", "yes", "local"];
const SHUTDOWN: &[&str] = &["default", "save", "nosave", "now", "force"];

/// Every parameter. `CONFIG GET *` answers in this order (Redis answers in its hash table's).
pub(super) static PARAMS: &[Param] = &[
    // Network and clients.
    p("bind", "127.0.0.1 -::1", Bind, Applied),
    p("port", "6379", PORT, Applied),
    p("tcp-backlog", "511", COUNT, Fixed),
    p("protected-mode", "yes", Bool, Applied),
    p("requirepass", "", Text, Applied),
    p("maxclients", "10000", Int(1, UINT_MAX), Applied),
    p("timeout", "0", COUNT, Applied),
    p("tcp-keepalive", "300", COUNT, Recorded),
    p(
        "proto-max-bulk-len",
        "536870912",
        Memory(1 << 20, LONG_MAX),
        Applied,
    ),
    p(
        "client-query-buffer-limit",
        "1073741824",
        Memory(1 << 20, LONG_MAX),
        Applied,
    ),
    p(
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        OutputLimits,
        Applied,
    ),
    p("bind-source-addr", "", Text, Recorded),
    p("unixsocket", "", Text, Fixed),
    p("unixsocketperm", "0", Octal(0o777), Fixed),
    p("socket-mark-id", "0", Int(0, UINT_MAX), Fixed),
    p(
        "max-new-connections-per-cycle",
        "10",
        Int(1, 1000),
        Recorded,
    )
    .hidden(),
    // Persistence: Strata's write-ahead log stands for Redis's AOF and RDB.
    p("dir", "./strata-data", Text, Protected),
    p(
        "appendonly",
        "yes",
        Bool,
        Pinned("Strata always writes its write-ahead log"),
    ),
    p(
        "appendfsync",
        "everysec",
        Enum(&["everysec", "always", "no"]),
        Applied,
    ),
    p("save", "", SavePoints, Recorded),
    p("dbfilename", "dump.rdb", Text, Protected),
    p("appendfilename", "appendonly.aof", Text, Fixed),
    p("appenddirname", "appendonlydir", Text, Fixed),
    p("rdbcompression", "yes", Bool, Recorded),
    p("rdbchecksum", "yes", Bool, Fixed),
    p("rdb-del-sync-files", "no", Bool, Recorded),
    p("rdb-save-incremental-fsync", "yes", Bool, Recorded),
    p("stop-writes-on-bgsave-error", "yes", Bool, Recorded),
    p("aof-rewrite-incremental-fsync", "yes", Bool, Recorded),
    p("aof-load-truncated", "yes", Bool, Recorded),
    p("aof-use-rdb-preamble", "yes", Bool, Recorded),
    p("aof-timestamp-enabled", "no", Bool, Recorded),
    p("aof-disable-auto-gc", "no", Bool, Recorded),
    p("no-appendfsync-on-rewrite", "no", Bool, Recorded),
    p("auto-aof-rewrite-percentage", "100", COUNT, Recorded),
    p("auto-aof-rewrite-min-size", "67108864", MEMORY, Recorded),
    p(
        "sanitize-dump-payload",
        "no",
        Enum(&["no", "yes", "clients"]),
        Recorded,
    ),
    p("rdb-key-save-delay", "0", Int(INT_MIN, INT_MAX), Recorded).hidden(),
    p("key-load-delay", "0", Int(INT_MIN, INT_MAX), Recorded).hidden(),
    p(
        "loading-process-events-interval-bytes",
        "2097152",
        Int(1024, INT_MAX),
        Recorded,
    )
    .hidden(),
    // The keyspace.
    p("databases", "16", Int(1, 256), Fixed),
    p("hz", "10", Hz, Applied),
    p("dynamic-hz", "yes", Bool, Recorded),
    p("active-expire-effort", "1", Int(1, 10), Recorded),
    p("activerehashing", "yes", Bool, Recorded),
    p("notify-keyspace-events", "", Events, Applied),
    p(
        "tracking-table-max-keys",
        "1000000",
        Int(0, LONG_MAX),
        Recorded,
    ),
    p("lazyfree-lazy-eviction", "no", Bool, Recorded),
    p("lazyfree-lazy-expire", "no", Bool, Recorded),
    p("lazyfree-lazy-server-del", "no", Bool, Recorded),
    p("lazyfree-lazy-user-del", "no", Bool, Recorded),
    p("lazyfree-lazy-user-flush", "no", Bool, Recorded),
    // Memory and eviction.
    p("maxmemory", "0", MEMORY, Recorded),
    p("maxmemory-policy", "noeviction", Enum(POLICIES), Recorded),
    p("maxmemory-samples", "5", Int(1, 64), Recorded),
    p("maxmemory-eviction-tenacity", "10", Int(0, 100), Recorded),
    p("maxmemory-clients", "0", MemoryOrPercent, Recorded),
    p("lfu-log-factor", "10", COUNT, Recorded),
    p("lfu-decay-time", "1", COUNT, Recorded),
    p("activedefrag", "no", Bool, Recorded),
    p(
        "active-defrag-ignore-bytes",
        "104857600",
        Memory(1, LONG_MAX),
        Recorded,
    ),
    p(
        "active-defrag-threshold-lower",
        "10",
        Int(0, 1000),
        Recorded,
    ),
    p(
        "active-defrag-threshold-upper",
        "100",
        Int(0, 1000),
        Recorded,
    ),
    p("active-defrag-cycle-min", "1", Int(1, 99), Recorded),
    p("active-defrag-cycle-max", "25", Int(1, 99), Recorded),
    p(
        "active-defrag-max-scan-fields",
        "1000",
        Int(1, LONG_MAX),
        Recorded,
    ),
    p("jemalloc-bg-thread", "yes", Bool, Recorded),
    p(
        "oom-score-adj",
        "no",
        Enum(&["no", "yes", "relative", "absolute"]),
        Recorded,
    ),
    p("oom-score-adj-values", "0 200 800", OomValues, Recorded),
    p("disable-thp", "yes", Bool, Fixed),
    // Encodings: they decide what OBJECT ENCODING answers (the storage is Strata's own).
    p(
        "hash-max-listpack-entries",
        "512",
        Int(0, LONG_MAX),
        Recorded,
    )
    .alias("hash-max-ziplist-entries"),
    p("hash-max-listpack-value", "64", MEMORY, Recorded).alias("hash-max-ziplist-value"),
    p("set-max-intset-entries", "512", Int(0, LONG_MAX), Recorded),
    p(
        "set-max-listpack-entries",
        "128",
        Int(0, LONG_MAX),
        Recorded,
    ),
    p("set-max-listpack-value", "64", Int(0, LONG_MAX), Recorded),
    p(
        "zset-max-listpack-entries",
        "128",
        Int(0, LONG_MAX),
        Recorded,
    )
    .alias("zset-max-ziplist-entries"),
    p("zset-max-listpack-value", "64", MEMORY, Recorded).alias("zset-max-ziplist-value"),
    p(
        "list-max-listpack-size",
        "-2",
        Int(INT_MIN, INT_MAX),
        Recorded,
    )
    .alias("list-max-ziplist-size"),
    p("list-compress-depth", "0", COUNT, Recorded),
    p("stream-node-max-bytes", "4096", MEMORY, Recorded),
    p("stream-node-max-entries", "100", Int(0, LONG_MAX), Recorded),
    p("hll-sparse-max-bytes", "3000", MEMORY, Applied),
    // Scripts, the slow log, latency.
    p("busy-reply-threshold", "5000", Int(0, LONG_MAX), Applied).alias("lua-time-limit"),
    p(
        "slowlog-log-slower-than",
        "10000",
        Int(-1, LONG_MAX),
        Applied,
    ),
    p("slowlog-max-len", "128", Int(0, LONG_MAX), Applied),
    p("latency-monitor-threshold", "0", Int(0, LONG_MAX), Applied),
    p("latency-tracking", "yes", Bool, Applied),
    p(
        "latency-tracking-info-percentiles",
        "50 99 99.9",
        Percentiles,
        Applied,
    ),
    p("acllog-max-len", "128", Int(0, LONG_MAX), Recorded),
    p("aclfile", "", Text, Fixed),
    p(
        "acl-pubsub-default",
        "resetchannels",
        Enum(&["allchannels", "resetchannels"]),
        Recorded,
    ),
    // Replication: Strata has no replicas. `min-replicas-to-write` refuses writes.
    p("replicaof", "", Text, Fixed).alias("slaveof"),
    p("masterauth", "", Text, Recorded),
    p("masteruser", "", Text, Recorded),
    p("min-replicas-to-write", "0", COUNT, Applied).alias("min-slaves-to-write"),
    p("min-replicas-max-lag", "10", COUNT, Applied).alias("min-slaves-max-lag"),
    p("replica-serve-stale-data", "yes", Bool, Recorded).alias("slave-serve-stale-data"),
    p("replica-read-only", "yes", Bool, Recorded).alias("slave-read-only"),
    p("replica-lazy-flush", "no", Bool, Recorded).alias("slave-lazy-flush"),
    p("replica-ignore-maxmemory", "yes", Bool, Recorded).alias("slave-ignore-maxmemory"),
    p("replica-priority", "100", COUNT, Recorded).alias("slave-priority"),
    p("replica-announce-ip", "", Text, Recorded).alias("slave-announce-ip"),
    p("replica-announce-port", "0", PORT, Recorded).alias("slave-announce-port"),
    p("replica-announced", "yes", Bool, Recorded),
    p("replica-ignore-disk-write-errors", "no", Bool, Recorded),
    p("repl-ping-replica-period", "10", Int(1, INT_MAX), Recorded).alias("repl-ping-slave-period"),
    p("repl-timeout", "60", Int(1, INT_MAX), Recorded),
    p(
        "repl-backlog-size",
        "1048576",
        Memory(1, LONG_MAX),
        Recorded,
    ),
    p("repl-backlog-ttl", "3600", Int(0, LONG_MAX), Recorded),
    p("repl-disable-tcp-nodelay", "no", Bool, Recorded),
    p("repl-diskless-sync", "yes", Bool, Recorded),
    p("repl-diskless-sync-delay", "5", COUNT, Recorded),
    p("repl-diskless-sync-max-replicas", "0", COUNT, Recorded),
    p(
        "repl-diskless-load",
        "disabled",
        Enum(&["disabled", "on-empty-db", "swapdb"]),
        Recorded,
    ),
    p(
        "propagation-error-behavior",
        "ignore",
        Enum(&["ignore", "panic", "panic-on-replicas"]),
        Recorded,
    ),
    // Cluster: Strata is a single node (`cluster_enabled:0`).
    p("cluster-enabled", "no", Bool, Fixed),
    p("cluster-config-file", "nodes.conf", Text, Fixed),
    p("cluster-port", "0", PORT, Fixed),
    p("cluster-node-timeout", "15000", Int(0, LONG_MAX), Recorded),
    p("cluster-announce-ip", "", Text, Recorded),
    p("cluster-announce-hostname", "", Text, Recorded),
    p("cluster-announce-port", "0", PORT, Recorded),
    p("cluster-announce-bus-port", "0", PORT, Recorded),
    p("cluster-announce-tls-port", "0", PORT, Recorded),
    p("cluster-require-full-coverage", "yes", Bool, Recorded),
    p("cluster-allow-reads-when-down", "no", Bool, Recorded),
    p("cluster-allow-pubsubshard-when-down", "yes", Bool, Recorded),
    p("cluster-allow-replica-migration", "yes", Bool, Recorded),
    p("cluster-migration-barrier", "1", COUNT, Recorded),
    p("cluster-replica-no-failover", "no", Bool, Recorded).alias("cluster-slave-no-failover"),
    p("cluster-replica-validity-factor", "10", COUNT, Recorded)
        .alias("cluster-slave-validity-factor"),
    p(
        "cluster-preferred-endpoint-type",
        "ip",
        Enum(&["ip", "hostname", "unknown-endpoint"]),
        Recorded,
    ),
    p("cluster-link-sendbuf-limit", "0", MEMORY, Recorded),
    // TLS: Strata speaks plain TCP only.
    p("tls-port", "0", PORT, Recorded),
    p("tls-cert-file", "", Text, Recorded),
    p("tls-key-file", "", Text, Recorded),
    p("tls-key-file-pass", "", Text, Recorded),
    p("tls-client-cert-file", "", Text, Recorded),
    p("tls-client-key-file", "", Text, Recorded),
    p("tls-client-key-file-pass", "", Text, Recorded),
    p("tls-dh-params-file", "", Text, Recorded),
    p("tls-ca-cert-file", "", Text, Recorded),
    p("tls-ca-cert-dir", "", Text, Recorded),
    p("tls-protocols", "", Text, Recorded),
    p("tls-ciphers", "", Text, Recorded),
    p("tls-ciphersuites", "", Text, Recorded),
    p("tls-prefer-server-ciphers", "no", Bool, Recorded),
    p("tls-session-caching", "yes", Bool, Recorded),
    p("tls-session-cache-size", "20480", COUNT, Recorded),
    p("tls-session-cache-timeout", "300", COUNT, Recorded),
    p("tls-cluster", "no", Bool, Recorded),
    p("tls-replication", "no", Bool, Recorded),
    p(
        "tls-auth-clients",
        "yes",
        Enum(&["no", "yes", "optional"]),
        Recorded,
    ),
    // The process.
    p("daemonize", "no", Bool, Fixed),
    p(
        "supervised",
        "no",
        Enum(&["upstart", "systemd", "auto", "no"]),
        Fixed,
    ),
    p("pidfile", "", Text, Fixed),
    p(
        "loglevel",
        "notice",
        Enum(&["debug", "verbose", "notice", "warning", "nothing"]),
        Recorded,
    ),
    p("logfile", "", Text, Fixed),
    p("syslog-enabled", "no", Bool, Fixed),
    p("syslog-ident", "redis", Text, Fixed),
    p(
        "syslog-facility",
        "local0",
        Enum(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ]),
        Fixed,
    ),
    p("always-show-logo", "no", Bool, Fixed),
    p("set-proc-title", "yes", Bool, Fixed),
    p(
        "proc-title-template",
        "{title} {listen-addr} {server-mode}",
        Text,
        Recorded,
    ),
    p("crash-log-enabled", "yes", Bool, Recorded),
    p("crash-memcheck-enabled", "yes", Bool, Recorded),
    p("use-exit-on-panic", "no", Bool, Recorded).hidden(),
    p("watchdog-period", "0", COUNT, Recorded).hidden(),
    p("shutdown-timeout", "10", COUNT, Recorded),
    p("shutdown-on-sigint", "default", Flags(SHUTDOWN), Recorded),
    p("shutdown-on-sigterm", "default", Flags(SHUTDOWN), Recorded),
    p("io-threads", "1", Int(1, 128), Fixed),
    p("io-threads-do-reads", "no", Bool, Fixed),
    p("server_cpulist", "", Text, Fixed),
    p("bio_cpulist", "", Text, Fixed),
    p("aof_rewrite_cpulist", "", Text, Fixed),
    p("bgsave_cpulist", "", Text, Fixed),
    p("enable-protected-configs", "no", Enum(YES_NO_LOCAL), Fixed),
    p("enable-debug-command", "no", Enum(YES_NO_LOCAL), Fixed),
    p("enable-module-command", "no", Enum(YES_NO_LOCAL), Fixed),
    p("ignore-warnings", "", Text, Recorded),
    // The engine (Strata's own).
    engine(
        "strata-memtable-size",
        |o| o.memtable_size as u64,
        MEMORY,
        Applied,
    ),
    engine(
        "strata-level0-file-num-compaction-trigger",
        |o| o.level0_file_num_compaction_trigger as u64,
        Int(1, 10_000),
        Applied,
    ),
    engine(
        "strata-level0-slowdown-writes-trigger",
        |o| o.level0_slowdown_writes_trigger as u64,
        Int(1, 10_000),
        Applied,
    ),
    engine(
        "strata-level0-stop-writes-trigger",
        |o| o.level0_stop_writes_trigger as u64,
        Int(1, 10_000),
        Applied,
    ),
    engine(
        "strata-disable-auto-compactions",
        |o| u64::from(o.disable_auto_compactions),
        Bool,
        Applied,
    ),
    engine(
        "strata-block-cache-size",
        |o| o.block_cache_bytes,
        MEMORY,
        StartOnly,
    ),
    engine(
        "strata-memory-budget",
        |o| o.memory_budget.unwrap_or(0),
        MEMORY,
        StartOnly,
    ),
    engine(
        "strata-max-background-jobs",
        |o| o.max_background_jobs as u64,
        Int(2, 64),
        StartOnly,
    ),
];

/// The parameter named `name` (lower case), by its name or its alias.
pub(super) fn find(name: &str) -> Option<&'static Param> {
    PARAMS
        .iter()
        .find(|p| p.name == name || p.alias == Some(name))
}

/// Parses an integer as Redis's `string2ll` does (no spaces, no `+`, no leading zeros
/// except `0` itself).
fn integer(value: &str) -> Option<i64> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && value != "-0";
    if canonical {
        value.parse().ok()
    } else {
        None
    }
}

fn in_range(n: i64, min: i64, max: i64) -> Result<String, String> {
    if (min..=max).contains(&n) {
        Ok(n.to_string())
    } else {
        Err(format!(
            "argument must be between {min} and {max} inclusive"
        ))
    }
}

fn one_of(words: &[&str]) -> String {
    "argument(s) must be one of the following: ".to_string() + &words.join(", ")
}

/// Checks `value` for `param` and returns it in canonical form (`current` is the value now,
/// for parameters a value only partly replaces).
pub(super) fn check(param: &Param, value: &str, current: &str) -> Result<String, String> {
    match param.kind {
        Int(min, max) => {
            let n = integer(value).ok_or("argument couldn't be parsed into an integer")?;
            in_range(n, min, max)
        }
        Hz => {
            let n = integer(value).ok_or("argument couldn't be parsed into an integer")?;
            in_range(n, 0, INT_MAX).map(|_| n.clamp(1, 500).to_string())
        }
        Memory(min, max) => {
            let n = parse_memory(value)
                .and_then(|n| i64::try_from(n).ok())
                .ok_or("argument must be a memory value")?;
            in_range(n, min, max)
        }
        MemoryOrPercent => match value.strip_suffix('%') {
            Some(pct) => match integer(pct) {
                Some(n) if n > 100 => {
                    Err("percentage argument must be less or equal to 100".into())
                }
                Some(n) if n >= 0 => Ok(format!("{n}%")),
                _ => Err("argument must be a memory or percent value".into()),
            },
            None => parse_memory(value)
                .and_then(|n| i64::try_from(n).ok())
                .map(|n| n.to_string())
                .ok_or_else(|| "argument must be a memory or percent value".into()),
        },
        Octal(max) => {
            let n = i64::from_str_radix(value, 8)
                .map_err(|_| "argument couldn't be parsed into an integer")?;
            in_range(n, 0, max).map(|_| format!("{n:o}"))
        }
        Bool => match value.to_ascii_lowercase().as_str() {
            v @ ("yes" | "no") => Ok(v.to_string()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Enum(words) => {
            let v = value.to_ascii_lowercase();
            if words.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err(one_of(words))
            }
        }
        Flags(words) => {
            let given: Vec<String> = value
                .split_whitespace()
                .map(str::to_ascii_lowercase)
                .collect();
            if given.is_empty() || given.iter().any(|w| !words.contains(&w.as_str())) {
                return Err(one_of(words));
            }
            if given.iter().any(|w| w == "save") && given.iter().any(|w| w == "nosave") {
                return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
            }
            // In the table's order, `default` (no flag) only when alone.
            let set: Vec<&str> = words[1..]
                .iter()
                .copied()
                .filter(|w| given.iter().any(|g| g == w))
                .collect();
            Ok(if set.is_empty() {
                words[0].to_string()
            } else {
                set.join(" ")
            })
        }
        Text => Ok(value.to_string()),
        SavePoints => {
            let words: Vec<&str> = value.split_whitespace().collect();
            let numbers = words.iter().all(|w| w.parse::<u64>().is_ok());
            if words.len().is_multiple_of(2) && numbers {
                Ok(words.join(" "))
            } else {
                Err("Invalid save parameters".into())
            }
        }
        Bind => {
            let words: Vec<&str> = value.split_whitespace().collect();
            if words.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            Ok(words.join(" "))
        }
        OutputLimits => output_limits(value, current),
        OomValues => {
            let words: Vec<&str> = value.split_whitespace().collect();
            if words.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let mut out = Vec::new();
            for w in words {
                match integer(w) {
                    Some(n) if (-2000..=2000).contains(&n) => out.push(n.to_string()),
                    _ => return Err(
                        "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                            .into(),
                    ),
                }
            }
            Ok(out.join(" "))
        }
        Events => parse_events(value)
            .map(format_events)
            .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
        Percentiles => {
            let mut out = Vec::new();
            for w in value.split_whitespace() {
                let n: f64 = w
                    .parse()
                    .map_err(|_| "Invalid latency-tracking-info-percentiles parameters")?;
                if !(0.0..=100.0).contains(&n) {
                    return Err(
                        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                            .into(),
                    );
                }
                out.push(n.to_string());
            }
            Ok(out.join(" "))
        }
    }
}

/// `client-output-buffer-limit`: replaces the classes `value` names in `current`.
fn output_limits(value: &str, current: &str) -> Result<String, String> {
    const CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];
    let mut limits: Vec<[String; 3]> = CLASSES
        .iter()
        .map(|_| ["0".to_string(), "0".to_string(), "0".to_string()])
        .collect();
    let now: Vec<&str> = current.split_whitespace().collect();
    for group in now.chunks_exact(4) {
        if let Some(i) = CLASSES.iter().position(|c| *c == group[0]) {
            limits[i] = [group[1].into(), group[2].into(), group[3].into()];
        }
    }
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut updated = limits.clone();
    for group in words.chunks_exact(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = parse_memory(group[1]);
        let soft = parse_memory(group[2]);
        let secs = integer(group[3]).filter(|n| *n >= 0);
        let (Some(hard), Some(soft), Some(secs)) = (hard, soft, secs) else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        updated[class] = [hard.to_string(), soft.to_string(), secs.to_string()];
    }
    limits = updated;
    Ok(CLASSES
        .iter()
        .zip(&limits)
        .map(|(c, [h, s, t])| format!("{c} {h} {s} {t}"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// `notify-keyspace-events` classes, as bits (Redis's `NOTIFY_*`).
pub mod events {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const MODULE: u32 = 1 << 12;
    pub const NEW: u32 = 1 << 13;
    /// `A`: every class but key-miss and new.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// Parses `notify-keyspace-events` (Redis's `keyspaceEventsStringToFlags`).
pub fn parse_events(s: &str) -> Option<u32> {
    use events::*;
    s.chars().try_fold(0, |flags, c| {
        Some(
            flags
                | match c {
                    'A' => ALL,
                    'g' => GENERIC,
                    '$' => STRING,
                    'l' => LIST,
                    's' => SET,
                    'h' => HASH,
                    'z' => ZSET,
                    'x' => EXPIRED,
                    'e' => EVICTED,
                    'K' => KEYSPACE,
                    'E' => KEYEVENT,
                    't' => STREAM,
                    'm' => KEY_MISS,
                    'd' => MODULE,
                    'n' => NEW,
                    _ => return None,
                },
        )
    })
}

/// Writes event classes back as Redis does (`keyspaceEventsFlagsToString`).
pub fn format_events(flags: u32) -> String {
    use events::*;
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
        if flags & NEW != 0 {
            s.push('n');
        }
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}
