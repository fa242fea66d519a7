//! Lua scripting (EVAL and friends): one Lua 5.1 interpreter (vendored through `mlua`), Redis's
//! sandbox, the `redis` library, and the conversions between Lua values and replies.
//!
//! A script runs alone and as one engine batch (`Store::atomically`, as EXEC does), on a
//! session of its own that starts in the caller's database (a `SELECT` inside does not move the
//! caller). `redis.call` runs a command and raises its error; `redis.pcall` returns the error as
//! a table `{err = ...}`. Conversions follow Redis's RESP2 rules both ways: an integer becomes a
//! Lua number, a nil reply `false`, a status `{ok = ...}`, an error `{err = ...}`, an array a
//! table; a Lua number becomes an integer (truncated), `true` the integer 1, `false` and `nil`
//! a nil reply, a table its array part up to the first nil.
//!
//! The sandbox: only the base, table, string and math libraries, plus `bit`; no `loadfile` or
//! `dofile`; globals cannot be created or read when undeclared (Redis's error messages).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mlua::{Function, Lua, LuaOptions, MultiValue, RegistryKey, StdLib, Table, Value, Variadic};

use crate::resp::Reply;

/// Redis's cap on a script's table nesting when converting to a reply.
const MAX_DEPTH: usize = 64;

/// What a script may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// `no-writes` (or EVAL_RO / FCALL_RO): write commands are refused.
    pub read_only: bool,
}

/// The interpreter and the scripts loaded into it.
pub struct Scripting {
    lua: Mutex<Lua>,
    /// Loaded scripts by lowercase SHA1: the compiled function and the body's flags.
    scripts: Mutex<HashMap<String, (Arc<RegistryKey>, ScriptFlags)>>,
    /// Function libraries (FUNCTION LOAD) and their functions.
    functions: Mutex<Functions>,
    /// The script running now, if any (its kill switch is read by the interpreter's hook).
    running: Arc<Running>,
}

/// What other clients see of the script running: since when (ms after `epoch`, 0: none),
/// whether it may still be killed (no write yet) and whether it was.
#[derive(Debug)]
struct Running {
    epoch: Instant,
    since_ms: AtomicU64,
    wrote: AtomicBool,
    kill: AtomicBool,
    /// `busy-reply-threshold` in ms.
    threshold_ms: AtomicU64,
    /// The function running (FCALL), by name, with its command; `None` for a script.
    function: Mutex<Option<(String, Vec<Vec<u8>>)>>,
    /// While a library's code runs (FUNCTION LOAD): when it must have finished (ms after
    /// `epoch`; 0: no load running).
    load_deadline_ms: AtomicU64,
}

impl Running {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }
}

/// What SCRIPT KILL did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    /// The script will stop at its next hook.
    Killed,
    /// No script runs.
    NotBusy,
    /// It already wrote: it cannot be stopped without losing atomicity.
    Unkillable,
    /// A function runs and SCRIPT KILL was asked, or a script and FUNCTION KILL.
    OtherKind,
}

/// How long a library's code may run at FUNCTION LOAD (Redis's `LOAD_TIMEOUT_MS`).
const LOAD_TIMEOUT_MS: u64 = 500;

/// Instructions between two looks at the kill switch.
const HOOK_EVERY: u32 = 100_000;

/// Looks at the kill switch every `every` instructions. Once it is on, the hook raises the
/// kill error and looks again at every instruction: a script that catches the error with
/// `pcall` meets it again at its next instruction outside, so it cannot keep running.
fn install_hook(lua: &Lua, running: &Arc<Running>, every: u32) {
    let hook = Arc::clone(running);
    lua.set_hook(
        mlua::HookTriggers::new().every_nth_instruction(every),
        move |lua, _| {
            let deadline = hook.load_deadline_ms.load(Ordering::Relaxed);
            if deadline != 0 && hook.now_ms() > deadline {
                return Err(mlua::Error::RuntimeError("FUNCTION LOAD timeout".into()));
            }
            if hook.kill.load(Ordering::Relaxed) {
                if every != 1 {
                    install_hook(lua, &hook, 1);
                }
                return Err(mlua::Error::RuntimeError(
                    "ERR Script killed by user with SCRIPT KILL...".into(),
                ));
            }
            Ok(mlua::VmState::Continue)
        },
    );
}

/// A loaded function library.
#[derive(Debug)]
struct Library {
    code: Vec<u8>,
    /// Its functions' names as registered.
    functions: Vec<String>,
}

/// A registered function.
#[derive(Debug)]
struct Registered {
    name: String,
    library: String,
    key: Arc<RegistryKey>,
    flags: ScriptFlags,
    flag_names: Vec<String>,
    description: Option<String>,
}

