//! Server parameters: every parameter Redis 7.0 has plus Strata's own, the Redis-style
//! config file, `CONFIG GET`, `CONFIG SET` and `CONFIG REWRITE`.
//!
//! Each parameter has a kind (how its value is checked, with Redis's error texts) and a mode:
//! applied (`CONFIG SET` takes effect at once), fixed (set at start only: Redis's immutable
//! parameters), protected (`dir`), recorded (accepted and reported, without effect here:
//! replication, TLS, cluster, AOF knobs), or pinned to the one value Strata works with. The
//! table is `params.rs`; docs/redis-compatibility.md lists what each mode covers.

mod params;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::sync::RwLock;

use params::{check, find, Kind, Param, PARAMS};
pub use params::{events, format_events, parse_events, Mode};

/// Parses a Redis memory value: `1024`, `64kb`, `1mb`, `2gb` (and `k`, `m`, `g` = 1000s).
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (digits, mult) = [
        ("gb", 1u64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suffix, m)| lower.strip_suffix(suffix).map(|d| (d.to_string(), *m)))
    .unwrap_or((lower, 1));
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

/// The value a parameter has before anything sets it.
fn default_value(p: &Param, engine: &strata::Options) -> String {
    match (p.default, p.kind) {
        (params::Default::Text(v), _) => v.to_string(),
        (params::Default::Engine(f), Kind::Bool) => {
            if f(engine) == 0 { "no" } else { "yes" }.to_string()
        }
        (params::Default::Engine(f), _) => f(engine).to_string(),
    }
}

/// Whether a parameter takes several words on a config-file line (`save 900 1`,
/// `client-output-buffer-limit pubsub 32mb 8mb 60`).
fn multi_word(p: &Param) -> bool {
    matches!(
        p.kind,
        Kind::SavePoints
            | Kind::Bind
            | Kind::OutputLimits
            | Kind::OomValues
            | Kind::Flags(_)
            | Kind::Percentiles
    ) || p.name == "replicaof"
}

