//! Server parameters: defaults, the Redis-style config file, `CONFIG GET` and `CONFIG SET`.
//!
//! Every parameter has a kind (how its value is checked), and one of three behaviours at run
//! time: applied (`CONFIG SET` takes effect at once), fixed (set at start only: a `CONFIG SET`
//! gets Redis's "can't set immutable config"), or recorded (Redis's memory-encoding knobs:
//! accepted and reported so existing tooling works, without effect on the storage format).

use std::collections::BTreeMap;
use std::sync::RwLock;

/// How a parameter's value is checked.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// An integer in `[min, max]`.
    Int(i64, i64),
    /// A size in bytes; accepts `kb`, `mb`, `gb` suffixes like Redis.
    Memory,
    /// `yes` or `no`.
    Bool,
    /// One of these words.
    Enum(&'static [&'static str]),
    /// Any string.
    Text,
    /// Redis's `save`: empty, or pairs of `seconds changes`.
    SavePoints,
}

/// What `CONFIG SET` may do with a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Changed at run time, with effect.
    Applied,
    /// Set at start only.
    Fixed,
    /// Accepted and reported; no effect (Redis's encoding knobs).
    Recorded,
}

/// Where a parameter's default comes from.
#[derive(Clone, Copy)]
enum Default {
    /// Redis's default (or the server's own).
    Text(&'static str),
    /// The engine's: read off `strata::Options::default()`, so it is written once.
    Engine(fn(&strata::Options) -> u64),
}

struct Param {
    name: &'static str,
    default: Default,
    kind: Kind,
    mode: Mode,
}

const fn p(name: &'static str, default: &'static str, kind: Kind, mode: Mode) -> Param {
    Param {
        name,
        default: Default::Text(default),
        kind,
        mode,
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
        default: Default::Engine(default),
        kind,
        mode,
    }
}

use Kind::{Bool, Enum, Int, Memory, SavePoints, Text};
use Mode::{Applied, Fixed, Recorded};

const I64MAX: i64 = i64::MAX;

/// Every parameter, in `CONFIG GET *` order.
static PARAMS: &[Param] = &[
    p("bind", "127.0.0.1 -::1", Text, Fixed),
    p("port", "6379", Int(0, 65535), Fixed),
    p("tcp-backlog", "511", Int(0, 65535), Fixed),
    p("dir", "./strata-data", Text, Fixed),
    p("databases", "16", Int(1, 256), Fixed),
    p("appendonly", "yes", Enum(&["yes"]), Fixed),
    p(
        "appendfsync",
        "everysec",
        Enum(&["always", "everysec", "no"]),
        Applied,
    ),
    p("save", "", SavePoints, Recorded),
    p("requirepass", "", Text, Applied),
    p("protected-mode", "yes", Bool, Applied),
    p("maxclients", "10000", Int(1, 1_000_000), Applied),
    p("timeout", "0", Int(0, I64MAX), Applied),
    p("hz", "10", Int(1, 500), Applied),
    p("slowlog-log-slower-than", "10000", Int(-1, I64MAX), Applied),
    p("slowlog-max-len", "128", Int(0, I64MAX), Applied),
    p("proto-max-bulk-len", "536870912", Memory, Fixed),
    p("busy-reply-threshold", "5000", Int(0, I64MAX), Applied),
    p("lua-time-limit", "5000", Int(0, I64MAX), Applied),
    p("hll-sparse-max-bytes", "3000", Memory, Applied),
    p("min-replicas-to-write", "0", Int(0, I64MAX), Applied),
    p("min-replicas-max-lag", "10", Int(0, I64MAX), Applied),
    p("client-query-buffer-limit", "1073741824", Memory, Fixed),
    p("maxmemory", "0", Memory, Fixed),
    p(
        "maxmemory-policy",
        "noeviction",
        Enum(&["noeviction"]),
        Fixed,
    ),
    engine(
        "strata-memtable-size",
        |o| o.memtable_size as u64,
        Memory,
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
        Memory,
        Fixed,
    ),
    engine(
        "strata-memory-budget",
        |o| o.memory_budget.unwrap_or(0),
        Memory,
        Fixed,
    ),
    engine(
        "strata-max-background-jobs",
        |o| o.max_background_jobs as u64,
        Int(2, 64),
        Fixed,
    ),
    p("hash-max-listpack-entries", "128", Int(0, I64MAX), Recorded),
    p("hash-max-listpack-value", "64", Int(0, I64MAX), Recorded),
    p("hash-max-ziplist-entries", "128", Int(0, I64MAX), Recorded),
    p("hash-max-ziplist-value", "64", Int(0, I64MAX), Recorded),
    p("set-max-intset-entries", "512", Int(0, I64MAX), Recorded),
    p("set-max-listpack-entries", "128", Int(0, I64MAX), Recorded),
    p("set-max-listpack-value", "64", Int(0, I64MAX), Recorded),
    p("zset-max-listpack-entries", "128", Int(0, I64MAX), Recorded),
    p("zset-max-listpack-value", "64", Int(0, I64MAX), Recorded),
    p("zset-max-ziplist-entries", "128", Int(0, I64MAX), Recorded),
    p("zset-max-ziplist-value", "64", Int(0, I64MAX), Recorded),
    p("list-max-listpack-size", "-2", Int(-5, I64MAX), Recorded),
    p("list-max-ziplist-size", "-2", Int(-5, I64MAX), Recorded),
    p("list-compress-depth", "0", Int(0, I64MAX), Recorded),
];

fn find(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name == name)
}

