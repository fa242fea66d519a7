//! Redis's `cjson` library (lua-cjson 2.1.0 as Redis ships it): `encode`, `decode`, `null`
//! and the configuration functions, with its defaults, limits and error messages.
//!
//! Encoding: a table whose keys are all integers >= 1 is an array (holes become `null`)
//! unless excessively sparse; any other table an object whose keys are strings or numbers;
//! an empty table `{}`. Numbers print with `%.14g`; `/` is escaped as `\/`. Decoding: JSON
//! `null` is the light userdata `cjson.null`; numbers are Lua numbers.
//!
//! Both directions recurse at most [`HARD_DEPTH`] levels whatever the configuration says:
//! lua-cjson stops where the C stack of Lua runs out, Strata before its own thread's stack
//! would.

use std::sync::{Arc, Mutex};

use mlua::{LightUserData, Lua, Table, Value, Variadic};

use super::{lua_error, lua_number};
use crate::resp::format_g;

/// The deepest nesting either direction follows.
const HARD_DEPTH: i64 = 1000;

/// lua-cjson's settings, changed by its configuration functions.
#[derive(Debug, Clone)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: i64,
    decode_max_depth: i64,
    /// 0: refuse NaN and Inf, 1: write them (`nan`, `inf`), 2: write `null`.
    encode_invalid: u8,
    decode_invalid: bool,
    keep_buffer: bool,
    precision: i64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid: 0,
            decode_invalid: true,
            keep_buffer: true,
            precision: 14,
        }
    }
}

/// The light userdata `cjson.null` stands for.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// The `cjson` table.
pub(super) fn library(lua: &Lua) -> mlua::Result<Table> {
    let cfg = Arc::new(Mutex::new(Config::default()));
    let t = lua.create_table()?;
    let c = Arc::clone(&cfg);
    t.set(
        "encode",
        lua.create_function(move |lua, args: Variadic<Value>| {
            let [v] = args.as_slice() else {
                return Err(lua_error(
                    "bad argument #1 to 'encode' (expected 1 argument)",
                ));
            };
            let cfg = lock(&c).clone();
            let mut out = Vec::new();
            encode(&cfg, v, 0, &mut out)?;
            lua.create_string(&out)
        })?,
    )?;
    let c = Arc::clone(&cfg);
    t.set(
        "decode",
        lua.create_function(move |lua, args: Variadic<Value>| {
            let [Value::String(s)] = args.as_slice() else {
                return Err(lua_error(
                    "bad argument #1 to 'decode' (expected 1 argument)",
                ));
            };
            let cfg = lock(&c).clone();
            let bytes = s.as_bytes();
            Decoder {
                s: &bytes,
                pos: 0,
                depth: 0,
                cfg: &cfg,
                lua,
            }
            .document()
        })?,
    )?;
    t.set("null", null())?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    let c = Arc::clone(&cfg);
    t.set(
        "encode_sparse_array",
        lua.create_function(move |_, args: Variadic<Value>| {
            let args = options(&args, 3)?;
            let mut cfg = lock(&c);
            let convert = bool_option(&args[0], cfg.sparse_convert)?;
            let ratio = int_option(&args[1], cfg.sparse_ratio, 0, i64::from(i32::MAX))?;
            let safe = int_option(&args[2], cfg.sparse_safe, 0, i64::from(i32::MAX))?;
            (cfg.sparse_convert, cfg.sparse_ratio, cfg.sparse_safe) = (convert, ratio, safe);
            Ok((convert, ratio, safe))
        })?,
    )?;
    for (name, field, max) in [
        ("encode_max_depth", 0, i64::from(i32::MAX)),
        ("decode_max_depth", 1, i64::from(i32::MAX)),
        ("encode_number_precision", 2, 14),
    ] {
        let c = Arc::clone(&cfg);
        t.set(
            name,
            lua.create_function(move |_, args: Variadic<Value>| {
                let args = options(&args, 1)?;
                let mut cfg = lock(&c);
                let setting = match field {
                    0 => &mut cfg.encode_max_depth,
                    1 => &mut cfg.decode_max_depth,
                    _ => &mut cfg.precision,
                };
                *setting = int_option(&args[0], *setting, 1, max)?;
                Ok(*setting)
            })?,
        )?;
    }
    for (name, field) in [("encode_keep_buffer", 0), ("decode_invalid_numbers", 1)] {
        let c = Arc::clone(&cfg);
        t.set(
            name,
            lua.create_function(move |_, args: Variadic<Value>| {
                let args = options(&args, 1)?;
                let mut cfg = lock(&c);
                let setting = if field == 0 {
                    &mut cfg.keep_buffer
                } else {
                    &mut cfg.decode_invalid
                };
                *setting = bool_option(&args[0], *setting)?;
                Ok(*setting)
            })?,
        )?;
    }
    let c = Arc::clone(&cfg);
    t.set(
        "encode_invalid_numbers",
        lua.create_function(move |lua, args: Variadic<Value>| {
            let args = options(&args, 1)?;
            let mut cfg = lock(&c);
            cfg.encode_invalid = match &args[0] {
                Value::Nil => cfg.encode_invalid,
                Value::Boolean(b) => u8::from(*b),
                Value::String(s) => match &*s.as_bytes() {
                    b"off" => 0,
                    b"on" => 1,
                    b"null" => 2,
                    _ => return Err(lua_error("bad argument #1 (invalid option)")),
                },
                _ => return Err(lua_error("bad argument #1 (invalid option)")),
            };
            Ok(match cfg.encode_invalid {
                2 => Value::String(lua.create_string("null")?),
                n => Value::Boolean(n == 1),
            })
        })?,
    )?;
    Ok(t)
}

