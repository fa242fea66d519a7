//! Internal keys: a user key plus a sequence number and a kind, and their ordering.
//!
//! Shared by tables, memtables and compaction.
//!
//! ```text
//! internal_key := user_key: byte[*]  trailer: fixed64 (little endian)
//! trailer      := seq << 8 | kind     (seq: low 56 bits; kind: one byte)
//! ```
//!
//! Order: user key ascending (bytewise), then sequence number descending, then kind
//! descending, so the newest version of a user key comes first.

use std::cmp::Ordering;

/// A sequence number. Only the low 56 bits are used.
pub type SeqNo = u64;

/// The largest sequence number that fits in an internal key.
pub const MAX_SEQNO: SeqNo = (1 << 56) - 1;

/// Length of the trailer appended to every user key.
pub const TRAILER_LEN: usize = 8;

/// The kind of an entry.
///
/// DO NOT CHANGE THESE VALUES: they are embedded in the on-disk data structures. New kinds
/// get new numbers; readers that do not know a kind see `from_u8` return `None`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ValueKind {
    /// A tombstone: the user key is deleted as of this sequence number.
    Delete = 0,
    /// A value.
    Put = 1,
    /// A value with an expiry: the stored value is `expiry_unix_ms: u64 LE` followed by the
    /// user's value (see [`split_expiring`]). Once the clock passes the expiry the entry reads
    /// as a tombstone.
    PutExpiring = 2,
    /// A value kept in a blob file: the stored value is a [`crate::blob::BlobRef`]
    /// (written by flush and compaction for large values; never in a write batch).
    Blob = 3,
    /// A [`ValueKind::Blob`] with an expiry: `expiry_unix_ms: u64 LE` followed by the
    /// reference, read like [`ValueKind::PutExpiring`].
    BlobExpiring = 4,
}

/// Bytes of the expiry header at the front of a [`ValueKind::PutExpiring`] value.
pub const EXPIRY_HEADER_LEN: usize = 8;

/// Splits a [`ValueKind::PutExpiring`] value into its expiry (Unix milliseconds) and the user's
/// value; `None` if it is too short to hold the header.
pub fn split_expiring(stored: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = stored.split_first_chunk::<EXPIRY_HEADER_LEN>()?;
    Some((u64::from_le_bytes(*head), rest))
}

/// Builds a [`ValueKind::PutExpiring`] value.
pub fn encode_expiring(expiry_ms: u64, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(EXPIRY_HEADER_LEN + value.len());
    v.extend_from_slice(&expiry_ms.to_le_bytes());
    v.extend_from_slice(value);
    v
}

impl ValueKind {
    /// The kind with on-disk number `b`, or `None` for a number this version does not know.
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(ValueKind::Delete),
            1 => Some(ValueKind::Put),
            2 => Some(ValueKind::PutExpiring),
            3 => Some(ValueKind::Blob),
            4 => Some(ValueKind::BlobExpiring),
            _ => None,
        }
    }

    /// True for the kinds whose stored value starts with an expiry header.
    pub fn has_expiry(kind: u8) -> bool {
        kind == ValueKind::PutExpiring as u8 || kind == ValueKind::BlobExpiring as u8
    }

    /// True for the kinds whose stored value (after any expiry header) is a blob reference.
    pub fn is_blob(kind: u8) -> bool {
        kind == ValueKind::Blob as u8 || kind == ValueKind::BlobExpiring as u8
    }

    /// True for the kinds that hold a value (all but tombstones and unknown kinds).
    pub fn is_value(kind: u8) -> bool {
        (ValueKind::Put as u8..=ValueKind::BlobExpiring as u8).contains(&kind)
    }
}

/// The highest kind: seeking to `(user_key, seq, KIND_FOR_SEEK)` lands on the newest entry
/// for `user_key` with a sequence number `<= seq`.
pub const KIND_FOR_SEEK: u8 = 0xFF;

fn trailer(seq: SeqNo, kind: u8) -> u64 {
    ((seq & MAX_SEQNO) << 8) | u64::from(kind)
}

