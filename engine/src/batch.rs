//! Atomic write batches and their WAL encoding.
//!
//! Encoding of one WAL record (all integers little-endian, fixed width):
//!
//! ```text
//! record := seq: u64  count: u32  op[count]
//! op     := kind: u8  keyspace: u32  key_len: u32  key  [value_len: u32  value]
//!           (value iff kind is Put or PutExpiring; a PutExpiring value starts with its
//!           expiry, Unix ms, u64 LE)
//! ```
//!
//! `seq` is the sequence number of the first op; op `i` gets `seq + i`. `kind` uses the
//! on-disk values of [`ValueKind`]. The WAL's per-fragment CRC covers the bytes; a record that
//! does not parse exactly is corruption.

use strata_sstable::{SeqNo, ValueKind};

use crate::error::{Error, Result};
use crate::keyspace::{Keyspace, KeyspaceId, DEFAULT_KEYSPACE};

const HEADER: usize = 12;

/// In-memory only: a put whose value starts with a TTL in milliseconds, turned into a
/// `PutExpiring` with an absolute expiry when the batch is written (the batch does not know the
/// database's clock). Never reaches the WAL.
const KIND_RELATIVE_TTL: u8 = 0x80 | ValueKind::PutExpiring as u8;

fn has_value(kind: u8) -> bool {
    kind == ValueKind::Put as u8
        || kind == ValueKind::PutExpiring as u8
        || kind == KIND_RELATIVE_TTL
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A set of puts and deletes, across keyspaces, applied atomically: after a crash either all of
/// them are present or none is.
#[derive(Clone)]
pub struct WriteBatch {
    rep: Vec<u8>,
    count: u32,
    relative_ttls: bool,
}

impl std::fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatch")
            .field("count", &self.count)
            .field("bytes", &self.rep.len())
            .finish()
    }
}

impl Default for WriteBatch {
    fn default() -> Self {
        Self::new()
    }
}

