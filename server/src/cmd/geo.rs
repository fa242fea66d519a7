//! Geo commands over sorted sets, as Redis 7.0 has them: a member's score is its 52-bit
//! geohash (26 steps of longitude and latitude interleaved, latitude within ±85.05112878, as
//! Redis's `geohash.c`); searches visit the geohash box of the centre and its eight
//! neighbours at a precision chosen from the radius (`geohash_helper.c`) and keep the members
//! within the shape (haversine distances on Redis's Earth radius).

use strata_redis::{
    Condition, Error as StoreError, ScoreBound, ZRange, ZRangeSpec, ZaddOptions, ZaddOutcome,
};

use super::number::{integer_arg, parse_float};
use super::reply::{not_a_float, or_error, store_error, syntax_error, CmdResult};
use super::Session;
use crate::resp::Reply;
use crate::server::Server;

const STEP_MAX: u32 = 26;
const LAT_MIN: f64 = -85.051_128_78;
const LAT_MAX: f64 = 85.051_128_78;
const LONG_MIN: f64 = -180.0;
const LONG_MAX: f64 = 180.0;
/// Redis's Earth radius (WGS-84 quadratic mean), metres.
const EARTH_RADIUS: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;

/// A geohash of `step` steps (2 × step bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hash {
    bits: u64,
    step: u32,
}

impl Hash {
    const ZERO: Hash = Hash { bits: 0, step: 0 };

    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A box of longitudes and latitudes.
#[derive(Debug, Clone, Copy)]
struct Area {
    long: (f64, f64),
    lat: (f64, f64),
}

fn interleave(lat: u32, long: u32) -> u64 {
    let spread = |v: u32| {
        let mut x = u64::from(v);
        x = (x | x << 16) & 0x0000_FFFF_0000_FFFF;
        x = (x | x << 8) & 0x00FF_00FF_00FF_00FF;
        x = (x | x << 4) & 0x0F0F_0F0F_0F0F_0F0F;
        x = (x | x << 2) & 0x3333_3333_3333_3333;
        (x | x << 1) & 0x5555_5555_5555_5555
    };
    spread(lat) | spread(long) << 1
}

/// (latitude part, longitude part) of interleaved bits.
fn deinterleave(bits: u64) -> (u32, u32) {
    let squash = |v: u64| {
        let mut x = v & 0x5555_5555_5555_5555;
        x = (x | x >> 1) & 0x3333_3333_3333_3333;
        x = (x | x >> 2) & 0x0F0F_0F0F_0F0F_0F0F;
        x = (x | x >> 4) & 0x00FF_00FF_00FF_00FF;
        x = (x | x >> 8) & 0x0000_FFFF_0000_FFFF;
        ((x | x >> 16) & 0x0000_0000_FFFF_FFFF) as u32
    };
    (squash(bits), squash(bits >> 1))
}

/// Redis's `geohashEncode` within the ranges `long` and `lat`.
fn encode(
    long_range: (f64, f64),
    lat_range: (f64, f64),
    long: f64,
    lat: f64,
    step: u32,
) -> Option<Hash> {
    if !(LONG_MIN..=LONG_MAX).contains(&long) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.0 || lat > lat_range.1 || long < long_range.0 || long > long_range.1 {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.0) / (lat_range.1 - lat_range.0) * scale;
    let long_offset = (long - long_range.0) / (long_range.1 - long_range.0) * scale;
    Some(Hash {
        bits: interleave(lat_offset as u32, long_offset as u32),
        step,
    })
}

fn encode_wgs84(long: f64, lat: f64, step: u32) -> Option<Hash> {
    encode((LONG_MIN, LONG_MAX), (LAT_MIN, LAT_MAX), long, lat, step)
}

/// The box a hash stands for.
fn decode(hash: Hash) -> Area {
    let (ilat, ilong) = deinterleave(hash.bits);
    let scale = (1u64 << hash.step) as f64;
    let (lat_span, long_span) = (LAT_MAX - LAT_MIN, LONG_MAX - LONG_MIN);
    Area {
        lat: (
            LAT_MIN + f64::from(ilat) / scale * lat_span,
            LAT_MIN + (f64::from(ilat) + 1.0) / scale * lat_span,
        ),
        long: (
            LONG_MIN + f64::from(ilong) / scale * long_span,
            LONG_MIN + (f64::from(ilong) + 1.0) / scale * long_span,
        ),
    }
}

/// A member's (longitude, latitude) from its score.
fn score_to_point(score: f64) -> Option<(f64, f64)> {
    if !(0.0..(1u64 << 52) as f64).contains(&score) {
        return None;
    }
    let area = decode(Hash {
        bits: score as u64,
        step: STEP_MAX,
    });
    let long = ((area.long.0 + area.long.1) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.lat.0 + area.lat.1) / 2.0).clamp(LAT_MIN, LAT_MAX);
    Some((long, lat))
}