/// The function libraries, and their functions by lowercase name.
#[derive(Debug, Default)]
struct Functions {
    libraries: std::collections::BTreeMap<String, Library>,
    by_name: HashMap<String, Registered>,
}

impl std::fmt::Debug for Scripting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripting").finish_non_exhaustive()
    }
}

/// A script error as EVAL answers it (the whole error line).
pub type ScriptError = String;

/// The lowercase hex SHA1 of `body` (the name EVALSHA and SCRIPT use).
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

impl Scripting {
    /// A fresh interpreter with Redis's sandbox.
    ///
    /// # Errors
    /// Setting the interpreter up failed (out of memory).
    pub fn new() -> mlua::Result<Scripting> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        setup(&lua)?;
        let running = Arc::new(Running {
            epoch: Instant::now(),
            since_ms: AtomicU64::new(0),
            wrote: AtomicBool::new(false),
            kill: AtomicBool::new(false),
            threshold_ms: AtomicU64::new(5000),
            function: Mutex::new(None),
            load_deadline_ms: AtomicU64::new(0),
        });
        install_hook(&lua, &running, HOOK_EVERY);
        Ok(Scripting {
            lua: Mutex::new(lua),
            scripts: Mutex::new(HashMap::new()),
            functions: Mutex::new(Functions::default()),
            running,
        })
    }

    /// Sets `busy-reply-threshold` (ms).
    pub fn set_busy_threshold(&self, ms: u64) {
        self.running.threshold_ms.store(ms, Ordering::Relaxed);
    }

    /// True once a script has run past `busy-reply-threshold`: other clients' commands get
    /// `-BUSY` instead of waiting.
    pub fn busy(&self) -> bool {
        let r = &self.running;
        let since = r.since_ms.load(Ordering::Acquire);
        since != 0 && r.now_ms().saturating_sub(since) >= r.threshold_ms.load(Ordering::Relaxed)
    }

    /// SCRIPT KILL (`function` false) / FUNCTION KILL (`function` true): stops the running
    /// script, or function, unless it wrote.
    pub fn kill(&self, function: bool) -> Kill {
        let r = &self.running;
        if r.since_ms.load(Ordering::Acquire) == 0 {
            return Kill::NotBusy;
        }
        if self.running_function().is_some() != function {
            return Kill::OtherKind;
        }
        if r.wrote.load(Ordering::Acquire) {
            return Kill::Unkillable;
        }
        r.kill.store(true, Ordering::Release);
        Kill::Killed
    }

    /// The function running now (FCALL): its name, its command and for how long (ms).
    pub fn running_function(&self) -> Option<(String, Vec<Vec<u8>>, u64)> {
        let r = &self.running;
        let since = r.since_ms.load(Ordering::Acquire);
        let f = r
            .function
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        (since != 0).then(|| (f.0, f.1, r.now_ms().saturating_sub(since)))
    }

    /// Marks the running script as having written (SCRIPT KILL can no longer stop it).
    pub fn note_write(&self) {
        self.running.wrote.store(true, Ordering::Release);
    }

    /// Runs `f` as the running script (for BUSY and SCRIPT KILL).
    fn as_running<R>(&self, lua: &Lua, f: impl FnOnce() -> R) -> R {
        let r = &self.running;
        r.kill.store(false, Ordering::Release);
        r.wrote.store(false, Ordering::Release);
        r.since_ms.store(r.now_ms(), Ordering::Release);
        let out = f();
        r.since_ms.store(0, Ordering::Release);
        if r.kill.swap(false, Ordering::AcqRel) {
            // The kill hook looked at every instruction: back to the cheap one.
            install_hook(lua, &self.running, HOOK_EVERY);
        }
        out
    }

    fn lua(&self) -> std::sync::MutexGuard<'_, Lua> {
        self.lua.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Compiles `body` and keeps it under its SHA1, which it returns (SCRIPT LOAD, and EVAL
    /// on first use).
    ///
    /// # Errors
    /// Redis's compile error line.
    pub fn load(&self, body: &[u8]) -> Result<String, ScriptError> {
        let sha = sha1_hex(body);
        if self.scripts().contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, code) = parse_shebang(body)?;
        let lua = self.lua();
        let func = lua
            .load(code)
            .set_name("@user_script")
            .into_function()
            .map_err(|e| format!("ERR Error compiling script (new function): {}", message(&e)))?;
        let env: Table = lua
            .named_registry_value(SCRIPT_ENV)
            .map_err(|e| format!("ERR {}", message(&e)))?;
        func.set_environment(env)
            .map_err(|e| format!("ERR {}", message(&e)))?;
        let key = lua
            .create_registry_value(func)
            .map_err(|e| format!("ERR {}", message(&e)))?;
        self.scripts().insert(sha.clone(), (Arc::new(key), flags));
        Ok(sha)
    }

    fn scripts(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<RegistryKey>, ScriptFlags)>> {
        self.scripts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a script with this SHA1 (any case) is loaded.
    pub fn exists(&self, sha: &[u8]) -> bool {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        self.scripts().contains_key(&sha)
    }

    /// Forgets every loaded script (SCRIPT FLUSH).
    pub fn flush(&self) {
        let lua = self.lua();
        self.scripts().clear();
        lua.expire_registry_values();
    }

    /// Loaded scripts.
    pub fn count(&self) -> usize {
        self.scripts().len()
    }

    /// Bytes the interpreter uses (0 while a script holds it: INFO does not wait for it).
    pub fn used_memory(&self) -> usize {
        self.lua.try_lock().map_or(0, |lua| lua.used_memory())
    }

    /// Runs the loaded script `sha` with `keys` and `args`; `call` runs one command for
    /// `redis.call`/`redis.pcall` (its arguments, whether the script may write) and answers its
    /// reply. `None` if no such script is loaded.
    pub fn run(
        &self,
        sha: &str,
        keys: &[Vec<u8>],
        args: &[Vec<u8>],
        read_only: bool,
        call: &mut dyn FnMut(&mut [Vec<u8>], bool) -> Reply,
    ) -> Option<Reply> {
        let (key, flags) = self.scripts().get(sha).cloned()?;
        let lua = self.lua();
        let read_only = read_only || flags.read_only;
        Some(self.as_running(&lua, || {
            run_function(&lua, &key, keys, args, read_only, call, false)
                .unwrap_or_else(Reply::Error)
        }))
    }

    fn functions(&self) -> std::sync::MutexGuard<'_, Functions> {
        self.functions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads a function library (`#!lua name=<lib>` then code calling
    /// `redis.register_function`) and returns its name; with `replace`, it replaces a library
    /// of that name (whose functions go), else that is an error. Nothing changes on an error.
    ///
    /// # Errors
    /// Redis's error line.
    pub fn load_library(&self, code: &[u8], replace: bool) -> Result<String, ScriptError> {
        let (name, body) = parse_library_shebang(code)?;
        let lua = self.lua();
        let mut functions = self.functions();
        if functions.libraries.contains_key(&name) && !replace {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let chunk = lua
            .load(body)
            .set_name("@user_function")
            .into_function()
            .map_err(|e| format!("ERR Error compiling function: {}", message(&e)))?;
        // A library's code gets Redis's 500 ms to register its functions.
        let r = &self.running;
        r.load_deadline_ms
            .store(r.now_ms() + LOAD_TIMEOUT_MS, Ordering::Release);
        let registered = register(&lua, &chunk);
        r.load_deadline_ms.store(0, Ordering::Release);
        let registered = registered.map_err(|e| format!("ERR {e}"))?;
        if registered.is_empty() {
            return Err("ERR No functions registered".into());
        }
        for (fname, ..) in &registered {
            if let Some(other) = functions.by_name.get(&fname.to_ascii_lowercase()) {
                if other.library != name {
                    return Err(format!("ERR Function {fname} already exists"));
                }
            }
        }
        if let Some(old) = functions.libraries.remove(&name) {
            for f in old.functions {
                functions.by_name.remove(&f.to_ascii_lowercase());
            }
        }
        let mut names = Vec::new();
        for (fname, func, flags, flag_names, description) in registered {
            let key = lua
                .create_registry_value(func)
                .map_err(|e| format!("ERR {}", message(&e)))?;
            names.push(fname.clone());
            functions.by_name.insert(
                fname.to_ascii_lowercase(),
                Registered {
                    name: fname,
                    library: name.clone(),
                    key: Arc::new(key),
                    flags,
                    flag_names,
                    description,
                },
            );
        }
        functions.libraries.insert(
            name.clone(),
            Library {
                code: code.to_vec(),
                functions: names,
            },
        );
        Ok(name)
    }

    /// Deletes library `name`; false if there is none.
    pub fn delete_library(&self, name: &str) -> bool {
        let mut functions = self.functions();
        let Some(lib) = functions.libraries.remove(name) else {
            return false;
        };
        for f in lib.functions {
            functions.by_name.remove(&f.to_ascii_lowercase());
        }
        true
    }

    /// Deletes every library.
    pub fn flush_functions(&self) {
        let lua = self.lua();
        *self.functions() = Functions::default();
        lua.expire_registry_values();
    }

    /// `(libraries, functions)` loaded.
    pub fn function_counts(&self) -> (usize, usize) {
        let f = self.functions();
        (f.libraries.len(), f.by_name.len())
    }

    /// FUNCTION LIST: every library whose name matches `pattern` (all without one), with its
    /// code if `with_code`.
    pub fn list_libraries(&self, pattern: Option<&[u8]>, with_code: bool) -> Reply {
        let f = self.functions();
        let mut out = Vec::new();
        for (name, lib) in &f.libraries {
            if pattern.is_some_and(|p| !strata_redis::pattern::matches(p, name.as_bytes())) {
                continue;
            }
            let funcs = lib
                .functions
                .iter()
                .filter_map(|n| f.by_name.get(&n.to_ascii_lowercase()))
                .map(|r| {
                    Reply::Map(vec![
                        (
                            Reply::Bulk(b"name".to_vec()),
                            Reply::Bulk(r.name.clone().into_bytes()),
                        ),
                        (
                            Reply::Bulk(b"description".to_vec()),
                            r.description
                                .clone()
                                .map_or(Reply::Null, |d| Reply::Bulk(d.into_bytes())),
                        ),
                        (
                            Reply::Bulk(b"flags".to_vec()),
                            Reply::Set(
                                r.flag_names
                                    .iter()
                                    .map(|f| Reply::Bulk(f.clone().into_bytes()))
                                    .collect(),
                            ),
                        ),
                    ])
                })
                .collect();
            let mut entry = vec![
                (
                    Reply::Bulk(b"library_name".to_vec()),
                    Reply::Bulk(name.clone().into_bytes()),
                ),
                (
                    Reply::Bulk(b"engine".to_vec()),
                    Reply::Bulk(b"LUA".to_vec()),
                ),
                (Reply::Bulk(b"functions".to_vec()), Reply::Array(funcs)),
            ];
            if with_code {
                entry.push((
                    Reply::Bulk(b"library_code".to_vec()),
                    Reply::Bulk(lib.code.clone()),
                ));
            }
            out.push(Reply::Map(entry));
        }
        Reply::Array(out)
    }

    /// Runs function `name` (any case) with `keys` and `args` (FCALL; `read_only` for
    /// FCALL_RO, which refuses a function without the `no-writes` flag).
    pub fn call_function(
        &self,
        name: &[u8],
        keys: &[Vec<u8>],
        args: &[Vec<u8>],
        read_only: bool,
        call: &mut dyn FnMut(&mut [Vec<u8>], bool) -> Reply,
    ) -> Reply {
        let lname = String::from_utf8_lossy(name).to_ascii_lowercase();
        let (key, flags) = match self.functions().by_name.get(&lname) {
            Some(r) => (Arc::clone(&r.key), r.flags),
            None => return Reply::error("ERR Function not found"),
        };
        if read_only && !flags.read_only {
            return Reply::error(
                "ERR Can not execute a script with write flag using *_ro command.",
            );
        }
        let lua = self.lua();
        let command = [
            vec![
                if read_only {
                    b"fcall_ro".to_vec()
                } else {
                    b"fcall".to_vec()
                },
                name.to_vec(),
            ],
            vec![keys.len().to_string().into_bytes()],
            keys.to_vec(),
            args.to_vec(),
        ]
        .concat();
        *self
            .running
            .function
            .lock()
            .unwrap_or_else(|e| e.into_inner()) =
            Some((String::from_utf8_lossy(name).into_owned(), command));
        let out = self.as_running(&lua, || {
            run_function(
                &lua,
                &key,
                keys,
                args,
                read_only || flags.read_only,
                call,
                true,
            )
            .unwrap_or_else(Reply::Error)
        });
        *self
            .running
            .function
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        out
    }
}

/// One registered function: name, callback, flags, flag names, description.
type Registration = (String, Function, ScriptFlags, Vec<String>, Option<String>);

/// Runs a library's code with `redis.register_function` collecting what it registers.
fn register(lua: &Lua, chunk: &Function) -> Result<Vec<Registration>, String> {
    let collected = std::cell::RefCell::new(Vec::<Registration>::new());
    let ran = lua.scope(|scope| {
        let register = scope.create_function(|_, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            let (name, callback, flags_table, description) = match args.as_slice() {
                [Value::String(n), Value::Function(f)] => (n.to_str()?.to_string(), f.clone(), None, None),
                [Value::Table(t)] => {
                    let name: mlua::String = t.raw_get("function_name").map_err(|_| {
                        mlua::Error::RuntimeError("function_name argument given to redis.register_function must be a string".into())
                    })?;
                    let callback: Function = t.raw_get("callback").map_err(|_| {
                        mlua::Error::RuntimeError("callback argument given to redis.register_function must be a function".into())
                    })?;
                    let flags: Option<Table> = t.raw_get("flags").ok();
                    let description: Option<String> = t.raw_get("description").ok();
                    (name.to_str()?.to_string(), callback, flags, description)
                }
                _ => {
                    return Err(mlua::Error::RuntimeError(
                        "wrong number of arguments to redis.register_function".into(),
                    ))
                }
            };
            if name.is_empty()
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(mlua::Error::RuntimeError(
                    "Function names can only contain letters, numbers, or underscores(_) and must be at least one character long".into(),
                ));
            }
            let mut flags = ScriptFlags::default();
            let mut flag_names = Vec::new();
            if let Some(t) = flags_table {
                for v in t.sequence_values::<String>() {
                    let f = v?;
                    match f.as_str() {
                        "no-writes" => flags.read_only = true,
                        "allow-oom" | "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                        _ => return Err(mlua::Error::RuntimeError("unknown flag given".into())),
                    }
                    flag_names.push(f);
                }
            }
            let mut c = collected.borrow_mut();
            if c.iter().any(|r| r.0.eq_ignore_ascii_case(&name)) {
                return Err(mlua::Error::RuntimeError("Function already exists in the library".into()));
            }
            c.push((name, callback, flags, flag_names, description));
            Ok(())
        })?;
        let g: Table = lua.named_registry_value(SCRIPT_ENV)?;
        let redis: Table = lua.globals().raw_get("redis")?;
        // The library's code sees `redis.register_function`; its functions, run later, see
        // the `redis` table with `call` and `pcall`, and the scripts' read-only globals.
        let env = lua.create_table()?;
        let load_redis = lua.create_table()?;
        load_redis.raw_set("register_function", register)?;
        let redis_meta = lua.create_table()?;
        redis_meta.raw_set("__index", redis)?;
        load_redis.set_metatable(Some(redis_meta));
        env.raw_set("redis", load_redis)?;
        let env_meta = lua.create_table()?;
        env_meta.raw_set("__index", g)?;
        env.set_metatable(Some(env_meta));
        chunk.set_environment(env)?;
        chunk.call::<()>(())
    });
    match ran {
        Ok(()) => Ok(collected.into_inner()),
        Err(e) => Err(message(&e)),
    }
}

