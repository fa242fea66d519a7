//! Redis's `struct` library (Roberto Ierusalimschy's lua_struct 0.2 as Redis ships it):
//! `struct.pack(fmt, ...)`, `struct.unpack(fmt, s [, pos])` and `struct.size(fmt)`.
//!
//! Formats: `>` big and `<` little endian (little by default, as on the machines Redis runs
//! on), `!n` alignment, `x` a pad byte, `b B h H l L T i I[n]` signed and unsigned integers
//! of 1, 2, 8, 8, 8 and n (default 4, at most 32) bytes, `f d` floats, `c[n]` n bytes (`c0`:
//! the whole string, or when unpacking the length read just before), `s` a zero-terminated
//! string; spaces are ignored.

use super::{lua_error, lua_number};
use mlua::{Lua, MultiValue, Table, Value, Variadic};

/// lua_struct's `MAXINTSIZE`.
const MAX_INT_SIZE: usize = 32;

/// lua_struct's `MAXALIGN` on 64-bit machines.
const MAX_ALIGN: usize = 8;

/// The `struct` table.
pub(super) fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", lua.create_function(pack)?)?;
    t.set("unpack", lua.create_function(unpack)?)?;
    t.set("size", lua.create_function(size)?)?;
    Ok(t)
}

/// Byte order and alignment, as the format sets them.
struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Header {
        Header {
            little: cfg!(target_endian = "little"),
            align: 1,
        }
    }
}

/// A format string being read.
struct Format<'a> {
    fmt: &'a [u8],
    at: usize,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.fmt.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    /// The number at the cursor, or `default` if none.
    fn num(&mut self, default: usize) -> mlua::Result<usize> {
        if !self.fmt.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: usize = 0;
        while let Some(d) = self.fmt.get(self.at).filter(|d| d.is_ascii_digit()) {
            a = a
                .checked_mul(10)
                .and_then(|a| a.checked_add(usize::from(d - b'0')))
                .filter(|&a| a <= i32::MAX as usize)
                .ok_or_else(|| lua_error("integral size overflow"))?;
            self.at += 1;
        }
        Ok(a)
    }

    /// The size of option `opt` (reading its count), 0 for options without one.
    fn size(&mut self, opt: u8) -> mlua::Result<usize> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.num(1)?,
            b'i' | b'I' => {
                let n = self.num(4)?;
                if n > MAX_INT_SIZE {
                    return Err(lua_error(format!(
                        "integral size {n} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                n
            }
            _ => 0,
        })
    }

    /// Applies a control option (`<`, `>`, `!n`, space); any other is an error.
    fn control(&mut self, opt: u8, h: &mut Header, func: &str) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.num(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(lua_error(format!("alignment {a} is not a power of 2")));
                }
                h.align = a;
            }
            _ => {
                return Err(lua_error(format!(
                    "bad argument #1 to '{func}' (invalid format option '{}')",
                    opt as char
                )))
            }
        }
        Ok(())
    }
}

/// Padding before an item of `size` at offset `len` (lua_struct's `gettoalign`).
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
}

/// A number argument (numbers and numeric strings, as `luaL_checknumber`).
fn number_arg(args: &[Value], i: usize, func: &str) -> mlua::Result<f64> {
    let v = args.get(i).unwrap_or(&Value::Nil);
    let n = match v {
        Value::String(s) => std::str::from_utf8(&s.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        v => lua_number(v),
    };
    n.ok_or_else(|| {
        lua_error(format!(
            "bad argument #{} to '{func}' (number expected, got {})",
            i + 1,
            v.type_name()
        ))
    })
}

/// A string argument (strings and numbers, as `luaL_checklstring`).
fn string_arg(args: &[Value], i: usize, func: &str) -> mlua::Result<Vec<u8>> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(n)) => Ok(n.to_string().into_bytes()),
        Some(Value::Number(n)) => Ok(super::format_number(*n).into_bytes()),
        other => Err(lua_error(format!(
            "bad argument #{} to '{func}' (string expected, got {})",
            i + 1,
            other.map_or("no value", Value::type_name)
        ))),
    }
}