/// Whether a `CONFIG GET` argument is a glob pattern (else it names one parameter, which may
/// be hidden).
fn is_pattern(s: &[u8]) -> bool {
    s.iter().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// The current parameter values, by canonical name.
#[derive(Debug)]
pub struct Config {
    values: RwLock<BTreeMap<&'static str, String>>,
    /// The config file's `user` lines (ACL users: name and rules), in order.
    users: RwLock<Vec<Vec<String>>>,
}

impl std::default::Default for Config {
    fn default() -> Self {
        let engine = strata::Options::default();
        Config {
            values: RwLock::new(
                PARAMS
                    .iter()
                    .map(|p| (p.name, default_value(p, &engine)))
                    .collect(),
            ),
            users: RwLock::new(Vec::new()),
        }
    }
}

/// A `CONFIG SET` or config-file error, worded like Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// A parameter `CONFIG SET` changed, and its value before.
#[derive(Debug, Clone)]
pub struct Changed {
    /// Its canonical name.
    pub name: &'static str,
    /// The value it had.
    pub old: String,
}

impl Config {
    /// The value of a parameter by its name or alias (`""` for an unknown name, which is a
    /// bug in the caller).
    pub fn get(&self, name: &str) -> String {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        match values.get(name) {
            Some(v) => v.clone(),
            None => find(name)
                .and_then(|p| values.get(p.name).cloned())
                .unwrap_or_default(),
        }
    }

    /// An integer parameter.
    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    /// The canonical name of the parameter called `name` (or its alias).
    pub fn canonical(name: &str) -> Option<&'static str> {
        find(&name.to_ascii_lowercase()).map(|p| p.name)
    }

    /// What `CONFIG SET` does with the parameter named `name`.
    pub fn mode(name: &str) -> Option<Mode> {
        find(&name.to_ascii_lowercase()).map(|p| p.mode)
    }

    /// The names of parameters `CONFIG SET` records without effect (for the compatibility
    /// doc and tests).
    pub fn recorded_names() -> impl Iterator<Item = &'static str> {
        PARAMS
            .iter()
            .filter(|p| p.mode == Mode::Recorded)
            .map(|p| p.name)
    }

    /// `CONFIG GET arg...`: each argument is a glob pattern matched (case-insensitively)
    /// against every parameter name and alias except hidden ones, or the exact name of one
    /// parameter (hidden ones too). Each name once.
    pub fn matching(&self, args: &[Vec<u8>]) -> Vec<(String, String)> {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        let mut seen: HashSet<&'static str> = HashSet::new();
        let mut out = Vec::new();
        let mut add = |name: &'static str, p: &Param, out: &mut Vec<(String, String)>| {
            if seen.insert(name) {
                out.push((
                    name.to_string(),
                    values.get(p.name).cloned().unwrap_or_default(),
                ));
            }
        };
        for arg in args {
            let arg = arg.to_ascii_lowercase();
            if !is_pattern(&arg) {
                let Some(p) = std::str::from_utf8(&arg).ok().and_then(find) else {
                    continue;
                };
                let name = if p.name.as_bytes() == arg.as_slice() {
                    p.name
                } else {
                    p.alias.unwrap_or(p.name)
                };
                add(name, p, &mut out);
                continue;
            }
            for p in PARAMS.iter().filter(|p| !p.hidden) {
                for name in std::iter::once(p.name).chain(p.alias) {
                    if strata_redis::pattern::matches(&arg, name.as_bytes()) {
                        add(name, p, &mut out);
                    }
                }
            }
        }
        out
    }

    /// Sets parameters at start (config file, command line): every parameter may be set.
    ///
    /// # Errors
    /// An unknown name or a bad value.
    pub fn set_initial(&self, name: &str, value: &str) -> Result<(), ConfigError> {
        let param = find(&name.to_ascii_lowercase()).ok_or_else(|| {
            ConfigError(format!(
                "Bad directive or wrong number of arguments: '{name}'"
            ))
        })?;
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        let current = values.get(param.name).cloned().unwrap_or_default();
        let v = check(param, value, &current)
            .map_err(|e| ConfigError(format!("'{name} {value:?}': {e}")))?;
        values.insert(param.name, v);
        Ok(())
    }

    /// `CONFIG SET name value [name value ...]`: checks every name, then every value, then
    /// sets them all (or none). Returns the parameters whose value changed, with their old
    /// values, for the caller to apply (and to put back with [`restore`](Self::restore) if
    /// applying fails).
    ///
    /// # Errors
    /// Redis's messages: unknown option, immutable or protected config, a name given twice,
    /// a bad value.
    pub fn set(&self, pairs: &[(String, String)]) -> Result<Vec<Changed>, ConfigError> {
        let failed = |name: &str, why: &str| {
            ConfigError(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ))
        };
        let mut params: Vec<&'static Param> = Vec::new();
        for (name, _) in pairs {
            let Some(param) = find(&name.to_ascii_lowercase()) else {
                return Err(ConfigError(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                )));
            };
            match param.mode {
                Mode::Fixed => return Err(failed(name, "can't set immutable config")),
                Mode::Protected => return Err(failed(name, "can't set protected config")),
                _ => {}
            }
            if params.iter().any(|p| p.name == param.name) {
                return Err(failed(name, "duplicate parameter"));
            }
            params.push(param);
        }
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        let mut checked: Vec<(&'static str, String)> = Vec::new();
        let engine = strata::Options::default();
        for ((name, value), param) in pairs.iter().zip(&params) {
            let current = values.get(param.name).cloned().unwrap_or_default();
            let v = check(param, value, &current).map_err(|e| failed(name, &e))?;
            match param.mode {
                Mode::Pinned(why) if v != default_value(param, &engine) => {
                    return Err(failed(name, why))
                }
                Mode::StartOnly if v != current => {
                    return Err(failed(name, "can't set immutable config"))
                }
                _ => {}
            }
            checked.push((param.name, v));
        }
        let mut changed = Vec::new();
        for (name, v) in checked {
            if let Some(old) = values.insert(name, v.clone()) {
                if old != v {
                    changed.push(Changed { name, old });
                }
            }
        }
        Ok(changed)
    }

    /// Puts back the values [`set`](Self::set) replaced.
    pub fn restore(&self, changed: &[Changed]) {
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        for c in changed {
            values.insert(c.name, c.old.clone());
        }
    }

    /// Reads a Redis-style config file: one `name value...` per line (split as Redis splits
    /// them, quotes and escapes included), `#` comment lines. `save` lines add up; a
    /// `client-output-buffer-limit` line sets the classes it names.
    ///
    /// # Errors
    /// An unreadable file, a line that does not parse, an unknown name or a bad value (with
    /// the line number).
    pub fn load_file(&self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let mut saw_save = false;
        for (i, line) in text.lines().enumerate() {
            let at = |msg: String| ConfigError(format!("{}:{}: {msg}", path.display(), i + 1));
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<String> = crate::resp::split_args(line.as_bytes())
                .ok_or_else(|| at("Unbalanced quotes in configuration line".into()))?
                .into_iter()
                .map(|w| String::from_utf8_lossy(&w).into_owned())
                .collect();
            let Some((name, args)) = words.split_first() else {
                continue;
            };
            let lname = name.to_ascii_lowercase();
            if lname == "user" {
                if args.is_empty() {
                    return Err(at(
                        "Bad directive or wrong number of arguments: 'user'".into()
                    ));
                }
                self.users
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(args.to_vec());
                continue;
            }
            let param = find(&lname).ok_or_else(|| {
                at(format!(
                    "Bad directive or wrong number of arguments: '{name}'"
                ))
            })?;
            let value = match args {
                [] if param.name == "save" => continue,
                [one] => one.clone(),
                [_, _, ..] if multi_word(param) => args.join(" "),
                _ => {
                    return Err(at(format!(
                        "Bad directive or wrong number of arguments: '{name}'"
                    )))
                }
            };
            let value = if param.name == "save" && saw_save {
                format!("{} {value}", self.get("save")).trim().to_string()
            } else {
                value
            };
            saw_save |= param.name == "save";
            self.set_initial(param.name, &value).map_err(|e| at(e.0))?;
        }
        Ok(())
    }

    /// The config file's `user` lines: each a user name and its ACL rules.
    pub fn users(&self) -> Vec<Vec<String>> {
        self.users.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `CONFIG REWRITE`: rewrites the config file at `path` with the current values and
    /// `users` (ACL LIST lines, `user name rules...`, replacing the file's). Lines
    /// that set a parameter are replaced in place (a parameter set on several lines keeps the
    /// first), other lines (comments, blank lines) stay, and the parameters not in the file
    /// whose value is not the default are added at the end, as Redis does. The new file is
    /// written beside the old one, fsynced and renamed over it, and the directory fsynced.
    ///
    /// # Errors
    /// The file cannot be read or written.
    pub fn rewrite(&self, path: &Path, users: &[String]) -> std::io::Result<()> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let engine = strata::Options::default();
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        let lines_for = |p: &Param| config_lines(p, values.get(p.name).map_or("", |v| v));
        let mut done: HashSet<&'static str> = HashSet::new();
        let mut out: Vec<String> = Vec::new();
        let mut users_written = false;
        for line in text.lines() {
            let trimmed = line.trim();
            let first = trimmed.split_whitespace().next().unwrap_or("");
            if first.eq_ignore_ascii_case("user") {
                if !users_written {
                    out.extend(users.iter().cloned());
                    users_written = true;
                }
                continue;
            }
            let param = (!trimmed.starts_with('#'))
                .then(|| crate::resp::split_args(trimmed.as_bytes()))
                .flatten()
                .and_then(|w| w.into_iter().next())
                .and_then(|n| find(&String::from_utf8_lossy(&n).to_ascii_lowercase()));
            match param {
                None => out.push(line.to_string()),
                Some(p) if done.contains(p.name) => {}
                Some(p) => {
                    done.insert(p.name);
                    out.extend(lines_for(p));
                }
            }
        }
        let mut header = false;
        for p in PARAMS
            .iter()
            .filter(|p| !p.hidden && !done.contains(p.name))
        {
            if values
                .get(p.name)
                .is_some_and(|v| *v != default_value(p, &engine))
            {
                if !header {
                    out.push("# Generated by CONFIG REWRITE".to_string());
                    header = true;
                }
                out.extend(lines_for(p));
            }
        }
        if !users_written && !users.is_empty() {
            if !header {
                out.push("# Generated by CONFIG REWRITE".to_string());
            }
            out.extend(users.iter().cloned());
        }
        drop(values);
        let mut body = out.join("\n");
        body.push('\n');
        write_durably(path, body.as_bytes())
    }
}