/// Splits `#!<engine> name=<lib>` from a library's code: the library name and the code.
fn parse_library_shebang(code: &[u8]) -> Result<(String, Vec<u8>), ScriptError> {
    let Some(rest) = code.strip_prefix(b"#!") else {
        return Err("ERR Missing library metadata".into());
    };
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = String::from_utf8_lossy(&rest[..end]).into_owned();
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let engine = words.next().unwrap_or_default();
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    let mut name = None;
    for w in words {
        match w.split_once('=') {
            Some(("name", n)) => name = Some(n.to_string()),
            _ => return Err(format!("ERR Invalid metadata value given: {w}")),
        }
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    let mut body = b"\n".to_vec();
    body.extend_from_slice(rest.get(end + 1..).unwrap_or_default());
    Ok((name, body))
}

/// Splits a `#!lua [flags=a,b]` first line from the body; the flags it names.
fn parse_shebang(body: &[u8]) -> Result<(ScriptFlags, Vec<u8>), ScriptError> {
    let mut flags = ScriptFlags::default();
    let Some(rest) = body.strip_prefix(b"#!") else {
        return Ok((flags, body.to_vec()));
    };
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = String::from_utf8_lossy(&rest[..end]).into_owned();
    let mut words = line.split_whitespace();
    if words.next() != Some("lua") {
        return Err("ERR Unexpected engine in script shebang".into());
    }
    for w in words {
        let Some(list) = w.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {w}"));
        };
        for f in list.split(',').filter(|f| !f.is_empty()) {
            match f {
                "no-writes" => flags.read_only = true,
                "allow-oom" | "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                other => return Err(format!("ERR Unexpected flag in script shebang: {other}")),
            }
        }
    }
    // The shebang line becomes an empty line: line numbers in errors stay right.
    let mut code = b"\n".to_vec();
    code.extend_from_slice(rest.get(end + 1..).unwrap_or_default());
    Ok((flags, code))
}

