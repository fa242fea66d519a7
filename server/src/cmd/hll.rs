//! HyperLogLog (PFADD, PFCOUNT, PFMERGE) in Redis's exact string format, so an HLL written by
//! Redis counts the same here and one written here in Redis: `HYLL`, the encoding (0 dense, 1
//! sparse), three unused bytes and the cached cardinality (8 bytes little endian, the top bit
//! set when stale), then 16,384 6-bit registers packed little endian (dense) or run-length
//! opcodes (sparse: ZERO `00xxxxxx`, XZERO `01xxxxxx yyyyyyyy`, VAL `1vvvvvxx`). Elements hash
//! with MurmurHash64A (seed `0xadc83b19`); the count is Ertl's estimator, as Redis 7's.
//!
//! A sparse HLL is rewritten whole after a change, in the shortest opcodes (Redis edits it in
//! place; both are valid sparse encodings), and becomes dense when a register passes 32 or
//! the sparse form would pass `hll-sparse-max-bytes`.

use super::reply::{store_error, CmdResult};
use super::Session;
use crate::resp::Reply;
use crate::server::Server;

const P: u32 = 14;
const REGISTERS: usize = 1 << P;
const Q: u32 = 64 - P;
const HEADER: usize = 16;
const DENSE_SIZE: usize = HEADER + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
/// The largest value a sparse VAL opcode holds.
const SPARSE_VAL_MAX: u8 = 32;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

fn not_hll() -> Reply {
    Reply::error("WRONGTYPE Key is not a valid HyperLogLog string value.")
}

fn corrupted() -> Reply {
    Reply::error("INVALIDOBJ Corrupted HLL object detected")
}

/// Redis's MurmurHash64A.
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to and its run of zeros plus one (`hllPatLen`).
fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = hash >> P | 1 << Q;
    (index, rest.trailing_zeros() as u8 + 1)
}

/// An HLL's registers, read from either encoding.
struct Hll {
    registers: Vec<u8>,
    /// It was dense (it stays so).
    dense: bool,
    /// The cached cardinality, if valid.
    cached: Option<u64>,
}

/// Checks a string is an HLL as Redis's `isHLLObjectOrReply` does (WRONGTYPE if not), then
/// reads its registers (INVALIDOBJ for a broken sparse encoding).
fn read(v: &[u8]) -> Result<Hll, Reply> {
    if v.len() < HEADER || &v[..4] != b"HYLL" || v[4] > SPARSE {
        return Err(not_hll());
    }
    let dense = v[4] == DENSE;
    if dense && v.len() != DENSE_SIZE {
        return Err(not_hll());
    }
    let card = u64::from_le_bytes([v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]]);
    let cached = (v[15] & 0x80 == 0).then_some(card);
    let body = &v[HEADER..];
    let mut registers = vec![0u8; REGISTERS];
    if dense {
        for (i, r) in registers.iter_mut().enumerate() {
            let (byte, bit) = (i * 6 / 8, (i * 6) % 8);
            let lo = u16::from(body[byte]);
            let hi = u16::from(body.get(byte + 1).copied().unwrap_or(0));
            *r = ((lo | hi << 8) >> bit) as u8 & 63;
        }
    } else {
        for (i, v) in sparse_entries(body).ok_or_else(corrupted)? {
            registers[usize::from(i)] = v;
        }
    }
    Ok(Hll {
        registers,
        dense,
        cached,
    })
}

/// The sparse opcodes of `registers`, or `None` if a register passes what they hold.
fn sparse_body(registers: &[u8]) -> Option<Vec<u8>> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < registers.len() {
        let v = registers[i];
        let run = registers[i..].iter().take_while(|&&r| r == v).count();
        runs.push((v, run));
        i += run;
    }
    encode_runs(runs)
}

