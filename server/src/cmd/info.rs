//! `INFO` and its sections: Redis's field names (so exporters and dashboards read them) plus
//! a `strata` section with the engine's figures.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::reply::CmdResult;
use crate::resp::{Protocol, Reply};
use crate::server::{Server, REDIS_COMPAT_VERSION};
use crate::session::Session;

fn human_bytes(n: u64) -> String {
    let f = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if n < 1 << 20 {
        format!("{:.2}K", f / 1024.0)
    } else if n < 1 << 30 {
        format!("{:.2}M", f / f64::from(1u32 << 20))
    } else {
        format!("{:.2}G", f / f64::from(1u32 << 30))
    }
}

/// Resident set size of this process, from `/proc/self/statm` (0 where unavailable).
pub(super) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// The allocator's figures, Redis's `allocator_allocated` and `allocator_active`: bytes
/// handed out, and bytes it holds from the OS (handed out or free in its arenas, plus
/// chunks mapped on their own). From glibc's `mallinfo2`; `None` with another allocator.
pub(super) fn allocator_bytes() -> Option<(u64, u64)> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallinfo2` only reads the allocator's own counters, under its own locks.
        let m = unsafe { libc::mallinfo2() };
        let mapped = m.hblkhd as u64;
        Some((m.uordblks as u64 + mapped, m.arena as u64 + mapped))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

/// A section's writer.
type Section = fn(&Server, &mut String);

/// The sections `INFO` prints by default, in order.
const DEFAULT_SECTIONS: &[(&str, Section)] = &[
    ("server", server_section),
    ("clients", clients_section),
    ("memory", memory_section),
    ("persistence", persistence_section),
    ("stats", stats_section),
    ("replication", replication_section),
    ("cpu", cpu_section),
    ("errorstats", errorstats_section),
    ("keyspace", keyspace_section),
    ("strata", strata_section),
];

/// Sections only `INFO all`, `INFO everything` or their own name show, as in Redis.
const EXTRA_SECTIONS: &[(&str, Section)] = &[
    ("commandstats", commandstats_section),
    ("latencystats", latencystats_section),
];

/// `INFO [section ...]`: Redis's field names (so exporters and dashboards read them) plus a
/// `strata` section with the engine's figures.
pub(super) fn info(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let wanted: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let every = wanted.iter().any(|w| w == "all" || w == "everything");
    let default = wanted.is_empty() || every || wanted.iter().any(|w| w == "default");
    let mut out = String::new();
    let sections = DEFAULT_SECTIONS
        .iter()
        .map(|s| (s, default))
        .chain(EXTRA_SECTIONS.iter().map(|s| (s, every)));
    for ((name, section), included) in sections {
        if included || wanted.iter().any(|w| w == name) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            section(server, &mut out);
        }
    }
    Ok(if session.protocol == Protocol::Resp3 {
        Reply::Verbatim(out)
    } else {
        Reply::Bulk(out.into_bytes())
    })
}

/// Writes one `field:value` line.
fn put(out: &mut String, k: &str, v: &dyn std::fmt::Display) {
    let _ = write!(out, "{k}:{v}\r\n");
}

/// `# Server`: versions, process, port, uptime, executable and config file.
fn server_section(server: &Server, out: &mut String) {
    let uptime = server.started.elapsed().as_secs();
    out.push_str("# Server\r\n");
    put(out, "redis_version", &REDIS_COMPAT_VERSION);
    put(out, "strata_version", &env!("CARGO_PKG_VERSION"));
    put(out, "redis_git_sha1", &"00000000");
    put(out, "redis_git_dirty", &0);
    put(out, "redis_mode", &"standalone");
    put(out, "os", &std::env::consts::OS);
    put(out, "arch_bits", &(usize::BITS));
    put(out, "multiplexing_api", &"tokio");
    put(out, "process_id", &std::process::id());
    put(out, "run_id", &server.run_id);
    put(out, "tcp_port", &server.config.get("port"));
    put(
        out,
        "server_time_usec",
        &std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros()),
    );
    put(out, "uptime_in_seconds", &uptime);
    put(out, "uptime_in_days", &(uptime / 86400));
    put(out, "hz", &server.config.get("hz"));
    put(
        out,
        "executable",
        &std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    put(
        out,
        "config_file",
        &server
            .config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
}

/// `# Clients`: connected, maximum and blocked clients.
fn clients_section(server: &Server, out: &mut String) {
    out.push_str("# Clients\r\n");
    put(out, "connected_clients", &server.connected());
    put(out, "maxclients", &server.config.get("maxclients"));
    put(
        out,
        "blocked_clients",
        &(server.blocking.blocked_clients() as u64 + server.paused_clients.load(Ordering::Relaxed)),
    );
    put(out, "tracking_clients", &server.tracking.sizes().0);
}

/// `# Memory`: the engine's memory accounting, RSS and the allocator's figures, and the
/// block cache's per-kind bytes, hits and misses.
fn memory_section(server: &Server, out: &mut String) {
    let s = server.store.engine().stats();
    let used = s.memory.total();
    let rss = rss_bytes();
    out.push_str("# Memory\r\n");
    put(out, "used_memory", &used);
    put(out, "used_memory_human", &human_bytes(used));
    put(out, "used_memory_rss", &rss);
    put(out, "used_memory_rss_human", &human_bytes(rss));
    let peak = server.memory_peak(used);
    put(out, "used_memory_peak", &peak);
    put(out, "used_memory_peak_human", &human_bytes(peak));
    put(out, "used_memory_startup", &server.memory_startup());
    let lua = server.scripting.used_memory();
    put(out, "used_memory_lua", &lua);
    put(out, "used_memory_lua_human", &human_bytes(lua as u64));
    put(out, "used_memory_scripts", &0);
    put(out, "number_of_cached_scripts", &server.scripting.count());
    put(
        out,
        "number_of_functions",
        &server.scripting.function_counts().1,
    );
    put(
        out,
        "number_of_libraries",
        &server.scripting.function_counts().0,
    );
    let maxmemory = server.config.get_i64("maxmemory").max(0) as u64;
    put(out, "maxmemory", &maxmemory);
    put(out, "maxmemory_human", &human_bytes(maxmemory));
    put(
        out,
        "maxmemory_policy",
        &server.config.get("maxmemory-policy"),
    );
    put(out, "mem_allocator", &"libc");
    if let Some((allocated, active)) = allocator_bytes() {
        put(out, "allocator_allocated", &allocated);
        put(out, "allocator_active", &active);
        put(
            out,
            "allocator_frag_ratio",
            &format!("{:.2}", active as f64 / allocated.max(1) as f64),
        );
        put(
            out,
            "allocator_frag_bytes",
            &active.saturating_sub(allocated),
        );
    }
    put(out, "strata_block_cache_bytes", &s.block_cache_bytes);
    put(out, "strata_block_cache_capacity", &s.block_cache_capacity);
    put(out, "strata_memory_budget", &s.memory.budget.unwrap_or(0));
    put(out, "strata_memtable_bytes", &s.memory.memtables);
    put(out, "strata_memtable_limit", &s.memory.memtable_limit);
    put(out, "strata_table_builder_bytes", &s.memory.table_builders);
    let c = &s.memory.cache;
    for (name, k) in [
        ("data", &c.data),
        ("index", &c.index),
        ("filter", &c.filter),
    ] {
        put(out, &format!("strata_cache_{name}_bytes"), &k.bytes);
        put(out, &format!("strata_cache_{name}_hits"), &k.hits);
        put(out, &format!("strata_cache_{name}_misses"), &k.misses);
    }
}

/// `# Persistence`: Redis's RDB/AOF fields as they apply here (the WAL is the AOF).
fn persistence_section(server: &Server, out: &mut String) {
    out.push_str("# Persistence\r\n");
    put(out, "loading", &0);
    put(out, "async_loading", &0);
    let since_save = server
        .store
        .changes()
        .saturating_sub(server.changes_at_save.load(Ordering::Relaxed));
    put(out, "rdb_changes_since_last_save", &since_save);
    put(out, "rdb_bgsave_in_progress", &0);
    put(
        out,
        "rdb_last_save_time",
        &server.last_save.load(Ordering::Relaxed),
    );
    put(out, "rdb_last_bgsave_status", &"ok");
    put(out, "aof_enabled", &1);
    put(out, "aof_rewrite_in_progress", &0);
    // Writes are refused while the engine has a background error (a full disk, a failed
    // fsync): Redis's AOF write status, and the cause.
    let error = server.store.engine().background_error();
    put(
        out,
        "aof_last_write_status",
        &if error.is_some() { "err" } else { "ok" },
    );
    put(out, "strata_appendfsync", &server.config.get("appendfsync"));
    put(
        out,
        "strata_background_error",
        &error.map(|e| e.to_string()).unwrap_or_default(),
    );
}

/// `# CPU`: the process's CPU time and its children's, in seconds (`getrusage`).
fn cpu_section(_server: &Server, out: &mut String) {
    out.push_str("# CPU\r\n");
    let (self_usage, children) = cpu_times();
    put(out, "used_cpu_sys", &format!("{:.6}", self_usage.0));
    put(out, "used_cpu_user", &format!("{:.6}", self_usage.1));
    put(out, "used_cpu_sys_children", &format!("{:.6}", children.0));
    put(out, "used_cpu_user_children", &format!("{:.6}", children.1));
}

/// `(system, user)` CPU seconds of this process and of its waited-for children.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cpu_times() -> ((f64, f64), (f64, f64)) {
    let get = |who| {
        let mut u: libc::rusage = zeroed_rusage();
        // SAFETY: `getrusage` fills the `rusage` we pass a valid pointer to; nothing else.
        if unsafe { libc::getrusage(who, &mut u) } != 0 {
            return (0.0, 0.0);
        }
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        (secs(u.ru_stime), secs(u.ru_utime))
    };
    (get(libc::RUSAGE_SELF), get(libc::RUSAGE_CHILDREN))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn zeroed_rusage() -> libc::rusage {
    // SAFETY: `rusage` is a plain C struct of integers and `timeval`s, for which all-zero
    // bytes are a valid value.
    unsafe { std::mem::zeroed() }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn cpu_times() -> ((f64, f64), (f64, f64)) {
    ((0.0, 0.0), (0.0, 0.0))
}

/// `# Commandstats`: per command, Redis's `calls`, `usec`, `usec_per_call`,
/// `rejected_calls` and `failed_calls`, for commands called at least once.
fn commandstats_section(server: &Server, out: &mut String) {
    out.push_str("# Commandstats\r\n");
    for (cmd, s) in super::COMMANDS.iter().zip(&server.command_stats) {
        let calls = s.calls.load(Ordering::Relaxed);
        let rejected = s.rejected.load(Ordering::Relaxed);
        if calls == 0 && rejected == 0 {
            continue;
        }
        let usec = s.usec.load(Ordering::Relaxed);
        let per_call = if calls == 0 {
            0.0
        } else {
            usec as f64 / calls as f64
        };
        let _ = write!(
            out,
            "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={}\r\n",
            cmd.name,
            s.failed.load(Ordering::Relaxed)
        );
    }
}

/// `# Latencystats`: each command's run-time percentiles in µs (`latency-tracking`, at
/// `latency-tracking-info-percentiles`), as Redis prints them.
fn latencystats_section(server: &Server, out: &mut String) {
    out.push_str("# Latencystats\r\n");
    if !server.latency_tracking() {
        return;
    }
    let percentiles: Vec<f64> = server
        .config
        .get("latency-tracking-info-percentiles")
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    for (cmd, s) in super::COMMANDS.iter().zip(&server.command_stats) {
        if s.latency.total() == 0 {
            continue;
        }
        let values: Vec<String> = percentiles
            .iter()
            .map(|&p| format!("p{p}={:.3}", s.latency.percentile(p) as f64 / 1000.0))
            .collect();
        let _ = write!(
            out,
            "latency_percentiles_usec_{}:{}\r\n",
            cmd.name,
            values.join(",")
        );
    }
}

/// `# Errorstats`: error replies sent, by code.
fn errorstats_section(server: &Server, out: &mut String) {
    out.push_str("# Errorstats\r\n");
    let codes = server
        .counters
        .error_codes
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    for (code, n) in codes.iter() {
        let _ = write!(out, "errorstat_{code}:count={n}\r\n");
    }
}

/// `# Stats`: connection, command, traffic and keyspace counters.
fn stats_section(server: &Server, out: &mut String) {
    let c = &server.counters;
    let store_stats = server.store.stats();
    out.push_str("# Stats\r\n");
    for (name, counter) in [
        ("total_connections_received", &c.connections_received),
        ("total_commands_processed", &c.commands_processed),
        ("instantaneous_ops_per_sec", &c.instantaneous_ops),
        ("total_net_input_bytes", &c.net_input_bytes),
        ("total_net_output_bytes", &c.net_output_bytes),
        ("rejected_connections", &c.rejected_connections),
    ] {
        put(out, name, &counter.load(Ordering::Relaxed));
    }
    put(out, "expired_keys", &store_stats.expired_keys);
    put(out, "evicted_keys", &0);
    put(out, "keyspace_hits", &store_stats.keyspace_hits);
    put(out, "keyspace_misses", &store_stats.keyspace_misses);
    let [channels, patterns, shard_channels] = server.pubsub.sizes();
    put(out, "pubsub_channels", &channels);
    put(out, "pubsub_patterns", &patterns);
    put(out, "pubsubshard_channels", &shard_channels);
    let (_, keys, items, prefixes) = server.tracking.sizes();
    put(out, "tracking_total_keys", &keys);
    put(out, "tracking_total_items", &items);
    put(out, "tracking_total_prefixes", &prefixes);
    put(out, "migrate_cached_sockets", &server.migrate_sockets.len());
    put(
        out,
        "client_output_buffer_limit_disconnections",
        &server.pubsub.limit_disconnections.load(Ordering::Relaxed),
    );
    put(
        out,
        "total_error_replies",
        &c.error_replies.load(Ordering::Relaxed),
    );
}

/// `# Replication`: always a master without replicas.
fn replication_section(_server: &Server, out: &mut String) {
    out.push_str("# Replication\r\n");
    put(out, "role", &"master");
    put(out, "connected_slaves", &0);
    put(out, "master_repl_offset", &0);
}

/// `# Keyspace`: keys and keys with a TTL of each non-empty database.
fn keyspace_section(server: &Server, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    let dbs = server.config.get_i64("databases").clamp(1, 256);
    for db in 0..dbs as u8 {
        let n = server.store.counts_of(db);
        if n.keys > 0 {
            let _ = write!(
                out,
                "db{db}:keys={},expires={},avg_ttl=0\r\n",
                n.keys, n.expires
            );
        }
    }
}

/// `# Strata`: the engine's sequences, writes, flushes, stalls, compactions and levels.
fn strata_section(server: &Server, out: &mut String) {
    let s = server.store.engine().stats();
    out.push_str("# Strata\r\n");
    let synced = server.store.engine().synced_sequence();
    let amplification = format!("{:.2}", s.write_amplification);
    let gc = server.store.stats();
    let compactions: u64 = s.compaction.iter().map(|c| c.compactions).sum();
    let moves: u64 = s.compaction.iter().map(|c| c.moves).sum();
    let dropped = server.store.engine().recovery_dropped();
    let dropped_tails = dropped.len();
    let dropped_bytes: u64 = dropped.iter().map(|t| t.bytes).sum();
    let figures: [(&str, &dyn std::fmt::Display); 19] = [
        ("strata_last_sequence", &s.last_sequence),
        ("strata_synced_sequence", &synced),
        ("strata_writes", &s.writes),
        ("strata_write_groups", &s.write_groups),
        ("strata_wal_syncs", &s.wal_syncs),
        ("strata_immutable_memtables", &s.immutable_memtables),
        ("strata_active_memtable_bytes", &s.active_memtable_bytes),
        ("strata_flush_count", &s.flush_count),
        ("strata_flush_bytes", &s.flush_bytes),
        ("strata_stall_count", &s.stall_count),
        ("strata_stall_micros", &s.stall_micros),
        ("strata_write_amplification", &amplification),
        ("strata_expired_dropped", &s.expired_dropped),
        ("strata_gc_dropped_elements", &gc.elements_collected),
        ("strata_gc_damaged_elements", &gc.damaged_elements),
        ("strata_compactions", &compactions),
        ("strata_trivial_moves", &moves),
        ("strata_recovery_dropped_wal_tails", &dropped_tails),
        ("strata_recovery_dropped_wal_bytes", &dropped_bytes),
    ];
    for (name, value) in figures {
        put(out, name, value);
    }
    for ks in &s.keyspaces {
        let levels: Vec<String> = ks
            .levels
            .iter()
            .map(|l| format!("L{}={}/{}", l.level, l.files, l.bytes))
            .collect();
        put(
            out,
            &format!("strata_keyspace_{}", ks.name),
            &format!("memtable={},{}", ks.memtable_bytes, levels.join(",")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_figures_are_human() {
        assert_eq!(human_bytes(10), "10B");
        assert_eq!(human_bytes(1536), "1.50K");
        assert_eq!(human_bytes(3 << 20), "3.00M");
    }
}
