//! State shared by every connection: the store, parameters, connected clients, counters and
//! the slow log.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use strata::MutableOptions;
use strata_redis::{ExpireCycle, Store};

use crate::blocking::Blocking;
use crate::config::Config;
use crate::durable::GroupSync;
use crate::resp::Protocol;
use crate::script::Scripting;
use crate::watch::Watches;

/// The Redis version whose commands and replies this server follows (reported as
/// `redis_version` so clients enable the features they check for).
pub const REDIS_COMPAT_VERSION: &str = "7.2.0";

/// When the WAL is fsynced (`appendfsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Before replies are sent: the WAL is synced past everything they acknowledge or read
    /// (one fsync shared by every connection waiting, group commit).
    Always = 0,
    /// Once a second, by a background thread.
    EverySec = 1,
    /// Left to the operating system.
    No = 2,
}

impl Fsync {
    /// Parses `always`, `everysec`, `no`.
    pub fn parse(s: &str) -> Option<Fsync> {
        match s {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::EverySec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }
}

/// One connected client, as `CLIENT LIST` shows it.
#[derive(Debug)]
pub struct Client {
    /// `CLIENT ID`: unique, increasing.
    pub id: u64,
    /// The peer's address.
    pub addr: SocketAddr,
    /// The local address it connected to.
    pub laddr: SocketAddr,
    /// When it connected.
    pub created: Instant,
    /// `CLIENT SETNAME`.
    pub name: Mutex<String>,
    /// `CLIENT SETINFO LIB-NAME` / `LIB-VER`.
    pub lib: Mutex<(String, String)>,
    /// The selected database.
    pub db: AtomicU8,
    /// The protocol version (2 or 3).
    pub resp: AtomicU8,
    /// Milliseconds after `created` of the last command.
    pub last_active_ms: AtomicU64,
    /// The last command's name.
    pub last_cmd: Mutex<String>,
    /// Set by `CLIENT KILL`; the connection closes when it sees it.
    pub killed: AtomicBool,
    /// Wakes the connection for a kill.
    pub kill: tokio::sync::Notify,
    /// Waiting in a blocking command (BLPOP, BZPOPMIN, ...).
    pub blocked: AtomicBool,
    /// `CLIENT UNBLOCK`: 1 to end the wait as its timeout would, 2 with an error.
    pub unblock: AtomicU8,
    /// Pub/Sub messages and MONITOR lines waiting for it, and its subscriptions.
    pub outbox: crate::pubsub::Outbox,
    /// Its `CLIENT TRACKING` mode.
    pub tracking: crate::tracking::ClientTracking,
    /// The ACL user it acts as (`user=` in CLIENT LIST).
    pub user: Mutex<String>,
    /// `CLIENT NO-EVICT on` (flag `e`).
    pub no_evict: AtomicBool,
    /// `CLIENT NO-TOUCH on` (flag `T`).
    pub no_touch: AtomicBool,
    /// Wakes a blocked connection for `CLIENT UNBLOCK`.
    pub unblocked: tokio::sync::Notify,
    /// Bytes in its query buffer when its current command started (`qbuf`).
    pub qbuf: AtomicU64,
    /// The query buffer's capacity (`qbuf` + `qbuf-free`; 0 once released while idle).
    pub qbuf_cap: AtomicU64,
    /// Set by the housekeeping thread for a client idle 2 seconds: its connection gives its
    /// buffers back (Redis frees an idle client's query buffer likewise).
    pub release_buffers: AtomicBool,
}

impl Client {
    /// Marks the client killed and wakes its connection.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.kill.notify_one();
    }