/// One decoded operation of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Op<'a> {
    pub kind: ValueKind,
    pub keyspace: KeyspaceId,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        WriteBatch {
            rep: vec![0; HEADER],
            count: 0,
            relative_ttls: false,
        }
    }

    /// Puts `key` = `value` in the default keyspace.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        let kind = ValueKind::Put as u8;
        self.push(kind, DEFAULT_KEYSPACE, key.as_ref(), None, value.as_ref());
        self
    }

    /// Puts `key` = `value` in the default keyspace, expiring `ttl` after the batch is written
    /// (measured by the database's clock).
    pub fn put_with_ttl(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: std::time::Duration,
    ) -> &mut Self {
        self.push_ttl(DEFAULT_KEYSPACE, key.as_ref(), value.as_ref(), ttl)
    }

    /// Puts `key` = `value` in the default keyspace, expiring at `unix_ms` (milliseconds since
    /// the Unix epoch). An expiry in the past makes the key read as absent.
    pub fn put_expiring_at(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        unix_ms: u64,
    ) -> &mut Self {
        self.push_expiring(DEFAULT_KEYSPACE, key.as_ref(), value.as_ref(), unix_ms)
    }

    /// [`put_with_ttl`](Self::put_with_ttl) in `keyspace`.
    pub fn put_with_ttl_in(
        &mut self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: std::time::Duration,
    ) -> &mut Self {
        self.push_ttl(keyspace.id(), key.as_ref(), value.as_ref(), ttl)
    }

    /// [`put_expiring_at`](Self::put_expiring_at) in `keyspace`.
    pub fn put_expiring_at_in(
        &mut self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        unix_ms: u64,
    ) -> &mut Self {
        self.push_expiring(keyspace.id(), key.as_ref(), value.as_ref(), unix_ms)
    }

    fn push_ttl(
        &mut self,
        ks: KeyspaceId,
        key: &[u8],
        value: &[u8],
        ttl: std::time::Duration,
    ) -> &mut Self {
        self.relative_ttls = true;
        self.push(KIND_RELATIVE_TTL, ks, key, Some(millis(ttl)), value);
        self
    }

    fn push_expiring(&mut self, ks: KeyspaceId, key: &[u8], value: &[u8], at: u64) -> &mut Self {
        self.push(ValueKind::PutExpiring as u8, ks, key, Some(at), value);
        self
    }

    /// Deletes `key` from the default keyspace.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        self.push(
            ValueKind::Delete as u8,
            DEFAULT_KEYSPACE,
            key.as_ref(),
            None,
            &[],
        );
        self
    }

    /// Puts `key` = `value` in `keyspace`.
    pub fn put_in(
        &mut self,
        keyspace: &Keyspace,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> &mut Self {
        self.push(
            ValueKind::Put as u8,
            keyspace.id(),
            key.as_ref(),
            None,
            value.as_ref(),
        );
        self
    }

    /// Deletes `key` from `keyspace`.
    pub fn delete_in(&mut self, keyspace: &Keyspace, key: impl AsRef<[u8]>) -> &mut Self {
        self.push(
            ValueKind::Delete as u8,
            keyspace.id(),
            key.as_ref(),
            None,
            &[],
        );
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True if the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Removes every operation.
    pub fn clear(&mut self) {
        self.rep.truncate(HEADER);
        self.count = 0;
    }

    /// Approximate bytes of the encoded batch.
    pub fn size_in_bytes(&self) -> usize {
        self.rep.len()
    }

    fn push(
        &mut self,
        kind: u8,
        keyspace: KeyspaceId,
        key: &[u8],
        expiry: Option<u64>,
        value: &[u8],
    ) {
        // One reservation for the whole operation: tag, keyspace, key, value length, expiry
        // and value (a one-put batch is then allocated once, not grown three times).
        self.rep
            .reserve(1 + 4 + 4 + key.len() + 4 + 8 + value.len());
        self.rep.push(kind);
        self.rep.extend_from_slice(&keyspace.to_le_bytes());
        put_bytes(&mut self.rep, key);
        if has_value(kind) {
            let header = expiry.map_or(0, |_| 8);
            // Lengths above u32::MAX are rejected by `validate` before the WAL.
            self.rep
                .extend_from_slice(&((value.len() + header) as u32).to_le_bytes());
            if let Some(e) = expiry {
                self.rep.extend_from_slice(&e.to_le_bytes());
            }
            self.rep.extend_from_slice(value);
        }
        self.count += 1;
    }

    /// Whether [`resolve_ttls`](Self::resolve_ttls) has work to do (the clock is read only
    /// then).
    pub(crate) fn has_relative_ttls(&self) -> bool {
        self.relative_ttls
    }

    /// Turns every TTL relative to write time into an absolute expiry at `now_ms`.
    pub(crate) fn resolve_ttls(&mut self, now_ms: u64) {
        if !self.relative_ttls {
            return;
        }
        let mut pos = HEADER;
        let u32_at = |rep: &[u8], p: usize| -> Option<usize> {
            let b = rep.get(p..p + 4)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        for _ in 0..self.count {
            let Some(&kind) = self.rep.get(pos) else {
                return;
            };
            let Some(klen) = u32_at(&self.rep, pos + 5) else {
                return;
            };
            pos += 9 + klen;
            if !has_value(kind) {
                continue;
            }
            let Some(vlen) = u32_at(&self.rep, pos) else {
                return;
            };
            if kind == KIND_RELATIVE_TTL {
                if let Some(v) = self.rep.get_mut(pos + 4..pos + 12) {
                    let ttl = u64::from_le_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]);
                    v.copy_from_slice(&now_ms.saturating_add(ttl).to_le_bytes());
                }
                let kind_pos = pos - 9 - klen;
                self.rep[kind_pos] = ValueKind::PutExpiring as u8;
            }
            pos += 4 + vlen;
        }
        self.relative_ttls = false;
    }

    /// Checks the sizes the format can carry.
    pub(crate) fn validate(&self) -> Result<()> {
        for op in self.ops_unchecked() {
            let op = op?;
            // The memtable stores a key with its 8-byte trailer under a u32 length.
            if op.key.len() > u32::MAX as usize - 8 || op.value.len() > u32::MAX as usize {
                return Err(Error::InvalidArgument(
                    "key or value longer than 4 GiB".into(),
                ));
            }
        }
        Ok(())
    }

    /// Stamps the first sequence number and returns the WAL record.
    pub(crate) fn seal(&mut self, seq: SeqNo) -> &[u8] {
        self.rep[..8].copy_from_slice(&seq.to_le_bytes());
        self.rep[8..12].copy_from_slice(&self.count.to_le_bytes());
        &self.rep
    }

    fn ops_unchecked(&self) -> OpIter<'_> {
        OpIter {
            buf: &self.rep[HEADER..],
            pos: HEADER,
            left: self.count,
        }
    }

    /// The operations of this batch.
    pub(crate) fn ops(&self) -> OpIter<'_> {
        self.ops_unchecked()
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Lengths above u32::MAX are rejected by `validate` before a batch reaches the WAL.
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A WAL record decoded back into its first sequence number and operations.
pub(crate) struct DecodedRecord<'a> {
    pub seq: SeqNo,
    pub count: u32,
    ops: &'a [u8],
}

