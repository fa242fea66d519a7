//! Redis's `cmsgpack` library (lua-cmsgpack 0.4.0): `pack`, `unpack`, `unpack_one` and
//! `unpack_limit`, byte for byte as Redis's.
//!
//! Packing: an integral number is the smallest MessagePack integer that holds it, any other
//! a float 32 when that is exact, else a float 64; a table whose keys are exactly 1..n is an
//! array, any other a map; tables nested deeper than 16 are packed as nil, so circular
//! references end. Unpacking refuses truncated or unknown input, and nesting deeper than
//! [`MAX_UNPACK_DEPTH`] (where lua-cmsgpack runs out of Lua stack).

use super::{lua_error, lua_number};
use mlua::{Lua, MultiValue, Table, Value, Variadic};

/// lua-cmsgpack's `LUACMSGPACK_MAX_NESTING`.
const MAX_NESTING: usize = 16;

/// How deep unpacking follows nested arrays and maps.
const MAX_UNPACK_DEPTH: usize = 1000;

/// The `cmsgpack` table.
pub(super) fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.is_empty() {
                return Err(lua_error(
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                ));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                encode(v, 0, &mut out)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| unpack(lua, &s.as_bytes(), 0, 0))?,
    )?;
    t.set(
        "unpack_one",
        lua.create_function(|lua, (s, offset): (mlua::String, Option<i64>)| {
            unpack(lua, &s.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(
            |lua, (s, limit, offset): (mlua::String, i64, Option<i64>)| {
                unpack(lua, &s.as_bytes(), limit, offset.unwrap_or(0))
            },
        )?,
    )?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

fn encode(v: &Value, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::String(s) => encode_bytes(&s.as_bytes(), out),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(_) | Value::Number(_) => {
            let n = lua_number(v).unwrap_or_default();
            // IS_INT64_EQUIVALENT: an integral value within int64.
            if n.is_finite()
                && n.trunc() == n
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&n)
            {
                encode_int(n as i64, out);
            } else if f64::from(n as f32) == n {
                out.push(0xca);
                out.extend_from_slice(&(n as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        Value::Table(t) if level < MAX_NESTING => encode_table(t, level, out)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn encode_bytes(s: &[u8], out: &mut Vec<u8>) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A count as an array or map header: the fix form up to 15, then 16 and 32 bits.
fn encode_header(n: usize, fix: u8, wide: u8, out: &mut Vec<u8>) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(wide);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(wide + 1);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn encode_table(t: &Table, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    // An array: keys exactly 1..n (lua-cmsgpack's `table_is_an_array`).
    let (mut count, mut max, mut array) = (0usize, 0usize, true);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        count += 1;
        match lua_number(&k) {
            Some(k) if k > 0.0 && k.trunc() == k && k <= f64::from(i32::MAX) => {
                max = max.max(k as usize);
            }
            _ => array = false,
        }
    }
    if array && max == count {
        encode_header(count, 0x90, 0xdc, out);
        for i in 1..=count {
            encode(&t.raw_get::<Value>(i)?, level + 1, out)?;
        }
    } else {
        encode_header(count, 0x80, 0xde, out);
        for pair in t.clone().pairs::<Value, Value>() {
            let (k, v) = pair?;
            encode(&k, level + 1, out)?;
            encode(&v, level + 1, out)?;
        }
    }
    Ok(())
}

/// What stopped unpacking.
enum Stop {
    Eof,
    BadFormat,
    TooDeep,
    Lua(mlua::Error),
}

impl From<mlua::Error> for Stop {
    fn from(e: mlua::Error) -> Stop {
        Stop::Lua(e)
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        let end = self.pos.checked_add(n).ok_or(Stop::Eof)?;
        let b = self.s.get(self.pos..end).ok_or(Stop::Eof)?;
        self.pos = end;
        Ok(b)
    }

    fn be(&mut self, n: usize) -> Result<u64, Stop> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
    }

    fn value(&mut self, lua: &Lua, depth: usize) -> Result<Value, Stop> {
        let lead = self.take(1)?[0];
        let num = |n: f64| Value::Number(n);
        Ok(match lead {
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xcc => num(self.be(1)? as f64),
            0xcd => num(self.be(2)? as f64),
            0xce => num(self.be(4)? as f64),
            0xcf => num(self.be(8)? as f64),
            0xd0 => num(f64::from(self.be(1)? as u8 as i8)),
            0xd1 => num(f64::from(self.be(2)? as u16 as i16)),
            0xd2 => num(f64::from(self.be(4)? as u32 as i32)),
            0xd3 => num(self.be(8)? as i64 as f64),
            0xca => num(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => num(f64::from_bits(self.be(8)?)),
            0xd9..=0xdb => {
                let n = self.be(1 << (lead - 0xd9))? as usize;
                Value::String(lua.create_string(self.take(n)?)?)
            }
            0xdc | 0xdd => {
                let n = self.be(if lead == 0xdc { 2 } else { 4 })? as usize;
                self.array(lua, n, depth)?
            }
            0xde | 0xdf => {
                let n = self.be(if lead == 0xde { 2 } else { 4 })? as usize;
                self.map(lua, n, depth)?
            }
            0x00..=0x7f => num(f64::from(lead)),
            0xe0..=0xff => num(f64::from(lead as i8)),
            0xa0..=0xbf => {
                let n = usize::from(lead & 0x1f);
                Value::String(lua.create_string(self.take(n)?)?)
            }
            0x90..=0x9f => self.array(lua, usize::from(lead & 0xf), depth)?,
            0x80..=0x8f => self.map(lua, usize::from(lead & 0xf), depth)?,
            _ => return Err(Stop::BadFormat),
        })
    }

    fn array(&mut self, lua: &Lua, n: usize, depth: usize) -> Result<Value, Stop> {
        if depth >= MAX_UNPACK_DEPTH {
            return Err(Stop::TooDeep);
        }
        let t = lua.create_table()?;
        for i in 1..=n {
            let v = self.value(lua, depth + 1)?;
            t.raw_set(i, v)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, lua: &Lua, n: usize, depth: usize) -> Result<Value, Stop> {
        if depth >= MAX_UNPACK_DEPTH {
            return Err(Stop::TooDeep);
        }
        let t = lua.create_table()?;
        for _ in 0..n {
            let k = self.value(lua, depth + 1)?;
            let v = self.value(lua, depth + 1)?;
            t.raw_set(k, v)?;
        }
        Ok(Value::Table(t))
    }
}

/// lua-cmsgpack's `mp_unpack_full`: up to `limit` objects from `offset` (0 and 0: all of
/// them, returned alone; else the next offset, -1 at the end, then the objects).
fn unpack(lua: &Lua, s: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    if offset < 0 || limit < 0 {
        return Err(lua_error(format!(
            "Invalid request to unpack with offset of {offset} and limit of {}.",
            s.len()
        )));
    }
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    if start > s.len() {
        return Err(lua_error(format!(
            "Start offset {offset} greater than input length {}.",
            s.len()
        )));
    }
    let all = limit == 0 && offset == 0;
    let limit = if all { i64::MAX } else { limit };
    let mut c = Cursor { s, pos: start };
    let mut out = Vec::new();
    let mut count = 0;
    while c.pos < s.len() && count < limit {
        match c.value(lua, 0) {
            Ok(v) => out.push(v),
            Err(Stop::Eof) => return Err(lua_error("Missing bytes in input.")),
            Err(Stop::BadFormat) => return Err(lua_error("Bad data format in input.")),
            Err(Stop::TooDeep) => return Err(lua_error(
                "stack overflow (too many nested tables; use unpack_one or unpack_limit instead.)",
            )),
            Err(Stop::Lua(e)) => return Err(e),
        }
        count += 1;
    }
    if !all {
        let next = if c.pos == s.len() { -1 } else { c.pos as i64 };
        out.insert(0, Value::Number(next as f64));
    }
    Ok(MultiValue::from_iter(out))
}