/// The config-file lines that set `p` to `value`.
fn config_lines(p: &Param, value: &str) -> Vec<String> {
    let words = |v: &str| {
        v.split_whitespace()
            .map(quote_if_needed)
            .collect::<Vec<_>>()
            .join(" ")
    };
    match p.kind {
        Kind::SavePoints if value.is_empty() => vec![format!("{} \"\"", p.name)],
        Kind::OutputLimits => {
            let w: Vec<&str> = value.split_whitespace().collect();
            w.chunks(4)
                .map(|c| format!("{} {}", p.name, c.join(" ")))
                .collect()
        }
        _ if multi_word(p) && !value.is_empty() => vec![format!("{} {}", p.name, words(value))],
        Kind::Text => vec![format!("{} {}", p.name, quote(value))],
        _ => vec![format!("{} {}", p.name, quote_if_needed(value))],
    }
}

fn quote_if_needed(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\'));
    if plain {
        s.to_string()
    } else {
        quote(s)
    }
}

/// `s` in double quotes with Redis's escapes (`sdscatrepr`), which the config reader undoes.
fn quote(s: &str) -> String {
    let mut q = String::from("\"");
    for b in s.bytes() {
        match b {
            b'\\' => q.push_str("\\\\"),
            b'"' => q.push_str("\\\""),
            b'\n' => q.push_str("\\n"),
            b'\r' => q.push_str("\\r"),
            b'\t' => q.push_str("\\t"),
            7 => q.push_str("\\a"),
            8 => q.push_str("\\b"),
            b if b.is_ascii_graphic() || b == b' ' => q.push(b as char),
            b => q.push_str(&format!("\\x{b:02x}")),
        }
    }
    q.push('"');
    q
}