fn align52(hash: Hash) -> u64 {
    hash.bits << (52 - hash.step * 2)
}

fn move_x(hash: &mut Hash, d: i8) {
    if d == 0 || hash.step == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> (64 - hash.step * 2);
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x = (x | zz).wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - hash.step * 2);
    hash.bits = x | y;
}

fn move_y(hash: &mut Hash, d: i8) {
    if d == 0 || hash.step == 0 {
        return;
    }
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - hash.step * 2);
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y = (y | zz).wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> (64 - hash.step * 2);
    hash.bits = x | y;
}

fn neighbour(hash: Hash, dx: i8, dy: i8) -> Hash {
    let mut h = hash;
    move_x(&mut h, dx);
    move_y(&mut h, dy);
    h
}

fn deg_rad(d: f64) -> f64 {
    d * (std::f64::consts::PI / 180.0)
}

fn rad_deg(r: f64) -> f64 {
    r / (std::f64::consts::PI / 180.0)
}

fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Redis's haversine distance in metres.
fn distance(long1: f64, lat1: f64, long2: f64, lat2: f64) -> f64 {
    let (lon1r, lon2r) = (deg_rad(long1), deg_rad(long2));
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS * a.sqrt().asin()
}

/// What a search covers: a circle or a box (in metres once `conversion` applies).
#[derive(Debug, Clone, Copy)]
enum Shape {
    Radius(f64),
    Box { width: f64, height: f64 },
}

#[derive(Debug, Clone, Copy)]
struct Search {
    long: f64,
    lat: f64,
    shape: Shape,
    /// Metres per unit.
    conversion: f64,
}

impl Search {
    /// The distance from the centre to (`long`, `lat`) if it lies within the shape.
    fn within(&self, long: f64, lat: f64) -> Option<f64> {
        match self.shape {
            Shape::Radius(r) => {
                let d = distance(self.long, self.lat, long, lat);
                (d <= r * self.conversion).then_some(d)
            }
            Shape::Box { width, height } => {
                let (w, h) = (width * self.conversion, height * self.conversion);
                if lat_distance(lat, self.lat) > h / 2.0 {
                    return None;
                }
                if distance(long, lat, self.long, lat) > w / 2.0 {
                    return None;
                }
                Some(distance(self.long, self.lat, long, lat))
            }
        }
    }

    /// (min long, min lat, max long, max lat) around the shape (`geohashBoundingBox`).
    fn bounds(&self) -> (f64, f64, f64, f64) {
        let (h, w) = match self.shape {
            Shape::Radius(r) => (r * self.conversion, r * self.conversion),
            Shape::Box { width, height } => (
                height / 2.0 * self.conversion,
                width / 2.0 * self.conversion,
            ),
        };
        let lat_delta = rad_deg(h / EARTH_RADIUS);
        let long_top = rad_deg(w / EARTH_RADIUS / deg_rad(self.lat + lat_delta).cos());
        let long_bottom = rad_deg(w / EARTH_RADIUS / deg_rad(self.lat - lat_delta).cos());
        let delta = if self.lat < 0.0 {
            long_bottom
        } else {
            long_top
        };
        (
            self.long - delta,
            self.lat - lat_delta,
            self.long + delta,
            self.lat + lat_delta,
        )
    }

