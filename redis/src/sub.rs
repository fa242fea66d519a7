//! Engine keys of collection elements (`docs/format-redis.md`).
//!
//! ```text
//! element key := db: u8  slot: u16 BE  keylen: u32 BE  key  version: u64 BE  field
//! score key   := db: u8  slot: u16 BE  keylen: u32 BE  key  version: u64 BE  score: u64 BE  member
//! ```
//!
//! `field` is a hash field, a set or sorted-set member, or a list index (u64 BE). Everything of
//! one incarnation of a collection shares the prefix up to `version`, and the length before
//! the key keeps the elements of `a` apart from those of `ab`.

use crate::key::PREFIX_LEN;

/// Bytes of `keylen` and `version` around the user key.
const FRAME_LEN: usize = 4 + 8;

/// The prefix of every element of `version` of the collection whose metadata key is `ekey`
/// (`db | slot | key`, see [`crate::key::encode`]).
pub fn prefix(ekey: &[u8], version: u64) -> Vec<u8> {
    let (head, user) = ekey.split_at(PREFIX_LEN.min(ekey.len()));
    let mut out = Vec::with_capacity(ekey.len() + FRAME_LEN + 16);
    out.extend_from_slice(head);
    // A Redis key is at most 512 MB (proto-max-bulk-len caps it lower), so it fits in u32.
    out.extend_from_slice(&(user.len() as u32).to_be_bytes());
    out.extend_from_slice(user);
    out.extend_from_slice(&version.to_be_bytes());
    out
}

/// `prefix` followed by `field`.
pub fn join(prefix: &[u8], field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + field.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(field);
    out
}

/// An element or score key split into its metadata key, version and the rest (field, or
/// score and member); `None` if it does not parse.
pub fn split(sub: &[u8]) -> Option<(Vec<u8>, u64, &[u8])> {
    let (head, rest) = sub.split_at_checked(PREFIX_LEN)?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let (user, rest) = rest.split_at_checked(len)?;
    let (version, field) = rest.split_first_chunk::<8>()?;
    let mut ekey = Vec::with_capacity(PREFIX_LEN + len);
    ekey.extend_from_slice(head);
    ekey.extend_from_slice(user);
    Some((ekey, u64::from_be_bytes(*version), field))
}

/// The smallest key greater than every key starting with `prefix` (`None`: no such key,
/// the prefix is all `0xFF`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last != 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The score-index key of `member` with `score` in the collection with element prefix
/// `prefix`.
pub fn score_key(prefix: &[u8], score: f64, member: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 8 + member.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(&encode_score(score));
    out.extend_from_slice(member);
    out
}

/// The score stored as a sorted-set element's value (f64 bits, LE).
pub fn score_value(value: &[u8]) -> Option<f64> {
    Some(f64::from_bits(u64::from_le_bytes(value.try_into().ok()?)))
}

/// A score as 8 bytes whose byte order is numeric order (-inf first), `-0.0` as `+0.0`.
/// NaN is never stored (callers refuse it); it would sort after +inf.
pub fn encode_score(score: f64) -> [u8; 8] {
    let score = if score == 0.0 { 0.0 } else { score };
    let bits = score.to_bits();
    let ordered = if bits >> 63 == 0 {
        bits | (1 << 63)
    } else {
        !bits
    };
    ordered.to_be_bytes()
}

/// Inverse of [`encode_score`].
pub fn decode_score(b: [u8; 8]) -> f64 {
    let ordered = u64::from_be_bytes(b);
    let bits = if ordered >> 63 == 1 {
        ordered & !(1 << 63)
    } else {
        !ordered
    };
    f64::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key;
    use proptest::prelude::*;

    #[test]
    fn keys_split_back_and_keep_collections_apart() {
        let a = key::encode(2, b"a");
        let ab = key::encode(2, b"ab");
        let pa = prefix(&a, 7);
        let k = join(&pa, b"field");
        assert_eq!(split(&k), Some((a.clone(), 7, &b"field"[..])));
        // Every element of `a` sorts before every element of `ab` (same slot via a tag).
        let t1 = key::encode(0, b"{t}a");
        let t2 = key::encode(0, b"{t}ab");
        assert!(join(&prefix(&t1, u64::MAX), &[0xFF; 8]) < join(&prefix(&t2, 0), b""));
        assert_eq!(split(b"\x00\x00"), None);
        assert_eq!(split(&pa[..pa.len() - 1]), None, "truncated version");
        assert_eq!(prefix_end(b"ab\xff"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(
            split(&join(&prefix(&ab, 1), b"")).map(|(e, v, f)| (e, v, f.len())),
            Some((ab, 1, 0))
        );
    }

    #[test]
    fn score_order_is_numeric_order() {
        let scores = [
            f64::NEG_INFINITY,
            -1e300,
            -1.5,
            -f64::MIN_POSITIVE,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            2.5,
            1e300,
            f64::INFINITY,
        ];
        for w in scores.windows(2) {
            assert!(
                encode_score(w[0]) < encode_score(w[1]),
                "{} < {}",
                w[0],
                w[1]
            );
        }
        assert_eq!(encode_score(-0.0), encode_score(0.0));
        for s in scores {
            assert_eq!(decode_score(encode_score(s)).to_bits(), s.to_bits());
        }
    }

    proptest! {
        #[test]
        fn score_encoding_preserves_order(a in any::<f64>(), b in any::<f64>()) {
            prop_assume!(!a.is_nan() && !b.is_nan());
            let (ea, eb) = (encode_score(a), encode_score(b));
            prop_assert_eq!(a.partial_cmp(&b), Some(ea.cmp(&eb)));
            prop_assert_eq!(decode_score(ea), if a == 0.0 { 0.0 } else { a });
        }
    }
}
