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

mod bit;
mod json;
mod msgpack;
mod structlib;

/// Redis's cap on a script's table nesting when converting to a reply.
const MAX_DEPTH: usize = 64;

/// What a script may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// `no-writes` (or EVAL_RO / FCALL_RO): write commands are refused.
    pub read_only: bool,
    /// Declared by a shebang or at registration (always for functions): a script that does
    /// not say `no-writes` is a write and is refused up front where writes are; one without
    /// flags meets such refusals only at its write commands (Redis's compatibility mode).
    pub declared: bool,
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
    /// Scripts (SHA1) and functions (`f:name`) whose last run was quick.
    quick: Mutex<std::collections::HashSet<String>>,
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
    /// Scripts and functions run (for the garbage collection steps).
    calls: AtomicU64,
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

/// Script calls between two garbage collection steps (Redis's `LUA_GC_CYCLE_PERIOD`).
const GC_CYCLE_PERIOD: u64 = 50;

/// A script that ran for less than this (ms) the last time runs on its connection's thread
/// the next time; a longer one first hands the thread's other connections to another.
const QUICK_MS: u64 = 2;

/// How many scripts and functions are remembered as quick (beyond, new ones are not).
const MAX_QUICK: usize = 10_000;

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
            let since = hook.since_ms.load(Ordering::Relaxed);
            if since != 0 && hook.now_ms().saturating_sub(since) >= QUICK_MS {
                leave_worker();
            }
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
#[derive(Debug, Clone)]
struct Library {
    code: Vec<u8>,
    /// Its functions' names as registered.
    functions: Vec<String>,
}

/// A registered function.
#[derive(Debug, Clone)]
struct Registered {
    name: String,
    library: String,
    key: Arc<RegistryKey>,
    flags: ScriptFlags,
    flag_names: Vec<String>,
    description: Option<String>,
}

/// The function libraries, and their functions by lowercase name.
#[derive(Debug, Default, Clone)]
struct Functions {
    libraries: std::collections::BTreeMap<String, Library>,
    by_name: HashMap<String, Registered>,
}

/// A library whose code ran, its functions not yet installed.
struct Compiled {
    name: String,
    code: Vec<u8>,
    registered: Vec<Registration>,
}

/// How FUNCTION RESTORE treats the libraries loaded already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    /// Keep them; a library of the same name is an error (the default).
    Append,
    /// Keep them; a library of the same name is replaced.
    Replace,
    /// Delete them all first.
    Flush,
}

impl Functions {
    /// An error if another library has a function of `lib`'s.
    fn check_collisions(&self, lib: &Compiled) -> Result<(), ScriptError> {
        for (fname, ..) in &lib.registered {
            if let Some(other) = self.by_name.get(&fname.to_ascii_lowercase()) {
                if other.library != lib.name {
                    return Err(format!("ERR Function {fname} already exists"));
                }
            }
        }
        Ok(())
    }

    /// Removes library `name` and its functions; false if there is none.
    fn remove(&mut self, name: &str) -> bool {
        let Some(lib) = self.libraries.remove(name) else {
            return false;
        };
        for f in lib.functions {
            self.by_name.remove(&f.to_ascii_lowercase());
        }
        true
    }

