//! Keyspaces (column families): independent key namespaces sharing one WAL and manifest.

use std::sync::{Arc, Weak};

use crate::db::Inner;
use crate::error::Result;
use crate::ids::KeyspaceId;
use crate::iter::{DbIterator, Scan};
use crate::options::{ReadOptions, WriteOptions};
use crate::snapshot::Snapshot;
use crate::WriteBatch;

/// A handle to one keyspace of a database: its own ordered key space (its own memtable and
/// levels) that shares the database's WAL, so a [`WriteBatch`] across keyspaces is atomic.
///
/// Handles are cheap to clone. Using a handle after its database was closed returns
/// [`Error::Closed`](crate::Error::Closed).
#[derive(Clone)]
pub struct Keyspace {
    pub(crate) id: KeyspaceId,
    pub(crate) name: Arc<str>,
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

/// A handle to a keyspace that does not keep its database open: for a
/// [`CompactionFilter`](crate::CompactionFilter) that reads the database it filters (the filter
/// lives in the database's options, so a strong handle there would be a reference cycle).
#[derive(Clone)]
pub struct WeakKeyspace {
    id: KeyspaceId,
    name: Arc<str>,
    inner: Weak<Inner>,
}

impl std::fmt::Debug for WeakKeyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakKeyspace")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

impl WeakKeyspace {
    /// The keyspace, unless every handle to its database is gone.
    pub fn upgrade(&self) -> Option<Keyspace> {
        Some(Keyspace {
            id: self.id,
            name: Arc::clone(&self.name),
            inner: self.inner.upgrade()?,
        })
    }
}

impl Keyspace {
    pub(crate) fn id(&self) -> KeyspaceId {
        self.id
    }

    /// A handle that does not keep the database open (see [`WeakKeyspace`]).
    pub fn downgrade(&self) -> WeakKeyspace {
        WeakKeyspace {
            id: self.id,
            name: Arc::clone(&self.name),
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// The keyspace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    /// I/O errors from the WAL, [`Error::Poisoned`](crate::Error::Poisoned) after an earlier
    /// failure, [`Error::Closed`](crate::Error::Closed).
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put_in(self, key, value);
        self.inner.write(b, WriteOptions::default())
    }

    /// Deletes `key` (a no-op if absent).
    ///
    /// # Errors
    /// As [`Keyspace::put`].
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete_in(self, key);
        self.inner.write(b, WriteOptions::default())
    }

    /// The current value of `key`.
    ///
    /// # Errors
    /// I/O errors and [`Error::Corruption`](crate::Error::Corruption) from tables.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self
            .inner
            .get_entry(self.id, key.as_ref(), None, usize::MAX)?
            .map(|(v, _)| v))
    }

    /// The first `n` bytes of the current value of `key` (all of it if shorter). A value kept
    /// in a blob file holds its first 16 bytes in its table entry: asking for no more than
    /// that never reads the blob file (a Redis entry's type and expiry, say, of a large
    /// string).
    ///
    /// # Errors
    /// As [`Keyspace::get`].
    pub fn get_prefix(&self, key: impl AsRef<[u8]>, n: usize) -> Result<Option<Vec<u8>>> {
        Ok(self
            .inner
            .get_entry(self.id, key.as_ref(), None, n)?
            .map(|(v, _)| v))
    }

    /// The current value of `key` with its expiry (Unix milliseconds), if it has one.
    ///
    /// # Errors
    /// As [`Keyspace::get`].
    pub fn get_with_expiry(&self, key: impl AsRef<[u8]>) -> Result<Option<(Vec<u8>, Option<u64>)>> {
        self.inner
            .get_entry(self.id, key.as_ref(), None, usize::MAX)
    }

    /// Time left before `key` expires: `None` if the key is absent or does not expire (use
    /// [`get_with_expiry`](Self::get_with_expiry) to tell those apart).
    ///
    /// # Errors
    /// As [`Keyspace::get`].
    pub fn ttl(&self, key: impl AsRef<[u8]>) -> Result<Option<std::time::Duration>> {
        let now = self.inner.options.clock.now_ms();
        Ok(self
            .inner
            .get_entry(self.id, key.as_ref(), None, usize::MAX)?
            .and_then(|(_, e)| e)
            .map(|e| std::time::Duration::from_millis(e.saturating_sub(now))))
    }

    /// Sets `key` to `value`, expiring `ttl` from now (by the database's clock). After that
    /// the key reads as absent, and so do its older versions.
    ///
    /// # Errors
    /// As [`Keyspace::put`].
    pub fn put_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: std::time::Duration,
    ) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put_with_ttl_in(self, key, value, ttl);
        self.inner.write(b, WriteOptions::default())
    }

    /// Sets `key` to `value`, expiring at `unix_ms` (milliseconds since the Unix epoch).
    ///
    /// # Errors
    /// As [`Keyspace::put`].
    pub fn put_expiring_at(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        unix_ms: u64,
    ) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put_expiring_at_in(self, key, value, unix_ms);
        self.inner.write(b, WriteOptions::default())
    }

    /// The value of `key` as of `snapshot`.
    ///
    /// # Errors
    /// As [`Keyspace::get`].
    pub fn get_at(&self, key: impl AsRef<[u8]>, snapshot: &Snapshot) -> Result<Option<Vec<u8>>> {
        Ok(self
            .inner
            .get_entry(self.id, key.as_ref(), Some(snapshot), usize::MAX)?
            .map(|(v, _)| v))
    }

    /// A cursor (seek, next, prev) over the keyspace, limited by the options' bounds and
    /// snapshot. The cursor starts unpositioned: call a seek first.
    ///
    /// # Errors
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn iter(&self, options: &ReadOptions<'_>) -> Result<DbIterator> {
        self.inner.iter(self.id, options)
    }

    /// Every key-value pair in `[lower, upper)` (either bound may be absent), as a Rust
    /// iterator that can also run backwards (`.rev()`).
    ///
    /// # Errors
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn range(&self, lower: Option<&[u8]>, upper: Option<&[u8]>) -> Result<Scan> {
        let opts = ReadOptions {
            lower_bound: lower.map(<[u8]>::to_vec),
            upper_bound: upper.map(<[u8]>::to_vec),
            ..ReadOptions::default()
        };
        self.scan(&opts)
    }

    /// Every key-value pair whose key starts with `prefix`.
    ///
    /// # Errors
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Result<Scan> {
        self.scan(&ReadOptions::default().prefix(prefix.as_ref()))
    }

    /// Compacts the keyspace's tables holding keys in `[start, end]` (either end open) down to
    /// the bottom level: shadowed versions and tombstones in the range are dropped (except what
    /// live snapshots still see). Flushes the memtables first. Blocks until done.
    ///
    /// # Errors
    /// I/O errors and corruption met while compacting (which also poison the database).
    pub fn compact_range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.inner.compact_range(self.id, start, end)
    }

    /// A Rust iterator over the pairs selected by `options`.
    ///
    /// # Errors
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn scan(&self, options: &ReadOptions<'_>) -> Result<Scan> {
        Scan::new(self.iter(options)?, self.iter(options)?)
    }
}
