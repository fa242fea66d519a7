//! Identifiers every part of the engine shares. A leaf: it imports nothing of the crate.

/// Identifies a keyspace in the WAL, the manifest and batches. DO NOT CHANGE: on disk.
pub(crate) type KeyspaceId = u32;

/// The keyspace every database has, named [`DEFAULT_KEYSPACE_NAME`].
pub(crate) const DEFAULT_KEYSPACE: KeyspaceId = 0;

/// Name of the default keyspace.
pub const DEFAULT_KEYSPACE_NAME: &str = "default";

/// A database's identity: 16 bytes chosen when it is created (or first opened by a version that
/// records one), kept in every manifest and in every table it writes, so that recovery deletes
/// only files this database made. DO NOT CHANGE the size: on disk.
pub(crate) type DbId = [u8; 16];

/// A new identity. Unique, not secret: the standard library's randomly keyed hasher over the
/// time, the process and a counter.
pub(crate) fn new_db_id() -> DbId {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut id = [0u8; 16];
    for half in id.chunks_mut(8) {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    id
}