/// The 8-byte trailer that follows the user key in an internal key. Bits of `seq` above the
/// low 56 are dropped.
pub fn encode_trailer(seq: SeqNo, kind: u8) -> [u8; 8] {
    trailer(seq, kind).to_le_bytes()
}

/// Encodes `user_key ++ trailer`. Bits of `seq` above the low 56 are dropped.
pub fn encode_internal_key(user_key: &[u8], seq: SeqNo, kind: u8) -> Vec<u8> {
    let mut buf = Vec::with_capacity(user_key.len() + TRAILER_LEN);
    encode_internal_key_into(&mut buf, user_key, seq, kind);
    buf
}

/// Appends the encoded internal key to `buf` (which is not cleared).
pub fn encode_internal_key_into(buf: &mut Vec<u8>, user_key: &[u8], seq: SeqNo, kind: u8) {
    buf.extend_from_slice(user_key);
    buf.extend_from_slice(&encode_trailer(seq, kind));
}

/// The parts of an encoded internal key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    /// The user's key.
    pub user_key: &'a [u8],
    /// Sequence number (56 bits).
    pub seq: SeqNo,
    /// Kind byte (see [`ValueKind`]; may be a kind this version does not know).
    pub kind: u8,
}

/// Splits an encoded internal key, or `None` if it is shorter than the 8-byte trailer.
pub fn parse_internal_key(ikey: &[u8]) -> Option<ParsedKey<'_>> {
    let split = ikey.len().checked_sub(TRAILER_LEN)?;
    let (user_key, tail) = ikey.split_at(split);
    let t = u64::from_le_bytes(tail.try_into().ok()?);
    Some(ParsedKey {
        user_key,
        seq: t >> 8,
        kind: (t & 0xFF) as u8,
    })
}

/// Compares two encoded internal keys: user key ascending (bytewise), then sequence number
/// descending, then kind descending. Keys shorter than 8 bytes (malformed) compare bytewise;
/// this never panics.
pub fn compare_internal(a: &[u8], b: &[u8]) -> Ordering {
    match (
        a.len().checked_sub(TRAILER_LEN),
        b.len().checked_sub(TRAILER_LEN),
    ) {
        (Some(la), Some(lb)) => {
            let (ua, ta) = a.split_at(la);
            let (ub, tb) = b.split_at(lb);
            // Trailers compare as little-endian u64, descending.
            compare_bytes(ua, ub).then_with(|| le_u64(tb).cmp(&le_u64(ta)))
        }
        _ => compare_bytes(a, b),
    }
}

/// Compares the internal key `user_key ++ trailer` (the trailer as a u64, see
/// [`encode_trailer`]) with the encoded internal key `b`, exactly as [`compare_internal`]
/// would, without building the first key (format 3 blocks store the two parts apart).
pub(crate) fn compare_internal_split(user_key: &[u8], trailer: u64, b: &[u8]) -> Ordering {
    match b.len().checked_sub(TRAILER_LEN) {
        Some(lb) => {
            let (ub, tb) = b.split_at(lb);
            compare_bytes(user_key, ub).then_with(|| le_u64(tb).cmp(&trailer))
        }
        None => {
            // A malformed `b`: `compare_internal` compares the whole bytes.
            let mut a = Vec::with_capacity(user_key.len() + TRAILER_LEN);
            a.extend_from_slice(user_key);
            a.extend_from_slice(&trailer.to_le_bytes());
            compare_bytes(&a, b)
        }
    }
}

/// Bytewise comparison, as `<[u8]>::cmp`, done inline 8 bytes at a time: keys on the hot
/// paths (skiplist and block searches) are short, and a `memcmp` call per comparison costs
/// more than the comparison itself.
#[inline]
pub fn compare_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    let (a, b, longer) = (&a[..n], &b[..n], a.len().cmp(&b.len()));
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ta, tb) = (wa.remainder(), wb.remainder());
    for (x, y) in wa.zip(wb) {
        let (mut xw, mut yw) = ([0u8; 8], [0u8; 8]);
        xw.copy_from_slice(x);
        yw.copy_from_slice(y);
        let (x, y) = (u64::from_be_bytes(xw), u64::from_be_bytes(yw));
        if x != y {
            return x.cmp(&y);
        }
    }
    for (x, y) in ta.iter().zip(tb) {
        if x != y {
            return x.cmp(y);
        }
    }
    longer
}