/// The message of a Lua error, without mlua's wrapping.
fn message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => message(cause),
        mlua::Error::RuntimeError(m) | mlua::Error::SyntaxError { message: m, .. } => m.clone(),
        mlua::Error::ExternalError(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// The interpreter's fixed part: the `redis` table, `bit`, the sandbox.
fn setup(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    for name in ["loadfile", "dofile", "print"] {
        g.raw_set(name, Value::Nil)?;
    }
    let redis = lua.create_table()?;
    redis.set(
        "status_reply",
        lua.create_function(|lua, s: mlua::String| {
            let t = lua.create_table()?;
            t.set("ok", s)?;
            Ok(t)
        })?,
    )?;
    redis.set(
        "error_reply",
        lua.create_function(|lua, s: mlua::String| {
            let t = lua.create_table()?;
            t.set("err", s)?;
            Ok(t)
        })?,
    )?;
    redis.set(
        "sha1hex",
        lua.create_function(|_, args: Variadic<mlua::String>| match args.as_slice() {
            [s] => Ok(sha1_hex(&s.as_bytes())),
            _ => Err(mlua::Error::RuntimeError(
                "wrong number of arguments".into(),
            )),
        })?,
    )?;
    redis.set("log", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    redis.set("set_repl", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    redis.set(
        "replicate_commands",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    redis.set(
        "setresp",
        lua.create_function(|_, v: i64| {
            if v == 2 {
                Ok(())
            } else {
                Err(mlua::Error::RuntimeError(
                    "RESP version must be 2 (RESP3 replies inside scripts are not supported yet)"
                        .into(),
                ))
            }
        })?,
    )?;
    for (name, v) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.set(name, v)?;
    }
    redis.set("REDIS_VERSION", "7.2.0")?;
    redis.set("REDIS_VERSION_NUM", 0x0007_0200)?;
    lua.set_named_registry_value(REDIS_IMPL, redis.clone())?;
    g.set("redis", redis)?;
    g.set("bit", bit_library(lua)?)?;
    // redis.call raises the error table redis.pcall would return. Then Redis's read-only
    // tables: scripts run in an environment that reads the globals and writes nothing, and
    // the libraries they see cannot be changed ("Attempt to modify a readonly table").
    let env: Table = lua
        .load(
            r#"
        redis.call = function(...)
            local r = redis.__command(true, ...)
            if type(r) == 'table' and r.err ~= nil then error(r, 0) end
            return r
        end
        redis.pcall = function(...)
            return redis.__command(false, ...)
        end
        local G = _G
        local function readonly() error("Attempt to modify a readonly table", 2) end
        local readonly_meta = setmetatable({}, {__newindex = readonly, __metatable = false})
        local protected = setmetatable({}, {__mode = 'k'})
        local real_setmetatable = setmetatable
        local function protect(t)
            local proxy = {}
            protected[proxy] = true
            real_setmetatable(proxy, {__index = t, __newindex = readonly,
                                      __metatable = readonly_meta})
            return proxy
        end
        G.setmetatable = function(t, m)
            if protected[t] then error("Attempt to modify a readonly table", 2) end
            return real_setmetatable(t, m)
        end
        for _, name in ipairs({'redis', 'bit', 'string', 'table', 'math'}) do
            G[name] = protect(G[name])
        end
        local env = {}
        protected[env] = true
        real_setmetatable(env, {
            __index = function(_, n)
                local v = rawget(G, n)
                if v == nil then
                    error("Script attempted to access nonexistent global variable '"
                          .. tostring(n) .. "'", 2)
                end
                return v
            end,
            __newindex = readonly,
            __metatable = readonly_meta,
        })
        G._G = env
        return env
        "#,
        )
        .set_name("@redis_setup")
        .eval()?;
    lua.set_named_registry_value(SCRIPT_ENV, env)?;
    Ok(())
}

/// Registry names: the environment scripts run in, and the writable `redis` table behind
/// the read-only one scripts see.
const SCRIPT_ENV: &str = "strata.script_env";
const REDIS_IMPL: &str = "strata.redis_impl";

/// Lua BitOp's `bit` library, which Redis loads.
fn bit_library(lua: &Lua) -> mlua::Result<Table> {
    fn tobit(v: f64) -> i32 {
        // Normalised as BitOp does: the number modulo 2^32, as a signed 32-bit integer.
        (v.rem_euclid(4_294_967_296.0) as u64 as u32) as i32
    }
    let t = lua.create_table()?;
    t.set("tobit", lua.create_function(|_, v: f64| Ok(tobit(v)))?)?;
    t.set("bnot", lua.create_function(|_, v: f64| Ok(!tobit(v)))?)?;
    let fold = |op: fn(i32, i32) -> i32| {
        move |_: &Lua, vs: Variadic<f64>| Ok(vs.iter().map(|&v| tobit(v)).reduce(op).unwrap_or(0))
    };
    t.set("band", lua.create_function(fold(|a, b| a & b))?)?;
    t.set("bor", lua.create_function(fold(|a, b| a | b))?)?;
    t.set("bxor", lua.create_function(fold(|a, b| a ^ b))?)?;
    let shift = |op: fn(i32, u32) -> i32| {
        move |_: &Lua, (v, n): (f64, f64)| Ok(op(tobit(v), tobit(n) as u32 & 31))
    };
    t.set(
        "lshift",
        lua.create_function(shift(|a, n| ((a as u32) << n) as i32))?,
    )?;
    t.set(
        "rshift",
        lua.create_function(shift(|a, n| ((a as u32) >> n) as i32))?,
    )?;
    t.set("arshift", lua.create_function(shift(|a, n| a >> n))?)?;
    t.set(
        "rol",
        lua.create_function(shift(|a, n| (a as u32).rotate_left(n) as i32))?,
    )?;
    t.set(
        "ror",
        lua.create_function(shift(|a, n| (a as u32).rotate_right(n) as i32))?,
    )?;
    t.set(
        "bswap",
        lua.create_function(|_, v: f64| Ok(tobit(v).swap_bytes()))?,
    )?;
    t.set(
        "tohex",
        lua.create_function(|_, (v, n): (f64, Option<f64>)| {
            let n = n.map_or(8, tobit);
            let (upper, width) = (n < 0, n.unsigned_abs().min(8) as usize);
            let x = tobit(v) as u32;
            let s = if upper {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            Ok(s[8 - width..].to_string())
        })?,
    )?;
    Ok(t)
}

/// Runs the compiled script `key` with KEYS and ARGV set.
fn run_function(
    lua: &Lua,
    key: &RegistryKey,
    keys: &[Vec<u8>],
    args: &[Vec<u8>],
    read_only: bool,
    call: &mut dyn FnMut(&mut [Vec<u8>], bool) -> Reply,
    pass_args: bool,
) -> Result<Reply, ScriptError> {
    let err = |e: mlua::Error| format!("ERR {}", message(&e));
    let g = lua.globals();
    let strings = |v: &[Vec<u8>]| -> mlua::Result<Table> {
        let t = lua.create_table_with_capacity(v.len(), 0)?;
        for (i, s) in v.iter().enumerate() {
            t.raw_set(i + 1, lua.create_string(s)?)?;
        }
        Ok(t)
    };
    let (keys, args) = (strings(keys).map_err(err)?, strings(args).map_err(err)?);
    if !pass_args {
        g.raw_set("KEYS", keys.clone()).map_err(err)?;
        g.raw_set("ARGV", args.clone()).map_err(err)?;
    }
    let func: Function = lua.registry_value(key).map_err(err)?;
    let pcall: Function = g.raw_get("pcall").map_err(err)?;
    let call = std::cell::RefCell::new(call);
    let result = lua.scope(|scope| {
        let command = scope.create_function(|lua, (_raise, argv): (bool, Variadic<Value>)| {
            let reply = command_reply(&argv, read_only, &mut |a, w| (call.borrow_mut())(a, w));
            reply_to_lua(lua, reply)
        })?;
        let redis: Table = lua.named_registry_value(REDIS_IMPL)?;
        redis.raw_set("__command", command)?;
        // Through Lua's own pcall: an error raised with a table (`redis.call`'s) keeps it.
        // A function (FCALL) gets KEYS and ARGV as its arguments; a script reads the globals.
        let (ok, out): (bool, Value) = if pass_args {
            pcall.call((func, keys, args))?
        } else {
            pcall.call(func)?
        };
        redis.raw_set("__command", Value::Nil)?;
        Ok(if ok {
            lua_to_reply(&out, 0)
        } else {
            Reply::Error(raised(&out))
        })
    });
    result.map_err(|e| script_error(&e))
}

/// What EVAL answers for an error a script raised: an `{err = ...}` table's message as is,
/// anything else after `ERR`.
fn raised(v: &Value) -> String {
    match v {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(e)) => String::from_utf8_lossy(&e.as_bytes()).into_owned(),
            _ => "ERR script raised a table without err".into(),
        },
        Value::String(s) => format!("ERR {}", String::from_utf8_lossy(&s.as_bytes())),
        Value::Error(e) => {
            let m = message(e);
            if m.starts_with("ERR ") {
                m
            } else {
                format!("ERR {m}")
            }
        }
        other => format!("ERR script raised a {}", other.type_name()),
    }
}

/// An interpreter error outside the script (setting it up, a conversion).
fn script_error(e: &mlua::Error) -> ScriptError {
    format!("ERR {}", message(e))
}

/// Runs the command `argv` names for a script; errors in Redis's words.
fn command_reply(
    argv: &[Value],
    read_only: bool,
    call: &mut dyn FnMut(&mut [Vec<u8>], bool) -> Reply,
) -> Reply {
    if argv.is_empty() {
        return Reply::error("ERR Please specify at least one argument for this redis lib call");
    }
    let mut args = Vec::with_capacity(argv.len());
    for v in argv {
        match v {
            Value::String(s) => args.push(s.as_bytes().to_vec()),
            Value::Integer(i) => args.push(i.to_string().into_bytes()),
            Value::Number(n) => args.push(format_number(*n).into_bytes()),
            _ => {
                return Reply::error(
                    "ERR Lua redis lib command arguments must be strings or integers",
                )
            }
        }
    }
    call(&mut args, !read_only)
}

/// A Lua number as Lua 5.1's `tostring` writes it (`%.14g`), which is how Redis passes a
/// number argument on.
fn format_number(n: f64) -> String {
    if !n.is_finite() {
        return if n.is_nan() {
            "nan".into()
        } else if n > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if n == 0.0 {
        return "0".into();
    }
    // 14 significant digits, then %g's choice between fixed and exponent notation.
    let sci = format!("{n:.13e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if !(-4..14).contains(&exp) {
        let m = trim(mantissa.to_string());
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.unsigned_abs())
    } else {
        let decimals = usize::try_from(13 - exp).unwrap_or(0);
        trim(format!("{n:.decimals$}"))
    }
}

/// A reply as a script sees it (RESP2 rules).
fn reply_to_lua(lua: &Lua, reply: Reply) -> mlua::Result<Value> {
    let table1 = |k: &str, v: &str| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(k, v)?;
        Ok(Value::Table(t))
    };
    Ok(match reply {
        Reply::Simple(s) => table1("ok", &s)?,
        Reply::Error(e) => table1("err", &e)?,
        Reply::Integer(i) => Value::Number(i as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(&b)?),
        Reply::Verbatim(s) => Value::String(lua.create_string(&s)?),
        Reply::Null | Reply::NullArray | Reply::NoReply => Value::Boolean(false),
        Reply::Double(d) => Value::String(lua.create_string(crate::resp::format_double(d))?),
        Reply::Boolean(b) => Value::Number(if b { 1.0 } else { 0.0 }),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                t.raw_set(i + 1, reply_to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        Reply::Map(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.into_iter().enumerate() {
                t.raw_set(2 * i + 1, reply_to_lua(lua, k)?)?;
                t.raw_set(2 * i + 2, reply_to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}

/// A script's return value as a reply (RESP2 rules; tables read raw, never through a
/// metatable).
fn lua_to_reply(v: &Value, depth: usize) -> Reply {
    match v {
        Value::Nil => Reply::Null,
        Value::Boolean(true) => Reply::Integer(1),
        Value::Boolean(false) => Reply::Null,
        Value::Integer(i) => Reply::Integer(*i),
        Value::Number(n) => Reply::Integer(if n.is_finite() { *n as i64 } else { 0 }),
        Value::String(s) => Reply::Bulk(s.as_bytes().to_vec()),
        Value::Table(t) => {
            if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                return Reply::Error(String::from_utf8_lossy(&e.as_bytes()).into_owned());
            }
            if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
                return Reply::Simple(String::from_utf8_lossy(&s.as_bytes()).into_owned());
            }
            if depth >= MAX_DEPTH {
                return Reply::error("ERR reached lua stack limit");
            }
            let mut items = Vec::new();
            for i in 1.. {
                match t.raw_get::<Value>(i) {
                    Ok(Value::Nil) | Err(_) => break,
                    Ok(item) => items.push(lua_to_reply(&item, depth + 1)),
                }
            }
            Reply::Array(items)
        }
        _ => Reply::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_lua_tostring_does() {
        for (n, want) in [
            (1.0, "1"),
            (-3.0, "-3"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.33333333333333"),
            (1e15, "1e+15"),
            (123456789012345.0, "1.2345678901234e+14"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (2.5, "2.5"),
        ] {
            assert_eq!(format_number(n), want, "{n}");
        }
    }

    #[test]
    fn shebangs() {
        assert_eq!(
            parse_shebang(b"return 1").unwrap().0,
            ScriptFlags::default()
        );
        let (flags, code) = parse_shebang(b"#!lua flags=no-writes\nreturn 1").unwrap();
        assert!(flags.read_only);
        assert_eq!(code, b"\nreturn 1");
        assert!(parse_shebang(b"#!js\n").is_err());
        assert!(parse_shebang(b"#!lua flags=bogus\n").is_err());
        assert_eq!(
            parse_library_shebang(b"#!LUA name=lib_1\nx").unwrap().0,
            "lib_1"
        );
        assert!(parse_library_shebang(b"#!lua name=bad-name\n").is_err());
        assert!(parse_library_shebang(b"no shebang").is_err());
    }
}
