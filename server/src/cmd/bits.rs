//! Bitmaps over strings: BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO, with Redis 7's
//! index rules (negative from the end, BYTE or BIT units), replies and errors. Bit 0 is the
//! most significant bit of the first byte, as in SETBIT.

use super::number::{integer_arg, parse_i64};
use super::reply::{not_an_integer, or_error, store_error, syntax_error, CmdResult};
use super::Session;
use crate::resp::Reply;
use crate::server::Server;

/// `start end` as Redis reads them for BITCOUNT and BITPOS, in bits over `len` bytes:
/// negative counts from the end, then clamped into the string. `None` for an empty range.
fn bit_range(len: usize, start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let total = if in_bits { len as i64 * 8 } else { len as i64 };
    let (mut start, mut end) = (start, end);
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0).min(total - 1);
    if start > end {
        return None;
    }
    Some(if in_bits {
        (start as u64, end as u64)
    } else {
        (start as u64 * 8, end as u64 * 8 + 7)
    })
}

/// Whether bit `i` of `s` is set.
fn bit(s: &[u8], i: u64) -> bool {
    s[(i / 8) as usize] & (0x80 >> (i % 8)) != 0
}

/// The set bits of `s` between bits `from` and `to` (inclusive).
fn count_bits(s: &[u8], from: u64, to: u64) -> u64 {
    let (first, last) = ((from / 8) as usize, (to / 8) as usize);
    let mut n: u64 = s[first..=last]
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    // Less the bits of the edge bytes outside the range.
    let head = s[first] & !(0xffu8 >> (from % 8));
    let tail = s[last] & 0xffu8.checked_shr((to % 8 + 1) as u32).unwrap_or(0);
    n -= u64::from(head.count_ones()) + u64::from(tail.count_ones());
    n
}