    /// The nine boxes to scan (`geohashCalculateAreasByShapeWGS84`): the centre's, then N, S,
    /// E, W, NE, NW, SE, SW, useless ones zeroed.
    fn boxes(&self) -> [Hash; 9] {
        let (min_lon, min_lat, max_lon, max_lat) = self.bounds();
        let radius = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box { width, height } => ((width / 2.0).powi(2) + (height / 2.0).powi(2)).sqrt(),
        } * self.conversion;
        let mut steps = estimate_steps(radius, self.lat);
        let around = |steps: u32| {
            let hash = encode_wgs84(self.long, self.lat, steps).unwrap_or(Hash::ZERO);
            [
                hash,
                neighbour(hash, 0, 1),
                neighbour(hash, 0, -1),
                neighbour(hash, 1, 0),
                neighbour(hash, -1, 0),
                neighbour(hash, 1, 1),
                neighbour(hash, -1, 1),
                neighbour(hash, 1, -1),
                neighbour(hash, -1, -1),
            ]
        };
        let mut n = around(steps);
        let (north, south, east, west) = (decode(n[1]), decode(n[2]), decode(n[3]), decode(n[4]));
        let decrease = north.lat.1 < max_lat
            || south.lat.0 > min_lat
            || east.long.1 < max_lon
            || west.long.0 > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            n = around(steps);
        }
        let area = decode(n[0]);
        if steps >= 2 {
            let mut zero = |i: &[usize]| {
                for &i in i {
                    n[i] = Hash::ZERO;
                }
            };
            if area.lat.0 < min_lat {
                zero(&[2, 8, 7]);
            }
            if area.lat.1 > max_lat {
                zero(&[1, 5, 6]);
            }
            if area.long.0 < min_lon {
                zero(&[4, 8, 6]);
            }
            if area.long.1 > max_lon {
                zero(&[3, 7, 5]);
            }
        }
        n
    }
}

fn estimate_steps(range: f64, lat: f64) -> u32 {
    if range == 0.0 {
        return 26;
    }
    let (mut range, mut step) = (range, 1i32);
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u32
}

/// A member found by a search.
#[derive(Debug, Clone)]
struct Found {
    member: Vec<u8>,
    score: f64,
    dist: f64,
    long: f64,
    lat: f64,
}

/// Scans the boxes of `search` in the sorted set `key`; with `limit` (ANY), stops once that
/// many were found.
fn search_members(
    server: &Server,
    db: u8,
    key: &[u8],
    search: &Search,
    limit: usize,
) -> Result<Vec<Found>, StoreError> {
    let mut out = Vec::new();
    let boxes = search.boxes();
    let mut last: Option<Hash> = None;
    for hash in boxes {
        if hash.is_zero() || last == Some(hash) {
            continue;
        }
        if limit != 0 && out.len() >= limit {
            break;
        }
        let mut next = hash;
        next.bits += 1;
        let spec = ZRangeSpec {
            range: ZRange::Score(
                ScoreBound {
                    score: align52(hash) as f64,
                    exclusive: false,
                },
                ScoreBound {
                    score: align52(next) as f64,
                    exclusive: true,
                },
            ),
            rev: false,
            limit: None,
        };
        for (member, score) in server.store.zrange(db, key, &spec)? {
            let Some((long, lat)) = score_to_point(score) else {
                continue;
            };
            if let Some(dist) = search.within(long, lat) {
                out.push(Found {
                    member,
                    score,
                    dist,
                    long,
                    lat,
                });
                if limit != 0 && out.len() >= limit {
                    break;
                }
            }
        }
        last = Some(hash);
    }
    Ok(out)
}