/// The sparse opcodes of registers given as runs of equal values (value, length), in order,
/// each run as long as it can be (the shortest encoding), or `None` if a value passes what
/// they hold.
fn encode_runs(runs: impl IntoIterator<Item = (u8, usize)>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (v, run) in runs {
        if v == 0 {
            let mut left = run;
            while left > 0 {
                let n = left.min(16_384);
                if n > 64 {
                    out.push(0x40 | ((n - 1) >> 8) as u8);
                    out.push((n - 1) as u8);
                } else {
                    out.push((n - 1) as u8);
                }
                left -= n;
            }
        } else {
            if v > SPARSE_VAL_MAX {
                return None;
            }
            let mut left = run;
            while left > 0 {
                let n = left.min(4);
                out.push(0x80 | (v - 1) << 2 | (n - 1) as u8);
                left -= n;
            }
        }
    }
    Some(out)
}

/// The non-zero registers of a sparse body, as (index, value) in index order; `None` if the
/// opcodes do not cover exactly 16,384 registers.
fn sparse_entries(body: &[u8]) -> Option<Vec<(u16, u8)>> {
    let mut out = Vec::new();
    let (mut idx, mut p) = (0usize, 0usize);
    while p < body.len() {
        let op = body[p];
        if op & 0xc0 == 0 {
            idx += usize::from(op & 0x3f) + 1;
            p += 1;
        } else if op & 0xc0 == 0x40 {
            idx += (usize::from(op & 0x3f) << 8 | usize::from(*body.get(p + 1)?)) + 1;
            p += 2;
        } else {
            let len = usize::from(op & 0x3) + 1;
            let value = (op >> 2 & 0x1f) + 1;
            if idx + len > REGISTERS {
                return None;
            }
            out.extend((idx..idx + len).map(|i| (i as u16, value)));
            idx += len;
            p += 1;
        }
        if idx > REGISTERS {
            return None;
        }
    }
    (idx == REGISTERS).then_some(out)
}

/// The runs (value, length) of the registers whose non-zero ones are `entries`.
fn runs_of(entries: &[(u16, u8)]) -> Vec<(u8, usize)> {
    let mut runs: Vec<(u8, usize)> = Vec::new();
    let mut next = 0usize;
    for &(i, v) in entries {
        let i = usize::from(i);
        if i > next {
            runs.push((0, i - next));
        }
        match runs.last_mut() {
            Some((rv, len)) if *rv == v && i == next => *len += 1,
            _ => runs.push((v, 1)),
        }
        next = i + 1;
    }
    if next < REGISTERS {
        runs.push((0, REGISTERS - next));
    }
    runs
}

/// The HLL header: magic, encoding, and the cached cardinality (`None`: stale).
fn header(sparse: bool, card: Option<u64>) -> Vec<u8> {
    let mut out = b"HYLL".to_vec();
    out.push(if sparse { SPARSE } else { DENSE });
    out.extend_from_slice(&[0, 0, 0]);
    let mut cache = card.unwrap_or(0).to_le_bytes();
    if card.is_none() {
        cache[7] |= 0x80;
    }
    out.extend_from_slice(&cache);
    out
}

/// PFADD on a sparse HLL (or a new one) without expanding its 16,384 registers: its
/// non-zero registers are changed in place and encoded again. `None` when it must take the
/// general path (not sparse, damaged, or becoming dense); else the new value, if any, and
/// the reply.
fn pfadd_sparse(
    old: Option<&[u8]>,
    elements: &[Vec<u8>],
    max: usize,
) -> Option<(Option<Vec<u8>>, i64)> {
    let (mut entries, cached) = match old {
        None => (Vec::new(), Some(0)),
        Some(v) if v.len() >= HEADER && &v[..4] == b"HYLL" && v[4] == SPARSE => {
            let card = u64::from_le_bytes(v[8..16].try_into().ok()?);
            (
                sparse_entries(&v[HEADER..])?,
                (v[15] & 0x80 == 0).then_some(card),
            )
        }
        Some(_) => return None,
    };
    let mut changed = false;
    for e in elements {
        let (i, run) = pattern(e);
        let i = i as u16;
        match entries.binary_search_by_key(&i, |&(at, _)| at) {
            Ok(at) if entries[at].1 < run => {
                entries[at].1 = run;
                changed = true;
            }
            Ok(_) => {}
            Err(at) => {
                entries.insert(at, (i, run));
                changed = true;
            }
        }
    }
    if !changed && old.is_some() {
        return Some((None, 0));
    }
    let body = encode_runs(runs_of(&entries))?;
    if HEADER + body.len() > max {
        return None;
    }
    let mut out = header(true, if changed { None } else { cached });
    out.extend_from_slice(&body);
    Some((Some(out), 1))
}