    /// Seconds since the last command.
    pub fn idle_secs(&self) -> u64 {
        let age = self.created.elapsed().as_millis() as u64;
        age.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)) / 1000
    }

    /// `CLIENT LIST`'s flags: `O` monitor, `P` subscriber, `b` blocked, `N` none.
    fn flags(&self) -> String {
        let mut f = String::new();
        if self.outbox.monitor.load(Ordering::Relaxed) {
            f.push('O');
        }
        if self.outbox.subscribed() {
            f.push('P');
        }
        if self.blocked.load(Ordering::Relaxed) {
            f.push('b');
        }
        if self.no_evict.load(Ordering::Relaxed) {
            f.push('e');
        }
        if self.no_touch.load(Ordering::Relaxed) {
            f.push('T');
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    /// The `CLIENT LIST` / `CLIENT INFO` line (without the newline).
    pub fn info_line(&self) -> String {
        let (lib_name, lib_ver) = self.lib.lock().map(|l| l.clone()).unwrap_or_default();
        format!(
            "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi=-1 qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.name.lock().map(|n| n.clone()).unwrap_or_default(),
            self.created.elapsed().as_secs(),
            self.idle_secs(),
            self.flags(),
            self.db.load(Ordering::Relaxed),
            self.outbox.counts[0].load(Ordering::Relaxed),
            self.outbox.counts[1].load(Ordering::Relaxed),
            self.outbox.counts[2].load(Ordering::Relaxed),
            self.qbuf.load(Ordering::Relaxed),
            self.qbuf_cap
                .load(Ordering::Relaxed)
                .saturating_sub(self.qbuf.load(Ordering::Relaxed)),
            self.last_cmd.lock().map(|c| c.clone()).unwrap_or_default(),
            self.user.lock().map(|u| u.clone()).unwrap_or_default(),
            self.tracking
                .mode
                .lock()
                .map_or(-1, |m| if m.on { m.redirect as i64 } else { -1 }),
            self.resp.load(Ordering::Relaxed),
            lib_name,
            lib_ver,
        )
    }
}

/// Counters for `INFO stats`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub connections_received: AtomicU64,
    /// Connections refused (`maxclients`, protected mode).
    pub rejected_connections: AtomicU64,
    /// Commands run.
    pub commands_processed: AtomicU64,
    /// Error replies sent.
    pub error_replies: AtomicU64,
    /// Error replies by their code (`INFO errorstats`), at most [`MAX_ERROR_CODES`] codes.
    pub error_codes: Mutex<std::collections::BTreeMap<String, u64>>,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
    /// Commands per second over the last sample (the once-a-second task updates it).
    pub instantaneous_ops: AtomicU64,
}

/// How many distinct error codes `INFO errorstats` keeps (Redis 7.2's cap: a client cannot
/// grow the table without bound by inventing codes).
pub const MAX_ERROR_CODES: usize = 128;

/// One command's figures for `INFO commandstats`.
#[derive(Debug, Default)]
pub struct CommandStats {
    /// Times it ran.
    pub calls: AtomicU64,
    /// Microseconds it ran, in all.
    pub usec: AtomicU64,
    /// Calls refused before running (arity, NOAUTH, MISCONF).
    pub rejected: AtomicU64,
    /// Calls that ran and answered an error.
    pub failed: AtomicU64,
    /// Run times (`latency-tracking`: LATENCY HISTOGRAM, INFO latencystats).
    pub latency: crate::latency::Histogram,
}

/// One slow-log entry.
#[derive(Debug, Clone)]
pub struct SlowEntry {
    /// Unique, increasing.
    pub id: u64,
    /// Unix time (s) the command started.
    pub time: u64,
    /// How long it ran, in microseconds.
    pub micros: u64,
    /// Its arguments, trimmed like Redis (32 at most, 128 bytes each).
    pub argv: Vec<Vec<u8>>,
    /// The client's address.
    pub addr: String,
    /// The client's name.
    pub name: String,
}

/// The slow log (`SLOWLOG`).
#[derive(Debug, Default)]
pub struct SlowLog {
    next_id: u64,
    /// Newest first.
    pub entries: VecDeque<SlowEntry>,
}

