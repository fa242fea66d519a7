//! DUMP and RESTORE in Redis's serialization (an RDB value, the RDB version, a CRC64): a
//! payload DUMPed by Redis 7.0 RESTOREs here and one DUMPed here RESTOREs in Redis.

use strata_redis::rdb::{self, Value};
use strata_redis::{
    Condition, End, Error as StoreError, RedisType, SetOptions, ZRange, ZRangeSpec,
};

use super::number::integer_arg;
use super::reply::{store_error, syntax_error, CmdResult};
use super::Session;
use crate::resp::Reply;
use crate::server::Server;

/// `DUMP key`: the key's value serialized, or nil. The TTL is not part of it (as in Redis).
pub(super) fn dump(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    Ok(
        match payload(server, session.db, &args[0]).map_err(store_error)? {
            None => Reply::Null,
            Some(p) => Reply::Bulk(p),
        },
    )
}

/// The DUMP payload of `k` (its value in Redis's serialization), `None` without the key.
pub(super) fn payload(server: &Server, db: u8, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    let store = &server.store;
    let read = || -> Result<Option<Value>, StoreError> {
        Ok(Some(match store.key_type(db, k)? {
            None => return Ok(None),
            Some(RedisType::String) => Value::String(store.get(db, k)?.unwrap_or_default()),
            Some(RedisType::List) => Value::List(store.lrange(db, k, 0, -1)?),
            Some(RedisType::Set) => Value::Set(store.smembers(db, k)?),
            Some(RedisType::Hash) => Value::Hash(store.hgetall(db, k)?),
            Some(RedisType::ZSet) => {
                let all = ZRangeSpec {
                    range: ZRange::Rank(0, -1),
                    rev: false,
                    limit: None,
                };
                Value::ZSet(store.zrange(db, k, &all)?)
            }
        }))
    };
    Ok(read()?.map(|value| {
        let mut body = Vec::new();
        rdb::put_value(&mut body, &value);
        rdb::seal(body)
    }))
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`: creates
/// `key` from a DUMP payload, with a TTL in ms (0: none; with ABSTTL a Unix time in ms). Runs
/// as one atomic batch (dispatch leaves the execution lock to it).
pub(super) fn restore(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let (mut replace, mut absttl, mut idle, mut freq) = (false, false, None, None);
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        let opt = args[i].to_ascii_lowercase();
        match opt.as_slice() {
            b"replace" => replace = true,
            b"absttl" => absttl = true,
            b"idletime" if more && freq.is_none() => {
                let n = integer_arg(&args[i + 1])?;
                if n < 0 {
                    return Err(Reply::error("ERR Invalid IDLETIME value, must be >= 0"));
                }
                idle = Some(n);
                i += 1;
            }
            b"freq" if more && idle.is_none() => {
                let n = integer_arg(&args[i + 1])?;
                if !(0..=255).contains(&n) {
                    return Err(Reply::error(
                        "ERR Invalid FREQ value, must be >= 0 and <= 255",
                    ));
                }
                freq = Some(n);
                i += 1;
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    let (store, db, k) = (&server.store, session.db, &args[0]);
    let restored = store.atomically(|| -> Result<CmdResult, StoreError> {
        if !replace && store.key_type(db, k)?.is_some() {
            return Ok(Err(Reply::error("BUSYKEY Target key name already exists.")));
        }
        let ttl = integer_arg(&args[1]);
        let ttl = match ttl {
            Ok(t) if t < 0 => return Ok(Err(Reply::error("ERR Invalid TTL value, must be >= 0"))),
            Ok(t) => t as u64,
            Err(e) => return Ok(Err(e)),
        };
        let Ok((body, _)) = rdb::open(&args[2]) else {
            return Ok(Err(Reply::error(
                "ERR DUMP payload version or checksum are wrong",
            )));
        };
        let value = match rdb::Reader::new(body).value() {
            Ok(v) if !is_empty(&v) => v,
            _ => return Ok(Err(Reply::error("ERR Bad data format"))),
        };
        if replace {
            store.del(db, &[k])?;
        }
        let at = match ttl {
            0 => None,
            t if absttl => Some(t),
            t => Some(store.now_ms().saturating_add(t)),
        };
        if at.is_some_and(|at| at <= store.now_ms()) {
            // Already expired: nothing is created (a replaced key is gone all the same).
            return Ok(Ok(Reply::ok()));
        }
        create(server, db, k, value)?;
        if let Some(at) = at {
            store.set_expiry(db, k, Some(at), |_| true)?;
        }
        Ok(Ok(Reply::ok()))
    });
    let reply = restored
        .map_err(|e| Reply::error(format!("ERR {e}")))?
        .map_err(store_error)??;
    session.wrote = true;
    Ok(reply)
}

/// Whether `v` is a collection without elements (Redis refuses those as bad data).
fn is_empty(v: &Value) -> bool {
    match v {
        Value::String(_) => false,
        Value::List(items) | Value::Set(items) => items.is_empty(),
        Value::ZSet(pairs) => pairs.is_empty(),
        Value::Hash(pairs) => pairs.is_empty(),
    }
}

/// Writes `value` as the new key `k` (which does not exist).
fn create(server: &Server, db: u8, k: &[u8], value: Value) -> Result<(), StoreError> {
    let store = &server.store;
    match value {
        Value::String(v) => {
            let opts = SetOptions {
                condition: Condition::Always,
                ..SetOptions::default()
            };
            store.set(db, k, v, opts)?;
        }
        Value::List(items) => {
            store.push(db, k, End::Right, &items, false)?;
        }
        Value::Set(items) => {
            store.sadd(db, k, &items)?;
        }
        Value::Hash(pairs) => {
            let pairs: Vec<(&[u8], &[u8])> = pairs
                .iter()
                .map(|(f, v)| (f.as_slice(), v.as_slice()))
                .collect();
            store.hset(db, k, &pairs, false)?;
        }
        Value::ZSet(pairs) => {
            let pairs: Vec<(f64, &[u8])> = pairs.iter().map(|(m, s)| (*s, m.as_slice())).collect();
            store.zadd(db, k, strata_redis::ZaddOptions::default(), &pairs)?;
        }
    }
    Ok(())
}