/// An HLL string of `registers`: sparse if it was and still can be, else dense; the cache
/// `card` (`None`: stale).
fn write(registers: &[u8], dense: bool, card: Option<u64>, sparse_max: usize) -> Vec<u8> {
    let sparse = (!dense)
        .then(|| sparse_body(registers))
        .flatten()
        .filter(|b| HEADER + b.len() <= sparse_max);
    let mut out = header(sparse.is_some(), card);
    match sparse {
        Some(body) => out.extend_from_slice(&body),
        None => {
            let mut body = vec![0u8; DENSE_SIZE - HEADER];
            for (i, &r) in registers.iter().enumerate() {
                let (byte, bit) = (i * 6 / 8, (i * 6) % 8);
                let v = u16::from(r & 63) << bit;
                body[byte] |= v as u8;
                if let Some(next) = body.get_mut(byte + 1) {
                    *next |= (v >> 8) as u8;
                }
            }
            out.extend_from_slice(&body);
        }
    }
    out
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate of `registers` (Redis's `hllCount`).
fn count(registers: &[u8]) -> u64 {
    let mut histo = [0u32; 64];
    for &r in registers {
        histo[usize::from(r & 63)] += 1;
    }
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histo[Q as usize + 1])) / m);
    for j in (1..=Q as usize).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sparse_max(server: &Server) -> usize {
    usize::try_from(server.config.get_i64("hll-sparse-max-bytes")).unwrap_or(3000)
}

/// PFADD with the registers spelled out (any HLL; the sparse ones take [`pfadd_sparse`]
/// first): the new value, if any, and the reply.
fn pfadd_registers(
    old: Option<&[u8]>,
    elements: &[Vec<u8>],
    max: usize,
) -> Result<(Option<Vec<u8>>, i64), Reply> {
    let (mut hll, created) = match old {
        Some(v) => (read(v)?, false),
        None => (
            Hll {
                registers: vec![0; REGISTERS],
                dense: false,
                cached: Some(0),
            },
            true,
        ),
    };
    let mut changed = false;
    for e in elements {
        let (i, run) = pattern(e);
        if hll.registers[i] < run {
            hll.registers[i] = run;
            changed = true;
        }
    }
    if !changed && !created {
        return Ok((None, 0));
    }
    let card = if changed { None } else { hll.cached };
    Ok((Some(write(&hll.registers, hll.dense, card, max)), 1))
}

/// `PFADD key [element ...]`: 1 if a register changed (or the key was created), else 0.
pub(super) fn pfadd(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let max = sparse_max(server);
    let r = server.store.update_string(session.db, &args[0], |old| {
        // A sparse HLL changes without its registers spelled out (the common case: most
        // HLLs hold few distinct elements).
        if let Some((value, reply)) = pfadd_sparse(old, &args[1..], max) {
            return Ok((value, Ok(reply)));
        }
        Ok(match pfadd_registers(old, &args[1..], max) {
            Ok((value, reply)) => (value, Ok(reply)),
            Err(e) => (None, Err(e)),
        })
    });
    let n = r.map_err(store_error)??;
    session.wrote |= n == 1;
    Ok(Reply::Integer(n))
}