impl SlowLog {
    /// What the slow log shows of `argv`: at most 32 arguments (the last says how many more
    /// there were), each cut to 128 bytes (saying how many more there were).
    pub fn summarize(argv: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut args: Vec<Vec<u8>> = Vec::new();
        for (i, a) in argv.iter().enumerate() {
            if i == 31 && argv.len() > 32 {
                args.push(format!("... ({} more arguments)", argv.len() - 31).into_bytes());
                break;
            }
            if a.len() > 128 {
                let mut t = a[..128].to_vec();
                t.extend_from_slice(format!("... ({} more bytes)", a.len() - 128).as_bytes());
                args.push(t);
            } else {
                args.push(a.clone());
            }
        }
        args
    }

    /// Records a command (`args` as [`summarize`](Self::summarize) shows it) that ran
    /// `micros`, keeping at most `max_len` entries.
    pub fn record(&mut self, args: Vec<Vec<u8>>, micros: u64, client: &Client, max_len: usize) {
        self.entries.push_front(SlowEntry {
            id: self.next_id,
            time: unix_secs(),
            micros,
            argv: args,
            addr: client.addr.to_string(),
            name: client.name.lock().map(|n| n.clone()).unwrap_or_default(),
        });
        self.next_id += 1;
        self.entries.truncate(max_len);
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Seconds since the Unix epoch.
pub fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Everything the connections share.
#[derive(Debug)]
pub struct Server {
    /// The Redis data model.
    pub store: Arc<Store>,
    /// Parameters.
    pub config: Config,
    /// Connected clients by id.
    pub clients: Mutex<BTreeMap<u64, Arc<Client>>>,
    next_client_id: AtomicU64,
    /// `INFO stats` counters.
    pub counters: Counters,
    /// `INFO commandstats`, by the command's place in `cmd::COMMANDS`.
    pub command_stats: Vec<CommandStats>,
    /// `SLOWLOG`.
    pub slowlog: Mutex<SlowLog>,
    /// When the server started.
    pub started: Instant,
    /// `run_id` in INFO: random per start.
    pub run_id: String,
    /// Unix time (s) of the last `SAVE`/`BGSAVE` (or the start).
    pub last_save: AtomicU64,
    /// The store's change count at the last `SAVE`/`BGSAVE` (`rdb_changes_since_last_save`).
    pub changes_at_save: AtomicU64,
    /// The config file given at start, if any.
    pub config_file: Option<PathBuf>,
    fsync: AtomicU8,
    slowlog_threshold: AtomicI64,
    slowlog_max_len: AtomicU64,
    /// `min-replicas-to-write` asks for replicas (with a max lag): Strata has none, so
    /// writes are refused (NOREPLICAS), as Redis refuses them without enough good replicas.
    no_good_replicas: AtomicBool,
    expire_cycle: Mutex<Option<ExpireCycle>>,
    /// `SHUTDOWN` was received.
    pub shutdown: tokio::sync::Notify,
    /// Set once shutdown starts, so connections refuse new commands.
    pub shutting_down: AtomicBool,
    /// Group commit for `appendfsync always`.
    pub group_sync: GroupSync,
    /// Clients blocked on keys (BLPOP and friends).
    pub blocking: Blocking,
    /// Keys clients WATCH.
    pub watches: Arc<Watches>,
    /// The Lua interpreter and the scripts loaded into it.
    pub scripting: Scripting,
    /// The accept loops on `bind` and `port`.
    pub listening: crate::listen::Listening,
    /// Channel subscriptions and monitors.
    pub pubsub: crate::pubsub::PubSub,
    /// Keyspace notifications switched on.
    pub notifications: crate::notify::Notifications,
    /// Client-side caching: the keys tracking clients read.
    pub tracking: crate::tracking::Tracking,
    /// MIGRATE's kept connections to its targets.
    pub migrate_sockets: crate::cmd::MigrateSockets,
    /// `latency-tracking`.
    latency_tracking: AtomicBool,
    /// `latency-monitor-threshold` (ms; 0: off).
    latency_threshold: AtomicU64,
    /// The latency monitor's events.
    pub latency_monitor: crate::latency::Monitor,
    /// `CLIENT PAUSE`: until when, and whether every command waits (else the writes).
    pause: Mutex<Option<(Instant, bool)>>,
    /// A pause may be in effect (checked first, so commands take no lock without one).
    pausing: AtomicBool,
    /// Woken when a pause ends early (`CLIENT UNPAUSE`).
    pub unpaused: tokio::sync::Notify,
    /// Clients waiting for a pause to end (counted in `blocked_clients`).
    pub paused_clients: AtomicU64,
    /// ACL users.
    pub acl: crate::acl::Acl,
    /// `used_memory` at start, and the most seen since (sampled once a second).
    memory_startup: AtomicU64,
    memory_peak: AtomicU64,
    /// `proto-max-bulk-len`, read by every connection before it parses.
    max_bulk_len: AtomicUsize,
    /// `client-query-buffer-limit`, likewise.
    query_buffer_limit: AtomicUsize,
    /// This server, for the accept loops `CONFIG SET port` starts.
    me: Weak<Server>,
}

impl Server {
    /// Builds the shared state over `store` with `config`, applying the parameters that have
    /// run-time effect (durability mode, expire-cycle frequency).
    ///
    /// # Errors
    /// The WAL syncer thread cannot be started.
    pub fn new(
        store: Arc<Store>,
        config: Config,
        config_file: Option<PathBuf>,
    ) -> std::io::Result<Arc<Server>> {
        let run_id: String = (0..5)
            .map(|i| {
                let mut h = std::hash::BuildHasher::build_hasher(
                    &std::collections::hash_map::RandomState::new(),
                );
                std::hash::Hasher::write_u64(&mut h, i);
                format!("{:08x}", std::hash::Hasher::finish(&h) as u32)
            })
            .collect();
        let group_sync = GroupSync::start(Arc::clone(&store))?;
        let scripting = Scripting::new()
            .map_err(|e| std::io::Error::other(format!("cannot start the Lua interpreter: {e}")))?;
        let server = Arc::new_cyclic(|me| Server {
            store,
            config,
            clients: Mutex::new(BTreeMap::new()),
            next_client_id: AtomicU64::new(1),
            counters: Counters::default(),
            command_stats: crate::cmd::COMMANDS
                .iter()
                .map(|_| CommandStats::default())
                .collect(),
            slowlog: Mutex::new(SlowLog::default()),
            started: Instant::now(),
            run_id,
            last_save: AtomicU64::new(unix_secs()),
            changes_at_save: AtomicU64::new(0),
            config_file,
            fsync: AtomicU8::new(Fsync::EverySec as u8),
            slowlog_threshold: AtomicI64::new(10_000),
            slowlog_max_len: AtomicU64::new(128),
            no_good_replicas: AtomicBool::new(false),
            expire_cycle: Mutex::new(None),
            shutdown: tokio::sync::Notify::new(),
            shutting_down: AtomicBool::new(false),
            group_sync,
            blocking: Blocking::default(),
            watches: Arc::default(),
            scripting,
            listening: crate::listen::Listening::default(),
            pubsub: crate::pubsub::PubSub::default(),
            notifications: crate::notify::Notifications::default(),
            tracking: crate::tracking::Tracking::default(),
            migrate_sockets: crate::cmd::MigrateSockets::default(),
            latency_tracking: AtomicBool::new(true),
            latency_threshold: AtomicU64::new(0),
            latency_monitor: crate::latency::Monitor::default(),
            pause: Mutex::new(None),
            pausing: AtomicBool::new(false),
            unpaused: tokio::sync::Notify::new(),
            paused_clients: AtomicU64::new(0),
            acl: crate::acl::Acl::default(),
            memory_startup: AtomicU64::new(0),
            memory_peak: AtomicU64::new(0),
            max_bulk_len: AtomicUsize::new(0),
            query_buffer_limit: AtomicUsize::new(0),
            me: me.clone(),
        });
        let at_start = server.store.engine().stats().memory.total();
        server.memory_startup.store(at_start, Ordering::Relaxed);
        server.memory_peak.store(at_start, Ordering::Relaxed);
        // Keys removed because they expired: `expired` events, and invalidations for the
        // clients that track them.
        let me = Arc::downgrade(&server);
        server
            .store
            .set_expired_listener(Some(Arc::new(move |db: u8, key: &[u8]| {
                if let Some(s) = me.upgrade() {
                    s.notify(crate::config::events::EXPIRED, "expired", key, db);
                    if s.tracking.active() {
                        s.tracking.invalidate(&s, key, 0);
                        s.tracking.flush_bcast(&s);
                    }
                }
            })));
        for name in [
            "appendfsync",
            "hz",
            "slowlog-log-slower-than",
            "slowlog-max-len",
            "busy-reply-threshold",
            "min-replicas-to-write",
            "proto-max-bulk-len",
            "client-query-buffer-limit",
            "client-output-buffer-limit",
            "notify-keyspace-events",
            "tracking-table-max-keys",
            "latency-tracking",
            "latency-monitor-threshold",
            "requirepass",
        ] {
            // Only the engine options can be refused, and none of these is one.
            let _ = server.apply(name);
        }
        // The config file's ACL users (after `requirepass`: a `user default` line wins).
        for line in server.config.users() {
            let Some((name, rules)) = line.split_first() else {
                continue;
            };
            let rules: Vec<Vec<u8>> = rules.iter().map(|r| r.clone().into_bytes()).collect();
            server.acl.set_user(name, &rules).map_err(|e| {
                std::io::Error::other(format!("the config file's user {name}: {e}"))
            })?;
        }
        Ok(server)
    }

    /// The engine options the `strata-*` parameters stand for.
    pub fn engine_options(config: &Config) -> MutableOptions {
        let mut o = MutableOptions::default();
        let count = |name| Some(config.get_i64(name).max(1) as usize);
        o.memtable_size = count("strata-memtable-size");
        o.level0_file_num_compaction_trigger = count("strata-level0-file-num-compaction-trigger");
        o.level0_slowdown_writes_trigger = count("strata-level0-slowdown-writes-trigger");
        o.level0_stop_writes_trigger = count("strata-level0-stop-writes-trigger");
        o.disable_auto_compactions = Some(config.get("strata-disable-auto-compactions") == "yes");
        o
    }

    /// Makes a parameter's new value take effect (called after `CONFIG SET`).
    ///
    /// # Errors
    /// The engine refuses the combination of its options (e.g. a slowdown trigger above the
    /// stop trigger); the caller restores the old values.
    pub fn apply(&self, name: &str) -> Result<(), String> {
        if name.starts_with("strata-") && name != "strata-block-cache-size" {
            return self
                .store
                .engine()
                .set_options(&Self::engine_options(&self.config))
                .map_err(|e| e.to_string());
        }
        match name {
            "appendfsync" => {
                let mode = Fsync::parse(&self.config.get("appendfsync")).unwrap_or(Fsync::EverySec);
                self.fsync.store(mode as u8, Ordering::SeqCst);
            }
            "hz" => {
                let hz = self.config.get_i64("hz").clamp(1, 500) as u64;
                let mut cycle = self.expire_cycle.lock().unwrap_or_else(|e| e.into_inner());
                // Drop (and join) the old cycle before starting the new one.
                *cycle = None;
                *cycle = self
                    .store
                    .start_expire_cycle(Duration::from_millis(1000 / hz))
                    .ok();
            }
            "maxclients" => {
                let wanted = self.config.get_i64(name).max(1) as u64;
                let fit = crate::fd_limit::fit(wanted);
                if fit.maxclients < wanted {
                    return Err(format!(
                        "The operating system is not able to handle the specified number of \
                         clients, try with {}",
                        fit.maxclients
                    ));
                }
            }
            "port" | "bind" => {
                self.listen().map_err(|e| {
                    if name == "port" {
                        format!("Unable to listen on this port: {e}")
                    } else {
                        format!("Failed to bind to specified addresses: {e}")
                    }
                })?;
            }
            "client-output-buffer-limit" => self.pubsub.set_limits(&self.config.get(name)),
            "requirepass" => self.acl.set_default_password(&self.config.get(name)),
            "latency-tracking" => self
                .latency_tracking
                .store(self.config.get(name) == "yes", Ordering::Relaxed),
            "latency-monitor-threshold" => self
                .latency_threshold
                .store(self.config.get_i64(name).max(0) as u64, Ordering::Relaxed),
            "tracking-table-max-keys" => {
                let max = self.config.get_i64(name).max(0) as usize;
                self.tracking.set_max_keys(max);
                self.tracking.enforce_limit(self);
            }
            "notify-keyspace-events" => {
                let flags = crate::config::parse_events(&self.config.get(name)).unwrap_or(0);
                self.notifications.set(flags);
            }
            "proto-max-bulk-len" => self
                .max_bulk_len
                .store(self.config.get_i64(name).max(0) as usize, Ordering::Relaxed),
            "client-query-buffer-limit" => self
                .query_buffer_limit
                .store(self.config.get_i64(name).max(0) as usize, Ordering::Relaxed),
            "slowlog-log-slower-than" => self
                .slowlog_threshold
                .store(self.config.get_i64(name), Ordering::Relaxed),
            // One setting under two names (Redis 7 renamed lua-time-limit): the last set wins.
            "busy-reply-threshold" | "lua-time-limit" => self
                .scripting
                .set_busy_threshold(self.config.get_i64(name).max(0) as u64),
            "min-replicas-to-write" | "min-replicas-max-lag" => self.no_good_replicas.store(
                self.config.get_i64("min-replicas-to-write") > 0
                    && self.config.get_i64("min-replicas-max-lag") > 0,
                Ordering::Relaxed,
            ),
            "slowlog-max-len" => {
                let max = self.config.get_i64(name).max(0) as u64;
                self.slowlog_max_len.store(max, Ordering::Relaxed);
                if let Ok(mut log) = self.slowlog.lock() {
                    log.entries.truncate(max as usize);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The protocol limits a connection parses with now (`proto-max-bulk-len`,
    /// `client-query-buffer-limit`).
    pub fn limits(&self) -> crate::resp::Limits {
        crate::resp::Limits {
            max_bulk_len: self.max_bulk_len.load(Ordering::Relaxed),
            query_buffer_limit: self.query_buffer_limit.load(Ordering::Relaxed),
            ..crate::resp::Limits::default()
        }
    }

    /// Listens on `bind` and `port` as configured now, in place of the addresses it listened
    /// on before (which it stops listening on first, so a new `bind` may reuse the port).
    /// `port 0` listens nowhere. Returns the addresses.
    ///
    /// # Errors
    /// An address cannot be listened on; the server then listens nowhere until called again.
    pub fn listen(&self) -> std::io::Result<Vec<std::net::SocketAddr>> {
        self.listening.stop();
        let port = self.config.get_i64("port");
        if port == 0 {
            return Ok(Vec::new());
        }
        let Some(me) = self.me.upgrade() else {
            return Ok(Vec::new());
        };
        let backlog = self
            .config
            .get_i64("tcp-backlog")
            .clamp(0, i64::from(i32::MAX)) as i32;
        let listeners = crate::listen::listen(&self.config.get("bind"), port as u16, backlog)?;
        self.listening.start(listeners, &me)
    }

    /// `CLIENT PAUSE`: pauses every command (`all`) or the writes until `until`; a pause in
    /// effect is extended, never shortened, and made stricter, never laxer (as Redis).
    pub fn pause_clients(&self, until: Instant, all: bool) {
        let mut p = self.pause.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let (until, all) = match *p {
            Some((t, a)) if t > now => (t.max(until), a || all),
            _ => (until, all),
        };
        *p = Some((until, all));
        self.pausing.store(true, Ordering::Release);
        // No key expires while writes are paused (Redis stops active expiry).
        let left = until.saturating_duration_since(now).as_millis() as u64;
        self.store
            .pause_expire_cycle(self.store.now_ms().saturating_add(left));
    }

    /// `CLIENT UNPAUSE`.
    pub fn unpause_clients(&self) {
        *self.pause.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.pausing.store(false, Ordering::Release);
        self.store.pause_expire_cycle(0);
        self.unpaused.notify_waiters();
    }

    /// The pause in effect now: its end, and whether it pauses every command.
    pub fn pause(&self) -> Option<(Instant, bool)> {
        if !self.pausing.load(Ordering::Acquire) {
            return None;
        }
        let mut p = self.pause.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_some_and(|(t, _)| t <= Instant::now()) {
            *p = None;
            self.pausing.store(false, Ordering::Release);
        }
        *p
    }

    /// `used_memory` when the server started (`used_memory_startup`).
    pub fn memory_startup(&self) -> u64 {
        self.memory_startup.load(Ordering::Relaxed)
    }

    /// The most `used_memory` seen (sampled once a second, and with `now`).
    pub fn memory_peak(&self, now: u64) -> u64 {
        self.memory_peak.fetch_max(now, Ordering::Relaxed).max(now)
    }

    /// Whether command run times go into their histograms (`latency-tracking`).
    pub fn latency_tracking(&self) -> bool {
        self.latency_tracking.load(Ordering::Relaxed)
    }

    /// `latency-monitor-threshold` in milliseconds (0: the monitor is off).
    pub fn latency_monitor_threshold(&self) -> u64 {
        self.latency_threshold.load(Ordering::Relaxed)
    }

    /// `slowlog-log-slower-than` in microseconds (negative: off).
    pub fn slowlog_threshold(&self) -> i64 {
        self.slowlog_threshold.load(Ordering::Relaxed)
    }

    /// Why a write would be refused now (a failed WAL: MISCONF; replicas asked for:
    /// NOREPLICAS), if it would.
    pub fn write_refusal(&self) -> Option<crate::resp::Reply> {
        if let Some(e) = self.store.engine().background_error() {
            return Some(crate::resp::Reply::error(format!(
                "MISCONF Errors writing to the WAL: {e}"
            )));
        }
        if self.no_good_replicas.load(Ordering::Relaxed) {
            return Some(crate::resp::Reply::error(
                "NOREPLICAS Not enough good replicas to write.",
            ));
        }
        None
    }

    /// Counts an error reply sent (`total_error_replies`, `INFO errorstats`): its code is its
    /// first word if a space ends it within 32 bytes, else `ERR`, as Redis counts.
    pub fn count_error(&self, error: &str) {
        self.counters.error_replies.fetch_add(1, Ordering::Relaxed);
        let head = &error.as_bytes()[..error.len().min(31)];
        let code = match head.iter().position(|&b| b == b' ') {
            Some(n) => &error[..n],
            None => "ERR",
        };
        let mut codes = self
            .counters
            .error_codes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = codes.get_mut(code) {
            *n += 1;
        } else if codes.len() < MAX_ERROR_CODES {
            codes.insert(code.to_string(), 1);
        }
    }

    /// `slowlog-max-len`.
    pub fn slowlog_max_len(&self) -> usize {
        self.slowlog_max_len.load(Ordering::Relaxed) as usize
    }

    /// The durability mode in force.
    pub fn fsync(&self) -> Fsync {
        match self.fsync.load(Ordering::SeqCst) {
            0 => Fsync::Always,
            1 => Fsync::EverySec,
            _ => Fsync::No,
        }
    }

    /// Registers a new connection.
    pub fn register(&self, addr: SocketAddr, laddr: SocketAddr) -> Arc<Client> {
        let client = Arc::new(Client {
            id: self.next_client_id.fetch_add(1, Ordering::Relaxed),
            addr,
            laddr,
            created: Instant::now(),
            name: Mutex::new(String::new()),
            lib: Mutex::new((String::new(), String::new())),
            db: AtomicU8::new(0),
            resp: AtomicU8::new(2),
            last_active_ms: AtomicU64::new(0),
            last_cmd: Mutex::new("NULL".into()),
            killed: AtomicBool::new(false),
            kill: tokio::sync::Notify::new(),
            blocked: AtomicBool::new(false),
            unblock: AtomicU8::new(0),
            unblocked: tokio::sync::Notify::new(),
            qbuf: AtomicU64::new(0),
            qbuf_cap: AtomicU64::new(0),
            release_buffers: AtomicBool::new(false),
            outbox: crate::pubsub::Outbox::default(),
            tracking: crate::tracking::ClientTracking::default(),
            no_evict: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            user: Mutex::new("default".into()),
        });
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(client.id, Arc::clone(&client));
        client
    }

    /// Removes a closed connection (and its subscriptions).
    pub fn unregister(&self, id: u64) {
        let client = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        if let Some(c) = client {
            self.pubsub.leave(&c);
            self.tracking.disable(&c);
        }
    }

    /// The connected client with this id.
    pub fn client(&self, id: u64) -> Option<Arc<Client>> {
        self.clients.lock().ok()?.get(&id).cloned()
    }

    /// Connected clients.
    pub fn connected(&self) -> usize {
        self.clients.lock().map_or(0, |c| c.len())
    }

    /// Once a second: fsync the WAL in `everysec` mode, sample ops/s, close idle clients
    /// (`timeout`). Runs until shutdown.
    pub fn spawn_housekeeping(self: &Arc<Self>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let server = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("strata-housekeeping".into())
            .spawn(move || {
                let mut last_ops = 0;
                let mut refusing = false;
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let Some(s) = server.upgrade() else { return };
                    if s.shutting_down.load(Ordering::SeqCst) {
                        return;
                    }
                    // Say when writes start being refused, and when they resume.
                    match (s.store.engine().background_error(), refusing) {
                        (Some(e), false) => {
                            eprintln!("strata-server: refusing writes (MISCONF): {e}");
                            refusing = true;
                        }
                        (None, true) => {
                            eprintln!("strata-server: writes resumed");
                            refusing = false;
                        }
                        _ => {}
                    }
                    if s.fsync() == Fsync::EverySec {
                        if let Err(e) = s.store.engine().sync_wal() {
                            eprintln!("strata-server: background fsync failed: {e}");
                        }
                    }
                    let ops = s.counters.commands_processed.load(Ordering::Relaxed);
                    s.counters
                        .instantaneous_ops
                        .store(ops - last_ops, Ordering::Relaxed);
                    last_ops = ops;
                    s.migrate_sockets.close_idle();
                    s.memory_peak(s.store.engine().stats().memory.total());
                    // Clients idle for 2 seconds give their buffers back.
                    let clients = s.clients.lock().map(|c| c.clone()).unwrap_or_default();
                    for c in clients.values() {
                        if c.idle_secs() >= 2 && c.qbuf_cap.load(Ordering::Relaxed) > 0 {
                            c.release_buffers.store(true, Ordering::Relaxed);
                            c.outbox.ready.notify_one();
                        }
                    }
                    let timeout = s.config.get_i64("timeout");
                    if timeout > 0 {
                        let clients = s.clients.lock().map(|c| c.clone()).unwrap_or_default();
                        // Subscribers, monitors and blocked clients wait by design, as in Redis.
                        for c in clients.values() {
                            let waits = c.outbox.active() || c.blocked.load(Ordering::Relaxed);
                            if !waits && c.idle_secs() > timeout as u64 {
                                c.kill();
                            }
                        }
                    }
                }
            })
    }

    /// Whether protocol version `proto` is this session's.
    pub fn protocol_of(resp: u8) -> Protocol {
        if resp == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        }
    }
}
