//! `SORT` and `SORT_RO`: the elements of a list, set or sorted set, sorted numerically or
//! (`ALPHA`) by bytes, by themselves or by the keys a `BY` pattern names, then `LIMIT`ed,
//! each replaced by the values of `GET` patterns, returned or (`STORE`) kept as a list.
//!
//! A pattern's `*` is replaced by the element; `key->field` reads a hash field; `#` is the
//! element itself. `BY` a pattern without `*` does not sort (lists and sorted sets keep
//! their order; a set is sorted by bytes when stored or when a script sorts it, as Redis does
//! for determinism). With `STORE` the whole command runs as one atomic batch.

use std::cmp::Ordering;

use strata_redis::{Error as StoreError, RedisType, ZRange, ZRangeSpec};

use super::number::integer_arg;
use super::reply::{store_error, syntax_error, CmdResult};
use super::Session;
use crate::resp::Reply;
use crate::server::Server;

/// A parsed `SORT` command.
#[derive(Debug, Default)]
struct Sort {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    by: Option<Vec<u8>>,
    /// `BY` a pattern without `*`: no sorting.
    dont_sort: bool,
    get: Vec<Vec<u8>>,
    store: Option<Vec<u8>>,
}

/// `SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dst]`.
pub(super) fn sort(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    sort_generic(server, session, args, false)
}

/// `SORT_RO`: SORT without STORE.
pub(super) fn sort_ro(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    sort_generic(server, session, args, true)
}

/// The destination of `SORT ... STORE dst` (the last STORE given), if any.
pub(super) fn store_target(args: &[Vec<u8>]) -> Option<&Vec<u8>> {
    let mut target = None;
    let mut i = 1;
    while i < args.len() {
        let word = args[i].to_ascii_lowercase();
        match word.as_slice() {
            b"store" | b"by" | b"get" if i + 1 < args.len() => {
                if word == b"store" {
                    target = Some(&args[i + 1]);
                }
                i += 2;
            }
            b"limit" if i + 2 < args.len() => i += 3,
            _ => i += 1,
        }
    }
    target
}