/// The names of parameters `CONFIG SET` records without effect (for the compatibility doc
/// and tests).
pub fn recorded_names() -> impl Iterator<Item = &'static str> {
    PARAMS.iter().filter(|p| p.mode == Recorded).map(|p| p.name)
}

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

/// Checks `value` for `param` and returns it in canonical form.
fn check(param: &Param, value: &str) -> Result<String, String> {
    match param.kind {
        Int(min, max) => match value.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
            Ok(_) => Err(format!(
                "argument must be between {min} and {max} inclusive"
            )),
            Err(_) => Err("argument couldn't be parsed into an integer".into()),
        },
        Memory => parse_memory(value)
            .map(|n| n.to_string())
            .ok_or_else(|| "argument must be a memory value".into()),
        Bool => match value.to_ascii_lowercase().as_str() {
            v @ ("yes" | "no") => Ok(v.to_string()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Enum(words) => {
            let v = value.to_ascii_lowercase();
            if words.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err("argument(s) must be one of the following: ".to_string() + &words.join(", "))
            }
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
    }
}

/// The current parameter values.
#[derive(Debug)]
pub struct Config {
    values: RwLock<BTreeMap<&'static str, String>>,
}

impl std::default::Default for Config {
    fn default() -> Self {
        let engine = strata::Options::default();
        let value = |p: &Param| match (p.default, p.kind) {
            (Default::Text(v), _) => v.to_string(),
            (Default::Engine(f), Bool) => if f(&engine) == 0 { "no" } else { "yes" }.to_string(),
            (Default::Engine(f), _) => f(&engine).to_string(),
        };
        Config {
            values: RwLock::new(PARAMS.iter().map(|p| (p.name, value(p))).collect()),
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

impl Config {
    /// The value of a parameter (`""` for an unknown name, which is a bug in the caller).
    pub fn get(&self, name: &str) -> String {
        self.values
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    /// An integer parameter.
    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    /// `CONFIG GET pattern...`: every `(name, value)` whose name matches one of the glob
    /// patterns (case-insensitive, as Redis), each once, in table order.
    pub fn matching(&self, patterns: &[Vec<u8>]) -> Vec<(String, String)> {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        PARAMS
            .iter()
            .filter(|p| {
                patterns.iter().any(|pat| {
                    strata_redis::pattern::matches(&pat.to_ascii_lowercase(), p.name.as_bytes())
                })
            })
            .map(|p| {
                (
                    p.name.to_string(),
                    values.get(p.name).cloned().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Sets parameters at start (config file, command line): every parameter may be set.
    ///
    /// # Errors
    /// An unknown name or a bad value.
    pub fn set_initial(&self, name: &str, value: &str) -> Result<(), ConfigError> {
        let lname = name.to_ascii_lowercase();
        let param = find(&lname).ok_or_else(|| {
            ConfigError(format!(
                "Bad directive or wrong number of arguments: '{name}'"
            ))
        })?;
        let v = check(param, value).map_err(|e| ConfigError(format!("'{name}' {value:?}: {e}")))?;
        self.values
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(param.name, v);
        Ok(())
    }

    /// `CONFIG SET name value [name value ...]`: checks every pair, then sets them all (or
    /// none). Returns the canonical `(name, value)` pairs set, for the caller to apply.
    ///
    /// # Errors
    /// Redis's messages: unknown option, immutable config, a bad value, a name given twice.
    pub fn set(
        &self,
        pairs: &[(String, String)],
    ) -> Result<Vec<(&'static str, String)>, ConfigError> {
        let mut checked: Vec<(&'static str, String)> = Vec::new();
        for (name, value) in pairs {
            let lname = name.to_ascii_lowercase();
            let Some(param) = find(&lname) else {
                return Err(ConfigError(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                )));
            };
            if param.mode == Fixed {
                return Err(ConfigError(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
                )));
            }
            if checked.iter().any(|(n, _)| *n == param.name) {
                return Err(ConfigError(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
                )));
            }
            let v = check(param, value).map_err(|e| {
                ConfigError(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
                ))
            })?;
            checked.push((param.name, v));
        }
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        for (name, v) in &checked {
            values.insert(name, v.clone());
        }
        Ok(checked)
    }

    /// Reads a Redis-style config file: one `name value` per line, `#` comments, values in
    /// double quotes may hold spaces.
    ///
    /// # Errors
    /// An unreadable file, a line that does not parse, an unknown name or a bad value (with
    /// the line number).
    pub fn load_file(&self, path: &std::path::Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        for (i, line) in text.lines().enumerate() {
            let at = |msg: String| ConfigError(format!("{}:{}: {msg}", path.display(), i + 1));
            let words = split_words(line).map_err(|e| at(e.to_string()))?;
            match words.as_slice() {
                [] => {}
                [name, value] => self.set_initial(name, value).map_err(|e| at(e.0))?,
                [name] if name == "save" => {}
                // `save 900 1 300 10` (Redis also takes the pairs spread over lines).
                [name, points @ ..] if name == "save" => {
                    self.set_initial(name, &points.join(" "))
                        .map_err(|e| at(e.0))?;
                }
                [name, ..] => {
                    return Err(at(format!(
                        "Bad directive or wrong number of arguments: '{name}'"
                    )))
                }
            }
        }
        Ok(())
    }
}

/// Splits a config line into words: whitespace-separated, `"..."` quoting with `\"` and `\\`
/// escapes, `#` starting a comment outside quotes.
fn split_words(line: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '#' {
            break;
        }
        let mut w = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => w.push(chars.next().ok_or("unbalanced quotes")?),
                    Some(ch) => w.push(ch),
                    None => return Err("unbalanced quotes"),
                }
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() {
                    break;
                }
                w.push(ch);
                chars.next();
            }
        }
        words.push(w);
    }
    Ok(words)
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
            .set(&[pair("maxclients", "5"), pair("port", "1")])
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
        assert_eq!(c.matching(&[b"*".to_vec()]).len(), PARAMS.len());
    }

    #[test]
    fn config_files_and_memory_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.conf");
        std::fs::write(
            &path,
            "# comment\nport 7000\n\nrequirepass \"a b\\\"c\"  # trailing\nsave \"\"\nproto-max-bulk-len 1mb\n",
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