/// `PFCOUNT key [key ...]`: one key's cached cardinality (computed and kept if stale), or
/// the cardinality of the union of several.
pub(super) fn pfcount(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let db = session.db;
    if args.len() > 1 {
        let mut max = vec![0u8; REGISTERS];
        for k in args.iter() {
            let Some(v) = server.store.get(db, k).map_err(store_error)? else {
                continue;
            };
            for (m, r) in max.iter_mut().zip(read(&v)?.registers) {
                *m = (*m).max(r);
            }
        }
        return Ok(Reply::Integer(count(&max) as i64));
    }
    let r = server.store.update_string(db, &args[0], |old| {
        let Some(v) = old else {
            return Ok((None, Ok((0, false))));
        };
        let hll = match read(v) {
            Ok(h) => h,
            Err(e) => return Ok((None, Err(e))),
        };
        if let Some(card) = hll.cached {
            return Ok((None, Ok((card, false))));
        }
        // The cache is part of the value: Redis rewrites it, and so does this.
        let card = count(&hll.registers);
        let mut kept = v.to_vec();
        kept[8..16].copy_from_slice(&card.to_le_bytes());
        Ok((Some(kept), Ok((card, true))))
    });
    let (card, wrote) = r.map_err(store_error)??;
    if wrote {
        // Redis signals the key modified: a WATCH on it fails the EXEC.
        server.watches.touch(db, &args[0]);
        session.wrote = true;
    }
    Ok(Reply::Integer(card as i64))
}

/// `PFMERGE destkey [sourcekey ...]`: the destination (itself merged in) gets the
/// register-wise maximum; dense if any input was.
pub(super) fn pfmerge(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let max_bytes = sparse_max(server);
    let mut failure = None;
    let r = server
        .store
        .strings_combine_store(session.db, &args[0], &args[..], true, |values| {
            let mut max = vec![0u8; REGISTERS];
            let mut dense = false;
            for v in values.iter().flatten() {
                match read(v) {
                    Ok(h) => {
                        dense |= h.dense;
                        for (m, r) in max.iter_mut().zip(h.registers) {
                            *m = (*m).max(r);
                        }
                    }
                    Err(e) => {
                        failure = Some(e);
                        return None;
                    }
                }
            }
            Some(write(&max, dense, None, max_bytes))
        });
    r.map_err(store_error)?;
    if let Some(e) = failure {
        return Err(e);
    }
    session.wrote = true;
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sparse_path_writes_what_the_general_one_does() {
        let mut value: Option<Vec<u8>> = None;
        for round in 0..400 {
            let elements: Vec<Vec<u8>> = (0..(round % 7))
                .map(|i| format!("e{}", round * 31 + i).into_bytes())
                .collect();
            let general = pfadd_registers(value.as_deref(), &elements, 600).unwrap().0;
            match pfadd_sparse(value.as_deref(), &elements, 600) {
                Some((fast, reply)) => {
                    assert_eq!(fast, general, "round {round}");
                    assert_eq!(reply, i64::from(general.is_some()));
                }
                // Dense already, or too big for sparse now: the general path takes over.
                None => {
                    let was_dense = value.as_ref().is_some_and(|v| v[4] == DENSE);
                    let goes_dense = general.as_ref().is_some_and(|g| g[4] == DENSE);
                    assert!(was_dense || goes_dense, "round {round}");
                }
            }
            if let Some(g) = general {
                value = Some(g);
            }
        }
        assert_eq!(
            value.as_ref().map(|v| v[4]),
            Some(DENSE),
            "it grew past sparse"
        );
    }

    #[test]
    fn murmur_and_patterns_as_redis_computes_them() {
        // The empty HLL Redis creates: sparse, one XZERO of 16384 registers.
        let empty = write(&[0; REGISTERS], false, Some(0), 3000);
        assert_eq!(empty, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        let r = read(&empty).unwrap();
        assert_eq!(count(&r.registers), 0);
        let mut regs = vec![0u8; REGISTERS];
        for i in 0..1000u32 {
            let (idx, run) = pattern(i.to_string().as_bytes());
            regs[idx] = regs[idx].max(run);
        }
        let n = count(&regs);
        assert!((950..1050).contains(&n), "{n}");
        // Both encodings read back the same registers.
        let sparse = write(&regs, false, None, 100_000);
        let dense = write(&regs, true, None, 3000);
        assert_eq!(sparse[4], SPARSE);
        assert_eq!(dense.len(), DENSE_SIZE);
        assert_eq!(read(&sparse).unwrap().registers, regs);
        assert_eq!(read(&dense).unwrap().registers, regs);
    }
}