fn lock(c: &Mutex<Config>) -> std::sync::MutexGuard<'_, Config> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

/// A configuration function's arguments, padded with nils to `n`.
fn options(args: &[Value], n: usize) -> mlua::Result<Vec<Value>> {
    if args.len() > n {
        return Err(lua_error(format!(
            "bad argument #{} (found too many arguments)",
            n + 1
        )));
    }
    let mut v = args.to_vec();
    v.resize(n, Value::Nil);
    Ok(v)
}

/// An on/off setting: a boolean or `"on"`/`"off"`; nil keeps `current`.
fn bool_option(v: &Value, current: bool) -> mlua::Result<bool> {
    match v {
        Value::Nil => Ok(current),
        Value::Boolean(b) => Ok(*b),
        Value::String(s) if &*s.as_bytes() == b"on" => Ok(true),
        Value::String(s) if &*s.as_bytes() == b"off" => Ok(false),
        _ => Err(lua_error("bad argument #1 (invalid option)")),
    }
}

/// An integer setting within `min..=max`; nil keeps `current`.
fn int_option(v: &Value, current: i64, min: i64, max: i64) -> mlua::Result<i64> {
    if v.is_nil() {
        return Ok(current);
    }
    let n = lua_number(v)
        .map(|n| n as i64)
        .ok_or_else(|| lua_error("bad argument #1 (number expected)"))?;
    if n < min || n > max {
        return Err(lua_error(format!(
            "bad argument #1 (expected integer between {min} and {max})"
        )));
    }
    Ok(n)
}

/// Appends `s` as a JSON string, with lua-cjson's escapes.
fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn append_number(cfg: &Config, out: &mut Vec<u8>, n: f64, what: &str) -> mlua::Result<()> {
    if !n.is_finite() {
        match cfg.encode_invalid {
            0 => {
                return Err(lua_error(format!(
                    "Cannot serialise {what}: must not be NaN or Inf"
                )))
            }
            1 if n.is_nan() => {
                out.extend_from_slice(b"nan");
                return Ok(());
            }
            1 => {}
            _ => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
        }
    }
    let precision = usize::try_from(cfg.precision).unwrap_or(14);
    out.extend_from_slice(format_g(n, precision).as_bytes());
    Ok(())
}

/// The length of `t` as an array, or `None` for an object (lua-cjson's `lua_array_length`).
fn array_length(cfg: &Config, t: &Table) -> mlua::Result<Option<i64>> {
    let (mut max, mut items) = (0i64, 0i64);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        match lua_number(&k) {
            Some(k) if k.floor() == k && k >= 1.0 => {
                max = max.max(k as i64);
                items += 1;
            }
            _ => return Ok(None),
        }
    }
    if cfg.sparse_ratio > 0 && max > items.saturating_mul(cfg.sparse_ratio) && max > cfg.sparse_safe
    {
        if !cfg.sparse_convert {
            return Err(lua_error(
                "Cannot serialise table: excessively sparse array",
            ));
        }
        return Ok(None);
    }
    Ok(Some(max))
}

fn encode(cfg: &Config, v: &Value, depth: i64, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::String(s) => append_string(out, &s.as_bytes()),
        Value::Integer(_) | Value::Number(_) => {
            append_number(cfg, out, lua_number(v).unwrap_or_default(), "number")?;
        }
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > cfg.encode_max_depth || depth > HARD_DEPTH {
                return Err(lua_error(format!(
                    "Cannot serialise, excessive nesting ({depth})"
                )));
            }
            match array_length(cfg, t)? {
                Some(len) if len > 0 => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        encode(cfg, &t.raw_get::<Value>(i)?, depth, out)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.clone().pairs::<Value, Value>() {
                        let (k, v) = pair?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::String(s) => append_string(out, &s.as_bytes()),
                            Value::Integer(_) | Value::Number(_) => {
                                out.push(b'"');
                                append_number(
                                    cfg,
                                    out,
                                    lua_number(&k).unwrap_or_default(),
                                    "number",
                                )?;
                                out.push(b'"');
                            }
                            other => {
                                return Err(lua_error(format!(
                                    "Cannot serialise {}: table key must be a number or string",
                                    other.type_name()
                                )))
                            }
                        }
                        out.push(b':');
                        encode(cfg, &v, depth, out)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => {
            return Err(lua_error(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            )))
        }
    }
    Ok(())
}