impl<'a> DecodedRecord<'a> {
    /// Parses the record header. Errors are reported as a reason string; the caller names the
    /// file and offset.
    pub fn parse(record: &'a [u8]) -> std::result::Result<Self, String> {
        if record.len() < HEADER {
            return Err(format!(
                "write batch of {} bytes is shorter than its header",
                record.len()
            ));
        }
        let (head, ops) = record.split_at(HEADER);
        let seq = u64::from_le_bytes(head[..8].try_into().map_err(|_| "bad header")?);
        let count = u32::from_le_bytes(head[8..12].try_into().map_err(|_| "bad header")?);
        Ok(DecodedRecord { seq, count, ops })
    }

    pub fn ops(&self) -> OpIter<'a> {
        OpIter {
            buf: self.ops,
            pos: HEADER,
            left: self.count,
        }
    }
}

/// Iterator over encoded operations; yields an error (and then stops) on malformed bytes.
pub(crate) struct OpIter<'a> {
    buf: &'a [u8],
    pos: usize,
    left: u32,
}

impl<'a> OpIter<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err(format!("write batch truncated at byte {}", self.pos));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        self.pos += n;
        Ok(head)
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn next_op(&mut self) -> std::result::Result<Op<'a>, String> {
        let kind_byte = self.take(1)?[0];
        let kind = match ValueKind::from_u8(kind_byte) {
            Some(k) => k,
            _ => return Err(format!("unknown operation kind {kind_byte} in write batch")),
        };
        let keyspace = self.u32()?;
        let klen = self.u32()? as usize;
        let key = self.take(klen)?;
        let value = if has_value(kind as u8) {
            let vlen = self.u32()? as usize;
            self.take(vlen)?
        } else {
            &[]
        };
        if kind == ValueKind::PutExpiring && value.len() < strata_sstable::EXPIRY_HEADER_LEN {
            return Err("expiring put shorter than its expiry header".into());
        }
        Ok(Op {
            kind,
            keyspace,
            key,
            value,
        })
    }

    /// Like `next`, but with the error as a bare reason string.
    pub fn next_checked(&mut self) -> Option<std::result::Result<Op<'a>, String>> {
        if self.left == 0 {
            if self.buf.is_empty() {
                return None;
            }
            self.buf = &[];
            return Some(Err("write batch has bytes after its last operation".into()));
        }
        self.left -= 1;
        let r = self.next_op();
        if r.is_err() {
            self.left = 0;
            self.buf = &[];
        }
        Some(r)
    }
}

impl<'a> Iterator for OpIter<'a> {
    type Item = Result<Op<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_checked()
            .map(|r| r.map_err(|reason| Error::corruption("<write batch>", 0, reason)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut b = WriteBatch::new();
        b.put(b"a", b"1").delete(b"b").put(b"", b"");
        assert_eq!(b.len(), 3);
        let rec = b.seal(42).to_vec();
        let d = DecodedRecord::parse(&rec).unwrap();
        assert_eq!(d.seq, 42);
        let ops: Vec<_> = d.ops().map(|o| o.unwrap()).collect();
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[0].key, b"a");
        assert_eq!(ops[0].value, b"1");
        assert_eq!(ops[1].kind, ValueKind::Delete);
        assert_eq!(ops[2].key, b"");
    }

    #[test]
    fn truncated_and_garbage_records_are_errors() {
        let mut b = WriteBatch::new();
        b.put(b"key", b"value").delete(b"k2");
        let rec = b.seal(7).to_vec();
        for cut in 0..rec.len() {
            let r = DecodedRecord::parse(&rec[..cut]);
            if let Ok(d) = r {
                assert!(d.ops().any(|o| o.is_err()), "cut at {cut} parsed cleanly");
            }
        }
        let mut extra = rec.clone();
        extra.push(0);
        let d = DecodedRecord::parse(&extra).unwrap();
        assert!(d.ops().any(|o| o.is_err()));
    }
}