/// The first bit equal to `want` between bits `from` and `to` (inclusive).
fn find_bit(s: &[u8], from: u64, to: u64, want: bool) -> Option<u64> {
    let skip = if want { 0x00 } else { 0xff };
    let mut i = from;
    while i <= to {
        // Whole bytes that cannot hold the bit are skipped at once.
        if i.is_multiple_of(8) && i + 7 <= to && s[(i / 8) as usize] == skip {
            i += 8;
            continue;
        }
        if bit(s, i) == want {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The BYTE|BIT unit argument.
fn unit(arg: &[u8]) -> Result<bool, Reply> {
    if arg.eq_ignore_ascii_case(b"bit") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"byte") {
        Ok(false)
    } else {
        Err(syntax_error())
    }
}

/// `BITCOUNT key [start end [BYTE|BIT]]`.
pub(super) fn bitcount(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let range = match args.len() {
        1 => None,
        3 | 4 => {
            let (start, end) = (integer_arg(&args[1])?, integer_arg(&args[2])?);
            let in_bits = args.get(3).map(|u| unit(u)).transpose()?.unwrap_or(false);
            Some((start, end, in_bits))
        }
        _ => return Err(syntax_error()),
    };
    or_error(server.store.get(session.db, &args[0]), |v| {
        let s = v.unwrap_or_default();
        let (start, end, in_bits) = range.unwrap_or((0, -1, false));
        if start < 0 && end < 0 && start > end {
            return Reply::Integer(0);
        }
        let n = bit_range(s.len(), start, end, in_bits).map_or(0, |(a, b)| count_bits(&s, a, b));
        Reply::Integer(n as i64)
    })
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`.
pub(super) fn bitpos(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let want = match parse_i64(&args[1]) {
        Some(b @ (0 | 1)) => b == 1,
        Some(_) => return Err(Reply::error("ERR The bit argument must be 1 or 0.")),
        None => return Err(not_an_integer()),
    };
    let Some(s) = server
        .store
        .get(session.db, &args[0])
        .map_err(store_error)?
    else {
        // A missing key is an endless string of zeros.
        return Ok(Reply::Integer(if want { -1 } else { 0 }));
    };
    let (start, end, in_bits, end_given) = match args.len() {
        2 => (0, -1, false, false),
        3..=5 => {
            let start = integer_arg(&args[2])?;
            let in_bits = args.get(4).map(|u| unit(u)).transpose()?.unwrap_or(false);
            match args.get(3) {
                Some(end) => (start, integer_arg(end)?, in_bits, true),
                None => (start, -1, in_bits, false),
            }
        }
        _ => return Err(syntax_error()),
    };
    let Some((from, to)) = bit_range(s.len(), start, end, in_bits) else {
        return Ok(Reply::Integer(-1));
    };
    Ok(Reply::Integer(match find_bit(&s, from, to, want) {
        Some(i) => i as i64,
        // Past a range without an explicit end, the string goes on with zeros.
        None if !want && !end_given => to as i64 + 1,
        None => -1,
    }))
}

/// `BITOP AND|OR|XOR|NOT destkey key [key ...]`: the result's length; an empty result deletes
/// the destination.
pub(super) fn bitop(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let op = args[0].to_ascii_lowercase();
    let combine: fn(u8, u8) -> u8 = match op.as_slice() {
        b"and" => |a, b| a & b,
        b"or" => |a, b| a | b,
        b"xor" | b"not" => |a, b| a ^ b,
        _ => return Err(syntax_error()),
    };
    let not = op == b"not";
    if not && args.len() != 3 {
        return Err(Reply::error(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let n = server
        .store
        .strings_combine_store(session.db, &args[1], &args[2..], false, |values| {
            let len = values
                .iter()
                .map(|v| v.as_ref().map_or(0, Vec::len))
                .max()
                .unwrap_or(0);
            let byte = |v: &Option<Vec<u8>>, i: usize| {
                v.as_ref().and_then(|v| v.get(i)).copied().unwrap_or(0)
            };
            let out = (0..len)
                .map(|i| match values.split_first() {
                    Some((first, _)) if not => !byte(first, i),
                    Some((first, rest)) => rest
                        .iter()
                        .fold(byte(first, i), |acc, v| combine(acc, byte(v, i))),
                    None => 0,
                })
                .collect();
            Some(out)
        })
        .map_err(store_error)?
        .unwrap_or(0);
    session.wrote = true;
    Ok(Reply::Integer(n as i64))
}

/// One BITFIELD operation.
#[derive(Debug, Clone, Copy)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// What happens when SET or INCRBY leaves a field's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// A field: signed or not, its width, its first bit.
#[derive(Debug, Clone, Copy)]
struct Field {
    signed: bool,
    bits: u32,
    offset: u64,
}

impl Field {
    fn get(&self, s: &[u8]) -> i64 {
        let mut v: u64 = 0;
        for i in 0..u64::from(self.bits) {
            let at = self.offset + i;
            let set = s
                .get((at / 8) as usize)
                .is_some_and(|b| b & (0x80 >> (at % 8)) != 0);
            v = v << 1 | u64::from(set);
        }
        if self.signed && self.bits < 64 && v & (1 << (self.bits - 1)) != 0 {
            v |= u64::MAX << self.bits;
        }
        v as i64
    }

    fn set(&self, s: &mut [u8], value: i64) {
        let v = value as u64;
        for i in 0..u64::from(self.bits) {
            let at = self.offset + i;
            let one = v >> (u64::from(self.bits) - 1 - i) & 1 == 1;
            let byte = &mut s[(at / 8) as usize];
            if one {
                *byte |= 0x80 >> (at % 8);
            } else {
                *byte &= !(0x80 >> (at % 8));
            }
        }
    }

    /// `value + incr` in this field's range, by `overflow` (Redis's
    /// `check{Signed,Unsigned}BitfieldOverflow`): the value to store, or `None` to fail.
    fn fit(&self, value: i64, incr: i64, overflow: Overflow) -> Option<i64> {
        let bits = self.bits;
        let (min, max): (i128, i128) = if self.signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        };
        // An unsigned field's value is read as C's `uint64_t` (a negative SET is huge).
        let sum = if self.signed {
            i128::from(value)
        } else {
            i128::from(value as u64)
        } + i128::from(incr);
        if (min..=max).contains(&sum) {
            return Some(sum as i64);
        }
        match overflow {
            Overflow::Fail => None,
            Overflow::Sat => Some(if sum > max { max as i64 } else { min as i64 }),
            Overflow::Wrap => {
                let wrapped = (sum as u128 as u64) & (u64::MAX >> (64 - bits));
                Some(
                    if self.signed && bits < 64 && wrapped & (1 << (bits - 1)) != 0 {
                        (wrapped | u64::MAX << bits) as i64
                    } else {
                        wrapped as i64
                    },
                )
            }
        }
    }
}

/// The `i8`/`u16`-style type argument.
fn field_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let err = || {
        Reply::error(
            "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not \
             supported but i64 is.",
        )
    };
    let (signed, rest) = match arg.split_first() {
        Some((b'i', rest)) => (true, rest),
        Some((b'u', rest)) => (false, rest),
        _ => return Err(err()),
    };
    match parse_i64(rest) {
        Some(n) if n >= 1 && n <= if signed { 64 } else { 63 } => Ok((signed, n as u32)),
        _ => Err(err()),
    }
}

/// A field's bit offset: a number, or `#n` for n fields of this width; within
/// `proto-max-bulk-len` bytes.
fn field_offset(arg: &[u8], bits: u32, max_bytes: u64) -> Result<u64, Reply> {
    let err = || Reply::error("ERR bit offset is not an integer or out of range");
    let (hash, digits) = match arg.strip_prefix(b"#") {
        Some(rest) => (true, rest),
        None => (false, arg),
    };
    let n = parse_i64(digits).ok_or_else(err)?;
    let n = if hash {
        n.checked_mul(i64::from(bits)).ok_or_else(err)?
    } else {
        n
    };
    match u64::try_from(n) {
        Ok(n) if n >> 3 < max_bytes => Ok(n),
        _ => Err(err()),
    }
}

/// `BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset incr]
/// [OVERFLOW WRAP|SAT|FAIL] ...`.
pub(super) fn bitfield(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    bitfield_generic(server, session, args, false)
}

/// `BITFIELD_RO key [GET type offset] ...`.
pub(super) fn bitfield_ro(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    bitfield_generic(server, session, args, true)
}

fn bitfield_generic(
    server: &Server,
    session: &mut Session,
    args: &[Vec<u8>],
    read_only: bool,
) -> CmdResult {
    let max_bytes = u64::try_from(server.config.get_i64("proto-max-bulk-len")).unwrap_or(u64::MAX);
    let mut ops: Vec<(Field, FieldOp, Overflow)> = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut i = 1;
    while i < args.len() {
        let left = args.len() - i - 1;
        let sub = args[i].to_ascii_lowercase();
        let takes_value = match sub.as_slice() {
            b"get" if left >= 2 => false,
            b"set" | b"incrby" if left >= 3 => true,
            b"overflow" if left >= 1 => {
                overflow = match args[i + 1].to_ascii_lowercase().as_slice() {
                    b"wrap" => Overflow::Wrap,
                    b"sat" => Overflow::Sat,
                    b"fail" => Overflow::Fail,
                    _ => return Err(Reply::error("ERR Invalid OVERFLOW type specified")),
                };
                i += 2;
                continue;
            }
            _ => return Err(syntax_error()),
        };
        let (signed, bits) = field_type(&args[i + 1])?;
        let offset = field_offset(&args[i + 2], bits, max_bytes)?;
        let field = Field {
            signed,
            bits,
            offset,
        };
        let op = if takes_value {
            let v = integer_arg(&args[i + 3])?;
            if sub == b"set" {
                FieldOp::Set(v)
            } else {
                FieldOp::IncrBy(v)
            }
        } else {
            FieldOp::Get
        };
        ops.push((field, op, overflow));
        i += if takes_value { 4 } else { 3 };
    }
    let writes = ops.iter().any(|(_, op, _)| !matches!(op, FieldOp::Get));
    if !writes {
        // Reads only: a missing key reads as zeros and is not created.
        return or_error(server.store.get(session.db, &args[0]), |v| {
            let s = v.unwrap_or_default();
            Reply::Array(
                ops.iter()
                    .map(|(f, ..)| Reply::Integer(f.get(&s)))
                    .collect(),
            )
        });
    }
    if read_only {
        return Err(Reply::error(
            "ERR BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let end = ops
        .iter()
        .filter(|(_, op, _)| !matches!(op, FieldOp::Get))
        .map(|(f, ..)| (f.offset + u64::from(f.bits) - 1) / 8 + 1)
        .max()
        .unwrap_or(0);
    let r = server.store.update_string(session.db, &args[0], |old| {
        let mut s = old.map(<[u8]>::to_vec).unwrap_or_default();
        let grew = s.len() < end as usize;
        if grew {
            s.resize(end as usize, 0);
        }
        let mut changed = grew;
        let mut replies = Vec::with_capacity(ops.len());
        for (field, op, overflow) in &ops {
            let old = field.get(&s);
            let (new, reply) = match *op {
                FieldOp::Get => {
                    replies.push(Reply::Integer(old));
                    continue;
                }
                FieldOp::Set(v) => (field.fit(v, 0, *overflow), old),
                FieldOp::IncrBy(by) => {
                    let new = field.fit(old, by, *overflow);
                    (new, new.unwrap_or_default())
                }
            };
            match new {
                Some(new) => {
                    field.set(&mut s, new);
                    changed |= new != old;
                    replies.push(Reply::Integer(reply));
                }
                None => replies.push(Reply::Null),
            }
        }
        Ok((changed.then_some(s), replies))
    });
    session.wrote = true;
    or_error(r, Reply::Array)
}
