//! Lua BitOp's `bit` library, which Redis loads.

use mlua::{Lua, Table, Variadic};

/// The `bit` table.
pub(super) fn library(lua: &Lua) -> mlua::Result<Table> {
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
