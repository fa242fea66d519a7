//! ACL users, as Redis 7's `acl.c` without selectors: each user is on or off, has
//! passwords (kept as SHA-256 hex digests) or `nopass`, command rules (`+@all`, `-@admin`,
//! `+get`, `-client|kill`, applied in order), key patterns (`~pat` read and write, `%R~pat`,
//! `%W~pat`) and channel patterns (`&pat`). The `default` user exists always; `requirepass`
//! is its password.
//!
//! A connection acts as one user (AUTH, HELLO ... AUTH). A command it may not run, or a key
//! or channel it may not touch, is refused with Redis's `NOPERM` errors and logged (ACL LOG).
//! Users live in memory; the config file's `user` lines create them at start and CONFIG
//! REWRITE writes them back there, as Redis does without an ACL file.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use sha2::{Digest, Sha256};

use crate::cmd::{self, Command};

/// Key access a pattern grants.
const READ: u8 = 1;
const WRITE: u8 = 2;

/// One ACL user.
#[derive(Debug, Clone)]
pub struct User {
    /// Its name.
    pub name: String,
    /// `on`: it may authenticate.
    pub enabled: bool,
    /// `nopass`: any password authenticates it.
    pub nopass: bool,
    /// SHA-256 digests of its passwords, lowercase hex.
    pub passwords: BTreeSet<String>,
    /// Command rules in order (`+@all`, `-get`, ...); none: no command.
    rules: Vec<String>,
    /// Key patterns and the access each grants.
    keys: Vec<(u8, Vec<u8>)>,
    /// Channel patterns.
    channels: Vec<Vec<u8>>,
}