/// A unit's metres.
fn unit(arg: &[u8]) -> Result<f64, Reply> {
    match arg.to_ascii_lowercase().as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(Reply::error(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

fn float(arg: &[u8], err: &str) -> Result<f64, Reply> {
    parse_float(arg).ok_or_else(|| Reply::error(err.to_string()))
}

/// A longitude, latitude pair, within Redis's limits.
fn long_lat(long: &[u8], lat: &[u8]) -> Result<(f64, f64), Reply> {
    let long = parse_float(long).ok_or_else(not_a_float)?;
    let lat = parse_float(lat).ok_or_else(not_a_float)?;
    if !(LONG_MIN..=LONG_MAX).contains(&long) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return Err(Reply::error(format!(
            "ERR invalid longitude,latitude pair {long:.6},{lat:.6}"
        )));
    }
    Ok((long, lat))
}

/// A distance as Redis writes one (4 decimals).
fn distance_reply(d: f64) -> Reply {
    Reply::Bulk(format!("{d:.4}").into_bytes())
}

/// A coordinate as Redis's `addReplyHumanLongDouble` writes one (17 decimals, trailing zeros
/// cut), or a double in RESP3.
fn coordinate(v: f64, session: &Session) -> Reply {
    if session.protocol == crate::resp::Protocol::Resp3 {
        return Reply::Double(v);
    }
    let s = format!("{v:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    Reply::Bulk(s.as_bytes().to_vec())
}

/// The score of `member` in `key`.
fn member_score(
    server: &Server,
    db: u8,
    key: &[u8],
    member: &[u8],
) -> Result<Option<f64>, StoreError> {
    Ok(server
        .store
        .zscores(db, key, &[member])?
        .into_iter()
        .next()
        .flatten())
}

/// `GEOADD key [NX|XX] [CH] longitude latitude member [...]`.
pub(super) fn geoadd(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut i = 1;
    while let Some(opt) = args.get(i) {
        match opt.to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"ch" => ch = true,
            _ => break,
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(3) || (nx && xx) {
        return Err(syntax_error());
    }
    let mut pairs = Vec::with_capacity(rest.len() / 3);
    for t in rest.chunks_exact(3) {
        let (long, lat) = long_lat(&t[0], &t[1])?;
        let hash = encode_wgs84(long, lat, STEP_MAX).ok_or_else(syntax_error)?;
        pairs.push((align52(hash) as f64, t[2].as_slice()));
    }
    let opts = ZaddOptions {
        condition: match (nx, xx) {
            (true, _) => Condition::IfAbsent,
            (_, true) => Condition::IfPresent,
            _ => Condition::Always,
        },
        ch,
        ..ZaddOptions::default()
    };
    or_error(
        server.store.zadd(session.db, &args[0], opts, &pairs),
        |o| match o {
            ZaddOutcome::Count(n) => Reply::Integer(n as i64),
            ZaddOutcome::Score(s) => s.map_or(Reply::Null, Reply::Double),
        },
    )
}

/// `GEODIST key member1 member2 [unit]`.
pub(super) fn geodist(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let to_meters = match args.len() {
        3 => 1.0,
        4 => unit(&args[3])?,
        _ => return Err(syntax_error()),
    };
    let db = session.db;
    let a = member_score(server, db, &args[0], &args[1]).map_err(store_error)?;
    let b = member_score(server, db, &args[0], &args[2]).map_err(store_error)?;
    Ok(
        match (a.and_then(score_to_point), b.and_then(score_to_point)) {
            (Some(a), Some(b)) => distance_reply(distance(a.0, a.1, b.0, b.1) / to_meters),
            _ => Reply::Null,
        },
    )
}

/// `GEOHASH key member...`: standard 11-character geohashes.
pub(super) fn geohash(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let scores = server
        .store
        .zscores(session.db, &args[0], &args[1..])
        .map_err(store_error)?;
    Ok(Reply::Array(
        scores
            .into_iter()
            .map(|s| {
                let Some((long, lat)) = s.and_then(score_to_point) else {
                    return Reply::Null;
                };
                // Re-encoded on the standard latitude range (±90) Redis's internal one is not.
                let Some(hash) = encode((-180.0, 180.0), (-90.0, 90.0), long, lat, 26) else {
                    return Reply::Null;
                };
                let text: Vec<u8> = (0..11)
                    .map(|i| {
                        let idx = if i == 10 {
                            0
                        } else {
                            (hash.bits >> (52 - (i + 1) * 5)) & 0x1f
                        };
                        ALPHABET[idx as usize]
                    })
                    .collect();
                Reply::Bulk(text)
            })
            .collect(),
    ))
}

/// `GEOPOS key member...`.
pub(super) fn geopos(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    let scores = server
        .store
        .zscores(session.db, &args[0], &args[1..])
        .map_err(store_error)?;
    Ok(Reply::Array(
        scores
            .into_iter()
            .map(|s| match s.and_then(score_to_point) {
                Some((long, lat)) => {
                    Reply::Array(vec![coordinate(long, session), coordinate(lat, session)])
                }
                None => Reply::NullArray,
            })
            .collect(),
    ))
}

/// Which search command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Radius,
    RadiusByMember,
    RadiusRo,
    RadiusByMemberRo,
    Search,
    SearchStore,
}

pub(super) fn georadius(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    search(server, session, args, Kind::Radius)
}

pub(super) fn georadius_ro(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    search(server, session, args, Kind::RadiusRo)
}

pub(super) fn georadiusbymember(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    search(server, session, args, Kind::RadiusByMember)
}

pub(super) fn georadiusbymember_ro(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    search(server, session, args, Kind::RadiusByMemberRo)
}

pub(super) fn geosearch(server: &Server, session: &mut Session, args: &mut [Vec<u8>]) -> CmdResult {
    search(server, session, args, Kind::Search)
}

pub(super) fn geosearchstore(
    server: &Server,
    session: &mut Session,
    args: &mut [Vec<u8>],
) -> CmdResult {
    search(server, session, args, Kind::SearchStore)
}

/// The destination a GEORADIUS[BYMEMBER] ... STORE|STOREDIST names, if any (the last one).
pub(super) fn radius_store_target(args: &[Vec<u8>]) -> Option<&Vec<u8>> {
    args.windows(2)
        .rev()
        .find(|w| w[0].eq_ignore_ascii_case(b"store") || w[0].eq_ignore_ascii_case(b"storedist"))
        .map(|w| &w[1])
}

/// Redis's `georadiusGeneric`. A search that stores runs as one atomic batch (dispatch
/// leaves the execution lock to it).
fn search(server: &Server, session: &mut Session, args: &[Vec<u8>], kind: Kind) -> CmdResult {
    let db = session.db;
    let (src, base) = match kind {
        Kind::Radius | Kind::RadiusRo => (&args[0], 5),
        Kind::RadiusByMember | Kind::RadiusByMemberRo => (&args[0], 4),
        Kind::Search => (&args[0], 1),
        Kind::SearchStore => (&args[1], 2),
    };
    if base > args.len() {
        return Err(syntax_error());
    }
    let name = match kind {
        Kind::Search => "geosearch",
        Kind::SearchStore => "geosearchstore",
        _ => "",
    };
    let geosearch = matches!(kind, Kind::Search | Kind::SearchStore);
    let no_store = matches!(kind, Kind::RadiusRo | Kind::RadiusByMemberRo);
    let exists = server.store.key_type(db, src).map_err(store_error)?;
    if exists.is_some_and(|t| t != strata_redis::RedisType::ZSet) {
        return Err(store_error(StoreError::WrongType));
    }
    let mut centre: Option<(f64, f64)> = None;
    let mut shape: Option<(Shape, f64)> = None;
    match kind {
        Kind::Radius | Kind::RadiusRo => {
            centre = Some(long_lat(&args[1], &args[2])?);
            let r = float(&args[3], "ERR need numeric radius")?;
            if r < 0.0 {
                return Err(Reply::error("ERR radius cannot be negative"));
            }
            shape = Some((Shape::Radius(r), unit(&args[4])?));
        }
        Kind::RadiusByMember | Kind::RadiusByMemberRo if exists.is_some() => {
            let score = member_score(server, db, src, &args[1]).map_err(store_error)?;
            centre = Some(
                score
                    .and_then(score_to_point)
                    .ok_or_else(|| Reply::error("ERR could not decode requested zset member"))?,
            );
            let r = float(&args[2], "ERR need numeric radius")?;
            if r < 0.0 {
                return Err(Reply::error("ERR radius cannot be negative"));
            }
            shape = Some((Shape::Radius(r), unit(&args[3])?));
        }
        _ => {}
    }
    let (mut with_dist, mut with_hash, mut with_coord, mut any) = (false, false, false, false);
    let (mut sort, mut count): (Option<bool>, i64) = (None, 0);
    let mut store: Option<(&Vec<u8>, bool)> = if kind == Kind::SearchStore {
        Some((&args[0], false))
    } else {
        None
    };
    let (mut from_member, mut from_loc) = (false, false);
    let mut i = base;
    while i < args.len() {
        let left = args.len() - i - 1;
        let opt = args[i].to_ascii_lowercase();
        match opt.as_slice() {
            b"withdist" => with_dist = true,
            b"withhash" => with_hash = true,
            b"withcoord" => with_coord = true,
            b"any" => any = true,
            b"asc" => sort = Some(true),
            b"desc" => sort = Some(false),
            b"count" if left >= 1 => {
                count = integer_arg(&args[i + 1])?;
                if count <= 0 {
                    return Err(Reply::error("ERR COUNT must be > 0"));
                }
                i += 1;
            }
            b"store" | b"storedist" if left >= 1 && !no_store && !geosearch => {
                store = Some((&args[i + 1], opt == b"storedist"));
                i += 1;
            }
            b"storedist" if kind == Kind::SearchStore => store = Some((&args[0], true)),
            b"frommember" if left >= 1 && geosearch && !from_loc => {
                if exists.is_some() {
                    let score = member_score(server, db, src, &args[i + 1]).map_err(store_error)?;
                    centre = Some(score.and_then(score_to_point).ok_or_else(|| {
                        Reply::error("ERR could not decode requested zset member")
                    })?);
                }
                from_member = true;
                i += 1;
            }
            b"fromlonlat" if left >= 2 && geosearch && !from_member => {
                centre = Some(long_lat(&args[i + 1], &args[i + 2])?);
                from_loc = true;
                i += 2;
            }
            b"byradius"
                if left >= 2 && geosearch && !matches!(shape, Some((Shape::Box { .. }, _))) =>
            {
                let r = float(&args[i + 1], "ERR need numeric radius")?;
                if r < 0.0 {
                    return Err(Reply::error("ERR radius cannot be negative"));
                }
                shape = Some((Shape::Radius(r), unit(&args[i + 2])?));
                i += 2;
            }
            b"bybox" if left >= 3 && geosearch && !matches!(shape, Some((Shape::Radius(_), _))) => {
                let w = float(&args[i + 1], "ERR need numeric width")?;
                let h = float(&args[i + 2], "ERR need numeric height")?;
                if w < 0.0 || h < 0.0 {
                    return Err(Reply::error("ERR height or width cannot be negative"));
                }
                shape = Some((
                    Shape::Box {
                        width: w,
                        height: h,
                    },
                    unit(&args[i + 3])?,
                ));
                i += 3;
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    if store.is_some() && (with_dist || with_hash || with_coord) {
        return Err(Reply::error(format!(
            "ERR {} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if kind == Kind::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    if geosearch && !(from_member || from_loc) {
        return Err(Reply::error(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if geosearch && shape.is_none() {
        return Err(Reply::error(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(Reply::error("ERR the ANY argument requires COUNT argument"));
    }
    let write = |found: &[Found], storedist: bool, dst: &Vec<u8>| -> Result<u64, StoreError> {
        server.store.del(db, &[dst])?;
        if !found.is_empty() {
            let pairs: Vec<(f64, &[u8])> = found
                .iter()
                .map(|f| {
                    (
                        if storedist { f.dist } else { f.score },
                        f.member.as_slice(),
                    )
                })
                .collect();
            server.store.zadd(db, dst, ZaddOptions::default(), &pairs)?;
        }
        Ok(found.len() as u64)
    };
    let (Some((long, lat)), Some((shape, conversion))) = (centre, shape) else {
        // No source key: nothing found.
        return match store {
            Some((dst, dist)) => {
                let n = atomically(server, || write(&[], dist, dst))?;
                session.wrote = true;
                Ok(Reply::Integer(n as i64))
            }
            None => Ok(Reply::Array(Vec::new())),
        };
    };
    if count != 0 && sort.is_none() && !any {
        sort = Some(true);
    }
    let query = Search {
        long,
        lat,
        shape,
        conversion,
    };
    let limit = if any { count as usize } else { 0 };
    let run = || -> Result<Vec<Found>, StoreError> {
        let mut found = search_members(server, db, src, &query, limit)?;
        if let Some(asc) = sort {
            found.sort_by(|a, b| {
                let o = a
                    .dist
                    .partial_cmp(&b.dist)
                    .unwrap_or(std::cmp::Ordering::Equal);
                if asc {
                    o
                } else {
                    o.reverse()
                }
            });
        }
        if count > 0 {
            found.truncate(count as usize);
        }
        for f in &mut found {
            f.dist /= conversion;
        }
        Ok(found)
    };
    if let Some((dst, storedist)) = store {
        let n = atomically(server, || write(&run()?, storedist, dst))?;
        session.wrote = true;
        return Ok(Reply::Integer(n as i64));
    }
    let found = run().map_err(store_error)?;
    let options = usize::from(with_dist) + usize::from(with_hash) + usize::from(with_coord);
    Ok(Reply::Array(
        found
            .into_iter()
            .map(|f| {
                if options == 0 {
                    return Reply::Bulk(f.member);
                }
                let mut item = vec![Reply::Bulk(f.member)];
                if with_dist {
                    item.push(distance_reply(f.dist));
                }
                if with_hash {
                    item.push(Reply::Integer(f.score as i64));
                }
                if with_coord {
                    item.push(Reply::Array(vec![
                        coordinate(f.long, session),
                        coordinate(f.lat, session),
                    ]));
                }
                Reply::Array(item)
            })
            .collect(),
    ))
}

/// Runs a storing search's reads and write as one batch.
fn atomically<T>(server: &Server, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, Reply> {
    server
        .store
        .atomically(f)
        .map_err(|e| Reply::error(format!("ERR {e}")))?
        .map_err(store_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_round_trips() {
        for (lat, long) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            assert_eq!(deinterleave(interleave(lat, long)), (lat, long));
        }
    }

    #[test]
    fn scores_and_distances_as_redis_computes_them() {
        // GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania (redis.io).
        let palermo = align52(encode_wgs84(13.361_389, 38.115_556, STEP_MAX).unwrap());
        let catania = align52(encode_wgs84(15.087_269, 37.502_669, STEP_MAX).unwrap());
        assert_eq!(palermo, 3_479_099_956_230_698);
        assert_eq!(catania, 3_479_447_370_796_909);
        let (a, b) = (
            score_to_point(palermo as f64).unwrap(),
            score_to_point(catania as f64).unwrap(),
        );
        assert_eq!(
            format!("{:.4}", distance(a.0, a.1, b.0, b.1)),
            "166274.1516"
        );
    }
}