/// The little-endian u64 in the first 8 bytes of `b` (missing bytes read as zero).
pub(crate) fn le_u64(b: &[u8]) -> u64 {
    let mut arr = [0u8; 8];
    for (dst, src) in arr.iter_mut().zip(b) {
        *dst = *src;
    }
    u64::from_le_bytes(arr)
}

/// An owned encoded internal key, ordered by [`compare_internal`] (the memtable's skiplist
/// key). Two keys compare equal exactly when their bytes are equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InternalKey(Vec<u8>);

impl InternalKey {
    /// Encodes `(user_key, seq, kind)`.
    pub fn new(user_key: &[u8], seq: SeqNo, kind: u8) -> Self {
        InternalKey(encode_internal_key(user_key, seq, kind))
    }

    /// Wraps already encoded bytes. They are not checked; for a malformed key (shorter than
    /// 8 bytes) `user_key()` is all the bytes and `seq()`/`kind()` are 0.
    pub fn from_encoded(bytes: Vec<u8>) -> Self {
        InternalKey(bytes)
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The user key part.
    pub fn user_key(&self) -> &[u8] {
        match parse_internal_key(&self.0) {
            Some(p) => p.user_key,
            None => &self.0,
        }
    }

    /// The sequence number.
    pub fn seq(&self) -> SeqNo {
        parse_internal_key(&self.0).map_or(0, |p| p.seq)
    }

    /// The kind byte.
    pub fn kind(&self) -> u8 {
        parse_internal_key(&self.0).map_or(0, |p| p.kind)
    }

    /// The encoded bytes, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl Ord for InternalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_internal(&self.0, &other.0)
    }
}