impl User {
    /// A new user as ACL SETUSER creates it: off, no password, no command, key or channel.
    fn new(name: &str) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            passwords: BTreeSet::new(),
            rules: Vec::new(),
            keys: Vec::new(),
            channels: Vec::new(),
        }
    }

    /// The `default` user of a fresh server: on, no password, everything allowed.
    fn default_user() -> User {
        User {
            enabled: true,
            nopass: true,
            rules: vec!["+@all".into()],
            keys: vec![(READ | WRITE, b"*".to_vec())],
            channels: vec![b"*".to_vec()],
            ..User::new("default")
        }
    }

    /// May do everything (the fast path: no check per command).
    pub fn unrestricted(&self) -> bool {
        self.rules == ["+@all"]
            && self
                .keys
                .iter()
                .any(|(a, p)| *a == READ | WRITE && p == b"*")
            && self.channels.iter().any(|p| p == b"*")
    }

    /// Whether `password` authenticates this user (on, and `nopass` or a matching digest).
    pub fn accepts(&self, password: &[u8]) -> bool {
        self.enabled && (self.nopass || self.passwords.contains(&sha256_hex(password)))
    }

    /// Applies one ACL SETUSER rule.
    fn apply(&mut self, rule: &[u8]) -> Result<(), &'static str> {
        let text = String::from_utf8_lossy(rule).into_owned();
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allkeys" => self.keys = vec![(READ | WRITE, b"*".to_vec())],
            "resetkeys" => self.keys.clear(),
            "allchannels" => self.channels = vec![b"*".to_vec()],
            "resetchannels" => self.channels.clear(),
            "allcommands" => self.rules = vec!["+@all".into()],
            "nocommands" => self.rules.clear(),
            "sanitize-payload" | "skip-sanitize-payload" => {}
            "reset" => {
                *self = User {
                    name: std::mem::take(&mut self.name),
                    ..User::new("")
                }
            }
            _ => return self.apply_pattern_or_rule(rule, &lower),
        }
        Ok(())
    }

    fn apply_pattern_or_rule(&mut self, rule: &[u8], lower: &str) -> Result<(), &'static str> {
        match rule.first() {
            Some(b'>') => {
                self.passwords.insert(sha256_hex(&rule[1..]));
                self.nopass = false;
            }
            Some(b'<') => {
                self.passwords.remove(&sha256_hex(&rule[1..]));
            }
            Some(b'#') => {
                let hash = &lower[1..];
                if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters");
                }
                self.passwords.insert(hash.to_string());
                self.nopass = false;
            }
            Some(b'!') => {
                self.passwords.remove(&lower[1..]);
            }
            Some(b'~') => self.keys.push((READ | WRITE, rule[1..].to_vec())),
            Some(b'%') => {
                let (perm, pattern) = rule[1..]
                    .iter()
                    .position(|&b| b == b'~')
                    .map(|i| (&rule[1..1 + i], &rule[2 + i..]))
                    .ok_or("Syntax error")?;
                let mut access = 0;
                for p in perm.to_ascii_uppercase() {
                    access |= match p {
                        b'R' => READ,
                        b'W' => WRITE,
                        _ => return Err("Syntax error"),
                    };
                }
                if access == 0 {
                    return Err("Syntax error");
                }
                self.keys.push((access, pattern.to_vec()));
            }
            Some(b'&') => self.channels.push(rule[1..].to_vec()),
            Some(b'+' | b'-') => {
                let what = &lower[1..];
                let known = match what.strip_prefix('@') {
                    Some(cat) => cat == "all" || CATEGORIES.contains(&cat),
                    None => command_rule_known(what),
                };
                if !known {
                    return Err("Unknown command or category name in ACL");
                }
                if what == "@all" {
                    self.rules.clear();
                }
                // `-@all` after nothing is nothing.
                if !(lower == "-@all" && self.rules.is_empty()) {
                    self.rules.push(lower.to_string());
                }
            }
            _ => return Err("Syntax error"),
        }
        Ok(())
    }

    /// Whether the user may run `cmd` (with subcommand `sub` for containers). The commands
    /// a connection may run before it authenticates (AUTH, HELLO, QUIT, ...) are always
    /// allowed, as in Redis.
    pub fn may_run(&self, cmd: &Command, sub: Option<&[u8]>) -> bool {
        if cmd.flags.contains(&"no-auth") {
            return true;
        }
        let full = sub.map(|s| {
            format!(
                "{}|{}",
                cmd.name,
                String::from_utf8_lossy(s).to_ascii_lowercase()
            )
        });
        let name = full.as_deref().unwrap_or(cmd.name);
        let cats = cmd::categories_of(name, cmd);
        let mut allowed = false;
        for rule in &self.rules {
            let (allow, what) = (rule.starts_with('+'), &rule[1..]);
            let hit = match what.strip_prefix('@') {
                Some(cat) => cat == "all" || cats.contains(&cat),
                None => what == cmd.name || Some(what) == full.as_deref(),
            };
            if hit {
                allowed = allow;
            }
        }
        allowed
    }

    /// Whether the user may touch `key` with `access` (READ and/or WRITE).
    pub fn may_access_key(&self, key: &[u8], access: u8) -> bool {
        let mut granted = 0;
        for (a, pattern) in &self.keys {
            if strata_redis::pattern::matches(pattern, key) {
                granted |= a;
                if granted & access == access {
                    return true;
                }
            }
        }
        false
    }

    /// Whether the user may use `channel` (literally, for a PSUBSCRIBE pattern).
    pub fn may_use_channel(&self, channel: &[u8], literal: bool) -> bool {
        self.channels.iter().any(|p| {
            p == b"*"
                || if literal {
                    p == channel
                } else {
                    strata_redis::pattern::matches(p, channel)
                }
        })
    }

    /// The `commands` rules as ACL LIST and GETUSER show them.
    pub fn command_rules(&self) -> String {
        if self.rules.is_empty() {
            "-@all".into()
        } else {
            self.rules.join(" ")
        }
    }

    /// The key patterns as ACL LIST and GETUSER show them (`~*`, `%R~x`).
    pub fn key_rules(&self) -> String {
        self.keys
            .iter()
            .map(|(a, p)| {
                let p = String::from_utf8_lossy(p);
                match *a {
                    x if x == READ | WRITE => format!("~{p}"),
                    READ => format!("%R~{p}"),
                    _ => format!("%W~{p}"),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The channel patterns as ACL LIST and GETUSER show them.
    pub fn channel_rules(&self) -> String {
        self.channels
            .iter()
            .map(|p| format!("&{}", String::from_utf8_lossy(p)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The user as ACL LIST shows it (and the config file's `user` line holds it).
    pub fn describe(&self) -> String {
        let mut parts = vec![
            format!("user {}", self.name),
            if self.enabled { "on" } else { "off" }.to_string(),
        ];
        if self.nopass {
            parts.push("nopass".into());
        }
        parts.extend(self.passwords.iter().map(|h| format!("#{h}")));
        if !self.keys.is_empty() {
            parts.push(self.key_rules());
        }
        if self.channels.is_empty() {
            parts.push("resetchannels".into());
        } else {
            parts.push(self.channel_rules());
        }
        parts.push(self.command_rules());
        parts.join(" ")
    }
}

/// Redis's ACL categories (ACL CAT).
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Whether `+name` names a command (or `container|sub`) this server has.
fn command_rule_known(name: &str) -> bool {
    let (base, sub) = match name.split_once('|') {
        Some((b, s)) => (b, Some(s)),
        None => (name, None),
    };
    match cmd::lookup(base.as_bytes()) {
        None => false,
        Some(c) => sub.is_none_or(|s| cmd::subcommands(c.name).contains(&s)),
    }
}

/// Lowercase hex SHA-256 of `data` (how passwords are kept).
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One ACL LOG entry.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// `command`, `key`, `channel` or `auth`.
    pub reason: &'static str,
    /// `toplevel`, `multi` or `lua`.
    pub context: &'static str,
    /// The command, key, channel or user name involved.
    pub object: String,
    /// The user.
    pub username: String,
    /// The client, as CLIENT INFO shows it.
    pub client_info: String,
    /// How many times this happened (identical entries are merged).
    pub count: u64,
    /// Unique, increasing.
    pub id: u64,
    /// When first and last (unix ms).
    pub created: u64,
    /// When last (unix ms).
    pub updated: u64,
}

/// The users and the denial log.
#[derive(Debug)]
pub struct Acl {
    users: RwLock<BTreeMap<String, Arc<User>>>,
    /// Bumped on every change, so connections reload their user.
    version: AtomicU64,
    log: Mutex<VecDeque<LogEntry>>,
    next_log_id: AtomicU64,
}

impl Default for Acl {
    fn default() -> Self {
        let mut users = BTreeMap::new();
        users.insert("default".to_string(), Arc::new(User::default_user()));
        Acl {
            users: RwLock::new(users),
            version: AtomicU64::new(1),
            log: Mutex::new(VecDeque::new()),
            next_log_id: AtomicU64::new(0),
        }
    }
}

impl Acl {
    /// The change count (a connection holding an older one reloads its user).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// ACL SETUSER name rules...: creates the user if needed and applies every rule, or
    /// changes nothing (Redis's error names the rule).
    ///
    /// # Errors
    /// `ERR Error in ACL SETUSER modifier '<rule>': <why>`.
    pub fn set_user(&self, name: &str, rules: &[Vec<u8>]) -> Result<(), String> {
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let mut user = users
            .get(name)
            .map_or_else(|| User::new(name), |u| (**u).clone());
        for r in rules {
            user.apply(r).map_err(|why| {
                format!(
                    "ERR Error in ACL SETUSER modifier '{}': {why}",
                    String::from_utf8_lossy(r)
                )
            })?;
        }
        users.insert(name.to_string(), Arc::new(user));
        self.version.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// ACL DELUSER: removes the users named (not `default`); returns how many existed.
    ///
    /// # Errors
    /// `default` is named.
    pub fn delete_users(&self, names: &[Vec<u8>]) -> Result<usize, String> {
        if names.iter().any(|n| n.as_slice() == b"default") {
            return Err("ERR The 'default' user cannot be removed".into());
        }
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let n = names
            .iter()
            .filter(|n| users.remove(String::from_utf8_lossy(n).as_ref()).is_some())
            .count();
        self.version.fetch_add(1, Ordering::AcqRel);
        Ok(n)
    }

    /// Whether a new connection must authenticate (the default user is off or has no
    /// `nopass`).
    pub fn default_requires_auth(&self) -> bool {
        self.user("default")
            .is_none_or(|d| !(d.enabled && d.nopass))
    }

    /// The users as config-file `user` lines for CONFIG REWRITE: every user but `default`
    /// when `default` is what `requirepass` makes it.
    pub fn users_for_config(&self, requirepass: &str) -> Vec<String> {
        let pristine = Acl::default();
        pristine.set_default_password(requirepass);
        let plain_default = pristine.user("default").map(|u| u.describe());
        self.users()
            .iter()
            .filter(|u| u.name != "default" || Some(u.describe()) != plain_default)
            .map(|u| u.describe())
            .collect()
    }

    /// `requirepass`: the default user's only password (none: `nopass`).
    pub fn set_default_password(&self, password: &str) {
        let rules: Vec<Vec<u8>> = if password.is_empty() {
            vec![b"nopass".to_vec()]
        } else {
            vec![b"resetpass".to_vec(), format!(">{password}").into_bytes()]
        };
        let _ = self.set_user("default", &rules);
    }

    /// Adds (or merges into an identical recent one) a denial to ACL LOG, keeping at most
    /// `max` entries.
    pub fn log_denial(&self, mut entry: LogEntry, max: usize) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let now = crate::server::unix_ms();
        if let Some(e) = log.iter_mut().find(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.object == entry.object
                && e.username == entry.username
                && now.saturating_sub(e.updated) < 60_000
        }) {
            e.count += 1;
            e.updated = now;
            e.client_info = entry.client_info;
            return;
        }
        entry.id = self.next_log_id.fetch_add(1, Ordering::Relaxed);
        entry.created = now;
        entry.updated = now;
        entry.count = 1;
        log.push_front(entry);
        log.truncate(max);
    }

    /// ACL LOG [count]: newest first.
    pub fn log(&self, count: usize) -> Vec<LogEntry> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().take(count).cloned().collect()
    }

    /// ACL LOG RESET.
    pub fn reset_log(&self) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(r: &[&str]) -> Vec<Vec<u8>> {
        r.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn setuser_rules_and_checks() {
        let acl = Acl::default();
        assert!(acl.user("default").is_some_and(|u| u.unrestricted()));
        acl.set_user(
            "u",
            &rules(&[
                "on", ">secret", "~app:*", "%R~ro:*", "&news", "+@read", "-get",
            ]),
        )
        .unwrap();
        let u = acl.user("u").unwrap();
        assert!(u.accepts(b"secret") && !u.accepts(b"nope"));
        let get = cmd::lookup(b"get").unwrap();
        let mget = cmd::lookup(b"mget").unwrap();
        let set = cmd::lookup(b"set").unwrap();
        assert!(!u.may_run(get, None) && u.may_run(mget, None) && !u.may_run(set, None));
        assert!(u.may_access_key(b"app:1", READ | WRITE));
        assert!(u.may_access_key(b"ro:1", READ) && !u.may_access_key(b"ro:1", WRITE));
        assert!(!u.may_access_key(b"other", READ));
        assert!(u.may_use_channel(b"news", false) && !u.may_use_channel(b"n*", true));
        assert_eq!(
            u.describe(),
            format!(
                "user u on #{} ~app:* %R~ro:* &news +@read -get",
                sha256_hex(b"secret")
            )
        );
        // A bad rule changes nothing.
        let e = acl
            .set_user("u", &rules(&["off", "+nosuchcommand"]))
            .unwrap_err();
        assert_eq!(
            e,
            "ERR Error in ACL SETUSER modifier '+nosuchcommand': Unknown command or category name in ACL"
        );
        assert!(acl.user("u").unwrap().enabled);
        // Subcommands.
        acl.set_user("c", &rules(&["+client", "-client|kill"]))
            .unwrap();
        let c = acl.user("c").unwrap();
        let client = cmd::lookup(b"client").unwrap();
        assert!(c.may_run(client, Some(b"id")) && !c.may_run(client, Some(b"KILL")));
        assert_eq!(acl.delete_users(&rules(&["c", "x"])).unwrap(), 1);
        assert!(acl.delete_users(&rules(&["default"])).is_err());
        acl.set_default_password("pw");
        let d = acl.user("default").unwrap();
        assert!(d.accepts(b"pw") && !d.accepts(b"x") && !d.nopass);
    }
}
