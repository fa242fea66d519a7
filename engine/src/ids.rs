//! Identifiers every part of the engine shares. A leaf: it imports nothing of the crate.

/// Identifies a keyspace in the WAL, the manifest and batches. DO NOT CHANGE: on disk.
pub(crate) type KeyspaceId = u32;

/// The keyspace every database has, named [`DEFAULT_KEYSPACE_NAME`].
pub(crate) const DEFAULT_KEYSPACE: KeyspaceId = 0;

/// Name of the default keyspace.
pub const DEFAULT_KEYSPACE_NAME: &str = "default";