/// A JSON token.
#[derive(Debug)]
enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Token {
    fn name(&self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::Str(_) => "T_STRING",
            Token::Num(_) => "T_NUMBER",
            Token::Bool(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(m) => m,
        }
    }
}

struct Decoder<'a> {
    s: &'a [u8],
    pos: usize,
    depth: i64,
    cfg: &'a Config,
    lua: &'a Lua,
}

impl Decoder<'_> {
    fn document(mut self) -> mlua::Result<Value> {
        let (at, token) = self.token();
        let v = self.value(at, token)?;
        let (at, token) = self.token();
        if !matches!(token, Token::End) {
            return Err(self.unexpected("the end", at, &token));
        }
        Ok(v)
    }

    fn unexpected(&self, wanted: &str, at: usize, token: &Token) -> mlua::Error {
        lua_error(format!(
            "Expected {wanted} but found {} at character {}",
            token.name(),
            at + 1
        ))
    }

    fn descend(&mut self, at: usize) -> mlua::Result<()> {
        self.depth += 1;
        if self.depth > self.cfg.decode_max_depth || self.depth > HARD_DEPTH {
            return Err(lua_error(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth,
                at + 1
            )));
        }
        Ok(())
    }

    fn value(&mut self, at: usize, token: Token) -> mlua::Result<Value> {
        Ok(match token {
            Token::Str(s) => Value::String(self.lua.create_string(&s)?),
            Token::Num(n) => Value::Number(n),
            Token::Bool(b) => Value::Boolean(b),
            Token::Null => null(),
            Token::ObjBegin => {
                self.descend(at)?;
                let t = self.lua.create_table()?;
                let (mut at, mut token) = self.token();
                if !matches!(token, Token::ObjEnd) {
                    loop {
                        let Token::Str(key) = token else {
                            return Err(self.unexpected("object key string", at, &token));
                        };
                        let (at2, colon) = self.token();
                        if !matches!(colon, Token::Colon) {
                            return Err(self.unexpected("colon", at2, &colon));
                        }
                        let (at3, v) = self.token();
                        let v = self.value(at3, v)?;
                        t.raw_set(self.lua.create_string(&key)?, v)?;
                        match self.next_item(|t| matches!(t, Token::ObjEnd), "object end")? {
                            Some(next) => (at, token) = next,
                            None => break,
                        }
                    }
                }
                self.depth -= 1;
                Value::Table(t)
            }
            Token::ArrBegin => {
                self.descend(at)?;
                let t = self.lua.create_table()?;
                let (mut at, mut token) = self.token();
                if !matches!(token, Token::ArrEnd) {
                    for i in 1.. {
                        let v = self.value(at, token)?;
                        t.raw_set(i, v)?;
                        match self.next_item(|t| matches!(t, Token::ArrEnd), "array end")? {
                            Some(next) => (at, token) = next,
                            None => break,
                        }
                    }
                }
                self.depth -= 1;
                Value::Table(t)
            }
            other => return Err(self.unexpected("value", at, &other)),
        })
    }

    /// After an object's or array's item: `None` at its end, else the token after the comma.
    fn next_item(
        &mut self,
        is_end: fn(&Token) -> bool,
        end: &str,
    ) -> mlua::Result<Option<(usize, Token)>> {
        let (at, next) = self.token();
        if is_end(&next) {
            return Ok(None);
        }
        if !matches!(next, Token::Comma) {
            return Err(self.unexpected(&format!("comma or {end}"), at, &next));
        }
        Ok(Some(self.token()))
    }

    /// The next token and where it starts.
    fn token(&mut self) -> (usize, Token) {
        while matches!(self.s.get(self.pos), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
        let at = self.pos;
        let Some(&c) = self.s.get(at) else {
            return (at, Token::End);
        };
        let single = match c {
            b'{' => Some(Token::ObjBegin),
            b'}' => Some(Token::ObjEnd),
            b'[' => Some(Token::ArrBegin),
            b']' => Some(Token::ArrEnd),
            b':' => Some(Token::Colon),
            b',' => Some(Token::Comma),
            _ => None,
        };
        if let Some(t) = single {
            self.pos += 1;
            return (at, t);
        }
        let rest = &self.s[at..];
        let token = if c == b'"' {
            self.string()
        } else if c == b'-' || c.is_ascii_digit() || invalid_number(rest) {
            if invalid_number(rest) && !self.cfg.decode_invalid {
                Token::Error("invalid number")
            } else {
                self.number()
            }
        } else if rest.starts_with(b"true") {
            self.pos += 4;
            Token::Bool(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Token::Bool(false)
        } else if rest.starts_with(b"null") {
            self.pos += 4;
            Token::Null
        } else {
            Token::Error("invalid token")
        };
        (at, token)
    }

    fn string(&mut self) -> Token {
        let mut out = Vec::new();
        self.pos += 1;
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Token::Error("unexpected end of string");
            };
            self.pos += 1;
            match c {
                b'"' => return Token::Str(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return Token::Error("invalid escape code");
                    };
                    self.pos += 1;
                    let b = match e {
                        b'"' | b'\\' | b'/' => e,
                        b'b' => b'\x08',
                        b'f' => b'\x0c',
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => match self.unicode_escape() {
                            Some(ch) => {
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                                continue;
                            }
                            None => return Token::Error("invalid unicode escape code"),
                        },
                        _ => return Token::Error("invalid escape code"),
                    };
                    out.push(b);
                }
                _ => out.push(c),
            }
        }
    }

    /// The character of `\uXXXX` (after its `\u`), a surrogate pair's second half included.
    fn unicode_escape(&mut self) -> Option<char> {
        let hex4 = |s: &[u8]| -> Option<u32> {
            let h = s.get(..4)?;
            u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
        };
        let first = hex4(self.s.get(self.pos..)?)?;
        self.pos += 4;
        let code = match first {
            0xd800..=0xdbff => {
                let rest = self.s.get(self.pos..)?;
                if !rest.starts_with(b"\\u") {
                    return None;
                }
                let low = hex4(&rest[2..])?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return None;
                }
                self.pos += 6;
                0x10000 + ((first - 0xd800) << 10) + (low - 0xdc00)
            }
            0xdc00..=0xdfff => return None,
            c => c,
        };
        char::from_u32(code)
    }

    fn number(&mut self) -> Token {
        let rest = &self.s[self.pos..];
        let (neg, body) = match rest.first() {
            Some(b'-') => (true, &rest[1..]),
            Some(b'+') => (false, &rest[1..]),
            _ => (false, rest),
        };
        let sign_len = rest.len() - body.len();
        let lower: Vec<u8> = body.iter().take(8).map(u8::to_ascii_lowercase).collect();
        let signed = |n: f64| if neg { -n } else { n };
        if lower.starts_with(b"inf") || lower.starts_with(b"nan") {
            let len = if lower.starts_with(b"infinity") { 8 } else { 3 };
            self.pos += sign_len + len;
            return Token::Num(signed(if lower[0] == b'i' {
                f64::INFINITY
            } else {
                f64::NAN
            }));
        }
        if lower.starts_with(b"0x") {
            let digits = body[2..]
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            let text = std::str::from_utf8(&body[2..2 + digits]).unwrap_or("");
            return match u64::from_str_radix(text, 16) {
                Ok(n) => {
                    self.pos += sign_len + 2 + digits;
                    Token::Num(signed(n as f64))
                }
                Err(_) => Token::Error("invalid number"),
            };
        }
        // The longest prefix that reads as a decimal number (strtod's rule): digits, a
        // fraction, an exponent only if digits follow it.
        let digits = |from: usize| {
            body[from.min(body.len())..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let mut end = digits(0);
        let int_digits = end;
        if body.get(end) == Some(&b'.') {
            let frac = digits(end + 1);
            if int_digits == 0 && frac == 0 {
                return Token::Error("invalid number");
            }
            end += 1 + frac;
        }
        if end == 0 {
            return Token::Error("invalid number");
        }
        if matches!(body.get(end), Some(b'e' | b'E')) {
            let mut j = end + 1;
            if matches!(body.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            let exp = digits(j);
            if exp > 0 {
                end = j + exp;
            }
        }
        match std::str::from_utf8(&body[..end])
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
        {
            Some(n) => {
                self.pos += sign_len + end;
                Token::Num(signed(n))
            }
            None => Token::Error("invalid number"),
        }
    }
}

/// lua-cjson's `json_is_invalid_number`: a "number" strict JSON does not allow (a leading
/// `+`, hex, leading zeros, inf, nan), which is read only when `decode_invalid_numbers` is on.
fn invalid_number(s: &[u8]) -> bool {
    let s = match s.first() {
        Some(b'+') => return true,
        Some(b'-') => &s[1..],
        _ => s,
    };
    match s.first() {
        Some(b'0') => matches!(s.get(1), Some(b'x' | b'X' | b'0'..=b'9')),
        Some(c) if *c <= b'9' => false,
        _ => {
            let l: Vec<u8> = s.iter().take(3).map(u8::to_ascii_lowercase).collect();
            l == b"inf" || l == b"nan"
        }
    }
}