impl PartialOrd for InternalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn compare_bytes_is_slice_order(
            a in proptest::collection::vec(0u8..4, 0..40),
            b in proptest::collection::vec(0u8..4, 0..40),
        ) {
            proptest::prop_assert_eq!(compare_bytes(&a, &b), a.cmp(&b));
            proptest::prop_assert_eq!(compare_bytes(&a, &a), std::cmp::Ordering::Equal);
        }

        #[test]
        fn compare_internal_split_is_compare_internal(
            user_key in proptest::collection::vec(0u8..3, 0..6),
            seq in 0u64..4,
            kind in 0u8..3,
            b in proptest::collection::vec(0u8..3, 0..14),
        ) {
            let a = encode_internal_key(&user_key, seq, kind);
            let trailer = u64::from_le_bytes(encode_trailer(seq, kind));
            proptest::prop_assert_eq!(
                compare_internal_split(&user_key, trailer, &b),
                compare_internal(&a, &b)
            );
            proptest::prop_assert_eq!(
                compare_internal_split(&user_key, trailer, &a),
                Ordering::Equal
            );
        }
    }
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let k = encode_internal_key(b"user", 42, ValueKind::Put as u8);
        assert_eq!(k.len(), 12);
        let p = parse_internal_key(&k).unwrap();
        assert_eq!(p.user_key, b"user");
        assert_eq!(p.seq, 42);
        assert_eq!(p.kind, 1);
        let k = encode_internal_key(b"", MAX_SEQNO, KIND_FOR_SEEK);
        assert_eq!(k, vec![0xFF; 8]);
        let p = parse_internal_key(&k).unwrap();
        assert_eq!((p.user_key, p.seq, p.kind), (&b""[..], MAX_SEQNO, 0xFF));
        assert_eq!(parse_internal_key(b"1234567"), None);
    }

    #[test]
    fn kinds() {
        assert_eq!(ValueKind::from_u8(0), Some(ValueKind::Delete));
        assert_eq!(ValueKind::from_u8(1), Some(ValueKind::Put));
        assert_eq!(ValueKind::from_u8(2), Some(ValueKind::PutExpiring));
        assert_eq!(ValueKind::from_u8(3), Some(ValueKind::Blob));
        assert_eq!(ValueKind::from_u8(4), Some(ValueKind::BlobExpiring));
        assert_eq!(ValueKind::from_u8(5), None);
        assert_eq!(ValueKind::from_u8(0xFF), None);
        let expiring: Vec<u8> = (0..=255).filter(|&k| ValueKind::has_expiry(k)).collect();
        assert_eq!(expiring, [2, 4]);
        let blobs: Vec<u8> = (0..=255).filter(|&k| ValueKind::is_blob(k)).collect();
        assert_eq!(blobs, [3, 4]);
        let values: Vec<u8> = (0..=255).filter(|&k| ValueKind::is_value(k)).collect();
        assert_eq!(values, [1, 2, 3, 4]);
    }

    #[test]
    fn expiring_values() {
        let v = encode_expiring(1234, b"abc");
        assert_eq!(split_expiring(&v), Some((1234, &b"abc"[..])));
        assert_eq!(split_expiring(&v[..7]), None);
        assert_eq!(
            split_expiring(&encode_expiring(7, b"")),
            Some((7, &b""[..]))
        );
    }

    #[test]
    fn ordering() {
        let k = |u: &[u8], s, t| encode_internal_key(u, s, t);
        assert_eq!(
            compare_internal(&k(b"a", 1, 1), &k(b"b", 9, 1)),
            Ordering::Less
        );
        assert_eq!(
            compare_internal(&k(b"a", 9, 1), &k(b"a", 1, 1)),
            Ordering::Less
        );
        assert_eq!(
            compare_internal(&k(b"a", 5, 1), &k(b"a", 5, 0)),
            Ordering::Less
        );
        assert_eq!(
            compare_internal(&k(b"a", 5, 1), &k(b"a", 5, 1)),
            Ordering::Equal
        );
        // A prefix user key sorts first regardless of seq.
        assert_eq!(
            compare_internal(&k(b"a", 1, 0), &k(b"ab", 100, 1)),
            Ordering::Less
        );
        // Seek key lands before every entry with seq <= 5.
        let seek = k(b"a", 5, KIND_FOR_SEEK);
        assert_eq!(compare_internal(&seek, &k(b"a", 5, 1)), Ordering::Less);
        assert_eq!(compare_internal(&seek, &k(b"a", 6, 1)), Ordering::Greater);
        // Malformed keys never panic.
        assert_eq!(compare_internal(b"abc", b"abd"), Ordering::Less);
        assert_eq!(compare_internal(b"", &k(b"", 0, 0)), Ordering::Less);
    }

    #[test]
    fn internal_key_accessors() {
        let k = InternalKey::new(b"xy", 7, 0);
        assert_eq!(k.user_key(), b"xy");
        assert_eq!(k.seq(), 7);
        assert_eq!(k.kind(), 0);
        assert_eq!(InternalKey::from_encoded(k.as_bytes().to_vec()), k);
        let bad = InternalKey::from_encoded(b"abc".to_vec());
        assert_eq!((bad.user_key(), bad.seq(), bad.kind()), (&b"abc"[..], 0, 0));
        assert_eq!(k.into_bytes().len(), 10);
    }

    proptest! {
        #[test]
        fn order_matches_tuple_model(
            a in (proptest::collection::vec(0u8..4, 0..4), 0u64..8, 0u8..3),
            b in (proptest::collection::vec(0u8..4, 0..4), 0u64..8, 0u8..3),
        ) {
            let ka = InternalKey::new(&a.0, a.1, a.2);
            let kb = InternalKey::new(&b.0, b.1, b.2);
            let model = a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2));
            prop_assert_eq!(ka.cmp(&kb), model);
            prop_assert_eq!(ka == kb, model == Ordering::Equal);
        }

        #[test]
        fn compare_never_panics(a in proptest::collection::vec(any::<u8>(), 0..20),
                                b in proptest::collection::vec(any::<u8>(), 0..20)) {
            let _ = compare_internal(&a, &b);
            prop_assert_eq!(compare_internal(&a, &b), compare_internal(&b, &a).reverse());
        }
    }
}