    /// Makes `lib`'s functions callable.
    fn install(&mut self, lua: &Lua, lib: Compiled) -> Result<(), ScriptError> {
        let mut names = Vec::new();
        for (fname, func, flags, flag_names, description) in lib.registered {
            let key = lua
                .create_registry_value(func)
                .map_err(|e| format!("ERR {}", message(&e)))?;
            names.push(fname.clone());
            self.by_name.insert(
                fname.to_ascii_lowercase(),
                Registered {
                    name: fname,
                    library: lib.name.clone(),
                    key: Arc::new(key),
                    flags,
                    flag_names,
                    description,
                },
            );
        }
        self.libraries.insert(
            lib.name,
            Library {
                code: lib.code,
                functions: names,
            },
        );
        Ok(())
    }
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
            calls: AtomicU64::new(0),
        });
        install_hook(&lua, &running, HOOK_EVERY);
        Ok(Scripting {
            lua: Mutex::new(lua),
            scripts: Mutex::new(HashMap::new()),
            functions: Mutex::new(Functions::default()),
            running,
            quick: Mutex::default(),
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

    /// Whether the script `sha` (or one not run yet) ran for long the last time: the next
    /// run leaves its connection's thread to the others first.
    pub fn ran_long(&self, sha: &str) -> bool {
        !self.quick().contains(sha)
    }

    /// [`ran_long`](Self::ran_long) for function `name` (any case).
    pub fn function_ran_long(&self, name: &[u8]) -> bool {
        let key = format!("f:{}", String::from_utf8_lossy(name).to_ascii_lowercase());
        !self.quick().contains(&key)
    }

    fn quick(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.quick.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` as the running script (for BUSY and SCRIPT KILL), `name` (its SHA1, or
    /// `f:` and the function's name) noted as quick or not.
    fn as_running<R>(&self, lua: &Lua, name: String, f: impl FnOnce() -> R) -> R {
        let r = &self.running;
        r.kill.store(false, Ordering::Release);
        r.wrote.store(false, Ordering::Release);
        let started = r.now_ms();
        r.since_ms.store(started, Ordering::Release);
        let out = f();
        let quick = r.now_ms().saturating_sub(started) < QUICK_MS;
        r.since_ms.store(0, Ordering::Release);
        let mut known = self.quick();
        if quick {
            if known.len() < MAX_QUICK || known.contains(&name) {
                known.insert(name);
            }
        } else {
            known.remove(&name);
        }
        drop(known);
        // As Redis: a step of garbage collection every 50 calls keeps what scripts leave
        // behind from piling up between the collector's own cycles.
        if r.calls.fetch_add(1, Ordering::Relaxed) % GC_CYCLE_PERIOD == GC_CYCLE_PERIOD - 1 {
            let _ = lua.gc_step_kbytes(GC_CYCLE_PERIOD as i32);
        }
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
        // Redis starts a new interpreter: the garbage of every script run goes too.
        let _ = lua.gc_collect();
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
        Some(self.as_running(&lua, sha.to_string(), || {
            let run = Invocation {
                name: sha,
                keys,
                args,
                read_only,
                as_function: false,
            };
            run_function(&lua, &key, &run, call).unwrap_or_else(Reply::Error)
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
        let (name, _) = parse_library_shebang(code)?;
        let lua = self.lua();
        let mut functions = self.functions();
        if functions.libraries.contains_key(&name) && !replace {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let lib = self.compile_library(&lua, code)?;
        functions.check_collisions(&lib)?;
        functions.remove(&name);
        functions.install(&lua, lib)?;
        Ok(name)
    }

    /// Compiles a library and runs its code (Redis's 500 ms) to collect its functions.
    fn compile_library(&self, lua: &Lua, code: &[u8]) -> Result<Compiled, ScriptError> {
        let (name, body) = parse_library_shebang(code)?;
        let chunk = lua
            .load(body)
            .set_name("@user_function")
            .into_function()
            .map_err(|e| format!("ERR Error compiling function: {}", message(&e)))?;
        let r = &self.running;
        r.load_deadline_ms
            .store(r.now_ms() + LOAD_TIMEOUT_MS, Ordering::Release);
        let registered = register(lua, &chunk);
        r.load_deadline_ms.store(0, Ordering::Release);
        let registered = registered.map_err(|e| format!("ERR Error registering functions: {e}"))?;
        if registered.is_empty() {
            return Err("ERR No functions registered".into());
        }
        Ok(Compiled {
            name,
            code: code.to_vec(),
            registered,
        })
    }

    /// The loaded libraries' names and code (FUNCTION DUMP).
    pub fn library_codes(&self) -> Vec<(String, Vec<u8>)> {
        self.functions()
            .libraries
            .iter()
            .map(|(name, lib)| (name.clone(), lib.code.clone()))
            .collect()
    }

    /// FUNCTION RESTORE: loads the libraries `codes` by `policy`, all or none.
    ///
    /// # Errors
    /// Redis's error line; nothing changed.
    pub fn restore_libraries(
        &self,
        codes: &[Vec<u8>],
        policy: RestorePolicy,
    ) -> Result<(), ScriptError> {
        let lua = self.lua();
        let mut libs: Vec<Compiled> = Vec::new();
        let mut seen = HashMap::new();
        for code in codes {
            let lib = self.compile_library(&lua, code)?;
            if libs.iter().any(|l| l.name == lib.name) {
                return Err(format!("ERR Library '{}' already exists", lib.name));
            }
            for (fname, ..) in &lib.registered {
                if seen.insert(fname.to_ascii_lowercase(), ()).is_some() {
                    return Err(format!("ERR Function {fname} already exists"));
                }
            }
            libs.push(lib);
        }
        let mut functions = self.functions();
        let mut next = match policy {
            RestorePolicy::Flush => Functions::default(),
            RestorePolicy::Append | RestorePolicy::Replace => functions.clone(),
        };
        for lib in &libs {
            if next.libraries.contains_key(&lib.name) {
                if policy == RestorePolicy::Append {
                    return Err(format!("ERR Library {} already exists", lib.name));
                }
                next.remove(&lib.name);
            }
        }
        for lib in &libs {
            next.check_collisions(lib)?;
        }
        for lib in libs {
            next.install(&lua, lib)?;
        }
        *functions = next;
        Ok(())
    }

    /// Deletes library `name`; false if there is none.
    pub fn delete_library(&self, name: &str) -> bool {
        self.functions().remove(name)
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

    /// The flags of function `name` (any case), if it is loaded.
    pub fn function_flags(&self, name: &[u8]) -> Option<ScriptFlags> {
        let lname = String::from_utf8_lossy(name).to_ascii_lowercase();
        self.functions().by_name.get(&lname).map(|r| r.flags)
    }

    /// The flags a script body declares in its shebang (none without one; a bad shebang is
    /// taken as none: running it will say what is wrong).
    pub fn body_flags(body: &[u8]) -> ScriptFlags {
        parse_shebang(body).map(|(f, _)| f).unwrap_or_default()
    }

    /// The flags of the loaded script `sha`.
    pub fn script_flags(&self, sha: &str) -> Option<ScriptFlags> {
        self.scripts().get(sha).map(|s| s.1)
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
        let out = self.as_running(&lua, format!("f:{lname}"), || {
            let fname = String::from_utf8_lossy(name);
            let run = Invocation {
                name: &fname,
                keys,
                args,
                read_only: read_only || flags.read_only,
                as_function: true,
            };
            run_function(&lua, &key, &run, call).unwrap_or_else(Reply::Error)
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

/// While a library's code runs (FUNCTION LOAD), what it registered so far; kept as the
/// interpreter's app data, so `redis.register_function` outside a load finds none.
struct Loading(Vec<Registration>);

/// A Lua runtime error with `m` as its message.
fn lua_error(m: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(m.into())
}

/// A Lua number's value (mlua gives integral ones as `Integer`).
fn lua_number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// Redis's script flags, by the names shebangs and `register_function` use.
const FLAG_NAMES: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// Whether `name` is a valid library or function name: letters, digits and `_`, at least one.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A Lua string or number as text (what `lua_isstring` accepts).
fn lua_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some(format_number(*n)),
        _ => None,
    }
}

/// `flags = {...}` of a named registration: each a known flag name (any case).
fn read_flags(t: &Table) -> mlua::Result<(ScriptFlags, Vec<String>)> {
    let mut flags = ScriptFlags {
        declared: true,
        ..ScriptFlags::default()
    };
    let mut names = Vec::new();
    for i in 1.. {
        let v: Value = t.raw_get(i)?;
        if v.is_nil() {
            break;
        }
        let Some(f) = lua_text(&v).and_then(|f| {
            FLAG_NAMES
                .iter()
                .find(|n| n.eq_ignore_ascii_case(&f))
                .copied()
        }) else {
            return Err(lua_error("unknown flag given"));
        };
        flags.read_only |= f == "no-writes";
        names.push(f.to_string());
    }
    Ok((flags, names))
}

/// `redis.register_function{function_name=..., callback=..., flags=..., description=...}`.
fn named_registration(t: &Table) -> mlua::Result<Registration> {
    let (mut name, mut callback, mut flags, mut description) = (None, None, None, None);
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let Value::String(k) = k else {
            return Err(lua_error(
                "named argument key given to redis.register_function is not a string",
            ));
        };
        let k = k.as_bytes().to_ascii_lowercase();
        match k.as_slice() {
            b"function_name" => match v {
                Value::String(s) => name = Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
                _ => return Err(lua_error("function_name argument given to redis.register_function must be a string")),
            },
            b"description" => match v {
                Value::String(s) => description = Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
                _ => return Err(lua_error("description argument given to redis.register_function must be a string")),
            },
            b"callback" => match v {
                Value::Function(f) => callback = Some(f),
                _ => return Err(lua_error("callback argument given to redis.register_function must be a function")),
            },
            b"flags" => match v {
                Value::Table(f) => flags = Some(read_flags(&f)?),
                _ => return Err(lua_error("flags argument to redis.register_function must be a table representing function flags")),
            },
            _ => return Err(lua_error("unknown argument given to redis.register_function")),
        }
    }
    let name =
        name.ok_or_else(|| lua_error("redis.register_function must get a function name argument"))?;
    let callback = callback
        .ok_or_else(|| lua_error("redis.register_function must get a callback argument"))?;
    let (flags, flag_names) = flags.unwrap_or_else(|| {
        let declared = ScriptFlags {
            declared: true,
            ..ScriptFlags::default()
        };
        (declared, Vec::new())
    });
    Ok((name, callback, flags, flag_names, description))
}

/// `redis.register_function(name, callback)` and the named form, as Redis checks them.
fn register_function(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    if lua.app_data_ref::<Loading>().is_none() {
        return Err(lua_error(
            "redis.register_function can only be called on FUNCTION LOAD command",
        ));
    }
    let args: Vec<Value> = args.into_iter().collect();
    let registration = match args.as_slice() {
        [Value::Table(t)] => named_registration(t)?,
        [_] => return Err(lua_error("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")),
        [name, callback] => {
            let name = lua_text(name).ok_or_else(|| {
                lua_error("first argument to redis.register_function must be a string")
            })?;
            let Value::Function(callback) = callback else {
                return Err(lua_error(
                    "second argument to redis.register_function must be a function",
                ));
            };
            let flags = ScriptFlags {
                declared: true,
                ..ScriptFlags::default()
            };
            (name, callback.clone(), flags, Vec::new(), None)
        }
        _ => {
            return Err(lua_error(
                "wrong number of arguments to redis.register_function",
            ))
        }
    };
    // Redis's message for a bad function name names libraries (sic).
    if !valid_name(&registration.0) {
        return Err(lua_error("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
    }
    let mut loading = lua.app_data_mut::<Loading>().ok_or_else(|| {
        lua_error("redis.register_function can only be called on FUNCTION LOAD command")
    })?;
    if loading
        .0
        .iter()
        .any(|r| r.0.eq_ignore_ascii_case(&registration.0))
    {
        return Err(lua_error("Function already exists in the library"));
    }
    loading.0.push(registration);
    Ok(())
}

/// Runs a library's code, in the load environment (only `redis.register_function`, `log`
/// and the version), collecting what it registers.
fn register(lua: &Lua, chunk: &Function) -> Result<Vec<Registration>, String> {
    let globals: Table = lua
        .named_registry_value(FUNCTION_GLOBALS)
        .map_err(|e| message(&e))?;
    let set_loading: Function = lua
        .named_registry_value(SET_LOADING)
        .map_err(|e| message(&e))?;
    chunk.set_environment(globals).map_err(|e| message(&e))?;
    lua.set_app_data(Loading(Vec::new()));
    let ran = set_loading
        .call::<()>(true)
        .and_then(|()| chunk.call::<()>(()));
    let reset = set_loading.call::<()>(false);
    let loading = lua.remove_app_data::<Loading>();
    ran.and(reset).map_err(|e| message(&e))?;
    Ok(loading.map(|l| l.0).unwrap_or_default())
}

/// Splits `#!<engine> name=<lib>` from a library's code (the first line split as Redis's
/// `sdssplitargs` does): the library name and the code.
fn parse_library_shebang(code: &[u8]) -> Result<(String, Vec<u8>), ScriptError> {
    let Some(rest) = code.strip_prefix(b"#!") else {
        return Err("ERR Missing library metadata".into());
    };
    let Some(end) = rest.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let mut line = b"#!".to_vec();
    line.extend_from_slice(&rest[..end]);
    let parts = match crate::resp::split_args(&line) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid library metadata".into()),
    };
    let engine = String::from_utf8_lossy(parts[0].get(2..).unwrap_or_default()).into_owned();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(String::from_utf8_lossy(&part[5..]).into_owned());
            continue;
        }
        return Err(format!(
            "ERR Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if !valid_name(&name) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    Ok((name, rest[end..].to_vec()))
}

/// Splits a `#!lua [flags=a,b]` first line from the body; the flags it names.
fn parse_shebang(body: &[u8]) -> Result<(ScriptFlags, Vec<u8>), ScriptError> {
    let mut flags = ScriptFlags::default();
    let Some(rest) = body.strip_prefix(b"#!") else {
        return Ok((flags, body.to_vec()));
    };
    flags.declared = true;
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
        lua.create_function(|lua, args: Variadic<Value>| {
            let t = lua.create_table()?;
            let e = match args.as_slice() {
                [Value::String(s)] => {
                    let s = s.as_bytes();
                    let s = String::from_utf8_lossy(&s);
                    error_line(s.strip_prefix('-').unwrap_or(&s))
                }
                _ => "ERR wrong number or type of arguments".to_string(),
            };
            t.set("err", e)?;
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
        lua.create_function(|_, args: Variadic<Value>| {
            let [v] = args.as_slice() else {
                return Err(lua_error("redis.setresp() requires one argument."));
            };
            match v {
                Value::Integer(2) => RESP3.with(|r| r.set(false)),
                Value::Integer(3) => RESP3.with(|r| r.set(true)),
                _ => return Err(lua_error("RESP version must be 2 or 3.")),
            }
            Ok(())
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
    g.set("bit", bit::library(lua)?)?;
    g.set("cjson", json::library(lua)?)?;
    g.set("cmsgpack", msgpack::library(lua)?)?;
    g.set("struct", structlib::library(lua)?)?;
    // redis.call raises the error table redis.pcall would return. Then Redis's read-only
    // tables: scripts run in an environment that reads the globals and writes nothing, and
    // the libraries they see cannot be changed ("Attempt to modify a readonly table").
    // Function libraries share one more globals table, as read-only: while a library's code
    // runs (FUNCTION LOAD) it reads only the load API (`redis.register_function`, `log`, the
    // version), and afterwards what scripts read.
    let (env, function_globals, set_loading, run_protected): (Table, Table, Function, Function) =
        lua.load(
            r#"
        local register_function = ...
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
        -- A read-only table whose missing fields are errors, as Redis's globals are.
        local function strict_index(t)
            return function(_, n)
                local v = rawget(t, n)
                if v == nil then
                    error("Script attempted to access nonexistent global variable '"
                          .. tostring(n) .. "'", 2)
                end
                return v
            end
        end
        local function strict(t)
            local proxy = {}
            protected[proxy] = true
            real_setmetatable(proxy, {__index = strict_index(t), __newindex = readonly,
                                      __metatable = readonly_meta})
            return proxy
        end
        local load_redis = {register_function = register_function, log = redis.log}
        for _, k in ipairs({'LOG_DEBUG', 'LOG_VERBOSE', 'LOG_NOTICE', 'LOG_WARNING',
                            'REDIS_VERSION', 'REDIS_VERSION_NUM'}) do
            load_redis[k] = redis[k]
        end
        local load_index = strict_index({redis = strict(load_redis)})
        G.setmetatable = function(t, m)
            if protected[t] then error("Attempt to modify a readonly table", 2) end
            return real_setmetatable(t, m)
        end
        for _, name in ipairs({'redis', 'bit', 'cjson', 'cmsgpack', 'struct', 'string',
                               'table', 'math'}) do
            G[name] = protect(G[name])
        end
        local run_index = strict_index(G)
        local env = {}
        protected[env] = true
        real_setmetatable(env, {__index = run_index, __newindex = readonly,
                                __metatable = readonly_meta})
        local function_meta = {__index = run_index, __newindex = readonly,
                               __metatable = readonly_meta}
        local function_globals = real_setmetatable({}, function_meta)
        protected[function_globals] = true
        local function set_loading(on)
            function_meta.__index = on and load_index or run_index
        end
        G._G = env
        -- Strings' methods are the read-only string table, and their metatable is hidden.
        local string_meta = getmetatable('')
        string_meta.__index = G.string
        string_meta.__metatable = readonly_meta
        -- No way around the read-only tables: rawset refuses them, getfenv never hands out
        -- the real globals, and code loaded at run time gets its loader's environment.
        -- Binary chunks are refused (Redis's loadstring answers nil for them).
        local real_rawset, real_getfenv, real_setfenv = rawset, getfenv, setfenv
        local real_loadstring, byte, concat = loadstring, string.byte, table.concat
        G.rawset = function(t, k, v)
            if protected[t] then error("Attempt to modify a readonly table", 2) end
            return real_rawset(t, k, v)
        end
        G.getfenv = function(f)
            if f == nil then f = 1 end
            local e
            if type(f) == 'number' then
                if f == 0 then return env end
                e = real_getfenv(f + 1)
            else
                e = real_getfenv(f)
            end
            if e == G then return env end
            return e
        end
        local function compile(code, name, fenv)
            if type(code) == 'string' and byte(code, 1) == 27 then
                return nil, 'binary code not allowed'
            end
            local f, e = real_loadstring(code, name)
            if f then real_setfenv(f, fenv) end
            return f, e
        end
        G.loadstring = function(code, name)
            return compile(code, name, real_getfenv(2))
        end
        G.load = function(reader, name)
            if type(reader) ~= 'function' then
                error("bad argument #1 to 'load' (function expected)", 2)
            end
            local parts = {}
            while true do
                local piece = reader()
                if piece == nil or piece == '' then break end
                if type(piece) ~= 'string' then
                    return nil, 'reader function must return a string'
                end
                parts[#parts + 1] = piece
            end
            return compile(concat(parts), name, real_getfenv(2))
        end
        local real_xpcall, unpack, select = xpcall, unpack, select
        local function run_protected(f, handler, ...)
            if select('#', ...) == 0 then return real_xpcall(f, handler) end
            local args, n = {...}, select('#', ...)
            return real_xpcall(function() return f(unpack(args, 1, n)) end, handler)
        end
        return env, function_globals, set_loading, run_protected
        "#,
        )
        .set_name("@redis_setup")
        .call(lua.create_function(register_function)?)?;
    lua.set_named_registry_value(SCRIPT_ENV, env)?;
    lua.set_named_registry_value(FUNCTION_GLOBALS, function_globals)?;
    lua.set_named_registry_value(SET_LOADING, set_loading)?;
    lua.set_named_registry_value(RUN_PROTECTED, run_protected)?;
    lua.set_named_registry_value(ERROR_HANDLER, lua.create_function(error_handler)?)?;
    Ok(())
}

/// Registry names: the environment scripts run in, and the writable `redis` table behind
/// the read-only one scripts see.
const SCRIPT_ENV: &str = "strata.script_env";
const REDIS_IMPL: &str = "strata.redis_impl";
/// The globals function libraries share, and the Lua function that switches them between
/// the load environment and the run environment.
const FUNCTION_GLOBALS: &str = "strata.function_globals";
const SET_LOADING: &str = "strata.set_loading";
/// Runs a function with arguments under a message handler (`xpcall` with arguments), and
/// the message handler.
const RUN_PROTECTED: &str = "strata.run_protected";
const ERROR_HANDLER: &str = "strata.error_handler";

/// One run of a script or function.
struct Invocation<'a> {
    /// What its errors name: the script's SHA1, or the function's name.
    name: &'a str,
    keys: &'a [Vec<u8>],
    args: &'a [Vec<u8>],
    read_only: bool,
    /// A function gets KEYS and ARGV as its arguments; a script reads the globals.
    as_function: bool,
}

/// Runs the compiled script `key` with KEYS and ARGV; its error, if it raises one, says
/// where as Redis's does (`... script: <name>, on @user_script:<line>.`).
fn run_function(
    lua: &Lua,
    key: &RegistryKey,
    run: &Invocation<'_>,
    call: &mut dyn FnMut(&mut [Vec<u8>], bool) -> Reply,
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
    let (keys, args) = (
        strings(run.keys).map_err(err)?,
        strings(run.args).map_err(err)?,
    );
    if !run.as_function {
        g.raw_set("KEYS", keys.clone()).map_err(err)?;
        g.raw_set("ARGV", args.clone()).map_err(err)?;
    }
    let func: Function = lua.registry_value(key).map_err(err)?;
    let protected: Function = lua.named_registry_value(RUN_PROTECTED).map_err(err)?;
    let handler: Function = lua.named_registry_value(ERROR_HANDLER).map_err(err)?;
    let call = std::cell::RefCell::new(call);
    let read_only = run.read_only;
    RESP3.with(|r| r.set(false));
    let result = lua.scope(|scope| {
        let command = scope.create_function(|lua, (_raise, argv): (bool, Variadic<Value>)| {
            let reply = command_reply(&argv, read_only, &mut |a, w| (call.borrow_mut())(a, w));
            reply_to_lua(lua, reply, script_resp3())
        })?;
        let redis: Table = lua.named_registry_value(REDIS_IMPL)?;
        redis.raw_set("__command", command)?;
        // Under Redis's message handler: an error raised with a table (`redis.call`'s)
        // keeps it, and any error learns where in the script it happened.
        let (ok, out): (bool, Value) = if run.as_function {
            protected.call((func, handler, keys, args))?
        } else {
            protected.call((func, handler))?
        };
        redis.raw_set("__command", Value::Nil)?;
        Ok(if ok {
            lua_to_reply(&out, 0, script_resp3())
        } else {
            let mut line = raised(&out);
            if let Value::Table(t) = &out {
                if let (Some(source), Ok(Value::Integer(at))) =
                    (string_field(t, "source"), t.raw_get::<Value>("line"))
                {
                    line = format!(
                        "{line} script: {}, on {}:{at}.",
                        run.name,
                        String::from_utf8_lossy(&source)
                    );
                }
            }
            Reply::Error(line)
        })
    });
    result.map_err(|e| script_error(&e))
}

/// The innermost frame of a user's script or function on the stack: its source
/// (`@user_script`, `@user_function`) and the line running there.
fn user_frame(lua: &Lua) -> Option<(String, i32)> {
    (1..64).find_map(|level| {
        let frame = lua.inspect_stack(level)?;
        let source = frame.source().source?.into_owned();
        let line = frame.curr_line();
        (source.starts_with("@user_") && line > 0).then_some((source, line))
    })
}

/// Redis's error handler (run where the error was raised): every error becomes a table
/// `{err = "CODE message"}` with the script's `source` and `line`. A library function's
/// error (raised from Rust) is prefixed with that place, as `luaL_error` does.
fn error_handler(lua: &Lua, error: Value) -> mlua::Result<Value> {
    let frame = user_frame(lua);
    let t = match error {
        Value::Table(t) => t,
        other => {
            let msg = match &other {
                Value::String(s) => format!("ERR {}", String::from_utf8_lossy(&s.as_bytes())),
                Value::Error(e) => {
                    let m = message(e);
                    if m.starts_with("ERR ") {
                        m
                    } else if let Some((source, line)) = &frame {
                        format!("ERR {}:{line}: {m}", source.trim_start_matches('@'))
                    } else {
                        format!("ERR {m}")
                    }
                }
                Value::Nil => "ERR nil".to_string(),
                v => format!("ERR {}", v.to_string().unwrap_or_default()),
            };
            let t = lua.create_table()?;
            t.raw_set("err", msg)?;
            t
        }
    };
    if let Some((source, line)) = frame {
        t.raw_set("source", source)?;
        t.raw_set("line", line)?;
    }
    Ok(Value::Table(t))
}

thread_local! {
    /// A script or transaction runs on a runtime worker thread, which it has not handed
    /// over (see `leave_worker`).
    static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The script that just ran answered an error a command it called made (counted then).
    static ERROR_COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The running script asked for RESP3 replies (`redis.setresp(3)`).
    static RESP3: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Notes that what runs next on this thread (a quick script or transaction) runs on a
/// runtime worker (`true`), or that it is done (`false`).
pub fn set_on_worker(on: bool) {
    ON_WORKER.with(|w| w.set(on));
}

/// If this thread is a runtime worker running a script or transaction that turned out long,
/// hands the worker (its other connections) to another thread, as `block_in_place` does
/// before a command known to be long: they are served while this one goes on. The hand-off
/// takes a millisecond, once.
pub fn leave_worker() {
    if !ON_WORKER.with(|w| w.replace(false)) {
        return;
    }
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        // The thread taking the worker over needs a moment to start; until it has, the
        // worker could come back here.
        tokio::task::block_in_place(|| std::thread::sleep(std::time::Duration::from_millis(1)));
    }
}

/// Whether the script running on this thread reads its commands' replies in RESP3.
pub fn script_resp3() -> bool {
    RESP3.with(std::cell::Cell::get)
}

/// An error line as Redis makes one from a script's text (`luaPushErrorBuff`): its first
/// word is its code, or `ERR` comes first if it has no space.
fn error_line(text: &str) -> String {
    let (code, msg) = text.split_once(' ').unwrap_or(("ERR", text));
    format!("{code} {}", msg.trim_matches(|c| c == '\r' || c == '\n'))
}

/// The field Redis puts in the error table of a command's error (so it counts only once).
const COUNTED: &str = "ignore_error_stats_update";

/// Whether the script that just ran on this thread answered an error counted already;
/// clears it.
pub fn take_error_counted() -> bool {
    ERROR_COUNTED.with(|c| c.replace(false))
}

/// Notes whether an error table a script answers was a command's.
fn note_counted(t: &Table) {
    if matches!(t.raw_get::<Value>(COUNTED), Ok(Value::Boolean(true))) {
        ERROR_COUNTED.with(|c| c.set(true));
    }
}

/// What EVAL answers for an error a script raised: an `{err = ...}` table's message as is,
/// anything else after `ERR`.
fn raised(v: &Value) -> String {
    match v {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(e)) => {
                note_counted(t);
                String::from_utf8_lossy(&e.as_bytes()).into_owned()
            }
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
    crate::resp::format_g(n, 14)
}

/// A reply as a script sees it: Redis's RESP2 rules, or its RESP3 ones after
/// `redis.setresp(3)` (a map `{map = {...}}`, a set `{set = {member = true}}`, a double
/// `{double = n}`, a boolean a boolean, a null nil).
fn reply_to_lua(lua: &Lua, reply: Reply, resp3: bool) -> mlua::Result<Value> {
    let table1 = |k: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(k, v)?;
        Ok(Value::Table(t))
    };
    Ok(match reply {
        Reply::Simple(s) => table1("ok", Value::String(lua.create_string(&s)?))?,
        Reply::Error(e) => {
            let t = lua.create_table()?;
            t.raw_set("err", e)?;
            t.raw_set(COUNTED, true)?;
            Value::Table(t)
        }
        Reply::Integer(i) => Value::Number(i as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(&b)?),
        Reply::Null | Reply::NullArray if resp3 => Value::Nil,
        Reply::Null | Reply::NullArray | Reply::NoReply => Value::Boolean(false),
        Reply::Double(d) if resp3 => table1("double", Value::Number(d))?,
        Reply::Double(d) => Value::String(lua.create_string(crate::resp::format_double(d))?),
        Reply::Boolean(b) if resp3 => Value::Boolean(b),
        Reply::Boolean(b) => Value::Number(if b { 1.0 } else { 0.0 }),
        Reply::Verbatim(s) if resp3 => {
            let v = lua.create_table()?;
            v.raw_set("format", "txt")?;
            v.raw_set("string", lua.create_string(&s)?)?;
            table1("verbatim_string", Value::Table(v))?
        }
        Reply::Verbatim(s) => Value::String(lua.create_string(&s)?),
        Reply::Set(items) if resp3 => {
            let t = lua.create_table_with_capacity(0, items.len())?;
            for item in items {
                t.raw_set(reply_to_lua(lua, item, resp3)?, true)?;
            }
            table1("set", Value::Table(t))?
        }
        Reply::Map(pairs) if resp3 => {
            let t = lua.create_table_with_capacity(0, pairs.len())?;
            for (k, v) in pairs {
                t.raw_set(reply_to_lua(lua, k, resp3)?, reply_to_lua(lua, v, resp3)?)?;
            }
            table1("map", Value::Table(t))?
        }
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) | Reply::Several(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                t.raw_set(i + 1, reply_to_lua(lua, item, resp3)?)?;
            }
            Value::Table(t)
        }
        Reply::Map(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.into_iter().enumerate() {
                t.raw_set(2 * i + 1, reply_to_lua(lua, k, resp3)?)?;
                t.raw_set(2 * i + 2, reply_to_lua(lua, v, resp3)?)?;
            }
            Value::Table(t)
        }
    })
}

/// A number as C's `(long long)` cast makes it on the machines Redis runs on: truncated,
/// and anything outside the range (infinities and NaN too) the lowest value.
fn c_long_long(n: f64) -> i64 {
    if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

/// A Lua string field of `t`, if it has one.
fn string_field(t: &Table, name: &str) -> Option<Vec<u8>> {
    match t.raw_get::<Value>(name) {
        Ok(Value::String(s)) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

/// A status or big number line: Redis turns its line breaks into spaces.
fn one_line(s: &[u8]) -> String {
    String::from_utf8_lossy(s).replace(['\r', '\n'], " ")
}

/// A script's return value as a reply (Redis's rules; tables read raw, never through a
/// metatable): `{err=}`, `{ok=}`, `{double=}`, `{big_number=}`, `{verbatim_string=}`,
/// `{map=}` and `{set=}` first, else the array part up to the first nil. A boolean is 1 or
/// nil for a script in RESP2, a boolean in RESP3.
fn lua_to_reply(v: &Value, depth: usize, resp3: bool) -> Reply {
    match v {
        Value::Nil => Reply::Null,
        Value::Boolean(b) if resp3 => Reply::Boolean(*b),
        Value::Boolean(true) => Reply::Integer(1),
        Value::Boolean(false) => Reply::Null,
        Value::Integer(i) => Reply::Integer(*i),
        Value::Number(n) => Reply::Integer(c_long_long(*n)),
        Value::String(s) => Reply::Bulk(s.as_bytes().to_vec()),
        Value::Table(t) => {
            if let Some(e) = string_field(t, "err") {
                if depth == 0 {
                    note_counted(t);
                }
                return Reply::Error(String::from_utf8_lossy(&e).into_owned());
            }
            if let Some(s) = string_field(t, "ok") {
                return Reply::Simple(one_line(&s));
            }
            if let Ok(Value::Integer(_) | Value::Number(_)) = t.raw_get::<Value>("double") {
                return Reply::Double(t.raw_get::<f64>("double").unwrap_or_default());
            }
            if let Some(s) = string_field(t, "big_number") {
                return Reply::Bulk(one_line(&s).into_bytes());
            }
            if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
                if let (Some(_), Some(s)) = (string_field(&v, "format"), string_field(&v, "string"))
                {
                    return Reply::Verbatim(String::from_utf8_lossy(&s).into_owned());
                }
            }
            if depth >= MAX_DEPTH {
                return Reply::error("ERR reached lua stack limit");
            }
            if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
                let mut pairs = Vec::new();
                for pair in m.pairs::<Value, Value>() {
                    let Ok((k, v)) = pair else { break };
                    pairs.push((
                        lua_to_reply(&k, depth + 1, resp3),
                        lua_to_reply(&v, depth + 1, resp3),
                    ));
                }
                return Reply::Map(pairs);
            }
            if let Ok(Value::Table(m)) = t.raw_get::<Value>("set") {
                let mut items = Vec::new();
                for pair in m.pairs::<Value, Value>() {
                    let Ok((k, _)) = pair else { break };
                    items.push(lua_to_reply(&k, depth + 1, resp3));
                }
                return Reply::Set(items);
            }
            let mut items = Vec::new();
            for i in 1.. {
                match t.raw_get::<Value>(i) {
                    Ok(Value::Nil) | Err(_) => break,
                    Ok(item) => items.push(lua_to_reply(&item, depth + 1, resp3)),
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
