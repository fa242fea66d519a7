//! Redis's number rules, for arguments and for stored values: integers as `string2ll` reads
//! them, floats as `string2ld` does, and the increments of INCRBY and INCRBYFLOAT.

use strata_redis::Error;

/// Parses an integer the way Redis's `string2ll` does: no sign `+`, no leading zeros, no
/// spaces.
pub(super) fn parse_i64(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.starts_with('+') || (s.len() > 1 && s.starts_with('0')) || s.starts_with("-0") {
        return None;
    }
    s.parse().ok()
}

/// An integer argument, or Redis's `value is not an integer or out of range`.
pub(super) fn integer_arg(b: &[u8]) -> Result<i64, crate::resp::Reply> {
    parse_i64(b).ok_or_else(super::reply::not_an_integer)
}

/// Parses a float the way Redis's `string2ld` accepts it: no spaces, not NaN.
pub(super) fn parse_float(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    (!f.is_nan()).then_some(f)
}

/// `old` (absent: 0) plus `by` (INCRBY, HINCRBY); `not_integer` if `old` is not an integer,
/// Redis's error if the sum overflows.
pub(super) fn add_int(old: Option<&[u8]>, by: i64, not_integer: Error) -> Result<i64, Error> {
    let cur = match old {
        None => 0,
        Some(v) => parse_i64(v).ok_or(not_integer)?,
    };
    cur.checked_add(by).ok_or(Error::Overflow)
}

/// `old` (absent: 0) plus `by`, in Redis's human form (INCRBYFLOAT, HINCRBYFLOAT); `not_float`
/// if `old` is not a number, Redis's error if the sum is not finite.
pub(super) fn add_float(old: Option<&[u8]>, by: f64, not_float: Error) -> Result<Vec<u8>, Error> {
    let cur = match old {
        None => 0.0,
        Some(v) => parse_float(v).ok_or(not_float)?,
    };
    let new = cur + by;
    if !new.is_finite() {
        return Err(Error::NotFinite);
    }
    Ok(format!("{new}").into_bytes())
}