/// Replaces the file at `path` with `data`: written to a temporary file beside it, fsynced,
/// renamed over it, and the directory fsynced, so a crash leaves the old file or the new.
fn write_durably(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.rewrite"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        file.set_permissions(meta.permissions())?;
    }
    drop(file);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_parameters_default_to_the_engine_defaults() {
        let c = Config::default();
        let o = strata::Options::default();
        assert_eq!(c.get("strata-memtable-size"), o.memtable_size.to_string());
        assert_eq!(
            c.get("strata-level0-stop-writes-trigger"),
            o.level0_stop_writes_trigger.to_string()
        );
        assert_eq!(
            c.get("strata-block-cache-size"),
            o.block_cache_bytes.to_string()
        );
        assert_eq!(c.get("strata-memory-budget"), "0");
        assert_eq!(c.get("strata-disable-auto-compactions"), "no");
        assert_eq!(c.get("strata-max-background-jobs"), "2");
        assert_eq!(c.get("port"), "6379");
    }

    #[test]
    fn set_checks_everything_before_changing_anything() {
        let c = Config::default();
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert!(c
            .set(&[pair("maxclients", "5"), pair("port", "x")])
            .is_err());
        assert_eq!(c.get("maxclients"), "10000");
        let e = c.set(&[pair("maxclients", "x")]).unwrap_err();
        assert_eq!(
            e.0,
            "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer"
        );
        let e = c.set(&[pair("nope", "1")]).unwrap_err();
        assert_eq!(
            e.0,
            "ERR Unknown option or number of arguments for CONFIG SET - 'nope'"
        );
        c.set(&[pair("MaxClients", "5"), pair("appendfsync", "ALWAYS")])
            .unwrap();
        assert_eq!(c.get("maxclients"), "5");
        assert_eq!(c.get("appendfsync"), "always");
        c.set(&[pair("hash-max-listpack-entries", "7")]).unwrap();
        assert_eq!(
            c.matching(&[b"hash-max-listpack-*".to_vec()]),
            [
                ("hash-max-listpack-entries".to_string(), "7".to_string()),
                ("hash-max-listpack-value".to_string(), "64".to_string())
            ]
        );
        let all = c.matching(&[b"*".to_vec()]);
        let aliases = PARAMS.iter().filter(|p| p.alias.is_some()).count();
        let hidden = PARAMS.iter().filter(|p| p.hidden).count();
        assert_eq!(all.len(), PARAMS.len() + aliases - hidden);
    }

    #[test]
    fn get_finds_aliases_and_hidden_parameters_by_name_only() {
        let c = Config::default();
        let names = |args: &[&str]| -> Vec<String> {
            let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
            c.matching(&args).into_iter().map(|(n, _)| n).collect()
        };
        assert_eq!(names(&["*of"]), ["replicaof", "slaveof"]);
        assert_eq!(names(&["SLAVEOF"]), ["slaveof"]);
        assert!(names(&["*"]).iter().all(|n| n != "key-load-delay"));
        assert_eq!(names(&["key-load-delay"]), ["key-load-delay"]);
        assert_eq!(names(&["maxmemory", "maxmemory*"]).len(), 5);
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        c.set(&[pair("slave-read-only", "no")]).unwrap();
        assert_eq!(c.get("replica-read-only"), "no");
        let e = c
            .set(&[
                pair("replica-read-only", "no"),
                pair("slave-read-only", "no"),
            ])
            .unwrap_err();
        assert!(e.0.ends_with("- duplicate parameter"), "{e}");
    }

    #[test]
    fn set_checks_names_first_then_values_and_reports_what_changed() {
        let c = Config::default();
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        // A bad value before an immutable name: the name is reported, as Redis does.
        let e = c
            .set(&[pair("maxmemory", "x"), pair("daemonize", "yes")])
            .unwrap_err();
        assert_eq!(
            e.0,
            "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"
        );
        let e = c.set(&[pair("dir", "/tmp")]).unwrap_err();
        assert!(e.0.ends_with("can't set protected config"), "{e}");
        let e = c
            .set(&[
                pair("maxmemory", "10000001"),
                pair("maxmemory-clients", "200%"),
            ])
            .unwrap_err();
        assert_eq!(
            e.0,
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100"
        );
        assert_eq!(c.get("maxmemory"), "0");
        let changed = c
            .set(&[pair("maxmemory", "1mb"), pair("hz", "10")])
            .unwrap();
        assert_eq!(changed.len(), 1);
        assert_eq!(
            (changed[0].name, changed[0].old.as_str()),
            ("maxmemory", "0")
        );
        assert_eq!(c.get("maxmemory"), "1048576");
        c.restore(&changed);
        assert_eq!(c.get("maxmemory"), "0");
        c.set(&[pair("hz", "100000")]).unwrap();
        assert_eq!(c.get("hz"), "500");
        let e = c.set(&[pair("appendonly", "no")]).unwrap_err();
        assert!(
            e.0.ends_with("Strata always writes its write-ahead log"),
            "{e}"
        );
        c.set(&[pair("notify-keyspace-events", "KEA")]).unwrap();
        assert_eq!(c.get("notify-keyspace-events"), "AKE");
        let e = c.set(&[pair("notify-keyspace-events", "Q")]).unwrap_err();
        assert!(e.0.ends_with("Use 'Ag$lshzxeKEtmdn'."), "{e}");
        c.set(&[pair("client-output-buffer-limit", "pubsub 64mb 16mb 30")])
            .unwrap();
        assert_eq!(
            c.get("client-output-buffer-limit"),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 67108864 16777216 30"
        );
        c.set(&[pair("shutdown-on-sigterm", "now save")]).unwrap();
        assert_eq!(c.get("shutdown-on-sigterm"), "save now");
        assert!(c
            .set(&[pair("shutdown-on-sigterm", "save nosave")])
            .is_err());
    }

    #[test]
    fn rewrite_keeps_other_lines_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.conf");
        std::fs::write(
            &path,
            "# my settings\nport 7000\nhz 20\nhz 30\nsave 900 1\nsave 300 10\n",
        )
        .unwrap();
        let c = Config::default();
        c.load_file(&path).unwrap();
        assert_eq!(c.get("hz"), "30");
        assert_eq!(c.get("save"), "900 1 300 10");
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        c.set(&[
            pair("hz", "40"),
            pair("requirepass", "a \"b\"\n"),
            pair("save", ""),
            pair("client-output-buffer-limit", "pubsub 1mb 1mb 1"),
        ])
        .unwrap();
        c.rewrite(&path, &["user app on #00 ~* +@all".to_string()])
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# my settings\nport 7000\nhz 40\nsave \"\"\n"),
            "{text}"
        );
        assert!(text.contains("# Generated by CONFIG REWRITE\n"), "{text}");
        let back = Config::default();
        back.load_file(&path).unwrap();
        for name in [
            "port",
            "hz",
            "requirepass",
            "save",
            "client-output-buffer-limit",
        ] {
            assert_eq!(back.get(name), c.get(name), "{name}");
        }
    }

    #[test]
    fn config_files_and_memory_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.conf");
        std::fs::write(
            &path,
            "# comment\nport 7000\n\n  requirepass \"a b\\\"c\"\nsave \"\"\nproto-max-bulk-len 1mb\n",
        )
        .unwrap();
        let c = Config::default();
        c.load_file(&path).unwrap();
        assert_eq!(c.get("port"), "7000");
        assert_eq!(c.get("requirepass"), "a b\"c");
        assert_eq!(c.get("proto-max-bulk-len"), "1048576");
        std::fs::write(&path, "port 1\nbogus 2\n").unwrap();
        let e = c.load_file(&path).unwrap_err();
        assert!(
            e.0.ends_with(":2: Bad directive or wrong number of arguments: 'bogus'"),
            "{e}"
        );
        std::fs::write(&path, "port \"unterminated\n").unwrap();
        assert!(c.load_file(&path).is_err());
        assert_eq!(parse_memory("2gb"), Some(2 << 30));
        assert_eq!(parse_memory("10k"), Some(10_000));
        assert_eq!(parse_memory("x"), None);
    }
}