fn pack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<mlua::String> {
    let fmt = string_arg(&args, 0, "pack")?;
    let mut f = Format { fmt: &fmt, at: 0 };
    let mut h = Header::default();
    let mut out = Vec::new();
    let mut arg = 1;
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        out.resize(out.len() + to_align(out.len(), &h, opt, size), 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = number_arg(&args, arg, "pack")?;
                arg += 1;
                let mut value = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut bytes = vec![0u8; size];
                for i in 0..size {
                    let at = if h.little { i } else { size - 1 - i };
                    bytes[at] = value as u8;
                    value >>= 8;
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let v = number_arg(&args, arg, "pack")? as f32;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                });
            }
            b'd' => {
                let v = number_arg(&args, arg, "pack")?;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                });
            }
            b'c' | b's' => {
                let s = string_arg(&args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(lua_error(format!(
                        "bad argument #{arg} to 'pack' (string too short)"
                    )));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt, &mut h, "pack")?,
        }
    }
    lua.create_string(&out)
}

fn unpack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<MultiValue> {
    let fmt = string_arg(&args, 0, "unpack")?;
    let data = string_arg(&args, 1, "unpack")?;
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1.0,
        Some(_) => number_arg(&args, 2, "unpack")?,
    };
    if start < 1.0 {
        return Err(lua_error(
            "bad argument #3 to 'unpack' (offset must be 1 or greater)",
        ));
    }
    let mut pos = start as usize - 1;
    let mut f = Format { fmt: &fmt, at: 0 };
    let mut h = Header::default();
    let mut out: Vec<Value> = Vec::new();
    let too_short = || lua_error("bad argument #2 to 'unpack' (data string too short)");
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        if size > data.len() || pos > data.len() - size {
            return Err(too_short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let bytes = &data[pos..pos + size];
                let mut l: u64 = 0;
                for i in 0..size {
                    let b = if h.little {
                        bytes[size - 1 - i]
                    } else {
                        bytes[i]
                    };
                    l = l.wrapping_shl(8) | u64::from(b);
                }
                let n = if opt.is_ascii_lowercase() {
                    // The shift count as x86 takes it (modulo 64), for sizes past 8 bytes.
                    let mask = u64::MAX << ((size * 8).saturating_sub(1) % 64);
                    if l & mask != 0 {
                        l |= mask;
                    }
                    l as i64 as f64
                } else {
                    l as f64
                };
                out.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let b = [data[pos], data[pos + 1], data[pos + 2], data[pos + 3]];
                let v = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                out.push(Value::Number(f64::from(v)));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let v = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                out.push(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    let n = match out.pop() {
                        Some(Value::Number(n)) => n,
                        Some(Value::Integer(n)) => n as f64,
                        _ => return Err(lua_error("format 'c0' needs a previous size")),
                    };
                    size = if n > 0.0 { n as usize } else { 0 };
                    if size > data.len() || pos > data.len() - size {
                        return Err(too_short());
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(len) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(lua_error("unfinished string in data"));
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + len])?));
                size = len + 1;
            }
            _ => f.control(opt, &mut h, "unpack")?,
        }
        pos += size;
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(out))
}

fn size(_: &Lua, args: Variadic<Value>) -> mlua::Result<i64> {
    let fmt = string_arg(&args, 0, "size")?;
    let mut f = Format { fmt: &fmt, at: 0 };
    let mut h = Header::default();
    let mut pos = 0usize;
    while let Some(opt) = f.next() {
        let size = f.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            return Err(lua_error(
                "bad argument #1 to 'size' (option 's' has no fixed size)",
            ));
        }
        if opt == b'c' && size == 0 {
            return Err(lua_error(
                "bad argument #1 to 'size' (option 'c0' has no fixed size)",
            ));
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(opt, &mut h, "size")?;
        }
        pos += size;
    }
    Ok(pos as i64)
}