fn parse(args: &[Vec<u8>], read_only: bool) -> Result<Sort, Reply> {
    let mut s = Sort::default();
    let mut i = 1;
    while i < args.len() {
        let left = args.len() - i - 1;
        let word = args[i].to_ascii_lowercase();
        match word.as_slice() {
            b"asc" => s.desc = false,
            b"desc" => s.desc = true,
            b"alpha" => s.alpha = true,
            b"limit" if left >= 2 => {
                s.limit = Some((integer_arg(&args[i + 1])?, integer_arg(&args[i + 2])?));
                i += 2;
            }
            b"store" if left >= 1 && !read_only => {
                s.store = Some(args[i + 1].clone());
                i += 1;
            }
            b"by" if left >= 1 => {
                s.dont_sort = !args[i + 1].contains(&b'*');
                s.by = Some(args[i + 1].clone());
                i += 1;
            }
            b"get" if left >= 1 => {
                s.get.push(args[i + 1].clone());
                i += 1;
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    Ok(s)
}

fn sort_generic(
    server: &Server,
    session: &mut Session,
    args: &[Vec<u8>],
    read_only: bool,
) -> CmdResult {
    let mut s = parse(args, read_only)?;
    let db = session.db;
    // With STORE, the reads and the write are one atomic batch (dispatch leaves the
    // execution lock to it, see `runs_atomically`).
    if let Some(dst) = s.store.take() {
        let sorted = server
            .store
            .atomically(|| -> Result<Result<u64, Reply>, StoreError> {
                let out = match run(server, db, &args[0], &mut s, true)? {
                    Ok(out) => out,
                    Err(reply) => return Ok(Err(reply)),
                };
                let elements: Vec<Vec<u8>> =
                    out.into_iter().map(Option::unwrap_or_default).collect();
                server.store.del(db, &[&dst])?;
                if !elements.is_empty() {
                    server
                        .store
                        .push(db, &dst, strata_redis::End::Right, &elements, false)?;
                }
                Ok(Ok(elements.len() as u64))
            });
        let n = sorted
            .map_err(|e| Reply::error(format!("ERR {e}")))?
            .map_err(store_error)??;
        session.wrote = true;
        return Ok(Reply::Integer(n as i64));
    }
    let out = run(server, db, &args[0], &mut s, session.in_script).map_err(store_error)??;
    Ok(Reply::Array(
        out.into_iter()
            .map(|v| v.map_or(Reply::Null, Reply::Bulk))
            .collect(),
    ))
}

/// What SORT outputs: the elements, or per element the value of each GET pattern (`None`
/// where a key is missing).
type Output = Vec<Option<Vec<u8>>>;

/// One element to sort, with what it sorts by.
struct Item {
    element: Vec<u8>,
    score: f64,
    by: Option<Vec<u8>>,
}

/// Sorts as `s` says; the output elements (one per GET pattern each, or the elements), a
/// missing GET value `None`. `deterministic`: a set that is not sorted is sorted by bytes
/// (STORE, scripts).
fn run(
    server: &Server,
    db: u8,
    key: &[u8],
    s: &mut Sort,
    deterministic: bool,
) -> Result<Result<Output, Reply>, StoreError> {
    let store = &server.store;
    let kind = store.key_type(db, key)?;
    if s.dont_sort && kind == Some(RedisType::Set) && deterministic {
        s.dont_sort = false;
        s.alpha = true;
        s.by = None;
    }
    let mut elements = match kind {
        None => Vec::new(),
        Some(RedisType::List) => store.lrange(db, key, 0, -1)?,
        Some(RedisType::Set) => store.smembers(db, key)?,
        Some(RedisType::ZSet) => {
            let spec = ZRangeSpec {
                range: ZRange::Rank(0, -1),
                rev: false,
                limit: None,
            };
            store
                .zrange(db, key, &spec)?
                .into_iter()
                .map(|(m, _)| m)
                .collect()
        }
        Some(_) => return Err(StoreError::WrongType),
    };
    // Lists and sorted sets keep their order when not sorted, DESC reversing it.
    if s.dont_sort && s.desc && kind != Some(RedisType::Set) {
        elements.reverse();
    }
    let len = elements.len() as i64;
    let (start, count) = s.limit.unwrap_or((0, -1));
    let start = start.clamp(0, len);
    let count = count.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    let start = if start >= len {
        end = len - 2;
        len - 1
    } else {
        start
    };
    end = end.min(len - 1);

    let mut items: Vec<Item> = elements
        .into_iter()
        .map(|element| Item {
            element,
            score: 0.0,
            by: None,
        })
        .collect();
    if !s.dont_sort {
        let mut bad_number = false;
        for item in &mut items {
            let by = match &s.by {
                Some(pattern) => match lookup(server, db, pattern, &item.element)? {
                    Some(v) => v,
                    None => continue,
                },
                None => item.element.clone(),
            };
            if s.alpha {
                if s.by.is_some() {
                    item.by = Some(by);
                }
            } else {
                match parse_score(&by) {
                    Some(score) => item.score = score,
                    None => bad_number = true,
                }
            }
        }
        if bad_number {
            return Ok(Err(Reply::error(
                "ERR One or more scores can't be converted into double",
            )));
        }
        let (alpha, by_pattern, desc) = (s.alpha, s.by.is_some(), s.desc);
        items.sort_by(|a, b| {
            let cmp = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.element.cmp(&b.element))
            } else if by_pattern {
                a.by.cmp(&b.by)
            } else {
                a.element.cmp(&b.element)
            };
            if desc {
                cmp.reverse()
            } else {
                cmp
            }
        });
    }
    let mut out = Vec::new();
    if end >= start {
        for item in &items[start as usize..=end as usize] {
            if s.get.is_empty() {
                out.push(Some(item.element.clone()));
            }
            for pattern in &s.get {
                out.push(lookup(server, db, pattern, &item.element)?);
            }
        }
    }
    Ok(Ok(out))
}

/// A sort weight as `strtod` reads the whole of it; not NaN.
fn parse_score(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?.trim_start();
    let f: f64 = s.parse().ok()?;
    (!f.is_nan()).then_some(f)
}

/// The value pattern `pattern` names for `element` (Redis's `lookupKeyByPattern`): `#` is
/// the element; `*` is replaced by it; `key->field` reads a hash field. `None`: no `*`, no
/// such key, or a key of another type.
fn lookup(
    server: &Server,
    db: u8,
    pattern: &[u8],
    element: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    if pattern == b"#" {
        return Ok(Some(element.to_vec()));
    }
    let Some(star) = pattern.iter().position(|&b| b == b'*') else {
        return Ok(None);
    };
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&at| at + 2 < after.len());
    let (postfix, field) = match arrow {
        Some(at) => (&after[..at], Some(&after[at + 2..])),
        None => (after, None),
    };
    let key = [&pattern[..star], element, postfix].concat();
    let store = &server.store;
    match field {
        Some(field) => match store.key_type(db, &key)? {
            Some(RedisType::Hash) => store.hget(db, &key, field),
            _ => Ok(None),
        },
        None => match store.get(db, &key) {
            Err(StoreError::WrongType) => Ok(None),
            other => other,
        },
    }
}
